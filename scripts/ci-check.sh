#!/usr/bin/env bash
# CI regression gate: run a short scenario, then compare it with a
# committed baseline run. Exit codes are seckill-bench's: 0 pass, 1 the
# audit failed (oversell), 3 a threshold was violated or a figure regressed
# beyond the tolerance, 2 bad input, 4 environment.
#
#   scripts/ci-check.sh                    # run and compare
#   scripts/ci-check.sh --update-baseline  # run and make it the new baseline
#
# Environment: SCENARIO (default scenarios/ci.toml), BASELINE (default
# reports/example/ci-baseline), MAX_REGRESSION in percent (default 30: shared
# CI machines are noisy), OUT (default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-redis.sh
ensure_redis
cargo build --release --locked --quiet
bench=./target/release/seckill-bench
scenario=${SCENARIO:-scenarios/ci.toml}
baseline=${BASELINE:-reports/example/ci-baseline}
out=${OUT:-$(mktemp -d)/candidate}

status=0
"$bench" run "$scenario" --out "$out" --quiet || status=$?
if [ "$status" -ne 0 ]; then
  echo "ci-check: the run itself failed (exit $status); see $out/index.html" >&2
  exit "$status"
fi
if [ "${1:-}" = "--update-baseline" ]; then
  rm -rf "$baseline"
  mkdir -p "$(dirname "$baseline")"
  cp -r "$out" "$baseline"
  echo "ci-check: baseline updated in $baseline"
  exit 0
fi
"$bench" compare "$baseline" "$out" --max-regression "${MAX_REGRESSION:-30}"
