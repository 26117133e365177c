# Sourced by scripts/lib/ensure-*.sh: install_packages WHAT APT DNF [BREW]
# installs the packages with the system package manager (sudo when not
# root); WHAT names them in the messages.
install_packages() {
  local what=$1 apt=$2 dnf=$3 brew=${4:-}
  echo "$what not found: installing it with the system package manager" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    # shellcheck disable=SC2086 # a list of packages
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $apt >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    $sudo dnf install -y $dnf
  elif [ -n "$brew" ] && command -v brew >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    brew install $brew
  else
    echo "error: no supported package manager; install $what yourself" >&2
    return 1
  fi
}
