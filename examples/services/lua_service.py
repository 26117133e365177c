#!/usr/bin/env python3
r"""lua_service: the same flash-sale shop as article_service.py, without a lock.

What it is
    POST /buy runs one Lua script on Redis (EVALSHA; redis-py's
    register_script loads it again after a NOSCRIPT, e.g. after a restart):

        KEYS[1] = STOCK_KEY, KEYS[2] = ORDERS_KEY
        ARGV    = quantity, order_id, buyer
        stock missing          -> 'no_stock'  (503 "no stock key")
        stock < quantity       -> 'sold_out'
        DECRBY stock quantity; HSET orders order_id buyer -> 'sold'

    seckill-bench starts several instances of it (scenarios/service-lua.toml,
    scenarios/service-restart.toml) and loads them over HTTP.

Why it is safe
    Redis runs a script to completion before any other command, so the check
    (stock >= quantity), the decrement and the order record are one atomic
    step: no other buyer can read the stock between them. There is no lock to
    expire, so a shop instance that stalls (GC, SIGSTOP) or dies does so
    either before the script (nothing happened) or after it (the sale and its
    order are both in Redis); it can never act on a stale read. A crash while
    the reply is in flight leaves that one purchase in doubt (done or not,
    the client cannot tell), never oversold. What a script cannot protect
    against is Redis itself losing acknowledged writes (asynchronous
    replication failover, restart without fsync).

How to run it
    REDIS_URL=redis://127.0.0.1:6379/0 STOCK_KEY=stock ORDERS_KEY=orders \
        python3 examples/services/lua_service.py --port 8080

    redis-cli SET stock 100
    curl -s -XPOST localhost:8080/buy -H 'Idempotency-Key: o-1' \
        -d '{"buyer": "alice", "quantity": 1}'
    -> {"result": "sold", "order_id": "o-1"}

API (the same as article_service.py)
    GET  /health -> 200 {"status": "ok"} (503 if Redis does not answer PING)
    POST /buy    body {"buyer": <int|string>, "quantity": <int, default 1>},
                 optional header Idempotency-Key (the order id; else a uuid4)
        200 {"result": "sold", "order_id": "<id>"}
        200 {"result": "sold_out"}
        400 {"result": "bad_request"}
        503 {"result": "error", "detail": "<short>"}

Environment: REDIS_URL, STOCK_KEY, ORDERS_KEY (required); LOCK_KEY is
accepted and ignored (no lock). Missing or bad settings exit 2; Redis
unreachable at start-up exits 3; SIGTERM/SIGINT exit 0.
"""

import argparse
import json
import os
import signal
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = "lua_service"

try:
    import redis
except ImportError:  # python3 may be a non-Debian build: use python3-redis
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import redis
    except ImportError:
        print(f"{NAME}: the redis module is missing: apt-get install python3-redis",
              file=sys.stderr, flush=True)
        sys.exit(2)

BUY_LUA = """
local stock = redis.call('GET', KEYS[1])
if not stock then
  return 'no_stock'
end
local quantity = tonumber(ARGV[1])
if tonumber(stock) < quantity then
  return 'sold_out'
end
redis.call('DECRBY', KEYS[1], quantity)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 'sold'
"""


def fail(code, message):
    print(f"{NAME}: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def env_required(name):
    value = os.environ.get(name, "")
    if not value:
        fail(2, f"missing environment variable {name}")
    return value


def env_int(name, default):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        fail(2, f"{name} must be a whole number, got {raw!r}")
    if value < 0:
        fail(2, f"{name} must be >= 0, got {value}")
    return value


def redact(url):
    """The Redis URL without its password, for messages."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        user = parts.username or ""
        netloc = f"{user}:***@{host}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparseable REDIS_URL>"


REDIS_URL = STOCK_KEY = ORDERS_KEY = None
R = None          # the one redis.Redis client (thread-safe, with its pool)
BUY = None        # the registered script (EVALSHA, reloaded on NOSCRIPT)
_PASSWORD = None


def configure():
    """Read the environment and make the Redis client (exit 2 on bad settings)."""
    global REDIS_URL, STOCK_KEY, ORDERS_KEY, R, BUY, _PASSWORD
    REDIS_URL = env_required("REDIS_URL")
    STOCK_KEY = env_required("STOCK_KEY")
    ORDERS_KEY = env_required("ORDERS_KEY")
    try:
        _PASSWORD = urllib.parse.urlsplit(REDIS_URL).password
        R = redis.Redis.from_url(REDIS_URL, decode_responses=True,
                                 socket_timeout=5, socket_connect_timeout=5)
    except ValueError as e:
        fail(2, f"bad REDIS_URL {redact(REDIS_URL)}: {e}")
    BUY = R.register_script(BUY_LUA)


def short(err):
    """A short error description for a 503, never containing the password."""
    text = f"{type(err).__name__}: {err}"
    if _PASSWORD:
        text = text.replace(_PASSWORD, "***")
    return text[:160]


class Unavailable(Exception):
    """A purchase that ended in 503 without a Redis exception."""


def buy(buyer, quantity, order_id):
    """One atomic script: check, decrement, record. Returns a reply dict."""
    outcome = BUY(keys=[STOCK_KEY, ORDERS_KEY], args=[quantity, order_id, str(buyer)])
    if outcome == "sold":
        return {"result": "sold", "order_id": order_id}
    if outcome == "sold_out":
        return {"result": "sold_out"}
    if outcome == "no_stock":
        raise Unavailable("no stock key")
    raise Unavailable(f"unexpected script reply {outcome!r}"[:160])


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = NAME
    sys_version = ""
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def version_string(self):
        return NAME

    def reply(self, code, obj=None, text=None):
        if text is not None:
            body, ctype = text.encode(), "text/plain; charset=utf-8"
        else:
            body, ctype = json.dumps(obj, separators=(",", ":")).encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def read_order(self):
        """(buyer, quantity) from the JSON body, or None if it is unusable."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # we cannot skip the body: drop the connection
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            return None
        if length < 0 or length > 1 << 20:
            self.close_connection = True
            return None
        raw = self.rfile.read(length) if length else b""
        try:
            obj = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(obj, dict) or "buyer" not in obj:
            return None
        buyer = obj["buyer"]
        quantity = obj.get("quantity", 1)
        if isinstance(buyer, bool) or not isinstance(buyer, (int, str)):
            return None
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            return None
        return buyer, quantity

    def do_GET(self):
        if self.path.split("?", 1)[0] != "/health":
            self.reply(404, {"result": "not_found"})
            return
        try:
            R.ping()
        except redis.RedisError as e:
            self.reply(503, {"status": "redis unreachable", "detail": short(e)})
            return
        self.reply(200, {"status": "ok"})

    def do_POST(self):
        if self.path.split("?", 1)[0] != "/buy":
            self.close_connection = True  # the body was not read
            self.reply(404, {"result": "not_found"})
            return
        order = self.read_order()
        if order is None:
            self.reply(400, {"result": "bad_request"})
            return
        buyer, quantity = order
        order_id = self.headers.get("Idempotency-Key") or uuid.uuid4().hex
        try:
            result = buy(buyer, quantity, order_id)
        except Unavailable as e:
            self.reply(503, {"result": "error", "detail": str(e)})
            return
        except (redis.RedisError, ValueError) as e:
            self.reply(503, {"result": "error", "detail": short(e)})
            return
        self.reply(200, result)


def main():
    ap = argparse.ArgumentParser(description="An atomic Lua purchase over HTTP")
    ap.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    args = ap.parse_args()
    configure()

    # Until the server runs, a stop signal exits at once (even mid-PING);
    # then it asks the main thread to shut the server down.
    stop = threading.Event()
    serving = False

    def on_stop(signum, frame):
        if not serving:
            os._exit(0)
        stop.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    try:
        R.ping()
    except redis.RedisError as e:
        fail(3, f"cannot reach Redis at {redact(REDIS_URL)}: {short(e)}")

    server = Server(("127.0.0.1", args.port), Handler)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.05}, daemon=True)
    serving = True
    thread.start()
    print(f"{NAME}: listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()      # from the main thread; serve_forever runs in `thread`
    server.server_close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)            # handler threads may be mid-request: do not wait for them


if __name__ == "__main__":
    main()
