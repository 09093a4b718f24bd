#!/usr/bin/env bash
# Schema-driven fuzzing of both services with schemathesis: starts `portcullis dev` on loopback
# (embedded adapters, limits raised so the run exercises handlers rather than 429s), logs in as
# the demo user, then runs schemathesis against each service's /openapi.json. Fails on any 5xx,
# any answer that breaks its own schema, any status or header the document does not list, and
# any answer slower than 5 s (a hang).
#
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (default 100 per operation)
set -euo pipefail
cd "$(dirname "$0")/.."

readonly SCHEMATHESIS_VERSION=4.32.5
readonly ISSUER=127.0.0.1:18080
readonly DATA_API=127.0.0.1:18081
max_examples=${1:-100}

if ! schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
cargo build --quiet -p portcullis -p auth-issuer

state=$(mktemp -d)
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# The fuzzer's own client: confidential, acting for itself (client credentials), so no user
# password and no password grant are needed to get a token for the data API.
hash=$(printf '%s' "$password" | target/debug/auth-issuer hash-password)
cat >"$state/users.toml" <<EOF_USERS
[[clients]]
client_id = "schemathesis"
secret_hash = "$hash"
grants = ["client_credentials"]
scopes = ["items:read", "items:write"]
audience = ["data-api"]
EOF_USERS
(
  cd "$state"
  ISSUER_LISTEN=$ISSUER DATA_API_LISTEN=$DATA_API ISSUER_USERS_FILE=$state/users.toml \
    DATA_API_RATE_LIMIT=100000/s DATA_API_IP_RATE_LIMIT=100000/s ISSUER_IP_RATE_LIMIT=100000/s \
    ISSUER_LOGIN_RATE_LIMIT=100000/s ISSUER_LOGIN_USER_RATE_LIMIT=100000/s \
    exec "$OLDPWD/target/debug/portcullis" dev >"$state/dev.log" 2>&1
) &
dev=$!
trap 'kill $dev 2>/dev/null || true; wait $dev 2>/dev/null || true; rm -rf "$state"' EXIT

for _ in $(seq 100); do
  curl -fsS "http://$DATA_API/readyz" >/dev/null 2>&1 && break
  kill -0 $dev 2>/dev/null || { cat "$state/dev.log"; echo "portcullis dev exited" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "http://$DATA_API/readyz" >/dev/null || { cat "$state/dev.log"; exit 1; }

token=$(curl -fsS "http://$ISSUER/oauth2/token" -d grant_type=client_credentials \
  -d client_id=schemathesis --data-urlencode "client_secret=$password" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# The coverage phase is left out: on the PUT body (any JSON value) its generator fails
# intermittently inside hypothesis ("Inconsistent results"), which would make CI flaky; the
# examples, fuzzing and stateful phases cover every operation.
common=(--config-file fuzz/schemathesis.toml --max-examples "$max_examples" --workers 2
  --phases examples,fuzzing,stateful --request-timeout 5 --max-response-time 5 --no-color)

echo "==> schemathesis: data API"
schemathesis "${common[@]:0:2}" run "http://$DATA_API/openapi.json" "${common[@]:2}" \
  -H "Authorization: Bearer $token"

# On the OAuth endpoints a schema-valid form carries credentials the generator made up, and
# `400 invalid_grant` / `invalid_request` is the right answer (RFC 6749 §5.2), so the check that
# valid-looking data is accepted does not apply there; every other check does.
echo "==> schemathesis: auth issuer"
schemathesis "${common[@]:0:2}" run "http://$ISSUER/openapi.json" "${common[@]:2}" \
  --exclude-checks positive_data_acceptance
