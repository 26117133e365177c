# Sourced by scripts/test.sh: makes sure a headless Chromium is installed
# (the browser tests render the runs' and sweeps' index.html in it), using
# the system package manager on a fresh machine. SECKILL_CHROMIUM names
# another Chromium binary instead.
. "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh"
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 || [ -n "${SECKILL_CHROMIUM:-}" ]; then
    return 0
  fi
  # No brew package: Homebrew ships Chromium only as a cask.
  install_packages chromium chromium chromium || {
    echo "  or set SECKILL_CHROMIUM to a Chromium binary" >&2
    return 1
  }
  command -v chromium >/dev/null 2>&1
}
