#!/usr/bin/env bash
# Prepare the browser-level OIDC harness (tests/browser/oidc_login.py):
#   * Debian's chromium + chromium-driver (apt) when `chromium`/`chromedriver`
#     are missing -- never a browser downloaded by selenium or anything else;
#   * a venv at ${PORTCULLIS_BROWSER_VENV:-.venv-browser} (relative to the repo
#     root unless absolute) with tests/browser/requirements.txt installed.
# Idempotent and quiet: a second run does nothing but check. Prints the venv's
# python path as its last line so callers can do  PY=$(bash setup.sh | tail -1).
# Needs root (or sudo) only when the apt packages are missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PORTCULLIS_BROWSER_VENV:-.venv-browser}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
req="$here/requirements.txt"
python="${PORTCULLIS_BROWSER_PYTHON:-python3}"

log() { printf 'browser-setup: %s\n' "$*" >&2; }

# shellcheck source=../support-apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support-apt.sh"

# 1. System Chromium and its matching driver (same Debian source package, so
#    the versions always agree).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
for bin in chromium chromedriver; do
    command -v "$bin" >/dev/null 2>&1 || { log "$bin still missing after apt"; exit 1; }
done
cv="$(chromium --version 2>/dev/null | grep -oE '[0-9]+' | head -1 || true)"
dv="$(chromedriver --version 2>/dev/null | grep -oE '[0-9]+' | head -1 || true)"
if [ -n "$cv" ] && [ -n "$dv" ] && [ "$cv" != "$dv" ]; then
    log "chromium major $cv != chromedriver major $dv; reinstall both from apt"
    exit 1
fi

# 2. The venv. Recreate it when it is broken (e.g. its base python is gone).
if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "venv $venv is broken; recreating"
    rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 needs python3-venv for ensurepip.
        rm -rf "$venv"
        apt_install python3-venv
        python=/usr/bin/python3
        "$python" -m venv "$venv" >/dev/null
    fi
fi

# 3. Requirements, skipped when this exact requirements file is already in.
stamp="$venv/.portcullis-requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing $(basename "$req") into $venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q \
        --no-input -r "$req"
    printf '%s\n' "$want" > "$stamp"
fi

"$venv/bin/python" -c 'import selenium, authlib, oic, requests' \
    || { log "venv imports failed"; exit 1; }
echo "$venv/bin/python"
