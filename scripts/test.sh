#!/usr/bin/env bash
# The whole test suite: installs redis-server if missing, then formatting,
# lints, unit and integration tests (against real redis-servers).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-redis.sh
ensure_redis
echo "using $(command -v redis-server) ($(redis-server --version | head -1))"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
