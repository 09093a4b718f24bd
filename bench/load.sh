#!/usr/bin/env bash
# The full-stack load benchmark, from one command: installs what it needs, builds the release
# binaries, then runs bench/load/run.py (see its header, and bench/README.md).
#
#   bench/load.sh              # A bare handler, B data-api read path, C seed stack; issuance
#   bench/load.sh --record     # ... and append the section to bench/RESULTS.md
#   bench/load.sh --profile    # sample the data API's read path under load with perf
#
# ROUNDS (3) and DURATION (10 s per wrk run) may be set in the environment; SEEDREF_DIR points
# at the seed stack (default ../shared/bench/seedref beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [[ " $* " == *" --profile "* ]] && ! command -v perf >/dev/null; then need_apt+=(linux-perf); fi
if ((${#need_apt[@]})); then
  echo "[load] installing ${need_apt[*]} (Debian packages)" >&2
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! python3 -c 'import fastapi, uvicorn, jwt, cryptography, slowapi, redis, matplotlib' 2>/dev/null; then
  echo "[load] installing the seed stack's Python packages and matplotlib" >&2
  python3 -m pip install -q fastapi uvicorn 'pyjwt[crypto]' slowapi redis matplotlib
fi

echo "[load] building release binaries" >&2
cargo build --release -q -p auth-issuer -p data-api -p portcullis-bench-bare

exec python3 bench/load/run.py "$@"
