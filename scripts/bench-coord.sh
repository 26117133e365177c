#!/usr/bin/env bash
# What the coordinator costs next to its workers: 64 processes x 64 clients
# of `lua`, closed loop, huge stock, against one throwaway redis-server.
#
#   scripts/bench-coord.sh          (also: scripts/bench.sh coord)
#
#   ROUNDS rounds; in each, alternating, the binary of BASELINE_REV (when
#   set: built once in a worktree under target/) and this one. For each run:
#     coordinator  the coordinator process's own CPU (user+sys, all its
#                  threads), read from /proc when it has exited and before it
#                  is reaped: its whole life, start-up and reports included
#     workers      the CPU of the processes it reaped: its workers
#     share        coordinator / workers
#   and, for binaries that write them, summary.csv's coordinator_cpu_s and
#   workers_cpu_s: the coordinator's CPU while the load ran only.
#
# Environment: ROUNDS (3), COORD_SECONDS (10), PROCESSES (64), CLIENTS (64),
# BASELINE_REV (unset: this binary only), or BASELINE_BIN (a binary already
# built), FLUSH (unset: the default report.flush_interval; e.g. 5ms).
# Output: a table on stdout and reports/bench/coord.csv. A benchmark, not a
# test: it exits non-zero only when a run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
COORD_SECONDS=${COORD_SECONDS:-10}
PROCESSES=${PROCESSES:-64}
CLIENTS=${CLIENTS:-64}
HUGE=1000000000000
command -v python3 >/dev/null 2>&1 || { echo "error: python3 not found (Debian: apt-get install python3)" >&2; exit 4; }
. scripts/lib/ensure-redis.sh
ensure_redis

cargo build --release --locked
BINS=("$ROOT/target/release/seckill-bench")
NAMES=("this")
if [ -n "${BASELINE_BIN:-}" ]; then
  BINS=("$BASELINE_BIN" "${BINS[@]}")
  NAMES=("baseline" "${NAMES[@]}")
elif [ -n "${BASELINE_REV:-}" ]; then
  tree=$ROOT/target/bench-baseline
  rm -rf "$tree"; git worktree prune
  git worktree add -q --detach "$tree" "$BASELINE_REV"
  (cd "$tree" && CARGO_TARGET_DIR=$ROOT/target/bench-baseline-target cargo build --release --locked -q)
  git worktree remove --force "$tree"
  BINS=("$ROOT/target/bench-baseline-target/release/seckill-bench" "${BINS[@]}")
  NAMES=("$BASELINE_REV" "${NAMES[@]}")
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/seckill-bench-coord.XXXXXX")
REDIS_PID=""
cleanup() {
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --maxclients 10000 --daemonize no >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$PORT" PING >/dev/null 2>&1 && break; sleep 0.05; done
URL=redis://127.0.0.1:$PORT/0

cat >"$TMP/coord.toml" <<TOML
name = "bench-coord"
[stock]
initial = $HUGE
[load]
processes = $PROCESSES
clients_per_process = $CLIENTS
duration = "${COORD_SECONDS}s"
[strategy]
kind = "lua"
TOML
[ -n "${FLUSH:-}" ] && printf '[report]\nflush_interval = "%s"\n' "$FLUSH" >>"$TMP/coord.toml"

# measure BIN OUT: "coordinator_s workers_s" from /proc/<pid>/stat at exit.
measure() {
  python3 - "$@" <<'PY'
import os, subprocess, sys, time
bin_, url, scenario, out = sys.argv[1:5]
p = subprocess.Popen([bin_, "run", scenario, "--redis-url", url, "--out", out, "--quiet"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
hz = os.sysconf("SC_CLK_TCK")
last = None
while True:
    try:
        fields = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        break
    last = fields
    if fields[0] == "Z":  # exited, not yet reaped: its final times
        break
    time.sleep(0.02)
code = p.wait()
own = (int(last[11]) + int(last[12])) / hz
children = (int(last[13]) + int(last[14])) / hz
print(f"{own:.2f} {children:.2f} {code}")
PY
}

column() { awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } NR == 2 && c { print $c }' "$2"; }

echo "round,binary,ops_per_s,coordinator_s,workers_s,share_pct,load_coordinator_s,load_workers_s,load_share_pct,verdict" >"$TMP/coord.csv"
FAILED=0
for round in $(seq "$ROUNDS"); do
  for i in "${!BINS[@]}"; do
    out=$TMP/run-$round-$i
    read -r own kids code < <(measure "${BINS[$i]}" "$URL" "$TMP/coord.toml" "$out")
    if [ "$code" != 0 ]; then echo "run ${NAMES[$i]} round $round exited $code" >&2; FAILED=1; continue; fi
    s=$out/summary.csv
    lc=$(column coordinator_cpu_s "$s"); lw=$(column workers_cpu_s "$s")
    awk -v OFS=, -v r="$round" -v b="${NAMES[$i]}" -v ops="$(column purchases_per_s "$s")" -v o="$own" -v k="$kids" \
      -v lc="$lc" -v lw="$lw" -v v="$(column verdict "$s")" 'BEGIN {
        ls = (lc != "" && lw > 0) ? sprintf("%.2f", lc / lw * 100) : ""
        print r, b, sprintf("%.0f", ops), o, k, sprintf("%.2f", o / k * 100), lc, lw, ls, v }' >>"$TMP/coord.csv"
  done
done

mkdir -p reports/bench
cp "$TMP/coord.csv" reports/bench/.coord.csv.tmp && mv reports/bench/.coord.csv.tmp reports/bench/coord.csv
echo
awk -F, '{ printf "%-5s %-10s %10s %13s %9s %9s %18s %14s %14s  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$TMP/coord.csv"
echo
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
for b in "${NAMES[@]}"; do
  whole=$(awk -F, -v b="$b" 'NR > 1 && $2 == b { print $6 }' "$TMP/coord.csv" | median)
  load=$(awk -F, -v b="$b" 'NR > 1 && $2 == b && $9 != "" { print $9 }' "$TMP/coord.csv" | median)
  ops=$(awk -F, -v b="$b" 'NR > 1 && $2 == b { print $3 }' "$TMP/coord.csv" | median)
  echo "median  $b: coordinator CPU ${whole}% of the workers' (whole life)${load:+, ${load}% while the load ran}; ${ops} purchases/s"
done
echo "target  coordinator CPU <= 5% of the workers' at $PROCESSES workers"
echo "written: reports/bench/coord.csv"
exit "$FAILED"
