# Portcullis service images for CI, built offline (no registry is reachable there) from
# binaries compiled outside Docker. scripts/build-service-images.sh prepares a small build
# context holding only the two binaries under bin/ and builds both targets:
#
#   DOCKER_BUILDKIT=0 docker build -f docker/ci/service.Dockerfile --target auth-issuer \
#       -t portcullis/auth-issuer:0.1.0 CONTEXT
#
# BIN_DIR is where the binaries sit in the context (bin/ from the script; target/release or
# target/debug with the repo root as context). The binaries must be built for the runtime's
# glibc (Debian bookworm). The result behaves like docker/Dockerfile's images: same user
# (nonroot, 65532), paths, ENV, EXPOSE, HEALTHCHECK and ENTRYPOINT; keep the two in step.
# Unlike the distroless images this one has a shell and curl, which only helps debugging.
ARG RUNTIME_IMAGE=portcullis/runtime:bookworm
FROM ${RUNTIME_IMAGE} AS runtime
RUN set -eux; \
    groupadd --gid 65532 nonroot; \
    useradd --uid 65532 --gid 65532 --no-create-home --home-dir /home/nonroot \
        --shell /usr/sbin/nologin nonroot; \
    install -d -o 65532 -g 65532 -m 0755 /home/nonroot /var/lib/portcullis /var/lib/portcullis/keys
WORKDIR /var/lib/portcullis
USER 65532:65532

FROM runtime AS auth-issuer
ARG BIN_DIR=bin
COPY ${BIN_DIR}/auth-issuer /usr/local/bin/auth-issuer
ENV ISSUER_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/auth-issuer", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/auth-issuer"]

FROM runtime AS data-api
ARG BIN_DIR=bin
COPY ${BIN_DIR}/data-api /usr/local/bin/data-api
ENV DATA_API_LISTEN=0.0.0.0:8081
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/data-api", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/data-api"]
