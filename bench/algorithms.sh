#!/usr/bin/env bash
# Sign and verify rates per JWS algorithm, Portcullis beside OpenSSL on the same machine, in one
# run: OpenSSL's `speed` for the primitives (RSA-2048, ECDSA P-256, Ed25519; one core), then the
# token benchmark, whose second table signs and verifies whole access tokens with each algorithm
# (JSON, base64url and claim checks included). Paste both into bench/RESULTS.md with the date.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v openssl >/dev/null || { echo "algorithms.sh: openssl is required" >&2; exit 1; }
SECONDS_EACH=${SECONDS_EACH:-3}
echo "# $(date -u +%F) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "## OpenSSL $(openssl version | cut -d' ' -f2): openssl speed -seconds $SECONDS_EACH rsa2048 ecdsap256 ed25519"
openssl speed -seconds "$SECONDS_EACH" rsa2048 ecdsap256 ed25519 2>/dev/null \
  | grep -E '^(rsa 2048|[[:space:]]*256 bits ecdsa|[[:space:]]*253 bits EdDSA|[[:space:]]*sign)'
echo "## Portcullis: cargo bench -p portcullis-jwt --bench tokens"
cargo bench -q -p portcullis-jwt --bench tokens
