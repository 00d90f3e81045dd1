#!/usr/bin/python3
"""A sample "Plone instance": a small WSGI app on real waitress that behaves like Zope 5 / Plone 6 on waitress
where it matters to a supervisor (docs/dev/CONTRACTS.md "Sample instance").

Run it with Debian's interpreter, which has python3-waitress (the pyenv python3 on PATH does not):

    /usr/bin/python3 sample/instance.py --host 127.0.0.1 --port 8081 [--threads 1] [--warmup-seconds N]
        [--zeo HOST:PORT]

Behaviour
* ``/`` answers 200 at once (the Zope root is always cached).
* ``/Plone`` (also ``/Plone/...`` and VirtualHostMonster paths that contain ``/Plone/``): the first successful
  request takes ``--warmup-seconds`` (the cold ZODB cache loading, announced by ``instance: warm-up: loading the
  cache (N s)`` as it begins); concurrent ones wait for that load;
  later ones are fast. The body is a small HTML page ending in ``</html>``.
* ``--zeo HOST:PORT``: ``/Plone`` needs the ZEO-like server (sample/zeo_server.py). Each ``/Plone`` request
  makes one round trip over a cached connection (framing, ``Z5`` greeting, ``Z5`` reply, then an echoed
  message); a broken cached connection is dropped and ONE fresh connection is tried. Connect and read
  timeouts are 1 s each (``ZEO_TIMEOUT``), so while the server is down ``/Plone`` fails fast with 500 and
  it answers 200 again on the first request after the server is back. (A real ZEO client differs: it
  serves cached objects with stale data and blocks up to ``wait_timeout``, 30 s, for uncached ones; the
  sample models the failure, not the wait, so tests stay short.)
* ``/slow?seconds=N`` occupies a worker thread for N seconds (a long request), announced by ``instance: slow
  request: N s`` as it begins.
* ``POST /hang`` (202): every worker thread hangs from then on (the instance accepts TCP but never answers
  HTTP again); a one-way switch, as a real deadlock is. There is no signal for it: the instance has no
  signal handlers of its own.
* One worker thread unless ``--threads`` says otherwise.
* ``--observability-port P``: probes like plone.observability's, on their own port and thread (never a
  waitress worker): ``/startup`` 200 once the instance serves, ``/ready`` 200 while the ZEO-like server
  answers (503 with the reason otherwise; 200 without ``--zeo``), ``/live`` 200 while the process runs.
* One line per request on stderr (``host "METHOD path HTTP/x" status bytes seconds thread``), a startup line
  ``instance: serving on http://HOST:PORT ...``; a port that cannot be bound gives one line and exit 1.

Signals, as Zope 4+ on WSGI (``runwsgi``) really has them: the application registers no handler, and waitress
only turns SIGINT into its own stop. So
* SIGHUP, SIGUSR1, SIGUSR2 and SIGTERM have their default action: the process dies at once (129, 138, 140,
  143 as a shell reports them), cutting every request in flight or queued, with nothing logged.
* SIGINT is waitress' clean stop: the listener closes, a request in flight may finish for up to about 5 s
  (waitress' task dispatcher shutdown), queued ones are cancelled ("Canceling N pending task(s)"), exit 0.
  The only addition is one log line as it begins (``instance: SIGINT: ...``), written from the same place
  Python's own SIGINT handler would raise KeyboardInterrupt.
* ``--graceful-sigterm`` (opt-in, NOT Zope 5: a server that finishes its requests before it stops, as some WSGI
  servers do): SIGTERM stops accepting, lets every request in flight finish while its client still waits for it,
  and exits 0 once none is left (``instance: stopped (graceful): ...``), at most ``--graceful-timeout`` seconds
  (default 30, then exit 1). A request whose client has gone (reset or closed; waitress sees it while the request
  runs, ``channel_request_lookahead``) is not waited for: its thread is abandoned.
* Python's faulthandler works from outside: with ``PYTHONFAULTHANDLER=1`` in the environment, SIGABRT (and
  SIGSEGV, SIGBUS, SIGFPE, SIGILL) writes every thread's traceback to stderr from C, then the process aborts.

The waitress internals used (server.task_dispatcher.add_task, server.run) are those of Debian 12's waitress 2.1.2.
"""

import argparse
import http.server
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
except ImportError:  # pragma: no cover - depends on the interpreter
    sys.stderr.write(
        "instance: waitress is not importable from %s; run with /usr/bin/python3 (Debian's python3-waitress)\n"
        % sys.executable
    )
    sys.exit(1)

ZEO_TIMEOUT = 1.0  # seconds, for connect and for each read: a ZEO outage must make /Plone fail fast

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
    def __init__(self, warmup_seconds, zeo, threads):
        self.warmup_seconds = warmup_seconds
        self.zeo = zeo
        self.threads = threads
        self.server = None  # set once waitress' server exists: POST /hang queues work into its dispatcher
        self.warm = False
        self.warm_lock = threading.Lock()
        self.hanging = threading.Event()
        self.never = threading.Event()  # never set: what a hung worker waits for

    def hang_forever(self):
        # A deliberate deadlock: a stack dump (faulthandler) shows this frame.
        while True:
            self.never.wait(3600)

    def hang_all(self):
        """Every worker thread hangs from now on: the flag catches each request, and one queued HangTask per
        thread catches the idle ones (this thread answers 202 first, then takes the next task like the rest)."""
        if self.hanging.is_set():
            return
        self.hanging.set()
        log(f"hang requested: all {self.threads} worker thread(s) hang from now on")
        for _ in range(self.threads):
            self.server.task_dispatcher.add_task(HangTask(self))  # thread-safe: the dispatcher takes its lock

    def warm_up(self):
        if self.warm:
            return
        with self.warm_lock:  # concurrent first requests all wait for the one cache load
            if not self.warm:
                if self.warmup_seconds > 0:
                    log(f"warm-up: loading the cache ({self.warmup_seconds:g} s)")
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
            log(f"slow request: {seconds:g} s")
            time.sleep(max(0.0, seconds))
            return self.respond(start_response, "200 OK", f"slept {seconds:g} s\n", "text/plain")
        if path == "/hang":
            if method != "POST":
                return self.respond(start_response, "405 Method Not Allowed", "POST /hang\n", "text/plain")
            self.hang_all()
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


class GracefulStop:
    """--graceful-sigterm: SIGTERM stops accepting; the server loop goes on until no request is left whose client
    still waits for it (and every answer is sent), then main() returns 0. A client that went away (waitress sees it
    while the request runs, with channel_request_lookahead) is not waited for."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.server = None
        self.requested = False
        self.lock = threading.Lock()
        self.in_flight = {}  # id -> environ, from the request's start until waitress closed its response

    def track(self, app):
        def tracked(environ, start_response):
            key = object()
            with self.lock:
                self.in_flight[key] = environ
            try:
                result = app(environ, start_response)
            except BaseException:
                self.done(key)
                raise
            return Response(result, lambda: self.done(key))

        return tracked

    def done(self, key):
        with self.lock:
            self.in_flight.pop(key, None)

    def on_sigterm(self, _signum, _frame):
        os.write(2, b"instance: SIGTERM: graceful stop (listener closed, requests whose clients wait finish)\n")
        self.requested = True
        self.server.accepting = False

    def waited_for(self):
        with self.lock:
            envs = list(self.in_flight.values())
        return [e for e in envs if not e["waitress.client_disconnected"]()]

    def unsent(self):
        return any(
            getattr(ch, "total_outbufs_len", 0) and ch.connected for ch in list(self.server._map.values()) if ch is not self.server
        )

    def run(self):
        """waitress' server loop, in short rounds, so that a requested stop is noticed."""
        deadline = None
        while True:
            self.server.asyncore.loop(timeout=0.05, map=self.server._map, use_poll=self.server.adj.asyncore_use_poll, count=1)
            if not self.requested:
                continue
            deadline = deadline or time.monotonic() + self.timeout
            waited = self.waited_for()
            if not waited and not self.unsent():
                with self.lock:
                    abandoned = len(self.in_flight)
                log(f"stopped (graceful): no request left that a client waits for; {abandoned} abandoned by their clients")
                return 0
            if time.monotonic() >= deadline:
                log(f"stopped (graceful): --graceful-timeout of {self.timeout:g} s over, {len(waited)} request(s) cut")
                return 1


class Response:
    """A WSGI response that tells when waitress has closed it (the whole answer is in the channel's buffer)."""

    def __init__(self, body, on_close):
        self.body = body
        self.on_close = on_close

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.on_close()


# --------------------------------------------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Sample Plone-like instance on waitress.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1, help="waitress worker threads (default 1)")
    parser.add_argument("--warmup-seconds", type=float, default=0.0, help="duration of the first /Plone (default 0)")
    parser.add_argument("--zeo", metavar="HOST:PORT", help="ZEO-like server /Plone depends on")
    parser.add_argument("--observability-port", type=int, help="serve /startup, /ready, /live on this port (own thread)")
    parser.add_argument("--graceful-sigterm", action="store_true",
                        help="SIGTERM lets requests whose clients still wait finish, then exits 0 (not Zope 5)")
    parser.add_argument("--graceful-timeout", type=float, default=30.0,
                        help="with --graceful-sigterm: the longest wait before exit 1 (default 30)")
    args = parser.parse_args(argv)
    if args.graceful_timeout <= 0:
        parser.error(f"--graceful-timeout must be positive, got {args.graceful_timeout:g}")
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


class ProbeHandler(http.server.BaseHTTPRequestHandler):
    """/startup, /ready, /live on a thread of their own, as plone.observability serves them."""

    instance = None

    def do_GET(self):
        if self.path == "/startup" or self.path == "/live":
            self.answer(200, "ok")
        elif self.path == "/ready":
            try:
                if self.instance.zeo is not None:
                    self.instance.zeo.ping()
                self.answer(200, "ok")
            except ZeoUnavailable as exc:
                self.answer(503, str(exc))
        else:
            self.answer(404, "not found")

    def answer(self, status, text):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # probes are not requests worth a log line
        pass


def start_probes(instance, host, port):
    ProbeHandler.instance = instance
    probes = http.server.ThreadingHTTPServer((host, port), ProbeHandler)
    probes.daemon_threads = True
    threading.Thread(target=probes.serve_forever, name="probes", daemon=True).start()
    return probes


def log_sigint(_signum, _frame):
    """Python's own SIGINT behaviour (KeyboardInterrupt, which waitress' server.run turns into its stop), plus one
    line saying so. os.write: a handler must not touch buffered stderr another thread may hold."""
    os.write(2, b"instance: SIGINT: waitress stops (listener closed, requests in flight get up to 5 s)\n")
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")

    zeo = ZeoClient(*args.zeo) if args.zeo else None
    instance = Instance(args.warmup_seconds, zeo, args.threads)
    graceful = GracefulStop(args.graceful_timeout) if args.graceful_sigterm else None
    app = access_log(instance)
    options = {}
    if graceful:
        app = graceful.track(app)
        options["channel_request_lookahead"] = 1  # read while a request runs: a client that went away is seen
    try:
        server = waitress.create_server(
            app, host=args.host, port=args.port, threads=args.threads, ident="zope-systemd sample", **options
        )
    except OSError as exc:
        sys.stderr.write(f"instance: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        return 1
    instance.server = server
    if args.observability_port is not None:
        try:
            start_probes(instance, args.host, args.observability_port)
        except OSError as exc:
            sys.stderr.write(f"instance: cannot listen on {args.host}:{args.observability_port}: {exc.strerror or exc}\n")
            return 1
    # No other handler: SIGHUP, SIGUSR1, SIGUSR2 and SIGTERM keep their default action, as under runwsgi.
    signal.signal(signal.SIGINT, log_sigint)
    if graceful:
        graceful.server = server
        signal.signal(signal.SIGTERM, graceful.on_sigterm)

    zeo_text = zeo.address if zeo else "none"
    log(
        f"serving on http://{server.effective_host}:{server.effective_port} "
        f"(threads={args.threads}, warmup={args.warmup_seconds:g}s, zeo={zeo_text}"
        f"{', graceful SIGTERM' if graceful else ''}) pid {os.getpid()}"
    )
    if graceful:
        return graceful.run()  # worker threads are daemons: one still busy for a client that left ends with us
    server.run()  # returns after SIGINT, once waitress' dispatcher has shut down
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
