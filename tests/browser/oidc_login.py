#!/usr/bin/env python3
"""Log a person in to a Portcullis issuer the way a browser and a relying party do.

Drives Debian's headless Chromium (selenium, nothing downloaded: the driver and
browser paths are fixed) through the issuer's login, consent, SSO, logout and
device pages, and uses authlib as the relying party (authorization code + PKCE
S256, id_token validation) plus pyoidc for a second opinion on discovery.

    python oidc_login.py --issuer http://127.0.0.1:8080 --client-id web \
        --client-secret s3cret --username alice --password pw [--public-client-id spa]

Prints one line per step (PASS/SKIP/FAIL) and exits 0 only when no step
failed; a failure prints what was expected and what came back, then exits 1.

The client given by --client-id must be confidential, NOT trusted (so consent
is shown), have no remembered consent for the user yet (a fresh issuer), and
be registered with redirect URI http://127.0.0.1/callback and post-logout
redirect URI http://127.0.0.1/logged-out (loopback: any port, RFC 8252 §7.3),
and the grants authorization_code, refresh_token and the device_code grant.

This file is only the command line; the harness is the portcullis_browser
package next to it (runner.py lists the steps).
"""

from __future__ import annotations

import argparse
import sys

from portcullis_browser.runner import run


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--public-client-id")
    p.add_argument("--screenshot-dir", help="on failure, save the browser's page here")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run(parse_args()))
