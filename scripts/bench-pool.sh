#!/usr/bin/env bash
# What a small connection pool costs: the wait for a connection against the
# whole purchase, next to a connection per client and a larger pool.
#
#   scripts/bench-pool.sh          (also: scripts/bench.sh pool)
#
#   ROUNDS rounds (3), alternating in each round, 1 process x 64 clients,
#   closed loop, BENCH_SECONDS (5) long, a huge stock, one redis-server:
#     lua and article, each with
#       per-client   a connection per client (the reference)
#       pool 4       [load] connections = "pool", pool_size = 4
#       pool 16      pool_size = 16
#   For each: purchases/s, the purchase p99 and the pool_wait p99 (from
#   summary.csv), medians per variant.
#
# Output: a table and reports/bench/pool.csv. A benchmark, not a test: it
# exits non-zero only when a run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
BENCH_SECONDS=${BENCH_SECONDS:-5}
HUGE=1000000000000
command -v python3 >/dev/null 2>&1 || { echo "error: python3 not found (Debian: apt-get install python3)" >&2; exit 4; }
. scripts/lib/ensure-redis.sh
. scripts/lib/measure.sh
ensure_redis

cargo build --release --locked
BIN=$ROOT/target/release/seckill-bench
start_bench_redis pool

cat >"$TMP/pool.toml" <<TOML
name = "bench-pool"
[stock]
initial = $HUGE
[load]
processes = 1
clients_per_process = 64
duration = "${BENCH_SECONDS}s"
pool_timeout_ms = 10000
[strategy]
kind = "lua"
TOML

VARIANTS=("per-client" "pool 4" "pool 16")
echo "round,strategy,connections,purchases_per_s,p99_us,pool_wait_p99_us,verdict" >"$TMP/pool.csv"
FAILED=0
for round in $(seq "$ROUNDS"); do
  for kind in lua article; do
    for variant in "${VARIANTS[@]}"; do
      set=(--set "strategy.kind=$kind" --redis-url "$URL")
      case $variant in
        per-client) set+=(--set load.connections=per-client) ;;
        pool*) set+=(--set load.connections=pool --set "load.pool_size=${variant#pool }") ;;
      esac
      out=$TMP/run-$round-$kind-${variant// /}
      read -r _ _ code < <(measure "$BIN" "$out" "$TMP/pool.toml" "${set[@]}")
      if [ "$code" != 0 ]; then echo "$kind $variant round $round exited $code" >&2; FAILED=1; continue; fi
      s=$out/summary.csv
      printf '%s,%s,%s,%.0f,%s,%s,%s\n' "$round" "$kind" "$variant" "$(column purchases_per_s "$s")" \
        "$(column p99_us "$s")" "$(column pool_wait_p99_us "$s")" "$(column verdict "$s")" >>"$TMP/pool.csv"
    done
  done
done

mkdir -p reports/bench
cp "$TMP/pool.csv" reports/bench/.pool.csv.tmp && mv reports/bench/.pool.csv.tmp reports/bench/pool.csv
echo
awk -F, '{ printf "%-6s %-8s %-11s %16s %10s %17s  %s\n", $1, $2, $3, $4, $5, $6, $7 }' "$TMP/pool.csv"
echo
for kind in lua article; do
  for variant in "${VARIANTS[@]}"; do
    pick() { awk -F, -v k="$kind" -v v="$variant" -v c="$1" 'NR > 1 && $2 == k && $3 == v && $c != "" { print $c }' "$TMP/pool.csv" | median; }
    ops=$(pick 4); p99=$(pick 5); wait=$(pick 6)
    echo "median  $kind $variant: $ops purchases/s, purchase p99 ${p99} us, pool_wait p99 ${wait:-n/a} us"
  done
done
echo "written: reports/bench/pool.csv"
exit "$FAILED"
