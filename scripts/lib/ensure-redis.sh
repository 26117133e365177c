# Sourced by scripts/*.sh: makes sure redis-server (and redis-benchmark) are
# installed, using the system package manager on a fresh machine.
. "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh"
ensure_redis() {
  if command -v redis-server >/dev/null 2>&1 || [ -n "${SECKILL_REDIS_SERVER:-}" ]; then
    return 0
  fi
  install_packages redis-server "redis-server redis-tools" redis redis || {
    echo "  or set SECKILL_REDIS_SERVER to a redis-server binary" >&2
    return 1
  }
  # Debian's package starts a system service on port 6379; the harness does
  # not use it (it starts its own throwaway servers), so leave it as it is.
  command -v redis-server >/dev/null 2>&1
}
