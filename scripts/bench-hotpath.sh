#!/usr/bin/env bash
# The hot path before and after: this build against an earlier one, for
# the strategies whose purchases build no command (lua, decr, article) and
# the user's script, side by side on one redis-server.
#
#   BASELINE_BIN=<an earlier release build> scripts/bench-hotpath.sh
#   BASELINE_REV=<a commit> scripts/bench-hotpath.sh   (built here)
#   (also: scripts/bench.sh hotpath)
#
#   ROUNDS rounds (3), alternating in each round build by build, for each
#   strategy: 1 process x 50 clients, closed loop, BENCH_SECONDS (5) long,
#   a huge stock:
#     lua      one EVALSHA per purchase
#     decr     one DECRBY
#     article  SET NX PX / GET / INCRBY / DEL under the article's lock,
#              1 process x 1 client (with 50, the clients mostly wait for
#              the lock and the figure is the wait's, not the purchase's)
#     script   scenarios/scripts/seckill.lua, keys and arguments rendered
#              per purchase ({buyer}), 10 million buyers
#   Client CPU per purchase: the coordinator's and its worker's CPU over
#   their whole life, divided by the attempts.
#
# Environment: ROUNDS, BENCH_SECONDS, STRATEGIES (lua decr article script),
# SET (extra `--set field=value` arguments for both builds, e.g.
# "--set audit.history=false" to leave the history's cost out when the
# earlier build shipped it differently).
#
# Output: a table, medians per build and strategy, and
# reports/bench/hotpath.csv. A benchmark, not a test: it exits non-zero
# only when a run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
BENCH_SECONDS=${BENCH_SECONDS:-5}
STRATEGIES=${STRATEGIES:-lua decr article script}
HUGE=1000000000000
command -v python3 >/dev/null 2>&1 || { echo "error: python3 not found (Debian: apt-get install python3)" >&2; exit 4; }
. scripts/lib/ensure-redis.sh
. scripts/lib/measure.sh
ensure_redis

cargo build --release --locked
THIS=$ROOT/target/release/seckill-bench
baseline_bin "$ROOT"
[ -n "$BASE" ] || { echo "error: set BASELINE_BIN (a release build) or BASELINE_REV (a commit) to compare with" >&2; exit 2; }

start_bench_redis hotpath

load="[load]
processes = 1
clients_per_process = 50
duration = \"${BENCH_SECONDS}s\""
for kind in lua decr article; do
  cat >"$TMP/$kind.toml" <<TOML
name = "bench-hotpath-$kind"
[stock]
initial = $HUGE
$load
[strategy]
kind = "$kind"
TOML
done
sed -i 's/^clients_per_process = 50$/clients_per_process = 1/' "$TMP/article.toml"
cat >"$TMP/script.toml" <<TOML
name = "bench-hotpath-script"
[stock]
initial = $HUGE
extra_keys = { "{run}:buyers" = "set", "{run}:orders" = "stream" }
[buyers]
count = 10000000
$load
[strategy]
kind = "script"
script = "$ROOT/scenarios/scripts/seckill.lua"
keys = ["{stock}", "{run}:buyers", "{run}:orders"]
args = ["{buyer}", "{quantity}"]
[strategy.replies]
"0" = "sold"
"1" = "sold_out"
"2" = "duplicate"
TOML

echo "round,strategy,build,purchases_per_s,client_cpu_us_per_purchase,attempts,verdict" >"$TMP/hotpath.csv"
FAILED=0
for round in $(seq "$ROUNDS"); do
  for kind in $STRATEGIES; do
    for build in before after; do
      bin=$THIS; [ "$build" = before ] && bin=$BASE
      out=$TMP/run-$round-$kind-$build
      # shellcheck disable=SC2086 # SET is a list of arguments
      read -r cpu _ code < <(measure "$bin" "$out" "$TMP/$kind.toml" --redis-url "$URL" ${SET:-})
      if [ "$code" != 0 ]; then echo "$kind ($build) round $round exited $code" >&2; FAILED=1; continue; fi
      s=$out/summary.csv
      awk -v OFS=, -v r="$round" -v k="$kind" -v b="$build" -v ops="$(column purchases_per_s "$s")" \
        -v a="$(column attempts "$s")" -v cpu="$cpu" -v v="$(column verdict "$s")" 'BEGIN {
          print r, k, b, sprintf("%.0f", ops), sprintf("%.2f", cpu / a * 1e6), a, v }' >>"$TMP/hotpath.csv"
    done
  done
done

mkdir -p reports/bench
cp "$TMP/hotpath.csv" reports/bench/.hotpath.csv.tmp && mv reports/bench/.hotpath.csv.tmp reports/bench/hotpath.csv
echo
awk -F, '{ printf "%-6s %-8s %-7s %16s %27s %10s  %s\n", $1, $2, $3, $4, $5, $6, $7 }' "$TMP/hotpath.csv"
echo
for kind in $STRATEGIES; do
  for build in before after; do
    ops=$(awk -F, -v k="$kind" -v b="$build" 'NR > 1 && $2 == k && $3 == b { print $4 }' "$TMP/hotpath.csv" | median)
    cpu=$(awk -F, -v k="$kind" -v b="$build" 'NR > 1 && $2 == k && $3 == b { print $5 }' "$TMP/hotpath.csv" | median)
    echo "median  $kind $build: $ops purchases/s, $cpu us client CPU per purchase"
  done
done
echo "written: reports/bench/hotpath.csv"
exit "$FAILED"
