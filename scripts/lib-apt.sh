# shellcheck shell=bash
# Debian packages for the set-up scripts, as root or through sudo.
#
#   source scripts/lib-apt.sh
#   apt_install_missing nginx systemd       # installs only what is not installed yet
#
# `apt-get update` runs only when something is missing. NO_SERVICE_START=1 keeps the packages'
# services from starting (policy-rc.d): the tests start private instances, never the system's.

as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "run me as root, or install sudo: '$*' needs root" >&2
    return 1
  fi
}

apt_install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  ((${#missing[@]})) || return 0
  echo "installing Debian packages: ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d placed=0
  if [[ "${NO_SERVICE_START:-0}" == 1 && ! -e "$policy" ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    placed=1
  fi
  local status=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update || status=$?
  if ((status == 0)); then
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends "${missing[@]}" || status=$?
  fi
  if ((placed)); then as_root rm -f "$policy"; fi
  return "$status"
}
