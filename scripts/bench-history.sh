#!/usr/bin/env bash
# What the per-purchase history costs: the load of scenarios/strategies.toml
# (8 processes x 16 clients, 5 s, closed loop) with `lua`, against one
# throwaway redis-server started here, and the coordinator's memory at a
# million sales.
#
#   scripts/bench-history.sh        (also: scripts/bench.sh history)
#
#   ROUNDS rounds; in each, alternating:
#     baseline   BASELINE_BIN, or BASELINE_REV built once in a worktree under
#                target/ (skipped when neither is set)
#     off        this binary, audit.history = false
#     history    this binary as shipped: the history on, record_orders off
#     orders     this binary with strategy.record_orders = true
#   For each run: purchases/s (summary.csv) and client CPU per purchase:
#   the user+sys CPU of the coordinator and its workers, read from /proc
#   when the coordinator has exited and before it is reaped, over the
#   attempts.
#   Then, once: `lua` with record_orders on a stock of MILLION units (1
#   million), 1 process x 50 clients until sold out; the coordinator's peak
#   resident memory (VmHWM, polled from /proc) and history.jsonl's size.
#
# Environment: ROUNDS (3), MILLION (1000000), BASELINE_REV, BASELINE_BIN.
# Output: a table on stdout and reports/bench/history.csv. A benchmark, not
# a test: it exits non-zero only when a run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
MILLION=${MILLION:-1000000}
command -v python3 >/dev/null 2>&1 || { echo "error: python3 not found (Debian: apt-get install python3)" >&2; exit 4; }
. scripts/lib/ensure-redis.sh
. scripts/lib/measure.sh
ensure_redis

cargo build --release --locked
THIS=$ROOT/target/release/seckill-bench
baseline_bin "$ROOT"

start_bench_redis history

NAMES=(off history orders)
[ -n "$BASE" ] && NAMES=(baseline "${NAMES[@]}")
echo "round,variant,purchases_per_s,client_cpu_us_per_purchase,attempts,verdict" >"$TMP/history.csv"
FAILED=0
for round in $(seq "$ROUNDS"); do
  for name in "${NAMES[@]}"; do
    bin=$THIS
    set=(--set strategy.kind=lua --redis-url "$URL")
    case $name in
      baseline) bin=$BASE ;;
      off) set+=(--set audit.history=false) ;;
      orders) set+=(--set strategy.record_orders=true) ;;
    esac
    out=$TMP/run-$round-$name
    read -r cpu _ code < <(measure "$bin" "$out" scenarios/strategies.toml "${set[@]}")
    if [ "$code" != 0 ]; then echo "run $name round $round exited $code" >&2; FAILED=1; continue; fi
    s=$out/summary.csv
    awk -v OFS=, -v r="$round" -v n="$name" -v ops="$(column purchases_per_s "$s")" -v a="$(column attempts "$s")" \
      -v cpu="$cpu" -v v="$(column verdict "$s")" 'BEGIN {
        print r, n, sprintf("%.0f", ops), sprintf("%.2f", cpu / a * 1e6), a, v }' >>"$TMP/history.csv"
  done
done

cat >"$TMP/million.toml" <<TOML
name = "bench-history-million"
[stock]
initial = $MILLION
[load]
processes = 1
clients_per_process = 50
duration = "10m"
[strategy]
kind = "lua"
record_orders = true
TOML
read -r cpu peak code < <(measure "$THIS" "$TMP/million" "$TMP/million.toml" --redis-url "$URL")
[ "$code" = 0 ] || { echo "the million-sale run exited $code" >&2; FAILED=1; }
sales=$(column sales "$TMP/million/summary.csv" 2>/dev/null || echo 0)
jsonl=$(stat -c %s "$TMP/million/history.jsonl" 2>/dev/null || echo 0)

mkdir -p reports/bench
cp "$TMP/history.csv" reports/bench/.history.csv.tmp && mv reports/bench/.history.csv.tmp reports/bench/history.csv
echo
awk -F, '{ printf "%-6s %-9s %16s %27s %9s  %s\n", $1, $2, $3, $4, $5, $6 }' "$TMP/history.csv"
echo
for n in "${NAMES[@]}"; do
  ops=$(awk -F, -v n="$n" 'NR > 1 && $2 == n { print $3 }' "$TMP/history.csv" | median)
  cpu=$(awk -F, -v n="$n" 'NR > 1 && $2 == n { print $4 }' "$TMP/history.csv" | median)
  echo "median  $n: $ops purchases/s, $cpu us client CPU per purchase"
done
echo "million: $sales sales with record_orders; coordinator peak RSS $((peak / 1024)) MiB; history.jsonl $((jsonl / 1048576)) MiB"
echo "written: reports/bench/history.csv"
exit "$FAILED"
