#!/usr/bin/env bash
# A short cargo-fuzz pass over every target (CI runs it; long runs are recorded in fuzz/RUNS.md).
# Any crash, panic or failed assertion fails the script and leaves the input in fuzz/artifacts/.
# It builds without optimisation (`--dev`): half the build time of a release build (4 minutes
# against 8 here), which matters more for a pass this short than executions per second; the
# recorded long runs use release builds.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]   (default 15)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

readonly CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-15}
# cargo-fuzz passes nightly-only sanitizer flags; the stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
cargo fuzz build --dev
for target in $(cargo fuzz list); do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  echo "==> fuzz $target for ${seconds}s"
  log=$(mktemp)
  if ! cargo fuzz run --dev "$target" "$corpus" "${seeds[@]}" -- -max_total_time="$seconds" \
    -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added)' "$log" || true
  rm -f "$log"
done
