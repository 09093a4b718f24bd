# Portcullis CI PostgreSQL 15 image (built by scripts/build-images.sh; no
# registry access). Behaves like the official image for the basics:
# POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
# POSTGRES_PASSWORD_FILE, POSTGRES_USER (default postgres), POSTGRES_DB
# (default = user), POSTGRES_HOST_AUTH_METHOD (default scram-sha-256),
# POSTGRES_INITDB_ARGS, /docker-entrypoint-initdb.d/*.{sql,sql.gz,sh}, and
# arguments starting with "-" are passed to postgres (e.g. "-c fsync=off").
#
# Readiness: wait for "database system is ready to accept connections" on
# STDERR. It is printed exactly once, by the final server (0.0.0.0:5432).
# See postgres-entrypoint.sh for why.
ARG BASE_IMAGE=portcullis/debian-base:bookworm
FROM ${BASE_IMAGE}

# create_main_cluster = false: stop postgresql-common from creating (and
# starting) a "15/main" cluster at install time; the entrypoint initialises
# $PGDATA itself. (createcluster.d/ is included by createcluster.conf.)
# Few instructions on purpose: every step costs ~2 s with the classic builder.
RUN set -eux; \
    mkdir -p /etc/postgresql-common/createcluster.d; \
    echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/00-portcullis.conf; \
    apt-get update; \
    apt-get install -y --no-install-recommends postgresql; \
    rm -rf /var/lib/apt/lists/*; \
    test -x /usr/lib/postgresql/15/bin/postgres; \
    test ! -e /var/lib/postgresql/15/main; \
    test ! -e /etc/postgresql/15/main; \
    mkdir -p /docker-entrypoint-initdb.d /var/run/postgresql /var/lib/postgresql/data; \
    chown postgres:postgres /var/run/postgresql /var/lib/postgresql/data; \
    chmod 3777 /var/run/postgresql; \
    chmod 0700 /var/lib/postgresql/data

# Run through bash so the file's mode in the build context does not matter.
COPY postgres-entrypoint.sh /usr/local/bin/portcullis-postgres-entrypoint
ENV PG_MAJOR=15 \
    PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
# Fast shutdown on `docker stop` (the default SIGTERM is "smart": waits for clients).
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["bash", "/usr/local/bin/portcullis-postgres-entrypoint"]
CMD ["postgres"]
