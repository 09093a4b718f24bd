#!/usr/bin/env bash
# Entrypoint of the Portcullis CI PostgreSQL image (docker/ci/postgres.Dockerfile).
#
# READINESS: wait for the line
#     database system is ready to accept connections
# on the container's STDERR (testcontainers:
# WaitFor::message_on_stderr("database system is ready to accept connections")).
# Unlike the official image it appears exactly ONCE, from the final server that
# listens on 0.0.0.0:5432, because initialisation never runs a logging server:
#   * the cluster is created with `initdb` (no server),
#   * POSTGRES_DB is created with the single-user backend (`postgres --single`,
#     no server, no socket),
#   * only if /docker-entrypoint-initdb.d contains scripts, a temporary server is
#     started on the unix socket only (listen_addresses=''), and its log goes to
#     a file that is shown only if something fails.
# Nothing listens on TCP before the final server, so `pg_isready -h localhost`
# is also a correct readiness probe.
set -Eeuo pipefail

log() { printf 'portcullis-postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Options only ("-c fsync=off", "-p 5433", ...): run them with postgres.
if [ "$#" -eq 0 ] || [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
	exec "$@"
fi
# `postgres --version` / `--help` etc. need no cluster.
for arg in "${@:2}"; do
	case "$arg" in
		-V | --version | '-?' | --help | --describe-config) exec "$@" ;;
	esac
done

# Running as root: fix permissions, then re-exec as the postgres user.
if [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
	chown postgres:postgres /var/run/postgresql
	chmod 0700 "$PGDATA"
	chmod 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups -- bash "${BASH_SOURCE[0]}" "$@"
fi

# VAR_FILE support, like the official image (POSTGRES_PASSWORD_FILE, ...).
file_env() {
	local var="$1" file_var="${1}_FILE" def="${2:-}"
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		die "both $var and $file_var are set (they are exclusive)"
	fi
	local val="$def"
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!file_var:-}" ]; then
		val="$(<"${!file_var}")"
	fi
	export "$var"="$val"
	unset "$file_var"
}

# Quote an SQL identifier.
quote_ident() { local s="${1//\"/\"\"}"; printf '"%s"' "$s"; }

# Show the temporary server's log on failure, defusing its readiness line so
# that it can never be mistaken for the final server's.
show_tmplog() {
	sed -e 's/^/[init server] /' -e 's/ready to accept connections/up (temporary, unix socket only)/' "$1" >&2
}

run_init_scripts() {
	local tmplog f
	shopt -s nullglob
	local scripts=(/docker-entrypoint-initdb.d/*)
	shopt -u nullglob
	[ "${#scripts[@]}" -gt 0 ] || return 0

	# Temporary server: unix socket only, log to a file (NOT the container log),
	# so its "ready to accept connections" line cannot be mistaken for readiness.
	tmplog="$(mktemp /tmp/postgres-init.XXXXXX.log)"
	if ! pg_ctl -D "$PGDATA" -w -t 60 -l "$tmplog" \
		-o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" \
		start >/dev/null; then
		show_tmplog "$tmplog"
		die "temporary server for /docker-entrypoint-initdb.d failed to start"
	fi

	local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password
		--host=/var/run/postgresql --username="$POSTGRES_USER" --dbname="$POSTGRES_DB")
	local ok=1
	for f in "${scripts[@]}"; do
		case "$f" in
			*.sh)
				log "running $f"
				if [ -x "$f" ]; then
					PGHOST=/var/run/postgresql PGUSER="$POSTGRES_USER" PGDATABASE="$POSTGRES_DB" "$f" || { ok=0; break; }
				else
					# shellcheck disable=SC1090
					(export PGHOST=/var/run/postgresql PGUSER="$POSTGRES_USER" PGDATABASE="$POSTGRES_DB"; . "$f") || { ok=0; break; }
				fi
				;;
			*.sql)    log "running $f"; "${psql[@]}" -f "$f" >/dev/null || { ok=0; break; } ;;
			*.sql.gz) log "running $f"; gzip -dc "$f" | "${psql[@]}" >/dev/null || { ok=0; break; } ;;
			*)        log "ignoring $f" ;;
		esac
	done

	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null || { show_tmplog "$tmplog"; die "temporary server failed to stop"; }
	if [ "$ok" != 1 ]; then
		show_tmplog "$tmplog"
		die "init script $f failed"
	fi
	rm -f "$tmplog"
}

init_cluster() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	local auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

	if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != 'trust' ]; then
		die "database is uninitialized and POSTGRES_PASSWORD is not set; set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust to allow passwordless connections)"
	fi

	log "initialising cluster in $PGDATA (user=$POSTGRES_USER db=$POSTGRES_DB host auth=$auth)"
	local initdb_args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host="$auth"
		--encoding=UTF8 --locale=C.UTF-8)
	local pwfile=''
	if [ -n "$POSTGRES_PASSWORD" ]; then
		pwfile="$(mktemp /tmp/pgpass.XXXXXX)"
		printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
		initdb_args+=(--pwfile="$pwfile")
	fi
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is word-split on purpose
	initdb "${initdb_args[@]}" ${POSTGRES_INITDB_ARGS} -D "$PGDATA" >/dev/null
	[ -z "$pwfile" ] || rm -f "$pwfile"

	# Listen everywhere; password (or trust) auth from any address.
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

	if [[ ! "$POSTGRES_DB" =~ ^(postgres|template0|template1)$ ]]; then
		# Single-user backend: no postmaster, no socket, no readiness message.
		# (it exits 0 even when a statement fails, hence the grep)
		local out
		if ! out="$(printf 'CREATE DATABASE %s;\n' "$(quote_ident "$POSTGRES_DB")" |
			postgres --single -j -D "$PGDATA" postgres 2>&1)" ||
			grep -qE '(ERROR|FATAL|PANIC): ' <<<"$out"; then
			printf '%s\n' "$out" >&2
			die "could not create database $POSTGRES_DB"
		fi
	fi

	run_init_scripts
	log "initialisation complete; starting server"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	init_cluster
fi

unset POSTGRES_PASSWORD
exec "$@"
