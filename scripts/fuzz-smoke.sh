#!/usr/bin/env bash
# Fuzz smoke test: builds every cargo-fuzz target in fuzz/ and runs each one for a few seconds
# from its committed seed corpus. Exits non-zero on the first crash, leak, timeout or OOM, and
# prints where libFuzzer saved the input (fuzz/artifacts/<target>/).
#
# Works on the stable toolchain: cargo-fuzz passes nightly-only flags (-Zsanitizer=...), which
# RUSTC_BOOTSTRAP=1 allows. Installs cargo-fuzz with `cargo install --locked` when missing
# (about 1.5 min of CPU; several minutes of wall time on a busy 2-core machine).
#
# Environment:
#   FUZZ_SMOKE_SECS      seconds per target (default 15)
#   FUZZ_SANITIZER       address (default) or none; falls back to none if ASan cannot build
#   FUZZ_TARGETS         space-separated subset of targets (default: all, from `cargo fuzz list`)
#   FUZZ_EXTRA_ARGS      extra libFuzzer flags, appended (e.g. -max_len=65536)
#   FUZZ_LOG_DIR         keep each target's libFuzzer log there (default: logs are dropped)
#   CARGO_TARGET_DIR     honoured (default fuzz/target)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${FUZZ_SMOKE_SECS:-15}
sanitizer=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (cargo install --locked)"
  start=$(date +%s)
  cargo install cargo-fuzz --locked --quiet
  echo "cargo-fuzz installed in $(( $(date +%s) - start )) s"
fi
cargo fuzz --version

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
[ -n "$targets" ] || { echo "fuzz-smoke: no fuzz targets found" >&2; exit 1; }

echo "== building fuzz targets (sanitizer: $sanitizer)"
build_log=$(mktemp)
if ! cargo fuzz build -O --sanitizer "$sanitizer" >"$build_log" 2>&1; then
  tail -n 20 "$build_log"
  [ "$sanitizer" != none ] || exit 1
  echo "fuzz-smoke: build with --sanitizer $sanitizer failed; retrying with --sanitizer none" >&2
  sanitizer=none
  cargo fuzz build -O --sanitizer none >"$build_log" 2>&1 || { tail -n 20 "$build_log"; exit 1; }
fi
tail -n 1 "$build_log"
rm -f "$build_log"

dict_for() {
  case "$1" in
    soap_*|cimxml) echo "dict/soap.dict" ;;
    *) echo "dict/ntlm.dict" ;;
  esac
}

status=0
summary=()
for t in $targets; do
  [ -d "corpus-seed/$t" ] || { echo "fuzz-smoke: no seed corpus corpus-seed/$t" >&2; exit 1; }
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t (${secs}s)"
  log=$(mktemp)
  if cargo fuzz run -O --sanitizer "$sanitizer" "$t" "corpus/$t" "corpus-seed/$t" -- \
      -max_total_time="$secs" -dict="$(dict_for "$t")" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 ${FUZZ_EXTRA_ARGS:-} >"$log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+' || echo "?")
    summary+=("$t: ok, $runs runs, cov $cov")
  else
    status=1
    summary+=("$t: FAILED")
    tail -n 40 "$log"
    echo "fuzz-smoke: $t crashed; input saved under fuzz/artifacts/$t/:" >&2
    ls -1 "artifacts/$t" >&2 || true
  fi
  if [ -n "${FUZZ_LOG_DIR:-}" ]; then mkdir -p "$FUZZ_LOG_DIR" && mv "$log" "$FUZZ_LOG_DIR/$t.log"; else rm -f "$log"; fi
done
echo "== fuzz smoke summary"
printf '%s\n' "${summary[@]}"
exit $status
