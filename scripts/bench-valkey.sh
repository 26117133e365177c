#!/usr/bin/env bash
# Valkey against Redis: the same `lua` sale (1 process x 50 clients, closed
# loop, a stock it never sells out, BENCH_SECONDS long) against a
# redis-server and a valkey-server started here on free 127.0.0.1 ports,
# persistence off (--save '' --appendonly no), the servers alternating in
# every round.
#
#   scripts/bench-valkey.sh        (also: scripts/bench.sh valkey)
#
#   ROUNDS rounds; in each, in this order:
#     redis        redis-server
#     valkey       valkey-server, --io-threads 1 (no I/O threads: the main
#                  thread reads, parses, runs and writes, as redis-server)
#     valkey-io2   valkey-server, --io-threads 2 (the main thread plus one
#                  I/O thread; Valkey 8 hands reads and writes to it only
#                  while the load is high enough, io_threads_active)
#   Two is the only io-threads setting that adds a thread on a 2-core
#   machine: the load generator keeps one core busy, the server the other,
#   and more threads than cores only take turns. Valkey's docs advise
#   io-threads below the number of cores; on more cores, set IO_THREADS.
#   For each run: purchases/s (summary.csv); server CPU per purchase, the
#   server process's utime+stime (all its threads) from /proc/<pid>/stat
#   before and after the run, over its attempts; client CPU per purchase,
#   the coordinator's and its workers' user+sys, read from /proc when the
#   coordinator has exited and before it is reaped; and other_pct, the
#   CPU that anything else on the machine used meanwhile, in % of one CPU
#   (/proc/stat's busy time less the client's and the server's): noise. A
#   run with other_pct above 25 is marked with a *. io_reads_pct: the share
#   of commands whose read an I/O thread did (INFO stats'
#   io_threaded_reads_processed over the attempts; 0 without I/O threads).
#
# Environment: ROUNDS (3), BENCH_SECONDS (6), IO_THREADS (2),
# SECKILL_REDIS_SERVER and SECKILL_VALKEY_SERVER (the binaries; else
# redis-server and valkey-server on PATH, installed when missing).
# Output: a table on stdout and reports/bench/valkey.csv (one row per run,
# then one `median` row per server). A benchmark, not a test: it exits
# non-zero only when a run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
BENCH_SECONDS=${BENCH_SECONDS:-6}
IO_THREADS=${IO_THREADS:-2}
for v in ROUNDS BENCH_SECONDS IO_THREADS; do
  if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then echo "error: $v must be a positive whole number, got '${!v}'" >&2; exit 2; fi
done
command -v python3 >/dev/null 2>&1 || { echo "error: python3 not found (Debian: apt-get install python3)" >&2; exit 4; }
. scripts/lib/ensure-redis.sh
ensure_redis
. scripts/lib/ensure-valkey.sh
ensure_valkey
REDIS_BIN=${SECKILL_REDIS_SERVER:-$(command -v redis-server)}
VALKEY_BIN=${SECKILL_VALKEY_SERVER:-$(command -v valkey-server)}

cargo build --release --locked
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/seckill-bench

TMP=$(mktemp -d "${TMPDIR:-/tmp}/seckill-bench-valkey.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# serve NAME BINARY ARGS...: starts a server on a free port in its own
# folder and waits for PING; sets PORT_<NAME> and PID_<NAME>.
serve() {
  local name=$1 bin=$2 port dir
  shift 2
  port=$(free_port)
  dir=$TMP/$name
  mkdir -p "$dir"
  "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize no "$@" >"$dir/server.log" 2>&1 &
  PIDS+=($!)
  printf -v "PID_$name" '%s' "$!"
  printf -v "PORT_$name" '%s' "$port"
  for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "error: $name ($bin) did not answer PING on port $port:" >&2
  tail -5 "$dir/server.log" >&2
  exit 4
}
serve redis "$REDIS_BIN"
serve valkey "$VALKEY_BIN" --io-threads 1
serve valkey_io "$VALKEY_BIN" --io-threads "$IO_THREADS"
SERVERS=(redis valkey valkey_io)
NAMES=(redis valkey "valkey-io$IO_THREADS")

cat >"$TMP/bench.toml" <<TOML
name = "bench-valkey"
[stock]
initial = 1000000000000
[load]
processes = 1
clients_per_process = 50
duration = "${BENCH_SECONDS}s"
[strategy]
kind = "lua"
TOML

# measure SERVER_PID OUT ARGS...: "client_cpu_s server_cpu_s other_pct
# exit_code" of one run of this binary.
measure() {
  python3 - "$BIN" "$@" <<'PY'
import os, subprocess, sys, time
bin_, server, out, *args = sys.argv[1:]
hz = os.sysconf("SC_CLK_TCK")
def stat(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
def cpu(pid):
    f = stat(pid)
    return (int(f[11]) + int(f[12])) / hz
def machine():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: busy is all but idle
    # and iowait.
    return (sum(f[:8]) - f[3] - f[4]) / hz
server0, machine0, t0 = cpu(server), machine(), time.monotonic()
p = subprocess.Popen([bin_, "run", *args, "--out", out, "--quiet"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
last = None
while True:
    try:
        fields = stat(p.pid)
    except OSError:
        break
    last = fields
    if fields[0] == "Z":
        break
    time.sleep(0.02)
server1, machine1, t1 = cpu(server), machine(), time.monotonic()
code = p.wait()
client = sum(int(last[i]) for i in (11, 12, 13, 14)) / hz
other = max(0.0, (machine1 - machine0) - (server1 - server0) - client) / (t1 - t0) * 100
print(f"{client:.2f} {server1 - server0:.2f} {other:.0f} {code}")
PY
}

# io_reads PORT: reads the server's I/O threads have done since it started.
io_reads() { redis-cli -p "$1" INFO stats | awk -F: '/^io_threaded_reads_processed:/ { print $2 + 0 }'; }

column() { awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } NR == 2 && c { print $c }' "$2"; }

echo "round,server,version,purchases_per_s,server_cpu_us_per_purchase,client_cpu_us_per_purchase,attempts,other_pct,io_reads_pct,verdict" >"$TMP/valkey.csv"
FAILED=0
for round in $(seq "$ROUNDS"); do
  for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]}
    pid_var=PID_${SERVERS[$i]} port_var=PORT_${SERVERS[$i]}
    out=$TMP/run-$round-$name
    reads=$(io_reads "${!port_var}")
    read -r client server other code < <(measure "${!pid_var}" "$out" "$TMP/bench.toml" --redis-url "redis://127.0.0.1:${!port_var}/0")
    reads=$(($(io_reads "${!port_var}") - ${reads:-0}))
    if [ "$code" != 0 ]; then echo "run $name round $round exited $code" >&2; FAILED=1; continue; fi
    s=$out/summary.csv
    awk -v OFS=, -v r="$round" -v n="$name" -v version="$(column server "$s")" -v ops="$(column purchases_per_s "$s")" \
      -v a="$(column attempts "$s")" -v scpu="$server" -v ccpu="$client" -v other="$other" -v reads="$reads" -v v="$(column verdict "$s")" 'BEGIN {
        print r, n, version, sprintf("%.0f", ops), sprintf("%.2f", scpu / a * 1e6), sprintf("%.2f", ccpu / a * 1e6), a, other,
          sprintf("%.0f", reads / a * 100), v }' >>"$TMP/valkey.csv"
  done
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
for n in "${NAMES[@]}"; do
  pick() { awk -F, -v n="$n" -v c="$1" 'NR > 1 && $2 == n { print $c }' "$TMP/valkey.csv" | median; }
  version=$(awk -F, -v n="$n" 'NR > 1 && $2 == n { print $3; exit }' "$TMP/valkey.csv")
  echo "median,$n,$version,$(pick 4),$(pick 5),$(pick 6),$(pick 7),$(pick 8),$(pick 9)," >>"$TMP/valkey.csv"
done

mkdir -p reports/bench
cp "$TMP/valkey.csv" reports/bench/.valkey.csv.tmp && mv reports/bench/.valkey.csv.tmp reports/bench/valkey.csv
echo
awk -F, '{ mark = (NR > 1 && $8 + 0 > 25) ? " *" : ""
  printf "%-6s %-11s %-13s %15s %27s %27s %9s %9s %12s  %s%s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, mark }' "$TMP/valkey.csv"
echo
echo "* other_pct above 25: something else on this machine used CPU during the run; take it again"
echo "written: reports/bench/valkey.csv"
exit "$FAILED"
