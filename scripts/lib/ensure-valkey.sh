# Sourced by scripts/test.sh (and scripts/bench.sh valkey): makes sure
# valkey-server is installed, from Debian bookworm-backports on a fresh
# Debian 12 machine (the suite is added when missing), else from the
# system package manager. SECKILL_VALKEY_SERVER names a binary instead.
. "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh"
ensure_valkey() {
  if command -v valkey-server >/dev/null 2>&1 || [ -n "${SECKILL_VALKEY_SERVER:-}" ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1 && grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release; then
    echo "valkey-server not found: installing it from bookworm-backports" >&2
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "deb http://deb.debian.org/debian bookworm-backports main" |
        $sudo tee /etc/apt/sources.list.d/seckill-bench-backports.list >/dev/null
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t bookworm-backports valkey-server valkey-sentinel >/dev/null ||
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t bookworm-backports valkey-server >/dev/null || {
      echo "error: could not install valkey-server from bookworm-backports; install it yourself or set SECKILL_VALKEY_SERVER" >&2
      return 1
    }
  else
    install_packages valkey-server valkey-server valkey valkey || {
      echo "  or set SECKILL_VALKEY_SERVER to a valkey-server binary" >&2
      return 1
    }
  fi
  # Like redis-server's, Debian's package starts a system service on port
  # 6379; the harness starts its own throwaway servers and leaves it alone.
  command -v valkey-server >/dev/null 2>&1
}
