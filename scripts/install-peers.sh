#!/usr/bin/env bash
# Installs the independent implementations the interop tests run against, if missing:
# pyspnego and pywinrm (pip), gss-ntlmssp and MIT Kerberos (apt), and the fish and zsh shells
# the completion scripts are tested in (apt). Idempotent and quiet.
# Peers are only installed here; each test starts its peer on 127.0.0.1 and stops it by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
want_py=()
$py -c 'import spnego' 2>/dev/null || want_py+=(pyspnego)
$py -c 'import winrm' 2>/dev/null || want_py+=(pywinrm)
$py -c 'import gssapi' 2>/dev/null || want_py+=(gssapi)
apt_pkgs=()
for p in gss-ntlmssp krb5-kdc krb5-admin-server krb5-user libkrb5-dev fish zsh; do
  dpkg -s "$p" >/dev/null 2>&1 || apt_pkgs+=("$p")
done
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
  else
    echo "install-peers: missing apt packages (need root): ${apt_pkgs[*]}" >&2
  fi
fi
if [ ${#want_py[@]} -gt 0 ]; then
  $py -m pip install -q "${want_py[@]}"
fi
