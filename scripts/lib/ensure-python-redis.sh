# Sourced by scripts/test.sh: makes sure python3 and redis-py are installed
# (the example services in examples/services/ and the tests' own services in
# tests/services/ are Python with redis-py), from the system package manager
# on a fresh machine. The services also look in /usr/lib/python3/dist-packages,
# so a python3 of its own (pyenv) still finds Debian's python3-redis.
. "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh"
ensure_python_redis() {
  if command -v python3 >/dev/null 2>&1 &&
    { python3 -c 'import redis' 2>/dev/null || [ -d /usr/lib/python3/dist-packages/redis ]; }; then
    return 0
  fi
  install_packages "python3-redis" "python3 python3-redis" "python3 python3-redis" || return 1
  [ -d /usr/lib/python3/dist-packages/redis ] || python3 -c 'import redis'
}
