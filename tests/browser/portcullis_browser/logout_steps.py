"""Steps f and g: RP-initiated logout ends the session everywhere, and a new login starts afresh.

f: end_session with id_token_hint lands on the post-logout redirect with its
state, the session's refresh tokens are refused, and prompt=none answers
login_required; g: authorize shows the login form again, consent stays
remembered, and the new id_token carries a new sid.
"""

from __future__ import annotations

from urllib.parse import urlencode

from .checks import expect, expect_eq
from .harness import Harness
from .pages import log_in, navigate
from .relying_party import auth_request, exchange, expect_redirect, post_token_endpoint


def step_logout(h: Harness) -> str:
    url = h.meta["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": h.tokens["sso"]["id_token"],
        "post_logout_redirect_uri": h.server.logged_out,
        "state": "xyz", "client_id": h.args.client_id})
    page = navigate(h.driver, h.server, url)
    expect_eq(page.kind, "logged-out", "end_session lands on")
    expect_eq(page.hit.query, {"state": "xyz"}, "post-logout redirect query")

    revoked = [("sso", h.tokens["sso"]["refresh_token"])]
    rotated = h.tokens["refreshed"].get("refresh_token")
    if rotated:
        revoked.append(("refreshed", rotated))
    for name, refresh_token in revoked:
        status, err, body = post_token_endpoint(
            h, {"grant_type": "refresh_token", "refresh_token": refresh_token})
        expect((status, err) == (400, "invalid_grant"),
               f"the {name} refresh token refused after logout: 400 invalid_grant", (status, body))

    req = auth_request(h, prompt="none")
    page = navigate(h.driver, h.server, req.url)
    expect_redirect(page, req, h, error="login_required")
    return f"landed on /logged-out?state=xyz; {len(revoked)} refresh token(s) refused; prompt=none -> login_required"


def step_relogin(h: Harness) -> str:
    req = auth_request(h)
    page = navigate(h.driver, h.server, req.url)
    expect_eq(page.kind, "login", "authorize after logout shows")
    page = log_in(h.driver, h.server, h.args.username, h.args.password)
    expect_eq(page.kind, "callback", "after logging in again (consent remembered) the browser goes")
    q = expect_redirect(page, req, h)
    exchange(h, req, q["code"], "relogin")
    expect(h.claims["relogin"]["sid"] != h.claims["first"]["sid"],
           "a new sid after logout", h.claims["relogin"]["sid"])
    return "login form shown again, no consent (remembered), new sid"
