#!/usr/bin/env bash
# Prepare the Apache relying-party suite (tests/tests/suites/apache_oidc.rs):
#   * Debian's httpd binary and modules (apache2-bin) and mod_auth_openidc
#     (libapache2-mod-auth-openidc), from apt, when either is missing. Only the
#     binary packages: not `apache2`, whose maintainer scripts would enable and
#     start a system-wide server on port 80. The suite runs its own httpd, in
#     the foreground, with a config file of its own.
# Idempotent and quiet: a second run does nothing but check. Prints the httpd
# binary and the modules directory, tab-separated, as its last line, so callers
# can do  read -r httpd modules < <(bash setup.sh | tail -1).
# Needs root (or sudo) only when the apt packages are missing.
set -euo pipefail

httpd="${PORTCULLIS_APACHE_HTTPD:-/usr/sbin/apache2}"
modules="${PORTCULLIS_APACHE_MODULES:-/usr/lib/apache2/modules}"

log() { printf 'apache-setup: %s\n' "$*" >&2; }

# shellcheck source=../support-apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support-apt.sh"

missing=()
[ -x "$httpd" ] || missing+=(apache2-bin)
[ -f "$modules/mod_auth_openidc.so" ] || missing+=(libapache2-mod-auth-openidc)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
[ -x "$httpd" ] || { log "$httpd still missing after apt"; exit 1; }
for module in mod_auth_openidc mod_mpm_event mod_authn_core mod_authz_core mod_authz_user \
        mod_dir mod_headers; do
    [ -f "$modules/$module.so" ] || { log "$modules/$module.so missing"; exit 1; }
done
"$httpd" -v >/dev/null 2>&1 || { log "$httpd -v failed"; "$httpd" -v >&2 || true; exit 1; }
printf '%s\t%s\n' "$httpd" "$modules"
