#!/usr/bin/env python3
r"""article_service: the seed article's Redis lock, served over HTTP.

What it is
    A small flash-sale shop (Python 3.11 standard library + redis-py) whose
    POST /buy does exactly what the seed article's `update_inventory` does
    (docs: /work/shared/seed/ARTICLE.md), one request at a time per thread:

        SET LOCK_KEY 1 NX PX LOCK_TTL_MS   retried every RETRY_MS until it succeeds
        GET STOCK_KEY                      missing -> 503 "no stock key"
        INCRBY STOCK_KEY -quantity         only if stock >= quantity, then
        HSET ORDERS_KEY order_id buyer     record the order
        DEL LOCK_KEY                       always, in `finally`

    Each command is its own round trip, in this order, with no pipeline and no
    MULTI, all on one Redis connection held for the whole purchase, so a proxy
    watching the command stream sees the purchase exactly as the article
    issues it. seckill-bench starts several instances of it
    (scenarios/service-article.toml) and loads them over HTTP.

Its bug (on purpose: it is the article's)
    The lock is a constant value with a TTL. If the holder stalls between GET
    and INCRBY for longer than LOCK_TTL_MS (a GC or VM pause, SIGSTOP, CPU
    starvation, a slow network), the lock expires under it: another instance
    takes the lock, reads the same stock and sells it too, and when the
    stalled one resumes it decrements from its stale read, so the stock can go
    below zero (an oversell). Its unconditional `DEL LOCK_KEY` then deletes
    whoever holds the lock by then, letting a third buyer in as well.
    The only departure from the article: acquiring the lock gives up after
    30 s (503) instead of retrying forever, so a request never hangs forever.

How to run it
    REDIS_URL=redis://127.0.0.1:6379/0 STOCK_KEY=stock LOCK_KEY=lock \
    ORDERS_KEY=orders LOCK_TTL_MS=5000 RETRY_MS=10 \
        python3 examples/services/article_service.py --port 8080

    redis-cli SET stock 100
    curl -s -XPOST localhost:8080/buy -H 'Idempotency-Key: o-1' \
        -d '{"buyer": "alice", "quantity": 1}'
    -> {"result": "sold", "order_id": "o-1"}

API
    GET  /health -> 200 {"status": "ok"} (503 if Redis does not answer PING)
    POST /buy    body {"buyer": <int|string>, "quantity": <int, default 1>},
                 optional header Idempotency-Key (the order id; else a uuid4)
        200 {"result": "sold", "order_id": "<id>"}
        200 {"result": "sold_out"}
        400 {"result": "bad_request"}
        503 {"result": "error", "detail": "<short>"}

Environment: REDIS_URL, STOCK_KEY, LOCK_KEY, ORDERS_KEY (required);
LOCK_TTL_MS (default 5000), RETRY_MS (default 10). Missing or bad settings
exit 2; Redis unreachable at start-up exits 3; SIGTERM/SIGINT exit 0.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = "article_service"

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

GIVE_UP_S = 30.0  # the article retries forever; we answer 503 after this


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


REDIS_URL = STOCK_KEY = LOCK_KEY = ORDERS_KEY = None
LOCK_TTL_MS = RETRY_MS = None
R = None          # the one redis.Redis client (thread-safe, with its pool)
_PASSWORD = None


def configure():
    """Read the environment and make the Redis client (exit 2 on bad settings)."""
    global REDIS_URL, STOCK_KEY, LOCK_KEY, ORDERS_KEY, LOCK_TTL_MS, RETRY_MS, R, _PASSWORD
    REDIS_URL = env_required("REDIS_URL")
    STOCK_KEY = env_required("STOCK_KEY")
    LOCK_KEY = env_required("LOCK_KEY")
    ORDERS_KEY = env_required("ORDERS_KEY")
    LOCK_TTL_MS = env_int("LOCK_TTL_MS", 5000)
    RETRY_MS = env_int("RETRY_MS", 10)
    if LOCK_TTL_MS < 1:
        fail(2, "LOCK_TTL_MS must be >= 1")
    try:
        _PASSWORD = urllib.parse.urlsplit(REDIS_URL).password
        R = redis.Redis.from_url(REDIS_URL, decode_responses=True,
                                 socket_timeout=5, socket_connect_timeout=5)
    except ValueError as e:
        fail(2, f"bad REDIS_URL {redact(REDIS_URL)}: {e}")


def short(err):
    """A short error description for a 503, never containing the password."""
    text = f"{type(err).__name__}: {err}"
    if _PASSWORD:
        text = text.replace(_PASSWORD, "***")
    return text[:160]


class Unavailable(Exception):
    """A purchase that ended in 503 without a Redis exception."""


class StepFailed(Exception):
    """A Redis error, with the command it happened in (a failed INCRBY or
    HSET may still have been applied: that purchase is in doubt)."""


def buy(buyer, quantity, order_id):
    """The article's update_inventory, command for command. Returns a reply dict."""
    # One connection from the shared pool for the whole purchase.
    with R.client() as c:
        deadline = time.monotonic() + GIVE_UP_S
        gave_up = False
        step = "SET NX"
        try:
            # acquire_lock: SET lock 1 NX PX ttl, retried every RETRY_MS.
            while True:
                if c.set(LOCK_KEY, 1, nx=True, px=LOCK_TTL_MS):
                    break
                if time.monotonic() >= deadline:
                    gave_up = True
                    raise Unavailable("lock wait timeout")
                time.sleep(RETRY_MS / 1000.0)
            step = "GET"
            inventory = c.get(STOCK_KEY)
            if inventory is None:
                raise Unavailable("no stock key")  # the article: ValueError('没有库存')
            if int(inventory) >= quantity:
                step = "INCRBY"
                c.incrby(STOCK_KEY, -quantity)
                step = "HSET"
                c.hset(ORDERS_KEY, order_id, str(buyer))
                return {"result": "sold", "order_id": order_id}
            return {"result": "sold_out"}  # the article: ValueError('库存不足')
        except redis.RedisError as e:
            raise StepFailed(f"{step}: {short(e)}") from e
        finally:
            # release_lock: DEL, unconditionally -- even if our lock expired
            # and someone else holds it now (the article's bug), and even after
            # a Redis error, as the article's try/finally does. Skipped only
            # when we gave up waiting without ever holding it.
            if not gave_up:
                try:
                    c.delete(LOCK_KEY)
                except redis.RedisError:
                    pass


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
        except StepFailed as e:
            self.reply(503, {"result": "error", "detail": str(e)[:160]})
            return
        except (redis.RedisError, ValueError) as e:
            self.reply(503, {"result": "error", "detail": short(e)})
            return
        self.reply(200, result)


def main():
    ap = argparse.ArgumentParser(description="The seed article's Redis lock over HTTP")
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
