# Sourced by scripts/test.sh: makes sure sshd and the ssh client are
# installed (the multi-host tests start sshds of their own on 127.0.0.2 and
# 127.0.0.3), using the system package manager on a fresh machine. No
# system sshd is started or enabled by the tests.
. "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh"
ensure_sshd() {
  if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; then
    return 0
  fi
  install_packages openssh-server "openssh-server openssh-client" "openssh-server openssh-clients" || return 1
  [ -x /usr/sbin/sshd ]
}
