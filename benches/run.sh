#!/usr/bin/env bash
# Builds hvctl and the benchmark harness (release) and runs benches/run.py with the given
# arguments, e.g. `benches/run.sh --only per_request --n 500`. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
python3 -c 'import winrm' 2>/dev/null || python3 -m pip install -q pywinrm
cargo build --release --locked -p hvctl
# The harness is its own workspace; its Cargo.lock follows the root one.
cargo build --release --manifest-path benches/harness/Cargo.toml
exec python3 benches/run.py "$@"
