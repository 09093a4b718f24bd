#!/usr/bin/env bash
# Build the Portcullis service images offline, from binaries compiled on this machine:
#
#   portcullis/auth-issuer:0.1.0   (or $PORTCULLIS_ISSUER_IMAGE)
#   portcullis/data-api:0.1.0      (or $PORTCULLIS_DATA_API_IMAGE)
#
# For machines that cannot pull the public base images of docker/Dockerfile (CI here). The
# images come from docker/ci/service.Dockerfile on top of portcullis/runtime:bookworm (made by
# scripts/build-images.sh) and behave like the standard ones: same user, ENV, ports, health
# check and entrypoint.
#
# Usage: scripts/build-service-images.sh [--profile NAME] [--no-cargo]
#
#   --profile NAME  cargo profile whose binaries to package: debug (default, what CI builds
#                   anyway; a release build costs minutes), release, or any custom profile
#                   (also: PORTCULLIS_PROFILE)
#   --no-cargo      do not run `cargo build` first; package the binaries already in
#                   target/PROFILE (fails if they are missing)
#
# By default `cargo build --locked -p auth-issuer -p data-api` runs first: a no-op when the
# binaries are current, and it keeps a stale binary from being packaged.
#
# Environment: PORTCULLIS_ISSUER_IMAGE, PORTCULLIS_DATA_API_IMAGE, PORTCULLIS_PROFILE,
# PORTCULLIS_RUNTIME_IMAGE (default portcullis/runtime:bookworm), CARGO_TARGET_DIR.
#
# The build context is a temporary directory holding only the two binaries (debug info
# stripped with objcopy when available: the image needs symbols for backtraces, not DWARF),
# never the repository with its multi-gigabyte target/.
set -Eeuo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
DOCKERFILE="$REPO_ROOT/docker/ci/service.Dockerfile"

ISSUER_IMAGE="${PORTCULLIS_ISSUER_IMAGE:-portcullis/auth-issuer:0.1.0}"
DATA_API_IMAGE="${PORTCULLIS_DATA_API_IMAGE:-portcullis/data-api:0.1.0}"
RUNTIME_IMAGE="${PORTCULLIS_RUNTIME_IMAGE:-portcullis/runtime:bookworm}"
PROFILE="${PORTCULLIS_PROFILE:-debug}"
RUN_CARGO=1

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-service-images: ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [ "$#" -gt 0 ]; do
	case "$1" in
		--profile) [ "$#" -ge 2 ] || die "--profile needs a value"; PROFILE="$2"; shift ;;
		--profile=*) PROFILE="${1#--profile=}" ;;
		--no-cargo) RUN_CARGO=0 ;;
		-h | --help) usage; exit 0 ;;
		*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done

# The classic builder: no BuildKit/buildx needed, and nothing is pulled.
export DOCKER_BUILDKIT=0

CONTEXT=''
cleanup() { [ -z "$CONTEXT" ] || rm -rf -- "$CONTEXT"; }
trap cleanup EXIT

command -v docker >/dev/null 2>&1 || die "docker CLI not found in PATH"
docker image inspect "$RUNTIME_IMAGE" >/dev/null 2>&1 ||
	die "base image $RUNTIME_IMAGE is missing; run scripts/build-images.sh first"

START=$SECONDS
cd "$REPO_ROOT"
if [ "$RUN_CARGO" = 1 ]; then
	case "$PROFILE" in
		debug) profile_args=() ;;
		release) profile_args=(--release) ;;
		*) profile_args=(--profile "$PROFILE") ;;
	esac
	log "cargo build --locked${profile_args[*]:+ ${profile_args[*]}} -p auth-issuer -p data-api"
	cargo build --locked "${profile_args[@]}" -p auth-issuer -p data-api
fi

BIN_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/$PROFILE"
CONTEXT="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-service-images.XXXXXX")"
mkdir "$CONTEXT/bin"
for bin in auth-issuer data-api; do
	[ -x "$BIN_DIR/$bin" ] || die "$BIN_DIR/$bin is missing (build it: cargo build -p auth-issuer -p data-api)"
	if command -v objcopy >/dev/null 2>&1; then
		objcopy --strip-debug "$BIN_DIR/$bin" "$CONTEXT/bin/$bin"
	else
		cp "$BIN_DIR/$bin" "$CONTEXT/bin/$bin"
	fi
done
log "context: $(du -sh "$CONTEXT" | cut -f1) ($BIN_DIR)"

# build TARGET IMAGE
build() {
	local target="$1" image="$2" old new logfile
	old="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
	logfile="$CONTEXT/build-$target.log"
	log "docker build --target $target -> $image"
	if ! docker build --rm --force-rm \
		--file "$DOCKERFILE" \
		--target "$target" \
		--build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" \
		--label "org.opencontainers.image.title=portcullis-$target" \
		--label "io.portcullis.profile=$PROFILE" \
		--tag "$image" \
		"$CONTEXT" >"$logfile" 2>&1; then
		tail -n 40 "$logfile" >&2
		die "docker build of $image failed"
	fi
	new="$(docker image inspect --format '{{.Id}}' "$image")"
	# The previous build of this tag is now dangling: drop it (refused if a container uses it).
	if [ -n "$old" ] && [ "$old" != "$new" ]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
	# The binary must run on the image's libc and answer its CLI.
	docker run --rm --entrypoint "/usr/local/bin/$target" "$image" --version >/dev/null ||
		die "$image: '$target --version' failed inside the image"
	printf '%-40s %s\n' "$image" "$(docker image inspect --format '{{.Id}}' "$image" | cut -c8-19)"
}

build auth-issuer "$ISSUER_IMAGE"
build data-api "$DATA_API_IMAGE"
log "done in $((SECONDS - START))s"
