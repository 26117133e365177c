#!/usr/bin/env bash
# The user's own script next to the built-in `lua` strategy, and what the
# per-buyer ledger costs the coordinator: the figures of README
# "Performance" > "The user's script and the buyer ledger".
#
#   scripts/bench-script.sh          (also: scripts/bench.sh script)
#
#   speed   ROUNDS rounds, alternating in each round, 1 process x 50
#           clients, closed loop, huge stock, BENCH_SECONDS long, each on its
#           own embedded redis-server:
#             lua         the built-in check-and-decrement script
#             seckill     scenarios/scripts/seckill.lua (GET, SISMEMBER,
#                         DECRBY, SADD, XADD) with BUYERS buyers,
#                         per_buyer_limit = 1 and the orders stream audited
#   memory  the coordinator's peak RSS (VmHWM) in a seckill run with BUYERS
#           buyers and per_buyer_limit = 1 (the ledger, and the order book
#           read at the end), and in the same run without the limit or the
#           orders' buyer field (neither kept)
#
# Environment: ROUNDS (5), BENCH_SECONDS (6), BUYERS (10000000).
# Output: a table on stdout and reports/bench/script.csv. A benchmark, not
# a test: it exits non-zero only when a run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-5}
BENCH_SECONDS=${BENCH_SECONDS:-6}
BUYERS=${BUYERS:-10000000}
HUGE=1000000000000

cargo build --release --locked
BIN=$ROOT/target/release/seckill-bench
TMP=$(mktemp -d "${TMPDIR:-/tmp}/seckill-bench-script.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# column NAME FILE: a field of a one-row CSV with a header (no quoted commas).
column() { awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } NR == 2 && c { print $c }' "$2"; }

load="[load]
processes = 1
clients_per_process = 50
duration = \"${BENCH_SECONDS}s\""

cat >"$TMP/lua.toml" <<EOF
name = "bench-lua"
[stock]
initial = $HUGE
$load
[strategy]
kind = "lua"
EOF

# seckill FILE LEDGER: seckill.lua with or without the per-buyer checks.
seckill() {
  local audit='orders = "{run}:orders"'
  [ "$2" = yes ] && audit="$audit
per_buyer_limit = 1
orders_buyer_field = \"buyer\""
  cat >"$1" <<EOF
name = "bench-seckill"
[stock]
initial = $HUGE
extra_keys = { "{run}:buyers" = "set", "{run}:orders" = "stream" }
[buyers]
count = $BUYERS
$load
[strategy]
kind = "script"
script = "$ROOT/scenarios/scripts/seckill.lua"
keys = ["{stock}", "{run}:buyers", "{run}:orders"]
args = ["{buyer}", "{quantity}"]
[strategy.replies]
0 = "sold"
1 = "sold_out"
2 = "duplicate"
[audit]
$audit
EOF
}
seckill "$TMP/seckill.toml" yes
seckill "$TMP/seckill-no-ledger.toml" no

# run LABEL SCENARIO: one run; prints "purchases_per_s peak_coordinator_kib verdict".
run() {
  local label=$1 peak=0 hwm
  "$BIN" run "$2" --out "$TMP/runs/$label" --quiet >"$TMP/$label.log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$hwm" ] && peak=$hwm
    sleep 0.1
  done
  if ! wait "$pid"; then
    echo "error: run $label failed:" >&2
    tail -n 20 "$TMP/$label.log" >&2
    exit 1
  fi
  local summary=$TMP/runs/$label/summary.csv
  echo "$(column purchases_per_s "$summary") $peak $(column verdict "$summary")"
}

mkdir -p reports/bench
CSV=reports/bench/.script.csv.tmp
echo "section,round,run,purchases_per_s,coordinator_peak_kib,verdict" >"$CSV"
for r in $(seq 1 "$ROUNDS"); do
  for label in lua seckill; do
    read -r rate peak verdict < <(run "$label-$r" "$TMP/$label.toml")
    echo "speed,$r,$label,$rate,$peak,$verdict" >>"$CSV"
    echo "round $r: $label $rate purchases/s ($verdict)"
  done
done
for label in seckill seckill-no-ledger; do
  read -r rate peak verdict < <(run "mem-$label" "$TMP/$label.toml")
  echo "memory,1,$label,$rate,$peak,$verdict" >>"$CSV"
done
mv "$CSV" reports/bench/script.csv

echo
awk -F, '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  NR == 1 { next }
  $1 == "speed" { v[$3] = v[$3] " " $4; if ($3 == "lua") lua[$2] = $4; else mine[$2] = $4 }
  $1 == "memory" { printf "memory: %-18s coordinator peak RSS %6.1f MiB\n", $3, $5 / 1024 }
  END {
    for (r in lua) if (lua[r] > 0) ratios = ratios " " mine[r] / lua[r]
    printf "median purchases/s: lua %.0f, seckill.lua %.0f; seckill.lua / lua per round, median %.2f\n",
      median(v["lua"]), median(v["seckill"]), median(ratios)
  }' reports/bench/script.csv
echo "rows: reports/bench/script.csv"
