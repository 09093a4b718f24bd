# Portcullis runtime base (built by scripts/build-images.sh; no registry access).
# Debian bookworm minbase + ca-certificates + curl. Service Dockerfiles start
# FROM this image and COPY in prebuilt binaries.
ARG BASE_IMAGE=portcullis/debian-base:bookworm
FROM ${BASE_IMAGE}

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    rm -rf /var/lib/apt/lists/*; \
    curl --version
