#!/usr/bin/python3
"""A ZEO-like TCP server for tests and the README's example stack.

It speaks exactly the part of ZEO 5/6's wire protocol that a health check or the sample instance needs
(ZEO/asyncio/base.py and server.py, see docs/dev/CONTRACTS.md "Sample instance" and docs/dev/FACTS.md):

* every message is framed by a 4-byte big-endian length;
* the server speaks first: on every connection it sends its protocol version, the framed ``Z5``;
* if the client's first message is ``ruok`` the server answers with ONE framed JSON object, one entry
  per storage (connections, loads, ..., last-transaction), and closes the connection, as ZEO's
  ``ServerProtocol.finish_connect`` does;
* if the client's first message is a protocol version (``Z5``, ``M5``, ``Z4``, ...) the connection counts as
  a client connection. Real ZEO would now expect pickled RPC calls; this stub keeps it simple and echoes
  every later message back unchanged, so a client (sample/instance.py) can prove the connection is alive
  with one round trip. Anything else as first message closes the connection, as ZEO does.
* every accepted connection is logged (``Connected HOST:PORT``), as a real ZEO server logs each one: that is
  the log cost of a health check that opens a connection per run.

Stopping the server (SIGTERM/SIGINT) closes the listener AND every client connection, so clients notice
the outage at once, as they do when a real ZEO server goes away.

Usage: /usr/bin/python3 sample/zeo_server.py --host 127.0.0.1 --port 8100 [--storage 1]
Standard library only; one thread per connection.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

PROTOCOL = b"Z5"
# ZEO's version message: one byte for the encoding ('Z' pickle, 'M' msgpack), then the version digits.
VERSION_PREFIXES = (b"Z", b"M")
MAX_MESSAGE = 1 << 20  # the stub never needs more; a bigger length means a confused client


def log(msg):
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} zeo_server: {msg}\n")
    sys.stderr.flush()


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def recv_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None  # orderly EOF
        buf += chunk
    return bytes(buf)


def recv_message(sock):
    """One framed message, or None when the peer closed the connection."""
    head = recv_exactly(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes exceeds the stub's limit of {MAX_MESSAGE}")
    return recv_exactly(sock, size)


class Stats:
    """What ZEO's StorageServer.ruok() reports per storage; the counters are kept up to date here."""

    def __init__(self, storage):
        self.storage = storage
        self.lock = threading.Lock()
        self.connections = 0
        self.loads = 0
        self.start = time.ctime()

    def ruok(self):
        with self.lock:
            status = {
                "connections": self.connections,
                "loads": self.loads,
                "stores": 0,
                "commits": 0,
                "aborts": 0,
                "active_txns": 0,
                "lock_time": None,
                "conflicts": 0,
                "conflicts_resolved": 0,
                "start": self.start,
                "waiting": 0,
                "timeout-thread-is-alive": "stub",
                "last-transaction": "03e8000000000000",
            }
        return {self.storage: status}


class Server:
    def __init__(self, host, port, storage):
        self.stats = Stats(storage)
        self.stopping = threading.Event()
        self.clients = set()
        self.clients_lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        # Tests stop and restart the server on the same port: do not let TIME_WAIT block the rebind.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(128)
        # accept() wakes up now and then so a stop request is noticed without closing from another thread.
        self.listener.settimeout(0.2)

    def serve(self):
        while not self.stopping.is_set():
            try:
                conn, addr = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self.stopping.is_set():
                    break
                raise
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            log(f"Connected {addr[0]}:{addr[1]}")
            with self.clients_lock:
                self.clients.add(conn)
            threading.Thread(target=self.handle, args=(conn, addr), daemon=True).start()

    def handle(self, conn, addr):
        peer = f"{addr[0]}:{addr[1]}"
        registered = False
        try:
            conn.sendall(frame(PROTOCOL))
            first = recv_message(conn)
            if first is None:
                return  # a TCP check or a client that only read the greeting
            if first == b"ruok":
                # ZEO/asyncio/server.py finish_connect: answer with the JSON status, then close.
                conn.sendall(frame(json.dumps(self.stats.ruok()).encode("ascii")))
                return
            if not (first[:1] in VERSION_PREFIXES and 1 < len(first) <= 8):
                log(f"{peer}: unexpected first message {first[:20]!r}, closing")
                return
            registered = True
            with self.stats.lock:
                self.stats.connections += 1
            log(f"{peer}: client connected with protocol {first.decode('ascii', 'replace')}")
            while True:
                msg = recv_message(conn)
                if msg is None:
                    break
                with self.stats.lock:
                    self.stats.loads += 1
                conn.sendall(frame(msg))  # stub RPC: echo, one round trip proves the link
        except (OSError, ValueError) as exc:
            if not self.stopping.is_set():
                log(f"{peer}: {exc}")
        finally:
            if registered:
                with self.stats.lock:
                    self.stats.connections -= 1
                if not self.stopping.is_set():
                    log(f"{peer}: client disconnected")
            with self.clients_lock:
                self.clients.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()

    def close(self):
        self.listener.close()
        with self.clients_lock:
            clients = list(self.clients)
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="ZEO-like server: framing, Z5 greeting, ruok.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--storage", default="1", help="storage name reported by ruok (default: 1)")
    args = parser.parse_args(argv)

    try:
        server = Server(args.host, args.port, args.storage)
    except OSError as exc:
        # One clear line, non-zero exit: the usual cause is a port already in use.
        sys.stderr.write(f"zeo_server: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        return 1

    def on_signal(signum, _frame):
        log(f"received {signal.Signals(signum).name}, stopping")
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log(f"listening on {args.host}:{args.port} (storage {args.storage}, protocol {PROTOCOL.decode()}) pid {os.getpid()}")
    try:
        server.serve()
    finally:
        server.close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
