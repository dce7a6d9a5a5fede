#!/usr/bin/env bash
# The test command: installs the independent peers the interop tests talk to (idempotent),
# then runs every test in the workspace. Usage: ./scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-peers.sh
exec cargo test --workspace --locked "$@"
