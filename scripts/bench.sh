#!/usr/bin/env bash
# Client benchmark: how fast and how cheap is seckill-bench as a load
# generator, next to redis-benchmark (and memtier_benchmark when installed)
# sending the very same command to the same throwaway redis-server.
#
#   scripts/bench.sh [quick|full] [compare] [layout] [conns] [soak]
#   scripts/bench.sh script     the user's script against lua, and the buyer
#                               ledger's memory: scripts/bench-script.sh
#   scripts/bench.sh coord      the coordinator's CPU next to 64 workers':
#                               scripts/bench-coord.sh
#   scripts/bench.sh capacity   the capacity search, then its 0.8x / 1.25x
#                               check: scripts/bench-capacity.sh
#   scripts/bench.sh http       the http strategy as an HTTP load generator
#                               next to wrk, then a real service end to end
#   scripts/bench.sh history    what the per-purchase history costs, and the
#                               coordinator's memory at a million sales:
#                               scripts/bench-history.sh
#   scripts/bench.sh hotpath    this build's hot path against an earlier
#                               build's (BASELINE_BIN or BASELINE_REV), lua,
#                               decr, article and the user's script:
#                               scripts/bench-hotpath.sh
#   scripts/bench.sh pool       what a pool of 4 costs at 64 clients: the
#                               pool_wait p99 against the purchase p99, next
#                               to per-client and a pool of 16:
#                               scripts/bench-pool.sh
#   scripts/bench.sh valkey     valkey-server (io-threads off and on) against
#                               redis-server, lua 1 x 50, alternating:
#                               scripts/bench-valkey.sh
#
#   quick (default)  compare + conns                       ~1-2 minutes
#   full             compare + layout + conns + soak        ~3-4 minutes
#   compare  ROUNDS rounds, alternating in each round:
#              redis-benchmark -c 50 -n N EVALSHA <sha> 1 <stock key> 1
#              seckill-bench, strategy lua (one EVALSHA of the same script per
#                purchase), 50 clients (LAYOUT, default 1 process x 50), closed
#                loop, huge stock, BENCH_SECONDS long
#              memtier_benchmark, same command, 1 thread x 50 clients (if installed)
#              seckill-bench 1x50-shared2: the same 50 clients over 2 shared
#                (multiplexed) connections, [load] connections = "shared"
#              redis-benchmark -P 2: the same command, 2 requests pipelined
#                per connection (what 2 shared connections let through at
#                once is up to 25 per connection: see docs/connections.md)
#              redis-benchmark -c 2 -P 25: the shared shape itself, 50
#                requests in flight over 2 connections, each batch of 25
#                sent at once: the most a lean client gets in that shape
#   layout   seckill-bench 2 processes x 25 clients as well, in the same rounds
#            (1 x 50 is the default because it is faster on 2 cores: one
#            worker process keeps one core busy and leaves the other to the
#            single-threaded redis-server; with 2 workers, three busy
#            processes share two cores, and each epoll_wait finds fewer ready
#            connections: in six full runs on a 2-core VM, 2-18% fewer
#            ops/s and 0.2-1.6 us more client CPU per op than 1 x 50)
#   conns    64 processes x 64 clients (4096 connections) for CONNS_SECONDS,
#            RSS per connection (and 64 x 1 for the per-process baseline)
#   soak     SOAK_PURCHASES purchases (10 million), RSS sampled over time
#   http     (not in quick or full; ~2 minutes) ROUNDS rounds, alternating
#            in each round, against one nginx started here on a free
#            127.0.0.1 port (one process, its own config in a temp dir)
#            whose every reply is 200 {"result":"dup"}:
#              wrk -t1 -c50 -dHTTP_SECONDS, POST /buy with a JSON body
#              seckill-bench, strategy http, the same POST with the buyer
#                and quantity filled in per request, 1 process x 50
#                clients, closed loop, HTTP_SECONDS long; "dup" is mapped
#                to a rejection, so clients go on buying until the end (a
#                run whose every purchase was rejected is INCONCLUSIVE,
#                exit 5: expected here); targets: requests/s >= 1.0 x wrk's
#                in the same round, client CPU per request <= 1.2 x wrk's
#            then, ROUNDS times, end to end: examples/services/lua_service.py
#            x 4 instances started by the harness on this redis-server,
#            SERVICE_LAYOUT (2x16) clients, closed loop, HTTP_SECONDS long,
#            stock 1,000,000; its CPU is split into the harness's (its
#            whole life), the instances' (read from /proc every 0.1 s, from
#            the moment a worker is up) and redis-server's.
#            Installs wrk and nginx (and python3-redis) if missing.
#
# Environment: ROUNDS (3), BENCH_SECONDS (6; full: 8), LAYOUT (1x50),
# CONNS_SECONDS (5), SOAK_PURCHASES (10000000), SOAK_LAYOUT (=LAYOUT),
# HTTP_SECONDS (5), SERVICE_LAYOUT (2x16),
# QUIET_WAIT (30: at most this many seconds to wait for an idle machine
# before each measurement), RETRY_NOISY (1: take a compare or http
# measurement again once when other processes used more than 25% of a CPU
# during it; 0: never).
#
# Client CPU is user+sys of the load generator's processes only: bash's
# `time` around the command, which for seckill-bench covers the coordinator
# and its worker processes (it waits for them). redis-server is started here,
# not by the measured command, and its own CPU is read from /proc and shown
# separately (server_cpu_us_per_op), as is the CPU used by anything else on
# the machine meanwhile (other_cpu_pct, in % of one CPU: noise; above 10% a
# measurement is flagged with a *; see other_pct). Everything talks to
# 127.0.0.1.
#
# For http, wrk's CPU is bash's `time` around it as well, nginx's is read
# from /proc like redis-server's (server_cpu_us_per_op), and in the end to
# end rows the instances' CPU is service_cpu_us_per_op, left out of the
# harness's cpu_us_per_op.
#
# Output: a table on stdout and reports/bench/bench.csv (one row per
# measurement, then one `median` row per compared tool), the RSS samples
# conns-64x1-rss.csv, conns-64x64-rss.csv and soak-rss.csv, and the
# seckill-bench run folders in reports/bench/runs/.
# A benchmark, not a test: missing a target is reported, not an error. It
# exits non-zero only when a measurement itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# ---------------------------------------------------------------- arguments
SECTIONS=()
MODE=""
for arg in "$@"; do
  case "$arg" in
    quick | full) MODE=$arg ;;
    compare | layout | conns | soak | http) SECTIONS+=("$arg") ;;
    script) exec bash "$(dirname "$0")/bench-script.sh" ;;
    coord) exec bash "$(dirname "$0")/bench-coord.sh" ;;
    capacity) exec bash "$(dirname "$0")/bench-capacity.sh" ;;
    history) exec bash "$(dirname "$0")/bench-history.sh" ;;
    hotpath) exec bash "$(dirname "$0")/bench-hotpath.sh" ;;
    pool) exec bash "$(dirname "$0")/bench-pool.sh" ;;
    valkey) exec bash "$(dirname "$0")/bench-valkey.sh" ;;
    -h | --help) usage; exit 0 ;;
    *) echo "error: unknown argument '$arg' (see scripts/bench.sh --help)" >&2; exit 2 ;;
  esac
done
if [ ${#SECTIONS[@]} -eq 0 ]; then
  case "${MODE:-quick}" in
    quick) SECTIONS=(compare conns) ;;
    full) SECTIONS=(compare layout conns soak) ;;
  esac
fi
want() { local s; for s in "${SECTIONS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

ROUNDS=${ROUNDS:-3}
if [ "$MODE" = full ]; then BENCH_SECONDS=${BENCH_SECONDS:-8}; else BENCH_SECONDS=${BENCH_SECONDS:-6}; fi
LAYOUT=${LAYOUT:-1x50}
CONNS_SECONDS=${CONNS_SECONDS:-5}
QUIET_WAIT=${QUIET_WAIT:-30}
RETRY_NOISY=${RETRY_NOISY:-1}
SOAK_PURCHASES=${SOAK_PURCHASES:-10000000}
SOAK_MID=""
SOAK_LAYOUT=${SOAK_LAYOUT:-$LAYOUT}
HTTP_SECONDS=${HTTP_SECONDS:-5}
SERVICE_LAYOUT=${SERVICE_LAYOUT:-2x16}
CLIENTS=50
for v in ROUNDS BENCH_SECONDS CONNS_SECONDS SOAK_PURCHASES QUIET_WAIT HTTP_SECONDS; do
  if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then echo "error: $v must be a positive whole number, got '${!v}'" >&2; exit 2; fi
done
case $RETRY_NOISY in 0 | 1) ;; *) echo "error: RETRY_NOISY must be 0 or 1, got '$RETRY_NOISY'" >&2; exit 2 ;; esac
for v in LAYOUT SOAK_LAYOUT SERVICE_LAYOUT; do
  if ! [[ ${!v} =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]]; then echo "error: $v must look like 1x50 (processes x clients), got '${!v}'" >&2; exit 2; fi
done
if [ $(( ${LAYOUT%x*} * ${LAYOUT#*x} )) -ne $CLIENTS ]; then
  echo "error: LAYOUT=$LAYOUT is not $CLIENTS clients in all" >&2; exit 2
fi

# ------------------------------------------------------------ tools, build
. scripts/lib/ensure-redis.sh
ensure_redis
REDIS_SERVER=${SECKILL_REDIS_SERVER:-redis-server}
for tool in redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool not found (Debian: apt-get install redis-tools)" >&2; exit 4; }
done
if want conns || want soak; then
  command -v pgrep >/dev/null 2>&1 || { echo "error: pgrep not found (Debian: apt-get install procps)" >&2; exit 4; }
fi
MEMTIER=$(command -v memtier_benchmark || true)
NGINX=""
if want http; then
  # wrk and nginx from the system package manager, as ensure-redis.sh does
  # for redis-server. nginx lives in /usr/sbin, not always on PATH. Debian's
  # nginx package may start a system service on port 80: this script does
  # not use it (it starts its own nginx on a free port), so it is left as it is.
  . scripts/lib/install-packages.sh
  find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
  NGINX=$(find_nginx)
  if ! command -v wrk >/dev/null 2>&1 || [ -z "$NGINX" ]; then
    install_packages "wrk and nginx" "wrk nginx" "wrk nginx" "wrk nginx" || exit 4
    NGINX=$(find_nginx)
  fi
  command -v wrk >/dev/null 2>&1 || { echo "error: wrk not found (Debian: apt-get install wrk)" >&2; exit 4; }
  [ -n "$NGINX" ] || { echo "error: nginx not found (Debian: apt-get install nginx)" >&2; exit 4; }
  . scripts/lib/ensure-python-redis.sh
  ensure_python_redis || { echo "error: python3 with redis-py is needed for examples/services/lua_service.py" >&2; exit 4; }
fi
cargo build --release --locked
# where cargo put it: CARGO_TARGET_DIR is honoured (relative to the repository)
BIN=${CARGO_TARGET_DIR:-target}/release/seckill-bench
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
OUT=$ROOT/reports/bench

# ------------------------------------------------------------- temp + trap
TMP=$(mktemp -d "${TMPDIR:-/tmp}/seckill-bench.XXXXXX")
REDIS_PID=""
NGINX_PID=""
JOB_PID=""
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$JOB_PID" ] && kill -0 "$JOB_PID" 2>/dev/null; then
    # the coordinator's own children (workers, service instances) get a
    # parent-death signal
    pkill -TERM -P "$JOB_PID" 2>/dev/null || true
    kill -TERM "$JOB_PID" 2>/dev/null || true
    wait "$JOB_PID" 2>/dev/null || true
  fi
  if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  if [ -n "$REDIS_PID" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

die() { echo "error: $*" >&2; exit 4; }

# -------------------------------------------------------------- redis-server
# 4096 client connections need more than the usual 1024 descriptors.
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$(ulimit -Hn)"; fi
PORT=""
for _ in $(seq 1 20); do
  port=$(( 20000 + RANDOM % 30000 ))
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # taken
  mkdir -p "$TMP/redis"
  "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$TMP/redis" --logfile "$TMP/redis/redis.log" --daemonize no \
    --maxclients 10000 >/dev/null 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 50); do
    # ours, not another server that took the port meanwhile
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" INFO server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" = "$REDIS_PID" ]; then
      PORT=$port; break
    fi
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$PORT" ] && break
  kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""
done
[ -n "$PORT" ] || die "could not start redis-server on a free loopback port (see a redis.log in $TMP)"
URL="redis://127.0.0.1:$PORT/0"
rcli() { redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }

# The exact bytes of CHECK_AND_DECREMENT, as redis::Script hashes them: the
# raw string starts with the newline after r#" and ends with the one before "#.
awk '/CHECK_AND_DECREMENT: &str = r#"/ { on = 1; print ""; next }
     on && /^"#;/ { exit }
     on { print }' src/strategy/sources.rs >"$TMP/check_and_decrement.lua"
[ -s "$TMP/check_and_decrement.lua" ] || die "CHECK_AND_DECREMENT not found in src/strategy/sources.rs"
SHA=$(rcli -x SCRIPT LOAD <"$TMP/check_and_decrement.lua")
[ "$SHA" = "$(sha1sum <"$TMP/check_and_decrement.lua" | cut -d' ' -f1)" ] || die "SCRIPT LOAD returned '$SHA'"
HUGE=1000000000000000 # 1e15: exact in Lua's doubles, never sold out
KEY="bench:{stock}"
rcli SET "$KEY" "$HUGE" >/dev/null

# ----------------------------------------------------------------- helpers
ticks_per_s=$(getconf CLK_TCK)
# utime + stime of redis-server (fields 14 and 15 of stat; after the ") "
# that ends the command name they are the 12th and 13th)
server_ticks() { local s f; read -r s <"/proc/$REDIS_PID/stat"; read -ra f <<<"${s##*) }"; echo $(( f[11] + f[12] )); }
# busy ticks of the whole machine (all CPUs): user nice system irq softirq steal
machine_ticks() { local u n s irq sirq st; read -r _ u n s _ _ irq sirq st _ </proc/stat; echo $(( u + n + s + irq + sirq + st )); }
stock() { rcli GET "$KEY"; }

# other_pct M0 M1: busy CPU charged neither to the load generator nor to
# redis-server between two machine_ticks readings, in % of one CPU over the
# measurement's wall time: other processes, this script's RSS sampling, and
# kernel work charged to no process (softirqs run from the idle task: with
# 64 worker processes this alone is ~15%).
other_pct() {
  awk -v m="$(( $2 - $1 ))" -v s="$RUN_SERVER" -v u="$RUN_USER" -v y="$RUN_SYS" -v w="$RUN_WALL" -v hz="$ticks_per_s" \
    'BEGIN { o = m / hz - s / hz - u - y; if (o < 0) o = 0; printf "%.1f", (w > 0 ? 100 * o / w : 0) }'
}

# wait_quiet: before a measurement, waits (at most QUIET_WAIT s) for a second
# in which the machine is nearly idle (< 20% of one CPU busy), so other work
# (a build, a test suite) skews it less. What remains shows as other_cpu_pct.
wait_quiet() {
  local waited=0 m0 m1
  while :; do
    m0=$(machine_ticks); sleep 1; m1=$(machine_ticks)
    [ $(( m1 - m0 )) -le $(( ticks_per_s / 5 )) ] && return 0
    waited=$(( waited + 1 ))
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      echo "warning: the machine stayed busy for ${QUIET_WAIT}s (other processes); measuring anyway" >&2
      return 0
    fi
  done
}

# timed LABEL CMD...: runs CMD with stdout+stderr in $TMP/LABEL.log; leaves
# "wall user sys" in $TMP/LABEL.time and the exit code in $TMP/LABEL.rc.
timed() {
  local label=$1; shift
  local TIMEFORMAT='%3R %3U %3S'
  echo 0 >"$TMP/$label.rc"
  { time "$@" >"$TMP/$label.log" 2>&1 || echo $? >"$TMP/$label.rc"; } 2>"$TMP/$label.time"
}

# column NAME FILE: a field of a one-row CSV with a header (no quoted commas).
column() { awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } NR == 2 && c { print $c }' "$2"; }

# scenario FILE PROCESSES CLIENTS STOP_LINE [CONNECTIONS_LINES]
scenario() {
  cat >"$1" <<EOF
name = "bench-lua"
description = "scripts/bench.sh: one EVALSHA check-and-decrement per purchase, closed loop, huge stock"

[stock]
initial = $HUGE

[load]
processes = $2
clients_per_process = $3
$4
${5:-}

[strategy]
kind = "lua"
EOF
}

CSV_HEADER="section,round,tool,processes,clients,ops,seconds,ops_per_s,ratio,cpu_user_s,cpu_sys_s,cpu_us_per_op,server_cpu_us_per_op,other_cpu_pct,rss_start_kib,rss_end_kib,rss_max_kib,rss_per_conn_kib,anon_per_conn_kib,status,service_cpu_us_per_op"
ROWS=$TMP/rows.csv
: >"$ROWS"
FAILED=0

# record SECTION ROUND TOOL PROCS CLIENTS OPS SECONDS USER SYS SERVER_TICKS OTHER_PCT STATUS [RSS_START RSS_END RSS_MAX RSS_PER_CONN ANON_PER_CONN [SERVICE_TICKS]]
record() {
  awk -v OFS=, -v hz="$ticks_per_s" \
    -v sec="$1" -v rnd="$2" -v tool="$3" -v p="$4" -v c="$5" -v ops="$6" -v s="$7" -v u="$8" -v sy="$9" \
    -v st="${10}" -v ot="${11}" -v status="${12}" -v r0="${13:-}" -v r1="${14:-}" -v rm="${15:-}" -v rc="${16:-}" -v ac="${17:-}" \
    -v sv="${18:-}" 'BEGIN {
      rate = s > 0 ? ops / s : 0
      cpu = ops > 0 ? (u + sy) / ops * 1e6 : 0
      srv = ops > 0 ? st / hz / ops * 1e6 : 0
      svc = (sv != "" && ops > 0) ? sprintf("%.2f", sv / hz / ops * 1e6) : ""
      print sec, rnd, tool, p, c, ops, sprintf("%.3f", s), sprintf("%.0f", rate), "", u, sy,
        sprintf("%.2f", cpu), sprintf("%.2f", srv), ot, r0, r1, rm, rc, ac, status, svc
    }' >>"$ROWS"
}

# run_seckill LABEL PROCESSES CLIENTS STOP_LINE [sampler-file] [connections
# lines]: one run of seckill-bench against the bench's redis-server; sets
# RUN_* variables.
run_seckill() {
  local label=$1 procs=$2 clients=$3 stop=$4 samples=${5:-} links=${6:-}
  scenario "$TMP/$label.toml" "$procs" "$clients" "$stop" "$links"
  local s0 m0 s1 m1
  wait_quiet
  s0=$(server_ticks); m0=$(machine_ticks)
  if [ -z "$samples" ]; then
    timed "$label" "$BIN" run "$TMP/$label.toml" --redis-url "$URL" --out "$TMP/runs/$label" --quiet
  else
    timed "$label" "$BIN" run "$TMP/$label.toml" --redis-url "$URL" --out "$TMP/runs/$label" --quiet &
    JOB_PID=$!
    sample_rss "$JOB_PID" "$samples"
    wait "$JOB_PID" || true
    JOB_PID=""
  fi
  s1=$(server_ticks); m1=$(machine_ticks)
  local rc; rc=$(cat "$TMP/$label.rc")
  local summary=$TMP/runs/$label/summary.csv
  if [ "$rc" != 0 ] || [ ! -f "$summary" ]; then
    echo "seckill-bench run '$label' failed (exit $rc):" >&2
    tail -n 20 "$TMP/$label.log" >&2
    FAILED=1
    return 1
  fi
  read -r RUN_WALL RUN_USER RUN_SYS <"$TMP/$label.time"
  RUN_OPS=$(column attempts "$summary")
  RUN_SECONDS=$(column duration_s "$summary")
  RUN_ERRORS=$(column errors "$summary")
  RUN_VERDICT=$(column verdict "$summary")
  RUN_SERVER=$(( s1 - s0 ))
  RUN_OTHER=$(other_pct "$m0" "$m1")
  RUN_STATUS=$RUN_VERDICT
  [ "$RUN_ERRORS" = 0 ] || RUN_STATUS="$RUN_VERDICT errors=$RUN_ERRORS"
}

# sample_rss JOB FILE: every 0.5 s, until JOB ends, the summed VmRSS (and
# RssAnon: the part not shared with other processes' binary pages) of the
# coordinator's children (the `seckill-bench worker` processes) and how many.
sample_rss() {
  local job=$1 file=$2 start coord pids pid n kib anon t
  start=$(date +%s.%N)
  echo "t_s,workers,rss_kib,rss_anon_kib" >"$file"
  while kill -0 "$job" 2>/dev/null; do
    coord=$(pgrep -P "$job" | head -n 1 || true)
    pids=""
    [ -n "$coord" ] && pids=$(pgrep -P "$coord" -f 'seckill-bench worker' || true)
    n=0
    if [ -n "$pids" ]; then
      # one cat and one awk per sample, whatever the number of workers
      read -r n kib anon < <(for pid in $pids; do cat "/proc/$pid/status" 2>/dev/null || true; done |
        awk '/^VmRSS:/ { n++; r += $2 } /^RssAnon:/ { a += $2 } END { print n + 0, r + 0, a + 0 }')
    fi
    t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    [ "$n" -gt 0 ] && echo "$t,$n,$kib,$anon" >>"$file"
    sleep 0.5
  done
}

# rss_stats FILE PROCESSES: "start mid end max anon_max" KiB over the
# samples with every worker up; start is the first sample 2 s in
# (connections open, load running), mid the first one half-way through.
rss_stats() {
  awk -F, -v p="$2" 'NR > 1 && $2 == p { n++; t[n] = $1; r[n] = $3; if ($3 > m) m = $3; if ($4 > am) am = $4 }
    END {
      if (!n) { print 0, 0, 0, 0, 0; exit }
      s = r[1]; for (i = 1; i <= n; i++) if (t[i] >= 2) { s = r[i]; break }
      mid = r[n]; for (i = 1; i <= n; i++) if (t[i] >= t[n] / 2) { mid = r[i]; break }
      print s, mid, r[n], m + 0, am + 0
    }' "$1"
}

# ------------------------------------------------------------------ compare
# run_redis_benchmark LABEL N [PIPELINE [CONNECTIONS]]
run_redis_benchmark() {
  local label=$1 n=$2 pipeline=${3:-1} conns=${4:-$CLIENTS} before after s0 m0 s1 m1 rc rps
  wait_quiet
  before=$(stock); s0=$(server_ticks); m0=$(machine_ticks)
  timed "$label" redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$conns" -n "$n" -P "$pipeline" --csv EVALSHA "$SHA" 1 "$KEY" 1
  s1=$(server_ticks); m1=$(machine_ticks); after=$(stock)
  rc=$(cat "$TMP/$label.rc")
  rps=$(awk -F'"' '$2 ~ /^EVALSHA/ { print $4 }' "$TMP/$label.log")
  if [ "$rc" != 0 ] || [ -z "$rps" ]; then
    echo "redis-benchmark failed (exit $rc):" >&2; tail -n 20 "$TMP/$label.log" >&2; FAILED=1; return 1
  fi
  read -r RUN_WALL RUN_USER RUN_SYS <"$TMP/$label.time"
  RUN_OPS=$n
  RUN_RPS=$rps
  RUN_SECONDS=$(awk -v n="$n" -v r="$rps" 'BEGIN { printf "%.3f", n / r }')
  RUN_SERVER=$(( s1 - s0 ))
  RUN_OTHER=$(other_pct "$m0" "$m1")
  # every request must have run the script and sold one unit
  RUN_STATUS=ok
  [ $(( before - after )) -eq "$n" ] || RUN_STATUS="sold $(( before - after )) of $n"
}

run_memtier() {
  local label=$1 per_client=$2 before after s0 m0 s1 m1 rc rps n
  n=$(( per_client * CLIENTS ))
  wait_quiet
  before=$(stock); s0=$(server_ticks); m0=$(machine_ticks)
  timed "$label" "$MEMTIER" -s 127.0.0.1 -p "$PORT" -t 1 -c "$CLIENTS" -n "$per_client" \
    --hide-histogram --command="EVALSHA $SHA 1 $KEY 1"
  s1=$(server_ticks); m1=$(machine_ticks); after=$(stock)
  rc=$(cat "$TMP/$label.rc")
  rps=$(tr '\r' '\n' <"$TMP/$label.log" | awk '$1 == "Totals" { print $2 }' | tail -n 1)
  if [ "$rc" != 0 ] || [ -z "$rps" ]; then
    echo "memtier_benchmark failed (exit $rc):" >&2; tail -n 20 "$TMP/$label.log" >&2; FAILED=1; return 1
  fi
  read -r RUN_WALL RUN_USER RUN_SYS <"$TMP/$label.time"
  RUN_OPS=$n
  RUN_SECONDS=$(awk -v n="$n" -v r="$rps" 'BEGIN { printf "%.3f", n / r }')
  RUN_SERVER=$(( s1 - s0 ))
  RUN_OTHER=$(other_pct "$m0" "$m1")
  RUN_STATUS=ok
  [ $(( before - after )) -eq "$n" ] || RUN_STATUS="sold $(( before - after )) of $n"
}

# measure TOOL ROUND: one compare measurement, recorded. TOOL is
# redis-benchmark, memtier_benchmark or a seckill-bench layout (1x50). Taken
# again once (RETRY_NOISY=1) when other processes used more than 25% of a CPU
# meanwhile; the first try's seckill-bench run folder is kept as well.
measure() {
  local tool=$1 r=$2 try name procs=1 again=""
  for try in 1 2; do
    [ "$try" = 2 ] && again=-again
    case $tool in
      redis-benchmark) name=$tool; run_redis_benchmark "rb-$r$again" "$N" || return 1 ;;
      redis-benchmark-P2) name="redis-benchmark -P 2"; run_redis_benchmark "rbp2-$r$again" "$N" 2 || return 1 ;;
      redis-benchmark-c2P) # the shared shape: CLIENTS in flight over 2 connections
        name="redis-benchmark -c 2 -P $(( CLIENTS / 2 ))"
        run_redis_benchmark "rbc2-$r$again" "$N" $(( CLIENTS / 2 )) 2 || return 1 ;;
      *-shared*)
        name="seckill-bench $tool"; procs=${tool%%x*}
        local rest=${tool#*x}
        run_seckill "sb-$tool-$r$again" "$procs" "${rest%%-*}" "duration = \"${BENCH_SECONDS}s\"" "" \
          "connections = \"shared\"
pool_size = ${tool##*-shared}" || return 1
        ;;
      memtier_benchmark) name=$tool; run_memtier "mt-$r$again" $(( N / CLIENTS )) || return 1 ;;
      *)
        name="seckill-bench $tool"; procs=${tool%x*}
        run_seckill "sb-$tool-$r$again" "$procs" "${tool#*x}" "duration = \"${BENCH_SECONDS}s\"" || return 1
        ;;
    esac
    if [ "$try" = 1 ] && [ "$RETRY_NOISY" = 1 ] && awk -v o="$RUN_OTHER" 'BEGIN { exit !(o > 25) }'; then
      echo "bench: round $r, $name: other processes used ${RUN_OTHER}% of a CPU meanwhile; measuring again" >&2
      continue
    fi
    break
  done
  record compare "$r" "$name" "$procs" $CLIENTS "$RUN_OPS" "$RUN_SECONDS" "$RUN_USER" "$RUN_SYS" "$RUN_SERVER" "$RUN_OTHER" "$RUN_STATUS"
}

echo "bench: redis-server $("$REDIS_SERVER" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$PORT, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: script sha $SHA, sections: ${SECTIONS[*]}"
mkdir -p "$TMP/runs"

if want compare || want layout; then
  # Warm-up and calibration: N so that redis-benchmark runs ~BENCH_SECONDS,
  # from the faster of two short runs (the first one is often cold).
  run_redis_benchmark warmup-1 100000 || die "redis-benchmark warm-up failed"
  rps=$RUN_RPS
  run_redis_benchmark warmup-2 100000 || die "redis-benchmark warm-up failed"
  rps=$(awk -v a="$rps" -v b="$RUN_RPS" 'BEGIN { print (a > b ? a : b) }')
  N=$(awk -v r="$rps" -v s="$BENCH_SECONDS" 'BEGIN { n = int(r * s / 10000 + 0.5) * 10000; print (n < 10000 ? 10000 : n) }')
  echo "bench: redis-benchmark warm-up ${rps} ops/s -> N = $N requests per round; seckill-bench runs ${BENCH_SECONDS}s"
  for r in $(seq 1 "$ROUNDS"); do
    if want compare; then
      measure redis-benchmark "$r" || true
      measure "$LAYOUT" "$r" || true
      [ -z "$MEMTIER" ] || measure memtier_benchmark "$r" || true
      measure "$LAYOUT-shared2" "$r" || true
      measure redis-benchmark-P2 "$r" || true
      measure redis-benchmark-c2P "$r" || true
    fi
    if want layout; then
      for lay in 1x50 2x25; do
        want compare && [ "$lay" = "$LAYOUT" ] && continue
        measure "$lay" "$r" || true
      done
    fi
    echo "bench: round $r of $ROUNDS done"
  done
  cached=$(rcli INFO memory | tr -d '\r' | awk -F: '$1 == "number_of_cached_scripts" { print $2 }')
  [ "$cached" = 1 ] || echo "warning: redis-server holds $cached scripts: seckill-bench did not run the same script" >&2
fi

# ------------------------------------------------------------------- conns
if want conns; then
  maxclients=$(rcli CONFIG GET maxclients | tail -n 1)
  if [ "$maxclients" -lt 4200 ]; then
    echo "warning: redis-server maxclients is $maxclients (descriptor limit $(ulimit -n)); skipping 64 x 64" >&2
  else
    for lay in 64x1 64x64; do
      p=${lay%x*}; c=${lay#*x}
      if run_seckill "conns-$lay" "$p" "$c" "duration = \"${CONNS_SECONDS}s\"" "$TMP/conns-$lay-rss.csv"; then
        # steady state: the largest sum seen while all workers were up
        read -r r0 _ r1 rmax amax < <(rss_stats "$TMP/conns-$lay-rss.csv" "$p")
        per=$(awk -v m="$rmax" -v n="$(( p * c ))" 'BEGIN { printf "%.1f", m / n }')
        aper=$(awk -v m="$amax" -v n="$(( p * c ))" 'BEGIN { printf "%.1f", m / n }')
        record conns 1 "seckill-bench $lay" "$p" "$(( p * c ))" "$RUN_OPS" "$RUN_SECONDS" "$RUN_USER" "$RUN_SYS" "$RUN_SERVER" "$RUN_OTHER" "$RUN_STATUS" "$r0" "$r1" "$rmax" "$per" "$aper"
      fi
    done
  fi
fi

# -------------------------------------------------------------------- soak
if want soak; then
  p=${SOAK_LAYOUT%x*}; c=${SOAK_LAYOUT#*x}
  per_client=$(( (SOAK_PURCHASES + p * c - 1) / (p * c) ))
  echo "bench: soak, $SOAK_LAYOUT x $per_client purchases = $(( p * c * per_client ))"
  if run_seckill "soak" "$p" "$c" "purchases_per_client = $per_client
duration = \"30m\"" "$TMP/soak-rss.csv"; then
    read -r r0 rmid r1 rmax amax < <(rss_stats "$TMP/soak-rss.csv" "$p")
    SOAK_MID=$rmid
    per=$(awk -v m="$r1" -v n="$(( p * c ))" 'BEGIN { printf "%.1f", m / n }')
    aper=$(awk -v m="$amax" -v n="$(( p * c ))" 'BEGIN { printf "%.1f", m / n }')
    record soak 1 "seckill-bench $SOAK_LAYOUT" "$p" "$(( p * c ))" "$RUN_OPS" "$RUN_SECONDS" "$RUN_USER" "$RUN_SYS" "$RUN_SERVER" "$RUN_OTHER" "$RUN_STATUS" "$r0" "$r1" "$rmax" "$per" "$aper"
  fi
fi

# -------------------------------------------------------------------- http
# busy_ticks PID: utime + stime of a process, as server_ticks
busy_ticks() { local s f; read -r s <"/proc/$1/stat"; read -ra f <<<"${s##*) }"; echo $(( f[11] + f[12] )); }

# csv_field NAME FILE: a field of a one-row CSV, quoted commas and all
# (summary.csv's inconclusive_reason is free text).
csv_field() { python3 -c 'import csv, sys; print(next(csv.DictReader(open(sys.argv[2])))[sys.argv[1]])' "$1" "$2"; }

# http_header PORT NAME: that header of a GET /buy on 127.0.0.1:PORT, if any
http_header() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 0
  printf 'GET /buy HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  while IFS= read -r -t 2 line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case ${line,,} in "${2,,}: "*) echo "${line#*: }" ;; esac
  done
  exec 3<&-
}

# start_nginx: one nginx process (no master, no daemon) on a free loopback
# port, its config, logs and temp files in $TMP/nginx; every request gets
# 200 {"result":"dup"}. Sets NGINX_PID and NGINX_PORT. The X-Bench header
# proves that the server answering is ours.
start_nginx() {
  local dir=$TMP/nginx port tag
  mkdir -p "$dir"
  tag=$RANDOM$RANDOM$RANDOM
  for _ in $(seq 1 20); do
    port=$(( 20000 + RANDOM % 30000 ))
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # taken
    cat >"$dir/nginx.conf" <<EOF
# scripts/bench.sh: a fixed reply, far cheaper than any service
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000000; # never close a connection: neither tool reconnects
  keepalive_timeout 60s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location / {
      default_type application/json;
      add_header X-Bench $tag;
      return 200 '{"result":"dup"}';
    }
  }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/stderr.log" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 1 50); do
      if [ "$(http_header "$port" X-Bench)" = "$tag" ]; then NGINX_PORT=$port; return 0; fi
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
  done
  tail -n 5 "$dir/error.log" "$dir/stderr.log" >&2 2>/dev/null || true
  return 1
}

stop_nginx() {
  [ -n "$NGINX_PID" ] || return 0
  kill -TERM "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=""
}

# http_files: wrk's request script and the two scenarios.
http_files() {
  cat >"$TMP/post.lua" <<'EOF'
-- the request seckill-bench sends, with a fixed buyer
wrk.method = "POST"
wrk.body = '{"buyer": "1", "quantity": 1}'
wrk.headers["Content-Type"] = "application/json"
EOF
  cat >"$TMP/bench-http.toml" <<EOF
name = "bench-http"
description = "scripts/bench.sh: the http strategy against nginx's fixed reply, closed loop"

[stock]
initial = $HUGE

[load]
processes = 1
clients_per_process = $CLIENTS
duration = "${HTTP_SECONDS}s"

[strategy]
kind = "http"
url = "http://127.0.0.1:$NGINX_PORT/buy"
method = "POST"
headers = { "Content-Type" = "application/json" }
body = '{"buyer": "{buyer}", "quantity": {quantity}}'
reply = "/result"

[strategy.replies]
"sold" = "sold"
"sold_out" = "sold_out"
"dup" = "duplicate"    # nginx's only reply: a rejection, so clients go on until the end
EOF
  cat >"$TMP/bench-service.toml" <<EOF
name = "bench-service"
description = "scripts/bench.sh: lua_service.py x 4 over HTTP, closed loop, no fault"

[stock]
initial = 1000000

[load]
processes = ${SERVICE_LAYOUT%x*}
clients_per_process = ${SERVICE_LAYOUT#*x}
duration = "${HTTP_SECONDS}s"

[strategy]
kind = "http"
url = "{instance}/buy"
method = "POST"
headers = { "Content-Type" = "application/json", "Idempotency-Key" = "{token}" }
body = '{"buyer": "{buyer}", "quantity": {quantity}}'
reply = "/result"
order_id = "/order_id"

[strategy.replies]
"sold" = "sold"
"sold_out" = "sold_out"

[service]
command = ["python3", "$ROOT/examples/services/lua_service.py", "--port", "{port}"]
instances = 4
env = { REDIS_URL = "{redis_url}", STOCK_KEY = "{stock}", LOCK_KEY = "{lock}", ORDERS_KEY = "{run}:orders" }
ready_path = "/health"

[audit]
orders = "{run}:orders"
EOF
}

run_wrk() {
  local label=$1 s0 m0 s1 m1 rc
  wait_quiet
  s0=$(busy_ticks "$NGINX_PID"); m0=$(machine_ticks)
  timed "$label" wrk -t1 -c"$CLIENTS" -d"${HTTP_SECONDS}s" -s "$TMP/post.lua" "http://127.0.0.1:$NGINX_PORT/buy"
  s1=$(busy_ticks "$NGINX_PID"); m1=$(machine_ticks)
  rc=$(cat "$TMP/$label.rc")
  # "  308404 requests in 5.04s, 50.00MB read"
  RUN_OPS=""; RUN_SECONDS=""
  read -r RUN_OPS RUN_SECONDS < <(awk '$2 == "requests" && $3 == "in" { sub(/s,$/, "", $4); print $1, $4 }' "$TMP/$label.log") || true
  if [ "$rc" != 0 ] || [ -z "$RUN_OPS" ] || ! [[ $RUN_SECONDS =~ ^[0-9.]+$ ]]; then
    echo "wrk failed (exit $rc):" >&2; tail -n 20 "$TMP/$label.log" >&2; FAILED=1; return 1
  fi
  read -r RUN_WALL RUN_USER RUN_SYS <"$TMP/$label.time"
  RUN_SERVER=$(( s1 - s0 ))
  RUN_OTHER=$(other_pct "$m0" "$m1")
  RUN_STATUS=ok
  if grep -qE 'Non-2xx|Socket errors' "$TMP/$label.log"; then
    RUN_STATUS=$(grep -E 'Non-2xx|Socket errors' "$TMP/$label.log" | tr -s ' ' | tr ',' ';' | paste -sd' ')
  fi
}

run_seckill_http() {
  local label=$1 s0 m0 s1 m1 rc summary rejected
  wait_quiet
  s0=$(busy_ticks "$NGINX_PID"); m0=$(machine_ticks)
  timed "$label" "$BIN" run "$TMP/bench-http.toml" --redis-url "$URL" --out "$TMP/runs/$label" --quiet
  s1=$(busy_ticks "$NGINX_PID"); m1=$(machine_ticks)
  rc=$(cat "$TMP/$label.rc")
  summary=$TMP/runs/$label/summary.csv
  # Every purchase is rejected ("dup"), so the verdict is INCONCLUSIVE
  # (exit 5): this run's expected end.
  if { [ "$rc" != 0 ] && [ "$rc" != 5 ]; } || [ ! -f "$summary" ]; then
    echo "seckill-bench run '$label' failed (exit $rc):" >&2; tail -n 20 "$TMP/$label.log" >&2; FAILED=1; return 1
  fi
  read -r RUN_WALL RUN_USER RUN_SYS <"$TMP/$label.time"
  RUN_OPS=$(csv_field attempts "$summary")
  RUN_SECONDS=$(csv_field duration_s "$summary")
  rejected=$(csv_field rejections "$summary")
  RUN_SERVER=$(( s1 - s0 ))
  RUN_OTHER=$(other_pct "$m0" "$m1")
  RUN_STATUS=ok
  [ "$rejected" = "$RUN_OPS" ] ||
    RUN_STATUS="$(csv_field verdict "$summary") rejected=$rejected errors=$(csv_field errors "$summary") in_doubt=$(csv_field in_doubt "$summary")"
}

# run_service LABEL: lua_service.py x 4 end to end. The instances are the
# coordinator's children, so bash's `time` counts their CPU too; it is
# read from /proc every 0.1 s (the last reading of each instance, after
# the load ended, is its total) and taken out of the harness's figure.
# SVC_TICKS: the instances' CPU from the first reading with a worker up
# (their Python start-up left out).
run_service() {
  local label=$1 s0 m0 s1 m1 rc summary coord="" pids="" pid line seen=0 svc_all=0 svc_user=0 svc_sys=0
  local -a f
  local -A last_u=() last_s=() base=()
  wait_quiet
  s0=$(server_ticks); m0=$(machine_ticks)
  timed "$label" "$BIN" run "$TMP/bench-service.toml" --redis-url "$URL" --out "$TMP/runs/$label" --quiet &
  JOB_PID=$!
  while kill -0 "$JOB_PID" 2>/dev/null; do
    # pgrep only until the load starts (the instances are all up before the
    # workers are): after that, builtins alone, so that the sampling costs
    # the measured machine next to nothing
    if [ "$seen" = 0 ]; then
      [ -n "$coord" ] || coord=$(pgrep -P "$JOB_PID" | head -n 1 || true)
      if [ -n "$coord" ]; then
        pids=$(pgrep -P "$coord" -f 'lua_service\.py' || true)
        pgrep -P "$coord" -f 'seckill-bench worker' >/dev/null && seen=1
      fi
    fi
    for pid in $pids; do
      { read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
      read -ra f <<<"${line##*) }"
      last_u[$pid]=${f[11]}; last_s[$pid]=${f[12]}
      [ "$seen" = 0 ] || [ -n "${base[$pid]:-}" ] || base[$pid]=$(( f[11] + f[12] ))
    done
    sleep 0.1
  done
  wait "$JOB_PID" || true
  JOB_PID=""
  s1=$(server_ticks); m1=$(machine_ticks)
  for pid in "${!last_u[@]}"; do
    svc_user=$(( svc_user + last_u[$pid] )); svc_sys=$(( svc_sys + last_s[$pid] ))
    svc_all=$(( svc_all + last_u[$pid] + last_s[$pid] - ${base[$pid]:-0} ))
  done
  rc=$(cat "$TMP/$label.rc")
  summary=$TMP/runs/$label/summary.csv
  if [ "$rc" != 0 ] || [ ! -f "$summary" ]; then
    echo "seckill-bench run '$label' failed (exit $rc):" >&2; tail -n 20 "$TMP/$label.log" >&2
    tail -n 5 "$TMP/runs/$label"/service-*.log >&2 2>/dev/null || true
    FAILED=1; return 1
  fi
  if [ "${#last_u[@]}" != 4 ]; then
    echo "warning: $label: read the CPU of ${#last_u[@]} lua_service.py instance(s), not 4" >&2
  fi
  # RUN_USER, RUN_SYS: all that `time` saw (for other_pct); HARNESS_*: less
  # the instances' whole lives
  read -r RUN_WALL RUN_USER RUN_SYS <"$TMP/$label.time"
  HARNESS_USER=$(awk -v a="$RUN_USER" -v b="$svc_user" -v hz="$ticks_per_s" 'BEGIN { printf "%.3f", a - b / hz }')
  HARNESS_SYS=$(awk -v a="$RUN_SYS" -v b="$svc_sys" -v hz="$ticks_per_s" 'BEGIN { printf "%.3f", a - b / hz }')
  SVC_TICKS=$svc_all
  RUN_OPS=$(csv_field attempts "$summary")
  RUN_SECONDS=$(csv_field duration_s "$summary")
  RUN_SERVER=$(( s1 - s0 ))
  RUN_OTHER=$(other_pct "$m0" "$m1")
  RUN_STATUS=$(csv_field verdict "$summary")
  [ "$(csv_field errors "$summary")" = 0 ] || RUN_STATUS="$RUN_STATUS errors=$(csv_field errors "$summary")"
  [ "$(csv_field sales "$summary")" = "$RUN_OPS" ] || RUN_STATUS="$RUN_STATUS sales=$(csv_field sales "$summary")"
}

# measure_http TOOL ROUND: one http measurement (wrk, seckill-bench or
# service), recorded; taken again once when other processes were busy.
measure_http() {
  local tool=$1 r=$2 try again="" p=${SERVICE_LAYOUT%x*} c=${SERVICE_LAYOUT#*x}
  for try in 1 2; do
    [ "$try" = 2 ] && again=-again
    case $tool in
      wrk) run_wrk "wrk-$r$again" || return 1 ;;
      seckill-bench) run_seckill_http "http-$r$again" || return 1 ;;
      service) run_service "service-$r$again" || return 1 ;;
    esac
    if [ "$try" = 1 ] && [ "$RETRY_NOISY" = 1 ] && awk -v o="$RUN_OTHER" 'BEGIN { exit !(o > 25) }'; then
      echo "bench: round $r, $tool: other processes used ${RUN_OTHER}% of a CPU meanwhile; measuring again" >&2
      continue
    fi
    break
  done
  case $tool in
    wrk) record http "$r" "wrk -t1 -c$CLIENTS" 1 $CLIENTS "$RUN_OPS" "$RUN_SECONDS" "$RUN_USER" "$RUN_SYS" "$RUN_SERVER" "$RUN_OTHER" "$RUN_STATUS" ;;
    seckill-bench) record http "$r" "seckill-bench 1x$CLIENTS" 1 $CLIENTS "$RUN_OPS" "$RUN_SECONDS" "$RUN_USER" "$RUN_SYS" "$RUN_SERVER" "$RUN_OTHER" "$RUN_STATUS" ;;
    service) record service "$r" "lua_service.py x4" "$p" $(( p * c )) "$RUN_OPS" "$RUN_SECONDS" "$HARNESS_USER" "$HARNESS_SYS" "$RUN_SERVER" "$RUN_OTHER" "$RUN_STATUS" "" "" "" "" "" "$SVC_TICKS" ;;
  esac
}

if want http; then
  start_nginx || die "could not start nginx on a free loopback port"
  echo "bench: http: nginx $("$NGINX" -v 2>&1 | sed 's/^nginx version: nginx\///') on 127.0.0.1:$NGINX_PORT, $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), ${HTTP_SECONDS}s per measurement"
  http_files
  for r in $(seq 1 "$ROUNDS"); do
    measure_http wrk "$r" || true
    measure_http seckill-bench "$r" || true
    echo "bench: http round $r of $ROUNDS done"
  done
  cp "$TMP/nginx/nginx.conf" "$TMP/runs/nginx.conf"
  stop_nginx
  for r in $(seq 1 "$ROUNDS"); do
    measure_http service "$r" || true
    echo "bench: service round $r of $ROUNDS done"
  done
fi

# ---------------------------------------------------------- medians, ratio
# median per compare, http and service tool of every numeric column; ratio
# = ops/s over the peer's ops/s in the same round (compare: redis-benchmark;
# http: wrk), the median row's being the median of the per-round ratios.
awk -F, -v OFS=, '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    if (n == 0) return ""
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    row[NR] = $0
    if (($1 == "compare" && $3 == "redis-benchmark") || ($1 == "http" && $3 ~ /^wrk /)) base[$1, $2] = $8
  }
  END {
    for (i = 1; i <= NR; i++) {
      $0 = row[i]
      if ((($1, $2) in base) && base[$1, $2] > 0) $9 = sprintf("%.2f", $8 / base[$1, $2])
      print
      if ($1 != "compare" && $1 != "http" && $1 != "service") continue
      key = $1 SUBSEP $3
      if (!(key in seen)) { seen[key] = 1; order[++k] = key; first[key] = $0 }
      for (c = 6; c <= 21; c++) if (c != 20 && $c != "") vals[key, c] = vals[key, c] " " $c
      st = $20; if (st != "PASS" && st != "ok") bad[key] = st
    }
    for (i = 1; i <= k; i++) {
      key = order[i]; $0 = first[key]; $2 = "median"
      for (c = 6; c <= 21; c++) if (c != 20 && (key, c) in vals) $c = median(vals[key, c])
      $6 = sprintf("%.0f", $6); $8 = sprintf("%.0f", $8)
      if ($9 != "") $9 = sprintf("%.2f", $9)
      $20 = (key in bad) ? bad[key] : "ok"
      print
    }
  }' "$ROWS" >"$TMP/bench.csv.body"

mkdir -p "$OUT"
{ echo "$CSV_HEADER"; cat "$TMP/bench.csv.body"; } >"$OUT/.bench.csv.tmp"
mv "$OUT/.bench.csv.tmp" "$OUT/bench.csv"
for f in conns-64x64-rss conns-64x1-rss soak-rss; do
  [ -f "$TMP/$f.csv" ] && cp "$TMP/$f.csv" "$OUT/.$f.tmp" && mv "$OUT/.$f.tmp" "$OUT/$f.csv"
done
rm -rf "$OUT/runs"
cp -r "$TMP/runs" "$OUT/runs"

# -------------------------------------------------------------------- table
echo
awk -F, '
  function fmt(x,   s) { if (x == "") return "-"; x = sprintf("%.0f", x); s = ""; while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) } return x s }
  # other CPU above 10% of one CPU over the measurement: flagged with a *
  function other(   ) { if ($2 != "median" && $14 > 10) { noisy = 1; return sprintf("%7.1f*", $14) } return sprintf("%7.1f ", $14) }
  function cmp(   ) {
    printf "%-7s %-19s %7s %10s %7.2f %11s %6s %9.2f %9.2f %s  %s\n", $2, $3, $5, fmt($6), $7, fmt($8), ($9 == "" ? "-" : $9 "x"), $12, $13, other(), $20
  }
  NR == 1 { next }
  { row[++n] = $0 }
  END {
    for (i = 1; i <= n; i++) { $0 = row[i]; if ($1 == "compare") c++ }
    if (c) {
      printf "%-7s %-19s %7s %10s %7s %11s %6s %9s %9s %8s  %s\n", "round", "tool", "clients", "ops", "seconds", "ops/s", "ratio", "client", "server", "other", "status"
      printf "%-7s %-19s %7s %10s %7s %11s %6s %9s %9s %8s\n", "", "", "", "", "", "", "", "us/op", "us/op", "%CPU"
      for (i = 1; i <= n; i++) { $0 = row[i]; if ($1 == "compare" && $2 != "median") cmp() }
      for (i = 1; i <= n; i++) { $0 = row[i]; if ($1 == "compare" && $2 == "median") cmp() }
    }
    for (i = 1; i <= n; i++) { $0 = row[i]; if ($1 == "http" || $1 == "service") w++ }
    if (w) {
      printf "\n%-7s %-7s %-24s %7s %10s %7s %9s %6s %9s %9s %9s %8s  %s\n", "section", "round", "tool", "clients", "requests", "seconds", "req/s", "ratio", "client", "server", "service", "other", "status"
      printf "%-7s %-7s %-24s %7s %10s %7s %9s %6s %9s %9s %9s %8s\n", "", "", "", "", "", "", "", "", "us/req", "us/req", "us/req", "%CPU"
      for (m = 0; m <= 1; m++) for (i = 1; i <= n; i++) {
        $0 = row[i]
        if (($1 != "http" && $1 != "service") || ($2 == "median") != m) continue
        printf "%-7s %-7s %-24s %7s %10s %7.2f %9s %6s %9.2f %9.2f %9s %s  %s\n", $1, $2, $3, $5, fmt($6), $7, fmt($8), ($9 == "" ? "-" : $9 "x"), $12, $13, ($21 == "" ? "-" : sprintf("%.2f", $21)), other(), $20
      }
    }
    h = 0
    for (i = 1; i <= n; i++) {
      $0 = row[i]
      if ($1 == "compare" || $1 == "http" || $1 == "service") continue
      if (!h++) {
        printf "\n%-7s %-19s %5s %10s %7s %8s %7s %11s %11s %11s %8s %8s  %s\n", "section", "tool", "conns", "ops", "seconds", "ops/s", "client", "RSS start", "RSS end", "RSS max", "RSS", "anon", "status"
        printf "%-7s %-19s %5s %10s %7s %8s %7s %11s %11s %11s %8s %8s\n", "", "", "", "", "", "", "us/op", "KiB", "KiB", "KiB", "KiB/conn", "KiB/conn"
      }
      printf "%-7s %-19s %5s %10s %7.2f %8s %7.2f %11s %11s %11s %8.1f %8.1f  %s%s\n", $1, $3, $5, fmt($6), $7, fmt($8), $12, fmt($15), fmt($16), fmt($17), $18, $19, $20, ($14 > 10 ? " *" : "")
      if ($14 > 10) noisy = 1
    }
    if (noisy) print "\n* more than 10% of a CPU went to other processes or to kernel work charged to no process during this measurement (other_cpu_pct in bench.csv): take it with care"
  }' "$OUT/bench.csv"

# targets, from the medians
awk -F, -v layout="seckill-bench $LAYOUT" -v mid="${SOAK_MID:-}" '
  $1 == "compare" && $2 == "median" && $3 == layout { ratio = $9; cpu = $12; seen = 1 }
  $1 == "compare" && $2 == "median" && $3 == "redis-benchmark" { rbcpu = $12 }
  $1 == "compare" && $2 == "median" && $3 == "redis-benchmark -P 2" { p2ratio = $9; p2 = 1 }
  $1 == "compare" && $2 == "median" && $3 ~ /^redis-benchmark -c 2 -P / { c2 = $3; c2ratio = $9 }
  $1 == "compare" && $2 == "median" && $3 == layout "-shared2" { sratio = $9; scpu = $12; shared = 1 }
  $1 == "http" && $2 == "median" && $3 ~ /^wrk / { wrk = $3; wcpu = $12 }
  $1 == "http" && $2 == "median" && $3 ~ /^seckill-bench / { http = $3; hratio = $9; hcpu = $12 }
  $1 == "service" && $2 == "median" { svc = $3; sclients = $5; srate = $8; scpu = $12; sredis = $13; sown = $21; sst = $20 }
  $1 == "conns" && $3 ~ / 64x64$/ { conns = $5; per = $18; st = $20; full = $17 }
  $1 == "conns" && $3 ~ / 64x1$/ { base = $17 }
  $1 == "soak" { soak = $6; r0 = $15; r1 = $16; sst = $20 }
  END {
    print ""
    if (seen) {
      printf "target  %s ops/s >= 1.4 x redis-benchmark in the same round: %s (%.2fx)\n", layout, (ratio >= 1.4 ? "met" : "NOT met"), ratio
      printf "target  client CPU per op <= 0.6 x redis-benchmark'"'"'s: %s (%.2f us against %.2f us, %.2fx)\n", (rbcpu > 0 && cpu <= 0.6 * rbcpu ? "met" : "NOT met"), cpu, rbcpu, (rbcpu > 0 ? cpu / rbcpu : 0)
    }
    if (shared) printf "target  %s-shared2 ops/s >= 2.5 x redis-benchmark in the same round: %s (%.2fx; %.2f us client CPU per op)\n", layout, (sratio >= 2.5 ? "met" : "NOT met"), sratio, scpu
    if (p2) printf "compare redis-benchmark -P 2: %.2fx redis-benchmark -c 50 in the same round\n", p2ratio
    if (c2 != "") printf "compare %s (the shared shape, every request of a batch sent at once): %.2fx redis-benchmark -c 50%s\n", c2, c2ratio, (shared && c2ratio > 0 ? sprintf("; seckill-bench shared2 is %.2fx of it", sratio / c2ratio) : "")
    if (conns != "") {
      printf "target  64 x 64 = %d connections run cleanly: %s; RSS %.1f KiB per connection", conns, (st == "PASS" ? "yes" : "NO (" st ")"), per
      if (base != "") printf " (%.1f KiB per connection over 64 x 1)", (full - base) / (conns - 64)
      print ""
    }
    # flat: no growth over the second half of the run (the first seconds
    # may still size histograms and allocator pools)
    if (soak != "") printf "target  RSS does not grow with purchases (%s): %s (%d KiB 2 s in, %d KiB half-way, %d KiB at the end)%s\n", soak, (r1 <= mid * 1.01 + 256 ? "met" : "NOT met"), r0, mid, r1, (sst == "PASS" ? "" : "; run " sst)
    if (http != "" && wrk != "") {
      printf "target  %s requests/s >= 1.0 x %s in the same round: %s (%.2fx)\n", http, wrk, (hratio >= 1.0 ? "met" : "NOT met"), hratio
      printf "target  client CPU per request <= 1.2 x wrk'"'"'s: %s (%.2f us against %.2f us, %.2fx)\n", (hcpu <= 1.2 * wcpu ? "met" : "NOT met"), hcpu, wcpu, (wcpu > 0 ? hcpu / wcpu : 0)
    }
    if (svc != "") printf "service %s, %d clients: %.0f purchases/s end to end; CPU per purchase: the instances %.1f us, the harness %.1f us, redis-server %.1f us (%s)\n", svc, sclients, srate, sown, scpu, sredis, sst
  }' "$OUT/bench.csv"
echo
echo "written: ${OUT#"$ROOT"/}/bench.csv$(want conns && echo ", conns-64x1-rss.csv, conns-64x64-rss.csv")$(want soak && echo ", soak-rss.csv"), runs/$(want http && echo " (with nginx.conf)")"
exit "$FAILED"
