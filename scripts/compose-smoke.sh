#!/usr/bin/env bash
# Smoke test of docker-compose.yml: the whole stack up, used with curl from the host, down.
# Every hop is TLS (the compose file's development CA, made by certs-init): curl trusts only that
# CA, copied out of the running issuer.
#
#   1. builds the offline images: scripts/build-images.sh (Redis, PostgreSQL, runtime base;
#      idempotent) and scripts/build-service-images.sh (auth-issuer, data-api from the
#      target/debug binaries, running `cargo build -p auth-issuer -p data-api` first);
#   2. `up -d` under a unique project name, every published port on a free host port;
#   3. waits (bounded) until redis, postgres, auth-issuer and both data-api replicas are
#      healthy and keys-init and certs-init have exited 0;
#   4. with curl over HTTPS (--cacert the development CA): password login, PUT an item through
#      replica 1, GET it through replica 2, refresh-token rotation (the new token works, a retry
#      within the grace window gets the same successor, the old refresh token is refused once
#      the successor was used), 401 without a token;
#   5. TLS everywhere: the issuer and both replicas answer no plain http; Redis answers no
#      plain text and refuses the `default` user; PostgreSQL refuses a login without TLS, and every
#      network connection it has (the data API's pool) uses TLS;
#   6. `down -v` always (trap), after printing `ps` and the logs if anything failed.
#
# Exits non-zero on any failure. Needs Docker, curl, and `docker compose` (v2) or
# docker-compose (1.29+).
#
# Environment:
#   PORTCULLIS_ISSUER_IMAGE / PORTCULLIS_DATA_API_IMAGE   service images (default
#       portcullis/{auth-issuer,data-api}:0.1.0, rebuilt offline by this script)
#   PORTCULLIS_REDIS_IMAGE / PORTCULLIS_POSTGRES_IMAGE    default portcullis/{redis,postgres}:bookworm
#   PORTCULLIS_SMOKE_SKIP_BUILD=1   use the images as they are (no cargo, no docker build)
#   PORTCULLIS_SMOKE_TIMEOUT        seconds from `up` until everything must be healthy (180)
#   PORTCULLIS_SMOKE_KEEP=1         leave the stack running afterwards (prints how to remove it)
set -Eeuo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
cd "$REPO_ROOT"

export PORTCULLIS_ISSUER_IMAGE="${PORTCULLIS_ISSUER_IMAGE:-portcullis/auth-issuer:0.1.0}"
export PORTCULLIS_DATA_API_IMAGE="${PORTCULLIS_DATA_API_IMAGE:-portcullis/data-api:0.1.0}"
export PORTCULLIS_REDIS_IMAGE="${PORTCULLIS_REDIS_IMAGE:-portcullis/redis:bookworm}"
export PORTCULLIS_POSTGRES_IMAGE="${PORTCULLIS_POSTGRES_IMAGE:-portcullis/postgres:bookworm}"
# Port 0: Docker picks free host ports (other stacks or `portcullis dev` may hold 8080-8082);
# the real ones are read back with `docker port`. Loopback only.
export PORTCULLIS_BIND=127.0.0.1
export PORTCULLIS_ISSUER_PORT=0 PORTCULLIS_DATA_API_1_PORT=0 PORTCULLIS_DATA_API_2_PORT=0
# Always the repository's dev users file, whatever the caller's environment says.
unset PORTCULLIS_USERS_FILE COMPOSE_FILE COMPOSE_PROFILES

TIMEOUT="${PORTCULLIS_SMOKE_TIMEOUT:-180}"
PROJECT="portcullis-smoke-$$"
DEMO_USER=demo
DEMO_PASSWORD=portcullis-demo # docker/compose/users.dev.toml (development only)
START=$SECONDS
CHECKS=0 # HTTP exchanges that answered as expected

log() { printf '==> [%3ss] %s\n' "$((SECONDS - START))" "$*" >&2; }
fail() { printf 'compose-smoke: FAIL: %s\n' "$*" >&2; exit 1; }

if docker compose version >/dev/null 2>&1; then
	COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	COMPOSE=(docker-compose)
else
	fail "neither 'docker compose' (v2) nor docker-compose is installed"
fi
command -v curl >/dev/null 2>&1 || fail "curl is not installed"
compose() { "${COMPOSE[@]}" --project-name "$PROJECT" --file "$REPO_ROOT/docker-compose.yml" "$@"; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-smoke.XXXXXX")"
UP=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$UP" = 1 ]; then
		if [ "$rc" != 0 ]; then
			printf '\n---- compose ps ----\n' >&2
			compose ps >&2 || true
			printf -- '---- compose logs ----\n' >&2
			compose logs --no-color --tail=200 >&2 || true
			printf -- '----\n' >&2
		fi
		if [ "${PORTCULLIS_SMOKE_KEEP:-0}" = 1 ]; then
			log "stack left running: ${COMPOSE[*]} -p $PROJECT down -v"
		else
			log "down -v"
			compose down -v --remove-orphans >/dev/null 2>&1 ||
				compose down -v --remove-orphans >&2 || true
		fi
	fi
	rm -rf -- "$WORK"
	if [ "$rc" = 0 ]; then
		log "PASS (${COMPOSE[*]}, project $PROJECT)"
		printf 'smoke: %d passed, 0 failed\n' "$CHECKS"
	else
		printf 'compose-smoke: failed after %ss\n' "$((SECONDS - START))" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- images ---
if [ "${PORTCULLIS_SMOKE_SKIP_BUILD:-0}" != 1 ]; then
	log "base images (scripts/build-images.sh)"
	bash "$SCRIPT_DIR/build-images.sh" >"$WORK/build-images.log" 2>&1 ||
		{ cat "$WORK/build-images.log" >&2; fail "scripts/build-images.sh failed"; }
	log "service images (scripts/build-service-images.sh)"
	bash "$SCRIPT_DIR/build-service-images.sh" >&2 || fail "scripts/build-service-images.sh failed"
fi
for image in "$PORTCULLIS_ISSUER_IMAGE" "$PORTCULLIS_DATA_API_IMAGE" \
	"$PORTCULLIS_REDIS_IMAGE" "$PORTCULLIS_POSTGRES_IMAGE"; do
	docker image inspect "$image" >/dev/null 2>&1 || fail "image $image is missing"
done

# --------------------------------------------------------------------- up ---
log "up -d (project $PROJECT, ${COMPOSE[*]})"
UP=1
deadline=$((SECONDS + TIMEOUT)) # for `up` and the wait for health together
# docker-compose 1.29 and v2 both start dependants only once their dependencies are healthy,
# so `up -d` itself can take a while; bound it like the wait below.
if ! timeout "$TIMEOUT" "${COMPOSE[@]}" --project-name "$PROJECT" --file "$REPO_ROOT/docker-compose.yml" \
	up -d --no-build >"$WORK/up.log" 2>&1; then
	cat "$WORK/up.log" >&2
	fail "'up -d' failed or took longer than ${TIMEOUT}s"
fi

# container ID of a service (running or not), by the label both compose versions set
container() {
	docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
		--filter "label=com.docker.compose.service=$1" | head -n 1
}

LONG_RUNNING=(redis postgres auth-issuer data-api-1 data-api-2)
ONE_SHOT=(keys-init certs-init)
log "waiting for ${LONG_RUNNING[*]} to be healthy and ${ONE_SHOT[*]} to finish"
while :; do
	pending=()
	for service in "${ONE_SHOT[@]}"; do
		id="$(container "$service")"
		[ -n "$id" ] || fail "no $service container"
		read -r state code <<<"$(docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$id")"
		if [ "$state" = exited ]; then
			[ "$code" = 0 ] || fail "$service exited with $code"
		else
			pending+=("$service:$state")
		fi
	done
	for service in "${LONG_RUNNING[@]}"; do
		id="$(container "$service")"
		[ -n "$id" ] || { pending+=("$service:missing"); continue; }
		read -r state health restarts <<<"$(docker inspect --format \
			'{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}' "$id")"
		case "$state/$health" in
			running/healthy) ;;
			*/unhealthy) fail "$service is unhealthy" ;;
			exited/* | dead/*) fail "$service $state" ;;
			*) pending+=("$service:$health") ;;
		esac
		[ "$restarts" = 0 ] || fail "$service restarted $restarts time(s)"
	done
	[ "${#pending[@]}" -gt 0 ] || break
	[ "$SECONDS" -lt "$deadline" ] || fail "not healthy after ${TIMEOUT}s: ${pending[*]}"
	sleep 1
done
log "all healthy"

# host address of a service's container port, e.g. 127.0.0.1:32768
published() {
	local addr
	addr="$(docker port "$(container "$1")" "$2/tcp" | grep -m1 -E '^(127\.0\.0\.1|0\.0\.0\.0):')" ||
		fail "$1: port $2 is not published"
	printf '%s\n' "${addr/0.0.0.0/127.0.0.1}"
}
ISSUER_ADDR="$(published auth-issuer 8080)"
API1_ADDR="$(published data-api-1 8081)"
API2_ADDR="$(published data-api-2 8081)"
ISSUER="https://$ISSUER_ADDR"
API1="https://$API1_ADDR"
API2="https://$API2_ADDR"
log "issuer $ISSUER, data-api-1 $API1, data-api-2 $API2"

# The development CA certs-init made (its certificate only), the one root curl trusts below.
CA="$WORK/ca.pem"
docker cp "$(container auth-issuer):/run/tls/ca/ca.pem" "$CA" >/dev/null ||
	fail "could not copy the development CA out of the auth-issuer container"
grep -q 'BEGIN CERTIFICATE' "$CA" || fail "the development CA is not a PEM certificate"

# ------------------------------------------------------------------- curl ---
# request NAME EXPECTED_STATUS CURL_ARGS...: body in $WORK/NAME.body, headers in NAME.headers.
# HTTPS only, verified against the development CA (the certificates name 127.0.0.1).
request() {
	local name="$1" want="$2" got
	shift 2
	got="$(curl -sS --max-time 10 --proto '=https' --cacert "$CA" \
		-o "$WORK/$name.body" -D "$WORK/$name.headers" \
		-w '%{http_code}' "$@")" || fail "$name: curl failed (${*: -1})"
	if [ "$got" != "$want" ]; then
		printf -- '---- %s: HTTP %s, expected %s ----\n' "$name" "$got" "$want" >&2
		cat "$WORK/$name.headers" "$WORK/$name.body" >&2 || true
		printf '\n' >&2
		fail "$name: HTTP $got, expected $want"
	fi
	CHECKS=$((CHECKS + 1))
	log "$name: $got"
}
# json_string FILE FIELD: the value of a top-level string field (no jq on CI machines)
json_string() {
	sed -nE "s/.*\"$2\":\"([^\"]*)\".*/\1/p" "$1"
}
body_has() { grep -qF -- "$2" "$WORK/$1.body" || fail "$1: body lacks $2: $(cat "$WORK/$1.body")"; }

request login 200 "$ISSUER/oauth2/token" -d grant_type=password -d client_id=portcullis-cli \
	-d "username=$DEMO_USER" --data-urlencode "password=$DEMO_PASSWORD"
body_has login '"token_type":"Bearer"'
ACCESS="$(json_string "$WORK/login.body" access_token)"
REFRESH="$(json_string "$WORK/login.body" refresh_token)"
[ -n "$ACCESS" ] || fail "login: no access_token"
[ -n "$REFRESH" ] || fail "login: no refresh_token"
grep -qi '^cache-control: *no-store' "$WORK/login.headers" || fail "login: no Cache-Control: no-store"

ITEM="smoke-$$-$RANDOM"
request put-via-replica-1 200 -X PUT "$API1/v1/items/$ITEM" -H "Authorization: Bearer $ACCESS" \
	-H 'Content-Type: application/json' -d "{\"data\":{\"written-by\":\"compose-smoke\",\"item\":\"$ITEM\"}}"
request get-via-replica-2 200 "$API2/v1/items/$ITEM" -H "Authorization: Bearer $ACCESS"
body_has get-via-replica-2 "\"item\":\"$ITEM\""
body_has get-via-replica-2 '"version":'

request refresh 200 "$ISSUER/oauth2/token" -d grant_type=refresh_token -d client_id=portcullis-cli \
	--data-urlencode "refresh_token=$REFRESH"
ACCESS2="$(json_string "$WORK/refresh.body" access_token)"
REFRESH2="$(json_string "$WORK/refresh.body" refresh_token)"
[ -n "$ACCESS2" ] || fail "refresh: no access_token"
[ -n "$REFRESH2" ] || fail "refresh: no refresh_token"
[ "$REFRESH2" != "$REFRESH" ] || fail "refresh: the refresh token was not rotated"
request get-with-refreshed-token 200 "$API1/v1/items/$ITEM" -H "Authorization: Bearer $ACCESS2"
body_has get-with-refreshed-token "\"item\":\"$ITEM\""
# A retry of the same refresh within the grace window gets the same successor (README "Security
# decisions"); once the successor has been used, the rotated token is spent and presenting it
# again revokes the family.
request retry-refresh 200 "$ISSUER/oauth2/token" -d grant_type=refresh_token \
	-d client_id=portcullis-cli --data-urlencode "refresh_token=$REFRESH"
[ "$(json_string "$WORK/retry-refresh.body" refresh_token)" = "$REFRESH2" ] \
	|| fail "retry-refresh: a retry within the grace window must get the same successor"
request refresh-successor 200 "$ISSUER/oauth2/token" -d grant_type=refresh_token \
	-d client_id=portcullis-cli --data-urlencode "refresh_token=$REFRESH2"
request reuse-rotated-refresh-token 400 "$ISSUER/oauth2/token" -d grant_type=refresh_token \
	-d client_id=portcullis-cli --data-urlencode "refresh_token=$REFRESH"
body_has reuse-rotated-refresh-token '"error":"invalid_grant"'

request no-token-replica-1 401 "$API1/v1/items/$ITEM"
grep -qi '^www-authenticate: *bearer' "$WORK/no-token-replica-1.headers" ||
	fail "no-token-replica-1: no WWW-Authenticate: Bearer"
request no-token-replica-2 401 "$API2/v1/items/$ITEM"

# -------------------------------------------------------------------- TLS ---
# passed NAME: one more check that held
passed() {
	CHECKS=$((CHECKS + 1))
	log "$1: ok"
}

# No plain http beside HTTPS: a TLS listener cannot answer an HTTP request in clear text.
for target in "issuer $ISSUER_ADDR" "data-api-1 $API1_ADDR" "data-api-2 $API2_ADDR"; do
	read -r name addr <<<"$target"
	if code="$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$addr/healthz" 2>/dev/null)" &&
		[ "${code:0:1}" = 2 ]; then
		fail "$name answered plain http on $addr with $code"
	fi
	passed "$name-no-plain-http"
done

# Redis: TLS only, and the `default` user is off (the services log in as `portcullis`).
redis_cli() { docker exec "$(container redis)" sh -c "unset REDISCLI_AUTH; redis-cli $*" 2>&1; }
out="$(redis_cli -h localhost -p 6379 ping || true)"
case "$out" in
	*PONG* | *NOAUTH*) fail "redis answered a plain-text ping on 6379: $out" ;;
esac
passed redis-no-plain-text
out="$(redis_cli --tls --cacert /run/tls/ca/ca.pem -h localhost -p 6379 ping || true)"
case "$out" in
	*NOAUTH*) passed redis-default-user-off ;;
	*) fail "redis: an unauthenticated ping over TLS answered '$out', expected NOAUTH" ;;
esac

# PostgreSQL: no login without TLS, and every network connection (the data API's) is TLS.
postgres_id="$(container postgres)"
if docker exec -e "PGPASSWORD=${PORTCULLIS_POSTGRES_PASSWORD:-portcullis-dev-only}" "$postgres_id" \
	psql "host=127.0.0.1 user=portcullis dbname=portcullis sslmode=disable" -tAc 'select 1' \
	>"$WORK/pg-plain.out" 2>&1; then
	fail "postgres accepted a login without TLS"
fi
grep -q 'no encryption\|reject' "$WORK/pg-plain.out" ||
	fail "postgres refused the plain login for another reason: $(cat "$WORK/pg-plain.out")"
passed postgres-plain-login-refused
read -r tls_conns plain_conns <<<"$(docker exec "$postgres_id" psql -U portcullis -d portcullis -tA -F ' ' -c \
	"select count(*) filter (where s.ssl), count(*) filter (where not s.ssl)
	   from pg_stat_activity a join pg_stat_ssl s using (pid) where a.client_addr is not null")"
[ "${plain_conns:-x}" = 0 ] || fail "postgres: $plain_conns network connection(s) without TLS"
[ "${tls_conns:-0}" -gt 0 ] || fail "postgres: no TLS connection from the data API"
passed "postgres-data-api-on-tls ($tls_conns connections)"
