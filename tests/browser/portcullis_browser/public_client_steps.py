"""Step i: a public client (no secret) gets tokens only with its PKCE code_verifier.

Skipped when --public-client-id is not given. The client may be trusted (no
consent page) or not (consent must name it); either way a code exchanged
without code_verifier is refused, and a fresh code with the verifier works.
"""

from __future__ import annotations

from selenium.webdriver.common.by import By

from .checks import expect
from .harness import Harness
from .pages import SEL_ALLOW, navigate, submit, visible_text
from .relying_party import auth_request, exchange, expect_redirect, post_token_endpoint


def step_public_client(h: Harness) -> str:
    client_id = h.args.public_client_id
    if not client_id:
        return "SKIP: no --public-client-id"
    req = auth_request(h, public=True)
    page = navigate(h.driver, h.server, req.url)
    consent = page.kind == "consent"
    if consent:
        expect(client_id in visible_text(h.driver),
               f"consent naming {client_id!r}", visible_text(h.driver)[:300])
        page = submit(h.driver, h.server, h.driver.find_element(By.CSS_SELECTOR, SEL_ALLOW))
    q = expect_redirect(page, req, h)
    status, err, body = post_token_endpoint(h, {
        "grant_type": "authorization_code", "code": q["code"], "client_id": req.session.client_id,
        "redirect_uri": h.server.callback}, public=True)
    expect(status == 400 and err in ("invalid_grant", "invalid_request"),
           "a public client's code exchange without code_verifier refused (400)", (status, body))
    # That code is now spent (or revoked); a fresh one for the real exchange.
    req = auth_request(h, public=True)
    page = navigate(h.driver, h.server, req.url)
    q = expect_redirect(page, req, h)
    exchange(h, req, q["code"], "public")
    return ("consent allowed; " if consent else "trusted, no consent; ") + \
        "no-verifier exchange refused; PKCE exchange without secret works"
