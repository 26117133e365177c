# Sourced by scripts/*.sh: makes sure redis-server (and redis-benchmark) are
# installed, using the system package manager on a fresh machine.
ensure_redis() {
  if command -v redis-server >/dev/null 2>&1 || [ -n "${SECKILL_REDIS_SERVER:-}" ]; then
    return 0
  fi
  echo "redis-server not found: installing it with the system package manager" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server redis-tools >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    $sudo dnf install -y redis
  elif command -v brew >/dev/null 2>&1; then
    brew install redis
  else
    echo "error: no supported package manager; install redis-server yourself or set SECKILL_REDIS_SERVER" >&2
    return 1
  fi
  # Debian's package starts a system service on port 6379; the harness does
  # not use it (it starts its own throwaway servers), so leave it as it is.
  command -v redis-server >/dev/null 2>&1
}
