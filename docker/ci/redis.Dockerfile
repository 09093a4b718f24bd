# Portcullis CI Redis image (built by scripts/build-images.sh; no registry access).
#
# Readiness: wait for the stdout line containing "Ready to accept connections"
# (testcontainers: WaitFor::message_on_stdout("Ready to accept connections")).
# Redis 7.0 from Debian bookworm prints it exactly once, after it listens on
# 0.0.0.0:6379. No persistence (no RDB, no AOF), no protected mode, no auth.
ARG BASE_IMAGE=portcullis/debian-base:bookworm
FROM ${BASE_IMAGE}

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends redis-server; \
    rm -rf /var/lib/apt/lists/*; \
    redis-server --version; \
    redis-cli --version

WORKDIR /var/lib/redis
USER redis
EXPOSE 6379

# Replace the whole command to pass other options, e.g.
#   docker run IMAGE redis-server --bind 0.0.0.0 --protected-mode no --requirepass secret
CMD ["redis-server", "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no", \
     "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""]
