"""Steps b to e: the confidential client's code flow in the browser, then its tokens.

b: the login page's errors (no user enumeration), consent naming the client and
scopes, deny -> access_denied, then allow -> a code whose id_token validates;
c: userinfo with and without the access token; d: single sign-on (no form on a
second authorize, same sid); e: the refresh_token grant.
"""

from __future__ import annotations

import secrets

from selenium.webdriver.common.by import By

from .checks import StepFailed, expect, expect_eq
from .harness import Harness
from .pages import SEL_ALLOW, SEL_DENY, log_in, navigate, new_lines, submit, visible_text
from .relying_party import SCOPE, auth_request, client_session, exchange, expect_redirect


def step_login_and_deny(h: Harness) -> str:
    args = h.args
    req = auth_request(h)
    page = navigate(h.driver, h.server, req.url)
    expect_eq(page.kind, "login", "first authorize shows")
    clean = visible_text(h.driver)

    page = log_in(h.driver, h.server, args.username, args.password + "-wrong")
    expect_eq(page.kind, "login", "page after a wrong password")
    err_wrong = new_lines(clean, visible_text(h.driver))
    expect(bool(err_wrong), "an error message on the login page after a wrong password", err_wrong)

    page = log_in(h.driver, h.server, "nobody-" + secrets.token_hex(4), args.password + "-wrong")
    expect_eq(page.kind, "login", "page after an unknown user")
    err_unknown = new_lines(clean, visible_text(h.driver))
    expect_eq(err_unknown, err_wrong, "unknown-user message (no user enumeration): same as wrong password")

    page = log_in(h.driver, h.server, args.username, args.password)
    expect_eq(page.kind, "consent", "page after the right password (client is not trusted)")
    text = visible_text(h.driver)
    expect(args.client_id in text, f"consent page naming client {args.client_id!r}", text[:300])
    for s in SCOPE.split():
        expect(s in text, f"consent page naming scope {s!r}", text[:300])
    deny = h.driver.find_elements(By.CSS_SELECTOR, SEL_DENY)
    expect(len(deny) == 1, f"one {SEL_DENY}", len(deny))
    page = submit(h.driver, h.server, deny[0])
    expect_redirect(page, req, h, error="access_denied")
    return f"generic login error {err_wrong[0]!r}; deny -> access_denied with state and iss"


def step_consent_allow(h: Harness) -> str:
    req = auth_request(h)
    page = navigate(h.driver, h.server, req.url)
    expect_eq(page.kind, "consent", "authorize with a live session after a denial shows")
    allow = h.driver.find_elements(By.CSS_SELECTOR, SEL_ALLOW)
    expect(len(allow) == 1, f"one {SEL_ALLOW}", len(allow))
    page = submit(h.driver, h.server, allow[0])
    q = expect_redirect(page, req, h)
    token = exchange(h, req, q["code"], "first")
    expect("refresh_token" in token, "a refresh_token (client has the refresh_token grant)", sorted(token))
    c = h.claims["first"]
    return f"code+iss+state back, id_token valid (sub={c['sub']}, sid present, at_hash ok)"


def step_userinfo(h: Harness) -> str:
    token = h.tokens["first"]
    r = h.get(h.meta["userinfo_endpoint"],
              headers={"Authorization": f"Bearer {token['access_token']}"})
    expect_eq(r.status_code, 200, "userinfo status")
    info = r.json()
    expect_eq(info.get("sub"), h.claims["first"]["sub"], "userinfo sub (= id_token sub)")
    expect_eq(info.get("preferred_username"), h.args.username, "userinfo preferred_username")
    r = h.get(h.meta["userinfo_endpoint"])
    expect_eq(r.status_code, 401, "userinfo status without a token")
    return f"sub and preferred_username match; claims {sorted(info)}"


def step_sso(h: Harness) -> str:
    req = auth_request(h)
    page = navigate(h.driver, h.server, req.url)
    expect_eq(page.kind, "callback", "second authorize goes straight back (no login, no consent)")
    q = expect_redirect(page, req, h)
    exchange(h, req, q["code"], "sso")
    expect_eq(h.claims["sso"]["sid"], h.claims["first"]["sid"], "sid of the SSO id_token")
    expect_eq(h.claims["sso"]["sub"], h.claims["first"]["sub"], "sub of the SSO id_token")
    return "no form shown; code exchanged; same sid"


def step_refresh(h: Harness) -> str:
    first = h.tokens["first"]
    try:
        new = client_session(h).refresh_token(h.meta["token_endpoint"],
                                              refresh_token=first["refresh_token"])
    except Exception as e:  # noqa: BLE001
        raise StepFailed("tokens from the refresh_token grant", f"{type(e).__name__}: {e}") from e
    expect(bool(new.get("access_token")), "an access_token from the refresh grant", sorted(new))
    expect(new["access_token"] != first["access_token"], "a new access token", "the same one")
    h.tokens["refreshed"] = new
    rotated = new.get("refresh_token") not in (None, first["refresh_token"])
    return "refresh_token grant issued a new access token" + (
        " and a rotated refresh token" if rotated else "")
