#!/usr/bin/env bash
# Quick start: installs redis-server if missing, builds in release and runs
# the article's own scenario against a throwaway embedded redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-redis.sh
ensure_redis
cargo build --release --locked
./target/release/seckill-bench run scenarios/article.toml "$@"
