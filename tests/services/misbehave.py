#!/usr/bin/env python3
"""misbehave: services that go wrong at start-up or shut-down, for seckill-bench's tests.

    python3 tests/services/misbehave.py --port PORT --mode MODE

No Redis needed. Modes:
    never-ready  listens on PORT, but every request (GET /health included)
                 gets 503 "not ready"; prints "misbehave: warming up forever".
    exit         prints three lines to stderr, the last "fatal: cannot open the
                 orders database", and exits 3 at once.
    port-taken   binds 127.0.0.1:$TAKEN_PORT (default: PORT), which the test
                 holds: fails with EADDRINUSE, the Python traceback on stderr,
                 exit code 1.
    slow-stop    a healthy shop (GET /health 200 {"status":"ok"}, POST /buy
                 200 {"result":"sold_out"}) that ignores SIGTERM and starts a
                 child `sleep 300` in its own process group (the child ignores
                 SIGTERM too), so only SIGKILL to the whole group stops both. Writes its pid and the child's, one
                 per line, to $PID_FILE if set, and creates $FIRST_BUY_FILE (if set)
                 at its first POST /buy: the load has reached it.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("never-ready", "exit", "port-taken", "slow-stop")


def say(line):
    print(line, file=sys.stderr, flush=True)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "misbehave"
    sys_version = ""
    disable_nagle_algorithm = True
    ready = True  # set per mode

    def log_message(self, format, *args):
        pass

    def version_string(self):
        return "misbehave"

    def reply(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def skip_body(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
        elif length:
            self.rfile.read(length)

    def answer(self):
        if not self.ready:
            self.reply(503, b"not ready", "text/plain; charset=utf-8")
            return
        path = self.path.split("?", 1)[0]
        if self.command == "GET" and path == "/health":
            self.reply(200, b'{"status":"ok"}', "application/json")
        elif self.command == "POST" and path == "/buy":
            first_buy()
            self.reply(200, b'{"result":"sold_out"}', "application/json")
        else:
            self.reply(404, b'{"result":"not_found"}', "application/json")

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.skip_body()
        self.answer()


_first_buy = threading.Lock()


def first_buy():
    """Creates $FIRST_BUY_FILE, once, if set."""
    path = os.environ.get("FIRST_BUY_FILE")
    if not path or not _first_buy.acquire(blocking=False):
        return
    with open(path + ".tmp", "w") as f:
        f.write("bought\n")
    os.replace(path + ".tmp", path)


def serve(port, stop_on_sigterm):
    """Serve until SIGTERM (if stop_on_sigterm) or SIGINT; exit 0."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if stop_on_sigterm:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = Server(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, stop


def main():
    ap = argparse.ArgumentParser(description="Services that misbehave at start-up")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=MODES, required=True)
    args = ap.parse_args()

    if args.mode == "exit":
        say("misbehave: starting up")
        say("misbehave: loading the orders database from /nonexistent/orders.db")
        say("fatal: cannot open the orders database")
        sys.exit(3)

    if args.mode == "port-taken":
        port = int(os.environ.get("TAKEN_PORT") or args.port)
        say(f"misbehave: binding 127.0.0.1:{port}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no SO_REUSEADDR
        sock.bind(("127.0.0.1", port))  # EADDRINUSE: traceback, exit 1
        sock.listen()
        say("misbehave: the port was free after all")
        signal.pause()
        return

    if args.mode == "never-ready":
        Handler.ready = False
        server, stop = serve(args.port, stop_on_sigterm=True)
        say(f"misbehave: listening on 127.0.0.1:{args.port}")
        say("misbehave: warming up forever")
    else:  # slow-stop
        # Ignored before the fork, so the child (same process group) inherits
        # SIG_IGN too: only SIGKILL to the group stops both.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen(["sleep", "300"])
        pid_file = os.environ.get("PID_FILE")
        if pid_file:
            with open(pid_file + ".tmp", "w") as f:
                f.write(f"{os.getpid()}\n{child.pid}\n")
            os.replace(pid_file + ".tmp", pid_file)
        server, stop = serve(args.port, stop_on_sigterm=False)
        say(f"misbehave: listening on 127.0.0.1:{args.port} (ignoring SIGTERM)")

    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
