# Shared by the suites' setup scripts (tests/browser/setup.sh, tests/apache/setup.sh): install
# Debian packages quietly, as root or through sudo, and fail with apt's output when that fails.
# Callers define `log` first.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else log "need root to run: $*"; exit 1
    fi
}

apt_install() {
    log "installing $* with apt"
    local out
    out="$(mktemp)"
    if ! { as_root apt-get update -qq &&
           as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
               --no-install-recommends "$@"; } >"$out" 2>&1; then
        cat "$out" >&2; rm -f "$out"; log "apt-get install $* failed"; exit 1
    fi
    rm -f "$out"
}
