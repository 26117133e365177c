#!/usr/bin/env bash
# Regenerates every committed example under reports/example/ with one
# release build, in one sitting, so the docs quote figures of one build.
# Each example is written to a temp folder first and swapped in only when
# its command finished (whatever its verdict: several examples FAIL on
# purpose). Takes about 10 minutes on a 2-core machine.
#
# Usage: scripts/examples.sh [NAME...]   (default: every example)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-redis.sh
ensure_redis
cargo build --release --locked
bench=./target/release/seckill-bench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name, then the command's words (the scenario, flags).
examples=(
  "flash-sale run scenarios/flash-sale.toml"
  "ci-baseline run scenarios/ci.toml"
  "own-script-racy run scenarios/own-script-racy.toml"
  "strategies sweep scenarios/strategies.toml"
  "stall-vs-ttl sweep scenarios/stall-vs-ttl.toml"
  "pause-holder sweep scenarios/pause-holder.toml"
  "retry-interval sweep scenarios/retry-interval.toml"
  "failover-crash sweep scenarios/failover-crash.toml"
  "cluster-segments sweep scenarios/cluster-segments.toml"
  "capacity capacity scenarios/capacity.toml"
)

wanted() { local n; for n in "${@:2}"; do [ "$n" = "$1" ] && return 0; done; return 1; }

for line in "${examples[@]}"; do
  read -r name cmd scenario <<<"$line"
  if [ $# -gt 0 ] && ! wanted "$name" "$@"; then continue; fi
  echo "== $name: seckill-bench $cmd $scenario"
  status=0
  "$bench" "$cmd" "$scenario" --out "$tmp/$name" --quiet || status=$?
  case $status in
    0|1|3|5) ;;
    *) echo "examples: $name exited $status; reports/example/$name left as it was" >&2; exit "$status" ;;
  esac
  rm -rf "reports/example/$name"
  mv "$tmp/$name" "reports/example/$name"
done
