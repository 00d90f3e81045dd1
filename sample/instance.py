#!/usr/bin/python3
"""A sample "Plone instance": a small WSGI app on real waitress that behaves like Zope/Plone where it matters
to a supervisor (docs/dev/CONTRACTS.md "Sample instance", FIELD_NOTES.md "The people and their pain").

Run it with Debian's interpreter, which has python3-waitress (the pyenv python3 on PATH does not):

    /usr/bin/python3 sample/instance.py --host 127.0.0.1 --port 8081 [--threads 1] [--warmup-seconds N]
        [--zeo HOST:PORT] [--graceful-timeout 10]

Behaviour
* ``/`` answers 200 at once (the Zope root is always cached).
* ``/Plone`` (also ``/Plone/...`` and VirtualHostMonster paths that contain ``/Plone/``): the first successful
  request takes ``--warmup-seconds`` (the cold ZODB cache loading); concurrent ones wait for that load;
  later ones are fast. The body is a small HTML page ending in ``</html>``.
* ``--zeo HOST:PORT``: ``/Plone`` needs the ZEO-like server (sample/zeo_server.py). Each ``/Plone`` request
  makes one round trip over a cached connection (framing, ``Z5`` greeting, ``Z5`` reply, then an echoed
  message); a broken cached connection is dropped and ONE fresh connection is tried. Connect and read
  timeouts are 1 s each (``ZEO_TIMEOUT``), so while the server is down ``/Plone`` fails fast with 500 and
  it answers 200 again on the first request after the server is back. (A real ZEO client differs: it
  serves cached objects with stale data and blocks up to ``wait_timeout``, 30 s, for uncached ones; the
  sample models the failure, not the wait, so tests stay short.)
* ``/slow?seconds=N`` occupies a worker thread for N seconds (a long request).
* ``POST /hang`` (202) or SIGUSR2: every worker thread hangs from then on (the instance accepts TCP but never
  answers HTTP again); this is a one-way switch, as a real deadlock is.
* SIGUSR1: all thread stacks are written to stderr (faulthandler, from C, so it works however stuck the
  Python threads are), as Zope does.
* SIGHUP: logged (``SIGHUP received``), nothing else.
* SIGTERM/SIGINT: graceful stop: close the listening socket, let accepted requests finish (at most
  ``--graceful-timeout`` seconds), exit 0. A second signal exits at once with status 1.
* One line per request on stderr (``host "METHOD path HTTP/x" status bytes seconds thread``), a startup line
  ``instance: serving on http://HOST:PORT ...``; a port that cannot be bound gives one line and exit 1.

The waitress internals used (server.task_dispatcher.add_task, channel.requests/total_outbufs_len,
wasyncore.loop) are those of Debian 12's waitress 2.1.2.
"""

import argparse
import faulthandler
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time
from urllib.parse import parse_qs

try:
    import waitress
    from waitress import wasyncore
    from waitress.channel import HTTPChannel
except ImportError:  # pragma: no cover - depends on the interpreter
    sys.stderr.write(
        "instance: waitress is not importable from %s; run with /usr/bin/python3 (Debian's python3-waitress)\n"
        % sys.executable
    )
    sys.exit(1)

ZEO_TIMEOUT = 1.0  # seconds, for connect and for each read: a ZEO outage must make /Plone fail fast
LOOP_TICK = 0.2  # seconds: how often the main loop looks at stop/hang requests made by signal handlers

_log_lock = threading.Lock()


def log_line(text):
    with _log_lock:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def log(msg):
    log_line(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} instance: {msg}")


# --------------------------------------------------------------------------------------------------- ZEO


class ZeoUnavailable(Exception):
    pass


class ZeoClient:
    """A cached connection to a ZEO-like server; ping() proves it alive with one round trip.

    Requests run in several worker threads: one lock serialises the round trips, like ZEO's single
    client connection per storage."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = None
        self.lock = threading.Lock()
        self.seq = 0

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def _recv_exactly(self, sock, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the ZEO server")
            buf += chunk
        return bytes(buf)

    def _recv_message(self, sock):
        (size,) = struct.unpack(">I", self._recv_exactly(sock, 4))
        return self._recv_exactly(sock, size)

    def _connect(self):
        sock = socket.create_connection((self.host, self.port), timeout=ZEO_TIMEOUT)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            greeting = self._recv_message(sock)
            if greeting[:1] not in (b"Z", b"M"):
                raise ConnectionError(f"not a ZEO server (greeting {greeting[:20]!r})")
            # Answer with our protocol version, as a ZEO client does.
            sock.sendall(struct.pack(">I", 2) + b"Z5")
        except BaseException:
            sock.close()
            raise
        return sock

    def _round_trip(self, sock):
        self.seq += 1
        payload = b"ping %d" % self.seq
        sock.sendall(struct.pack(">I", len(payload)) + payload)
        if self._recv_message(sock) != payload:
            raise ConnectionError("unexpected reply from the ZEO server")

    def ping(self):
        with self.lock:
            if self.sock is not None:
                try:
                    self._round_trip(self.sock)
                    return
                except (OSError, ValueError, struct.error):
                    # The cached connection died (server restarted or gone): drop it, try once afresh.
                    self._drop()
            try:
                self.sock = self._connect()
                self._round_trip(self.sock)
            except (OSError, ValueError, struct.error) as exc:
                self._drop()
                raise ZeoUnavailable(f"ZEO server {self.address} unreachable: {exc}") from exc

    def _drop(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


# --------------------------------------------------------------------------------------------------- app


class Instance:
    def __init__(self, warmup_seconds, zeo):
        self.warmup_seconds = warmup_seconds
        self.zeo = zeo
        self.warm = False
        self.warm_lock = threading.Lock()
        self.hanging = threading.Event()
        self.never = threading.Event()  # never set: what a hung worker waits for

    def hang_forever(self):
        # A deliberate deadlock: the stack dump (SIGUSR1) shows this frame.
        while True:
            self.never.wait(3600)

    def warm_up(self):
        if self.warm:
            return
        with self.warm_lock:  # concurrent first requests all wait for the one cache load
            if not self.warm:
                time.sleep(self.warmup_seconds)  # the cold ZODB cache loading
                self.warm = True

    def __call__(self, environ, start_response):
        if self.hanging.is_set():
            self.hang_forever()
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        if path == "/":
            return self.respond(start_response, "200 OK", "Zope is running\n", "text/plain")
        if path == "/Plone" or path.startswith("/Plone/") or (
            path.startswith("/VirtualHostBase/") and "/Plone/" in path + "/"
        ):
            return self.plone(start_response, environ)
        if path == "/slow":
            try:
                seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["10"])[0])
            except ValueError:
                return self.respond(start_response, "400 Bad Request", "seconds must be a number\n", "text/plain")
            time.sleep(max(0.0, seconds))
            return self.respond(start_response, "200 OK", f"slept {seconds:g} s\n", "text/plain")
        if path == "/hang":
            if method != "POST":
                return self.respond(start_response, "405 Method Not Allowed", "POST /hang\n", "text/plain")
            self.hanging.set()
            return self.respond(start_response, "202 Accepted", "every worker hangs from now on\n", "text/plain")
        return self.respond(start_response, "404 Not Found", "not found\n", "text/plain")

    def plone(self, start_response, environ):
        if self.zeo is not None:
            try:
                self.zeo.ping()
            except ZeoUnavailable as exc:
                log(str(exc))
                return self.respond(start_response, "500 Internal Server Error", f"{exc}\n", "text/plain")
        self.warm_up()
        host = environ.get("HTTP_HOST", "")
        body = (
            "<!DOCTYPE html>\n<html><head><title>Plone site</title></head>"
            f"<body><h1>Welcome to Plone</h1><p>served for {host} by pid {os.getpid()}</p></body></html>\n"
        )
        return self.respond(start_response, "200 OK", body, "text/html; charset=utf-8")

    @staticmethod
    def respond(start_response, status, text, content_type):
        body = text.encode("utf-8")
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]


def access_log(app):
    """One line per request on stderr, written when the response is complete (waitress has no access log)."""

    def logged(environ, start_response):
        started = time.monotonic()
        seen = {}

        def capture(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            seen["length"] = next((v for k, v in headers if k.lower() == "content-length"), "-")
            return start_response(status, headers, exc_info)

        try:
            return app(environ, capture)
        finally:
            path = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                path += "?" + environ["QUERY_STRING"]
            log_line(
                f'{time.strftime("%Y-%m-%dT%H:%M:%S")} {environ.get("REMOTE_ADDR", "-")} '
                f'"{environ["REQUEST_METHOD"]} {path} {environ.get("SERVER_PROTOCOL", "HTTP/1.0")}" '
                f'{seen.get("status", "500")} {seen.get("length", "-")} {time.monotonic() - started:.3f}s '
                f"{threading.current_thread().name}"
            )

    return logged


class HangTask:
    """Queued into waitress' task dispatcher: the worker thread that takes it never returns."""

    def __init__(self, instance):
        self.instance = instance

    def service(self):
        self.instance.hang_forever()

    def cancel(self):  # called by waitress' shutdown for tasks still queued
        pass

    def defer(self):
        pass


# --------------------------------------------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Sample Plone-like instance on waitress.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1, help="waitress worker threads (default 1)")
    parser.add_argument("--warmup-seconds", type=float, default=0.0, help="duration of the first /Plone (default 0)")
    parser.add_argument("--zeo", metavar="HOST:PORT", help="ZEO-like server /Plone depends on")
    parser.add_argument(
        "--graceful-timeout", type=float, default=10.0, help="SIGTERM: wait this long for requests (default 10)"
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.warmup_seconds < 0:
        parser.error(f"--warmup-seconds must not be negative, got {args.warmup_seconds:g}")
    if args.zeo is not None:
        host, sep, port = args.zeo.rpartition(":")
        if not sep or not host or not port.isdigit():
            parser.error(f"--zeo must be HOST:PORT, got {args.zeo!r}")
        args.zeo = (host.strip("[]"), int(port))
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")

    zeo = ZeoClient(*args.zeo) if args.zeo else None
    instance = Instance(args.warmup_seconds, zeo)
    try:
        server = waitress.create_server(
            access_log(instance), host=args.host, port=args.port, threads=args.threads, ident="zope-systemd sample"
        )
    except OSError as exc:
        sys.stderr.write(f"instance: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        return 1

    # SIGUSR1 -> stack dump from C: works even while every Python thread is stuck.
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)

    # Python-level handlers only set flags: the main loop acts on them (touching waitress' locks or
    # buffered stderr from inside a handler could deadlock with the main thread).
    requests = {"stop": 0, "hang": False, "hup": 0}

    def on_stop(signum, _frame):
        requests["stop"] += 1
        if requests["stop"] > 1:
            os.write(2, f"instance: second {signal.Signals(signum).name}, exiting now\n".encode())
            os._exit(1)

    def on_hang(_signum, _frame):
        requests["hang"] = True

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR2, on_hang)
    # Zope restarts on SIGHUP under zdaemon; here it is only logged, so a supervisor's forwarding is visible
    # and does not kill the instance (the default action would).
    signal.signal(signal.SIGHUP, lambda *_: requests.__setitem__("hup", requests["hup"] + 1))

    zeo_text = zeo.address if zeo else "none"
    log(
        f"serving on http://{server.effective_host}:{server.effective_port} "
        f"(threads={args.threads}, warmup={args.warmup_seconds:g}s, zeo={zeo_text}) pid {os.getpid()}"
    )

    hang_queued = False
    stop_deadline = None
    hups_seen = 0
    while True:
        wasyncore.loop(timeout=LOOP_TICK, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1)
        if requests["hup"] != hups_seen:
            hups_seen = requests["hup"]
            log("SIGHUP received (logged only)")
        if (requests["hang"] or instance.hanging.is_set()) and not hang_queued:
            hang_queued = True
            instance.hanging.set()
            log(f"hang requested: all {args.threads} worker thread(s) hang from now on")
            for _ in range(args.threads):
                server.task_dispatcher.add_task(HangTask(instance))
        if requests["stop"]:
            if stop_deadline is None:
                log(f"stopping: no new connections, waiting up to {args.graceful_timeout:g}s for requests")
                stop_deadline = time.monotonic() + args.graceful_timeout
                wasyncore.dispatcher.close(server)  # the listening socket only; the trigger stays
            channels = [c for c in server._map.values() if isinstance(c, HTTPChannel)]
            busy = [c for c in channels if c.requests or c.total_outbufs_len]
            if not busy:
                break
            if time.monotonic() >= stop_deadline:
                log(f"{len(busy)} connection(s) still busy after {args.graceful_timeout:g}s, exiting anyway")
                break
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
