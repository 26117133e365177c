#!/usr/bin/env python3
r"""reply_service: a shop with scripted replies, for seckill-bench's own tests.

Started like the example services (python3 tests/services/reply_service.py
--port PORT) with REDIS_URL, STOCK_KEY, ORDERS_KEY (required) and LOCK_KEY
(optional, unused). Env PATTERN is a comma-separated list of reply kinds
given to successive POST /buy requests in turn, cycling (one global counter
under a lock; a request counts once its body parsed). Default "sold".

    sold        atomically (Lua) take `quantity` units if enough remain and
                HSET ORDERS_KEY order_id buyer: 200 {"result":"sold","order_id":id},
                or 200 {"result":"sold_out"} when not enough remain
    lost_order  the same, but the order is NOT recorded (the reply still says
                sold, with its order_id): an order missing from the orders key.
                Writes "reply_service: order <id> not recorded" to stderr.
    wrong_id    the same as sold, the order recorded under the request's id,
                but the reply gives another (a fresh uuid4): as many orders as
                sales, none under the id the buyer was given. Writes
                "reply_service: order <id> not recorded" (the id replied).
    error503    503 text/plain "overloaded: try later", touching nothing
    weird       200 {"result":"maybe"}, touching nothing
    duplicate   200 {"result":"duplicate"}, touching nothing
    teapot      418 text/plain "I'm a teapot", touching nothing
    hang        sleeps HANG_MS (default 30000) before answering 503
    die         the process exits at once (code 7), answering nothing
                {"result":"error","detail":"hung"}, touching nothing

Every kind but sold/lost_order/wrong_id first reads the stock (GET) and answers
200 {"result":"sold_out"} when fewer than `quantity` units remain, so a run
always ends once the stock is gone. A missing stock key is 503
{"result":"error","detail":"no stock key"}; a Redis error 503
{"result":"error","detail":...}; a bad body 400 {"result":"bad_request"}.
GET /health is 200 {"status":"ok"} while Redis answers PING.
Bad settings exit 2, Redis unreachable at start-up exits 3, SIGTERM/SIGINT
exit 0.
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

NAME = "reply_service"

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

# ARGV[4] = "1": record the order; "0": do not (lost_order).
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
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
end
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


KINDS = ("sold", "lost_order", "wrong_id", "error503", "weird", "duplicate", "teapot",
         "hang", "die")

REDIS_URL = STOCK_KEY = ORDERS_KEY = None
R = None          # the one redis.Redis client (thread-safe, with its pool)
BUY = None        # the registered script (EVALSHA, reloaded on NOSCRIPT)
_PASSWORD = None
PATTERN = ["sold"]
HANG_S = 30.0
_counter = 0
_counter_lock = threading.Lock()


def configure():
    """Read the environment and make the Redis client (exit 2 on bad settings)."""
    global REDIS_URL, STOCK_KEY, ORDERS_KEY, R, BUY, _PASSWORD, PATTERN, HANG_S
    REDIS_URL = env_required("REDIS_URL")
    STOCK_KEY = env_required("STOCK_KEY")
    ORDERS_KEY = env_required("ORDERS_KEY")
    PATTERN = [k.strip() for k in os.environ.get("PATTERN", "sold").split(",") if k.strip()]
    if not PATTERN:
        PATTERN = ["sold"]
    unknown = [k for k in PATTERN if k not in KINDS]
    if unknown:
        fail(2, f"PATTERN: unknown kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    HANG_S = env_int("HANG_MS", 30000) / 1000.0
    try:
        _PASSWORD = urllib.parse.urlsplit(REDIS_URL).password
        R = redis.Redis.from_url(REDIS_URL, decode_responses=True,
                                 socket_timeout=5, socket_connect_timeout=5)
    except ValueError as e:
        fail(2, f"bad REDIS_URL {redact(REDIS_URL)}: {e}")
    BUY = R.register_script(BUY_LUA)


def next_kind():
    global _counter
    with _counter_lock:
        kind = PATTERN[_counter % len(PATTERN)]
        _counter += 1
    return kind


def short(err):
    """A short error description for a 503, never containing the password."""
    text = f"{type(err).__name__}: {err}"
    if _PASSWORD:
        text = text.replace(_PASSWORD, "***")
    return text[:160]


class Unavailable(Exception):
    """A purchase that ended in 503 without a Redis exception."""


def buy_atomic(buyer, quantity, order_id, record):
    """Check, decrement and (if record) HSET the order in one script."""
    outcome = BUY(keys=[STOCK_KEY, ORDERS_KEY],
                  args=[quantity, order_id, str(buyer), "1" if record else "0"])
    if outcome == "sold":
        return 200, {"result": "sold", "order_id": order_id}
    if outcome == "sold_out":
        return 200, {"result": "sold_out"}
    if outcome == "no_stock":
        raise Unavailable("no stock key")
    raise Unavailable(f"unexpected script reply {outcome!r}"[:160])


def not_recorded(order_id):
    """Says so on stderr in one write(2), whole even when threads race."""
    os.write(2, f"{NAME}: order {order_id} not recorded\n".encode())


def buy(kind, buyer, quantity, order_id):
    """(status, json object or text) for one /buy of this kind."""
    if kind == "sold":
        return buy_atomic(buyer, quantity, order_id, record=True)
    if kind == "lost_order":
        status, result = buy_atomic(buyer, quantity, order_id, record=False)
        if result.get("result") == "sold":
            not_recorded(order_id)
        return status, result
    if kind == "wrong_id":
        status, result = buy_atomic(buyer, quantity, order_id, record=True)
        if result.get("result") == "sold":
            result["order_id"] = uuid.uuid4().hex
            not_recorded(result["order_id"])
        return status, result
    stock = R.get(STOCK_KEY)  # sold out wins over every scripted misbehaviour
    if stock is None:
        raise Unavailable("no stock key")
    if int(stock) < quantity:
        return 200, {"result": "sold_out"}
    if kind == "error503":
        return 503, "overloaded: try later"
    if kind == "weird":
        return 200, {"result": "maybe"}
    if kind == "duplicate":
        return 200, {"result": "duplicate"}
    if kind == "teapot":
        return 418, "I'm a teapot"
    if kind == "die":
        os._exit(7)
    if kind == "hang":
        time.sleep(HANG_S)  # the harness times out first
        return 503, {"result": "error", "detail": "hung"}
    raise Unavailable(f"unknown kind {kind}")


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
        kind = next_kind()
        try:
            status, result = buy(kind, buyer, quantity, order_id)
        except Unavailable as e:
            self.reply(503, {"result": "error", "detail": str(e)})
            return
        except (redis.RedisError, ValueError) as e:
            self.reply(503, {"result": "error", "detail": short(e)})
            return
        if isinstance(result, str):
            self.reply(status, text=result)
        else:
            self.reply(status, result)


def main():
    ap = argparse.ArgumentParser(description="A shop with scripted replies, for tests")
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
