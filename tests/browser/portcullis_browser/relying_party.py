"""The relying party's side of the code flow, done by authlib rather than by hand.

Builds authorization requests (PKCE S256, state, nonce), checks what comes back
to the callback (state, RFC 9207 iss, code or error), exchanges codes and
validates every id_token (signature, iss, aud, nonce, at_hash, sid,
auth_time), and posts the token endpoint by hand where a step needs to see an
error response.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken

from .checks import StepFailed, expect, expect_eq
from .harness import Harness
from .pages import Page

SCOPE = "openid profile email"


def client_session(h: Harness, public: bool = False) -> OAuth2Session:
    """An authlib session for the confidential client, or (public=True) the public one."""
    if public:
        return OAuth2Session(h.args.public_client_id, None, scope=SCOPE,
                             redirect_uri=h.server.callback,
                             code_challenge_method="S256",
                             token_endpoint_auth_method="none")
    method = "client_secret_basic" if h.uses_basic_auth() else "client_secret_post"
    return OAuth2Session(h.args.client_id, h.args.client_secret, scope=SCOPE,
                         redirect_uri=h.server.callback,
                         code_challenge_method="S256", token_endpoint_auth_method=method)


@dataclass
class AuthRequest:
    session: OAuth2Session
    url: str
    state: str
    nonce: str
    verifier: str


def auth_request(h: Harness, public: bool = False, **extra) -> AuthRequest:
    session = client_session(h, public)
    state, nonce, verifier = generate_token(24), generate_token(24), generate_token(64)
    url, _ = session.create_authorization_url(h.meta["authorization_endpoint"], state=state,
                                              code_verifier=verifier, nonce=nonce, **extra)
    q = parse_qs(urlsplit(url).query)
    expect_eq(q.get("code_challenge_method"), ["S256"], "authorize URL code_challenge_method")
    return AuthRequest(session, url, state, nonce, verifier)


def expect_redirect(page: Page, req: AuthRequest, h: Harness, *, error: str | None = None) -> dict:
    """The callback query, after checking state, iss and either a code or the given error."""
    expect(page.kind == "callback", f"a redirect to {h.server.callback}", page.kind + " page")
    q = page.hit.query
    expect_eq(q.get("state"), req.state, "callback state")
    expect_eq(q.get("iss"), h.issuer, "callback iss (RFC 9207)")
    if error is None:
        expect("error" not in q, "no error in callback", q)
        expect(bool(q.get("code")), "a code in callback", q)
    else:
        expect_eq(q.get("error"), error, "callback error")
        expect("code" not in q, "no code alongside an error", q)
    return q


def exchange(h: Harness, req: AuthRequest, code: str, name: str) -> dict:
    """Trade the code for tokens, validate the id_token, and keep both under `name`."""
    try:
        token = req.session.fetch_token(h.meta["token_endpoint"], grant_type="authorization_code",
                                        code=code, code_verifier=req.verifier)
    except Exception as e:  # noqa: BLE001 - authlib's OAuthError and transport errors
        raise StepFailed("tokens for the code (authlib fetch_token)", f"{type(e).__name__}: {e}") from e
    for k in ("access_token", "id_token", "token_type"):
        expect(k in token, f"{k} in token response", sorted(token))
    expect_eq(str(token["token_type"]).lower(), "bearer", "token_type")
    claims = validate_id_token(h, token, req)
    h.tokens[name] = token
    h.claims[name] = claims
    return token


def validate_id_token(h: Harness, token: dict, req: AuthRequest) -> dict:
    try:
        return _decode_and_check_id_token(h, token, req, req.session.client_id)
    except StepFailed:
        raise
    except Exception as e:  # noqa: BLE001 - joserfc/authlib claim and signature errors
        raise StepFailed("a valid id_token (authlib jwt.decode + CodeIDToken.validate)",
                         f"{type(e).__name__}: {e}") from e


def _decode_and_check_id_token(h: Harness, token: dict, req: AuthRequest, client_id: str) -> dict:
    claims = h.jwt.decode(
        token["id_token"], h.jwks, claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": h.issuer},
                        "aud": {"essential": True, "value": client_id},
                        "nonce": {"essential": True}},
        claims_params={"nonce": req.nonce, "access_token": token["access_token"],
                       "client_id": client_id})
    expect(claims.header.get("alg") in h.meta["id_token_signing_alg_values_supported"],
           "id_token alg among id_token_signing_alg_values_supported", claims.header.get("alg"))
    # authlib checks at_hash only when present: make it count.
    for k in ("at_hash", "sid", "auth_time", "nonce"):
        expect(k in claims, f"id_token claim {k}", sorted(claims))
    claims.validate(leeway=5)
    return dict(claims)


def post_token_endpoint(h: Harness, data: dict, public: bool = False) -> tuple[int, str | None, dict]:
    """POST the token endpoint by hand (as the confidential client unless public); return
    (status, error, body) so a step can check refusals as well as successes."""
    auth = None
    if not public:
        data, auth = h.with_client_credentials(data)
    r = h.post(h.meta["token_endpoint"], data=data, auth=auth)
    try:
        body = r.json()
    except ValueError:
        body = {}
    return r.status_code, body.get("error"), body
