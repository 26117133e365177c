#!/usr/bin/env bash
# The whole test suite: installs redis-server, valkey-server, openssh-server,
# chromium and python3-redis if missing, then formatting, lints, unit and
# integration tests (against real redis-servers and valkey-servers, real
# sshds on 127.0.0.2 and 127.0.0.3 as load hosts, and the reports' pages
# rendered in headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-redis.sh
ensure_redis
. scripts/lib/ensure-sshd.sh
ensure_sshd
. scripts/lib/ensure-chromium.sh
ensure_chromium
. scripts/lib/ensure-python-redis.sh
ensure_python_redis
. scripts/lib/ensure-valkey.sh
ensure_valkey
echo "using $(command -v redis-server) ($(redis-server --version | head -1))"
VALKEY=${SECKILL_VALKEY_SERVER:-$(command -v valkey-server)}
echo "using $VALKEY ($("$VALKEY" --version | head -1))"
echo "using ${SECKILL_CHROMIUM:-$(command -v chromium)} ($("${SECKILL_CHROMIUM:-chromium}" --version 2>/dev/null | head -1))"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
