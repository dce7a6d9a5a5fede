#!/usr/bin/env bash
# Interop tier: installs the independent peers (scripts/install-peers.sh: pyspnego, pywinrm,
# gssapi, gss-ntlmssp, MIT Kerberos), then runs only the integration-test binaries that talk
# to them, and prints one line per binary. The tests start their peers on 127.0.0.1 and stop
# them by PID themselves; this script starts nothing else.
#
# An interop test binary is any crates/<crate>/tests/<name>.rs or tests/tests/<name>.rs that
# uses a peer: it names pyspnego/spnego, pywinrm, gss-ntlmssp, a KDC (krb5kdc / tests/peers/kdc)
# or a script in tests/peers/. New interop tests are picked up without editing this file.
#
# Usage: scripts/interop.sh [--list] [extra cargo test args, e.g. --release]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

pattern='pyspnego|import spnego|pywinrm|gss-ntlmssp|gssntlmssp|krb5kdc|peers/kdc|tests/peers|peers_dir|winrm_ntlm_server|ntlm_peer'

# (package, test target) pairs.
targets=()
for f in crates/*/tests/*.rs tests/tests/*.rs; do
  [ -f "$f" ] || continue
  case "$f" in crates/fuzz-regression/*) continue ;; esac  # replays pyspnego-made seeds, runs no peer
  grep -Eq "$pattern" "$f" || continue
  stem=$(basename "$f" .rs)
  case "$f" in
    tests/tests/*) pkg=$(sed -n 's/^name *= *"\(.*\)"/\1/p' tests/Cargo.toml | head -n 1) ;;
    *) pkg=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$(dirname "$(dirname "$f")")/Cargo.toml" | head -n 1) ;;
  esac
  targets+=("$pkg:$stem")
done

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "interop: no interop test binaries found" >&2
  exit 1
fi

echo "== installing peers"
start=$(date +%s)
./scripts/install-peers.sh
echo "peers ready in $(( $(date +%s) - start )) s"
python3 -c 'import spnego, winrm; print("pyspnego", spnego._version.__version__, "/ pywinrm", getattr(winrm, "__version__", "?"))' || true
ls /usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so >/dev/null 2>&1 && echo "gss-ntlmssp present" || echo "gss-ntlmssp missing"
if command -v krb5kdc >/dev/null 2>&1 || [ -x /usr/sbin/krb5kdc ]; then echo "MIT krb5kdc present"; else echo "krb5kdc missing"; fi

status=0
summary=()
for t in "${targets[@]}"; do
  pkg=${t%%:*}
  name=${t#*:}
  echo "== cargo test -p $pkg --test $name"
  log=$(mktemp)
  if cargo test --locked -p "$pkg" --test "$name" "$@" -- --test-threads=2 2>&1 | tee "$log"; then
    result=$(grep -E '^test result:' "$log" | tail -n 1)
    summary+=("ok      $pkg --test $name: ${result#test result: }")
  else
    status=1
    result=$(grep -E '^test result:' "$log" | tail -n 1)
    summary+=("FAILED  $pkg --test $name: ${result:-did not build or run}")
  fi
  rm -f "$log"
done
echo "== interop summary"
printf '%s\n' "${summary[@]}"
exit $status
