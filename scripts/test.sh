#!/usr/bin/env bash
# The whole test suite: installs redis-server and openssh-server if missing,
# then formatting, lints, unit and integration tests (against real
# redis-servers, and real sshds on 127.0.0.2 and 127.0.0.3 as load hosts).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-redis.sh
ensure_redis
. scripts/lib/ensure-sshd.sh
ensure_sshd
echo "using $(command -v redis-server) ($(redis-server --version | head -1))"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
