#!/usr/bin/env bash
# Build the local container images Portcullis CI needs, without any registry
# access (the Docker engine here cannot pull images):
#
#   portcullis/debian-base:bookworm  Debian bookworm minbase (mmdebstrap + docker import)
#   portcullis/runtime:bookworm      base + ca-certificates + curl (for service images)
#   portcullis/redis:bookworm        base + Debian redis-server (7.0)
#   portcullis/postgres:bookworm     base + Debian postgresql (15)
#
# Usage: scripts/build-images.sh [--force] [--no-postgres] [--verify] [--verbose]
#
#   --force        rebuild every selected image even if it already exists
#   --no-postgres  skip the PostgreSQL image (also: PORTCULLIS_BUILD_POSTGRES=0)
#   --verify       after building, smoke-test redis and postgres in throwaway
#                  containers (removed afterwards; images are kept)
#   --verbose      stream mmdebstrap / docker build output instead of only
#                  showing it when a step fails
#
# Environment overrides:
#   PORTCULLIS_BASE_IMAGE      (default portcullis/debian-base:bookworm)
#   PORTCULLIS_RUNTIME_IMAGE   (default portcullis/runtime:bookworm)
#   PORTCULLIS_REDIS_IMAGE     (default portcullis/redis:bookworm)
#   PORTCULLIS_POSTGRES_IMAGE  (default portcullis/postgres:bookworm)
#   PORTCULLIS_BUILD_POSTGRES  1 (default) or 0
#   PORTCULLIS_APT_SOURCES     deb822 .sources file or mirror URL for mmdebstrap
#                              (default: /etc/apt/sources.list.d/debian.sources
#                              if present, else http://deb.debian.org/debian)
#   PORTCULLIS_BUILD_NETWORK   value for `docker build --network` (default: the
#                              daemon default, i.e. bridge, which reaches the
#                              Debian mirror here; set to "host" if it cannot)
#
# Idempotent: an existing image is skipped. Images built by this script carry
# the label io.portcullis.recipe (hash of their Dockerfile(s) + base image ID);
# if that no longer matches (Dockerfile edited, base rebuilt), the image is
# rebuilt. Images without the label (built some other way) are never replaced
# unless --force is given.
#
# Readiness lines (for testcontainers wait strategies):
#   redis:    "Ready to accept connections"                      on stdout
#   postgres: "database system is ready to accept connections"   on stderr,
#             printed exactly once, by the final server (see
#             docker/ci/postgres-entrypoint.sh)
set -Eeuo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CONTEXT_DIR="$REPO_ROOT/docker/ci"
readonly SCRIPT_DIR REPO_ROOT CONTEXT_DIR
readonly RECIPE_LABEL='io.portcullis.recipe'
readonly SUITE='bookworm'

BASE_IMAGE="${PORTCULLIS_BASE_IMAGE:-portcullis/debian-base:bookworm}"
RUNTIME_IMAGE="${PORTCULLIS_RUNTIME_IMAGE:-portcullis/runtime:bookworm}"
REDIS_IMAGE="${PORTCULLIS_REDIS_IMAGE:-portcullis/redis:bookworm}"
POSTGRES_IMAGE="${PORTCULLIS_POSTGRES_IMAGE:-portcullis/postgres:bookworm}"
BUILD_POSTGRES="${PORTCULLIS_BUILD_POSTGRES:-1}"
BUILD_NETWORK="${PORTCULLIS_BUILD_NETWORK:-}"
FORCE=0
VERIFY=0
VERBOSE=0

# Classic builder: no buildx/BuildKit on this machine, and no `# syntax=` pulls.
export DOCKER_BUILDKIT=0

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-images: ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [ "$#" -gt 0 ]; do
	case "$1" in
		--force) FORCE=1 ;;
		--no-postgres) BUILD_POSTGRES=0 ;;
		--verify) VERIFY=1 ;;
		--verbose | -v) VERBOSE=1 ;;
		-h | --help) usage; exit 0 ;;
		*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done

# ---------------------------------------------------------------- setup -----
WORKDIR=''
TEST_CONTAINERS=()
cleanup() {
	local rc=$?
	if [ "${#TEST_CONTAINERS[@]}" -gt 0 ]; then
		docker rm -f -v "${TEST_CONTAINERS[@]}" >/dev/null 2>&1 || true
	fi
	if [ -n "$WORKDIR" ] && [ -d "$WORKDIR" ]; then
		rm -rf -- "$WORKDIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v docker >/dev/null 2>&1 || die "docker CLI not found in PATH"
if ! docker_err="$(docker version --format '{{.Server.Version}}' 2>&1)"; then
	docker_err="${docker_err//$'\n'/ }"
	die "Docker daemon is not reachable (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset}): ${docker_err# }"
fi
log "docker server ${docker_err}"

[ -d "$CONTEXT_DIR" ] || die "missing build context $CONTEXT_DIR"

# Serialise concurrent runs (two CI steps racing on the same tags).
if command -v flock >/dev/null 2>&1; then
	exec 9>"${TMPDIR:-/tmp}/portcullis-build-images.lock"
	flock 9
fi

WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-images.XXXXXX")"
START_TS=$SECONDS
SUMMARY=()
REPLACED_IDS=() # image IDs that lost their tag to a rebuild (removed at the end)

# -------------------------------------------------------------- helpers -----
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect --format '{{.Id}}' "$1"; }
image_label() {
	docker image inspect --format "{{ index .Config.Labels \"$RECIPE_LABEL\" }}" "$1" 2>/dev/null || true
}
image_desc() {
	docker image inspect --format '{{.Id}} {{.Size}}' "$1" |
		awk '{ printf "%s, %.0f MB", substr($1, 8, 12), $2 / 1000000 }'
}

# Run a command, logging to a file; show the log tail if it fails.
run_logged() {
	local name="$1"; shift
	local logfile="$WORKDIR/$name.log"
	if [ "$VERBOSE" = 1 ]; then
		"$@" 2>&1 | tee "$logfile" >&2
		return "${PIPESTATUS[0]}"
	fi
	if ! "$@" >"$logfile" 2>&1; then
		printf -- '---- last 60 lines of %s output ----\n' "$name" >&2
		tail -n 60 "$logfile" >&2
		printf -- '----\n' >&2
		return 1
	fi
}

# decide IMAGE RECIPE -> 0 if it must be built; prints the reason.
needs_build() {
	local image="$1" recipe="$2" have
	if [ "$FORCE" = 1 ]; then echo "forced"; return 0; fi
	if ! image_exists "$image"; then echo "missing"; return 0; fi
	have="$(image_label "$image")"
	if [ -n "$have" ] && [ "$have" != "<no value>" ] && [ "$have" != "$recipe" ]; then
		echo "recipe changed"; return 0
	fi
	return 1
}

# remember_old IMAGE: note the current ID of IMAGE before rebuilding it.
remember_old() {
	local id
	id="$(image_id "$1" 2>/dev/null)" || return 0
	REPLACED_IDS=("$id" "${REPLACED_IDS[@]}")
}

# Remove images replaced by rebuilds, newest first (children before the old
# base). `docker rmi` without -f refuses images that are still tagged or used
# by a container, so nothing in use is touched.
remove_replaced() {
	local id
	for id in "${REPLACED_IDS[@]}"; do
		if docker rmi "$id" >/dev/null 2>&1; then
			log "removed replaced image ${id:7:12}"
		fi
	done
}

record() { # STATUS IMAGE DETAIL
	local line
	line="$(printf '%-7s %-36s %s' "$1" "$2" "$3")"
	SUMMARY+=("$line")
}

# ------------------------------------------------------------ base image ----
ensure_mmdebstrap() {
	command -v mmdebstrap >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "mmdebstrap is not installed and we are not root to apt-get install it"
	command -v apt-get >/dev/null 2>&1 || die "mmdebstrap missing and no apt-get to install it"
	log "installing mmdebstrap (apt-get)"
	run_logged apt-install env DEBIAN_FRONTEND=noninteractive sh -c \
		'apt-get update && apt-get install -y --no-install-recommends mmdebstrap' ||
		die "could not install mmdebstrap"
}

apt_sources() {
	if [ -n "${PORTCULLIS_APT_SOURCES:-}" ]; then
		printf '%s\n' "$PORTCULLIS_APT_SOURCES"
	elif [ -f /etc/apt/sources.list.d/debian.sources ]; then
		printf '%s\n' /etc/apt/sources.list.d/debian.sources
	else
		printf '%s\n' http://deb.debian.org/debian
	fi
}

build_base() {
	local start=$SECONDS
	local sources tarball overlay mode hookdir
	sources="$(apt_sources)"
	tarball="$WORKDIR/rootfs.tar"
	overlay="$WORKDIR/overlay"

	# docker-friendly apt config (like the official debian images). No
	# policy-rc.d needed: without an init system invoke-rc.d already refuses
	# to start services (and mmdebstrap deletes one added by a hook).
	mkdir -p "$overlay/etc/apt/apt.conf.d"
	cat >"$overlay/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT

	mode=unshare
	[ "$(id -u)" = 0 ] && mode=root
	# shellcheck disable=SC2016  # "$1" in the last hook is expanded by mmdebstrap
	local args=(
		--variant=minbase
		--mode="$mode"
		--format=tar
		--aptopt='APT::Install-Recommends "false"'
		--aptopt='APT::Install-Suggests "false"'
		--aptopt='Acquire::Languages "none"'
		# slim: no docs (except copyright), man pages, info, translations
		--dpkgopt='path-exclude=/usr/share/doc/*'
		--dpkgopt='path-include=/usr/share/doc/*/copyright'
		--dpkgopt='path-exclude=/usr/share/man/*'
		--dpkgopt='path-exclude=/usr/share/info/*'
		--dpkgopt='path-exclude=/usr/share/groff/*'
		--dpkgopt='path-exclude=/usr/share/lintian/*'
		--dpkgopt='path-exclude=/usr/share/locale/*'
		--customize-hook="sync-in $overlay /"
		# host resolv.conf/hostname leak in; docker provides its own. The apt
		# *.bin caches must go by hand: docker-clean disables `apt-get clean` of them.
		--customize-hook='rm -f "$1/etc/resolv.conf" "$1"/var/cache/apt/*.bin && echo localhost >"$1/etc/hostname"'
	)
	# merged-/usr via usr-is-merged instead of the usrmerge package (which drags
	# in full perl, ~45 MB).
	hookdir=/usr/share/mmdebstrap/hooks/merged-usr
	[ -d "$hookdir" ] && args+=(--hook-dir="$hookdir")

	log "mmdebstrap $SUITE minbase from $sources"
	TMPDIR="$WORKDIR" run_logged mmdebstrap \
		mmdebstrap "${args[@]}" "$SUITE" "$tarball" "$sources" ||
		die "mmdebstrap failed"

	log "docker import -> $BASE_IMAGE"
	run_logged docker-import docker import \
		--message "portcullis debian $SUITE minbase (mmdebstrap)" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change "LABEL $RECIPE_LABEL=$BASE_RECIPE" \
		--change "LABEL org.opencontainers.image.title=portcullis-debian-base" \
		--change 'CMD ["bash"]' \
		"$tarball" "$BASE_IMAGE" || die "docker import failed"
	rm -f -- "$tarball"
	record built "$BASE_IMAGE" "($(image_desc "$BASE_IMAGE")) in $((SECONDS - start))s [$1]"
}

# Recipe of the base: the mmdebstrap invocation defined in this script.
BASE_RECIPE="$(sed -n '/^build_base()/,/^}/p' "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"

ensure_base() {
	local why
	if why="$(needs_build "$BASE_IMAGE" "$BASE_RECIPE")"; then
		ensure_mmdebstrap
		remember_old "$BASE_IMAGE"
		build_base "$why"
	else
		record skip "$BASE_IMAGE" "(exists: $(image_desc "$BASE_IMAGE"))"
	fi
}

# --------------------------------------------------------- derived images ---
# ensure_derived IMAGE DOCKERFILE [EXTRA CONTEXT FILES...]
ensure_derived() {
	local image="$1" dockerfile="$2"; shift 2
	local recipe why start=$SECONDS f
	recipe="$(
		{
			image_id "$BASE_IMAGE"
			for f in "$dockerfile" "$@"; do
				printf '%s\n' "$f"
				cat "$CONTEXT_DIR/$f"
			done
		} | sha256sum | cut -c1-16
	)"
	if ! why="$(needs_build "$image" "$recipe")"; then
		record skip "$image" "(exists: $(image_desc "$image"))"
		return 0
	fi

	local args=(build --rm --force-rm
		--file "$CONTEXT_DIR/$dockerfile"
		--build-arg "BASE_IMAGE=$BASE_IMAGE"
		--label "$RECIPE_LABEL=$recipe"
		--tag "$image")
	[ -z "$BUILD_NETWORK" ] || args+=(--network "$BUILD_NETWORK")

	remember_old "$image"
	log "docker build $dockerfile -> $image"
	run_logged "build-${dockerfile%.Dockerfile}" docker "${args[@]}" "$CONTEXT_DIR" ||
		die "docker build of $image failed (if apt-get could not reach the mirror, retry with PORTCULLIS_BUILD_NETWORK=host)"
	record built "$image" "($(image_desc "$image")) in $((SECONDS - start))s [$why]"
}

# ---------------------------------------------------------------- verify ----
container_ip() {
	docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"
}

# wait_for_log CONTAINER STREAM(stdout|stderr) TEXT TIMEOUT
wait_for_log() {
	local c="$1" stream="$2" text="$3" timeout="$4" i out
	for ((i = 0; i < timeout * 5; i++)); do
		if [ "$stream" = stdout ]; then
			out="$(docker logs "$c" 2>/dev/null)"
		else
			out="$(docker logs "$c" 2>&1 >/dev/null)"
		fi
		grep -qF -- "$text" <<<"$out" && return 0
		[ "$(docker inspect --format '{{.State.Running}}' "$c")" = true ] || break
		sleep 0.2
	done
	docker logs "$c" >&2 || true
	return 1
}

verify_redis() {
	local c ip pong
	c="$(docker run -d --name "portcullis-verify-redis-$$" "$REDIS_IMAGE")"
	TEST_CONTAINERS+=("$c")
	wait_for_log "$c" stdout 'Ready to accept connections' 30 || die "redis never became ready"
	pong="$(docker exec "$c" redis-cli ping)"
	[ "$pong" = PONG ] || die "redis-cli ping (in container) answered '$pong'"
	ip="$(container_ip "$c")"
	pong="$(docker run --rm "$REDIS_IMAGE" redis-cli -h "$ip" ping)"
	[ "$pong" = PONG ] || die "redis-cli -h $ip ping (from another container) answered '$pong'"
	record ok "$REDIS_IMAGE" "ready line on stdout; PONG via exec and via $ip:6379"
}

# pg_verify_one NAME WANT_USER WANT_DB [docker run -e args...]; sets PG_VERIFY_IP
PG_VERIFY_IP=''
pg_verify_one() {
	local name="$1" user="$2" db="$3"; shift 3
	local c ip out n
	c="$(docker run -d --name "portcullis-verify-$name-$$" "$@" "$POSTGRES_IMAGE" -c fsync=off)"
	TEST_CONTAINERS+=("$c")
	wait_for_log "$c" stderr 'database system is ready to accept connections' 60 ||
		die "postgres ($name) never became ready"
	out="$(docker logs "$c" 2>&1)"
	n="$(grep -cF 'database system is ready to accept connections' <<<"$out" || true)"
	[ "$n" = 1 ] || die "postgres ($name): readiness line printed $n times (expected once)"
	out="$(docker exec "$c" psql -U "$user" -d "$db" -tAc 'select 1')"
	[ "$out" = 1 ] || die "postgres ($name): psql via docker exec returned '$out'"
	ip="$(container_ip "$c")"
	out="$(docker run --rm -e PGPASSWORD=verify-secret "$POSTGRES_IMAGE" \
		psql "host=$ip port=5432 user=$user dbname=$db sslmode=disable" -tAc \
		"select current_user || '@' || current_database()" 2>&1)" ||
		die "postgres ($name): password login over TCP failed: $out"
	[ "$out" = "$user@$db" ] || die "postgres ($name): TCP login returned '$out'"
	if docker run --rm -e PGPASSWORD=wrong "$POSTGRES_IMAGE" \
		psql "host=$ip user=$user dbname=$db sslmode=disable" -tAc 'select 1' >/dev/null 2>&1; then
		die "postgres ($name): TCP login with a WRONG password succeeded"
	fi
	PG_VERIFY_IP="$ip"
}

verify_postgres() {
	local ip1 ip2
	pg_verify_one postgres-default postgres postgres -e POSTGRES_PASSWORD=verify-secret
	ip1="$PG_VERIFY_IP"
	pg_verify_one postgres-custom portcullis portcullis_test \
		-e POSTGRES_PASSWORD=verify-secret -e POSTGRES_USER=portcullis -e POSTGRES_DB=portcullis_test
	ip2="$PG_VERIFY_IP"
	record ok "$POSTGRES_IMAGE" "ready line once on stderr; psql via exec; TCP password login to $ip1 (defaults) and $ip2 (custom user/db); wrong password rejected"
}

# ------------------------------------------------------------------ main ----
ensure_base
ensure_derived "$RUNTIME_IMAGE" runtime.Dockerfile
ensure_derived "$REDIS_IMAGE" redis.Dockerfile
if [ "$BUILD_POSTGRES" = 1 ]; then
	ensure_derived "$POSTGRES_IMAGE" postgres.Dockerfile postgres-entrypoint.sh
else
	record off "$POSTGRES_IMAGE" "(disabled by --no-postgres / PORTCULLIS_BUILD_POSTGRES=0)"
fi

[ "${#REPLACED_IDS[@]}" -eq 0 ] || remove_replaced

if [ "$VERIFY" = 1 ]; then
	log "verifying images"
	verify_redis
	[ "$BUILD_POSTGRES" != 1 ] || verify_postgres
fi

printf '\n'
printf '%s\n' "${SUMMARY[@]}"
printf 'build-images: done in %ds\n' "$((SECONDS - START_TS))"
