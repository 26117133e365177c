# Sourced by scripts/test.sh: makes sure sshd and the ssh client are
# installed (the multi-host tests start sshds of their own on 127.0.0.2 and
# 127.0.0.3), using the system package manager on a fresh machine. No
# system sshd is started or enabled by the tests.
ensure_sshd() {
  if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; then
    return 0
  fi
  echo "sshd not found: installing openssh-server with the system package manager" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openssh-server openssh-client >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    $sudo dnf install -y openssh-server openssh-clients
  else
    echo "error: no supported package manager; install openssh-server yourself" >&2
    return 1
  fi
  [ -x /usr/sbin/sshd ]
}
