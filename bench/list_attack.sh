#!/usr/bin/env bash
# The data API's peak memory under the list attack (issue 18): installs redis-server if missing,
# builds the release binaries, then runs bench/memory/list_attack.py (pass --record to append
# the result to bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
cargo build --release --locked -p auth-issuer -p data-api
exec python3 bench/memory/list_attack.py "$@"
