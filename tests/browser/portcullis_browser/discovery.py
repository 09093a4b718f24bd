"""Step a: the issuer's two discovery documents, judged by authlib and pyoidc, then its keys.

Both /.well-known/openid-configuration and /.well-known/oauth-authorization-server
must carry every member issue #15 names, agree on the issuer, and pass
authlib's and pyoidc's strict validators. The step leaves the metadata, the
issuer and the JWKS in the harness for every later step.
"""

from __future__ import annotations

import copy
import ipaddress
from urllib.parse import urlsplit

from authlib.jose import JsonWebKey, JsonWebToken
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from oic.oic.message import ProviderConfigurationResponse

from .checks import StepFailed, expect, expect_eq
from .harness import Harness

# Discovery members issue #15 requires in both documents (device_authorization_endpoint
# too, but a deployment without the device flow may leave it out: step h then skips).
REQUIRED_METADATA = [
    "issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint",
    "end_session_endpoint", "jwks_uri",
    "response_types_supported", "response_modes_supported", "grant_types_supported",
    "code_challenge_methods_supported", "scopes_supported", "claims_supported",
    "subject_types_supported", "id_token_signing_alg_values_supported",
    "token_endpoint_auth_methods_supported",
    "authorization_response_iss_parameter_supported",
]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def as_https(doc: dict, issuer: str) -> dict:
    """The document with the loopback http origin spelled https, for pyoidc, which
    (rightly, off loopback) insists on https: it then judges everything but the scheme."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer))
    https = "https" + origin[4:]

    def fix(v):
        if isinstance(v, str) and (v == origin or v.startswith(origin + "/")):
            return https + v[len(origin):]
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    return {k: fix(v) for k, v in copy.deepcopy(doc).items()}


def fetch_documents(h: Harness, base: str) -> tuple[dict, dict]:
    """(openid-configuration, oauth-authorization-server), each checked for the required members."""
    r = h.get(base + "/.well-known/openid-configuration")
    expect_eq(r.status_code, 200, "openid-configuration status")
    doc = r.json()
    r2 = h.get(base + "/.well-known/oauth-authorization-server")
    expect_eq(r2.status_code, 200, "oauth-authorization-server status")
    as_doc = r2.json()
    for name, d in (("openid-configuration", doc), ("oauth-authorization-server", as_doc)):
        missing = [k for k in REQUIRED_METADATA if k not in d]
        expect(not missing, f"{name} lists every member issue #15 names", f"missing {missing}")
        expect_eq(str(d["issuer"]).rstrip("/"), base, f"{name} issuer")
    expect_eq(as_doc["issuer"], doc["issuer"], "both documents' issuer")
    return doc, as_doc


def run_third_party_validators(doc: dict, as_doc: dict) -> str:
    """authlib's and pyoidc's validators; returns a note when pyoidc saw an adjusted document.

    authlib accepts a loopback http issuer (RFC 8252 §7.3) and sees the documents as
    served; pyoidc insists on https, so a loopback http issuer is shown to it spelled https.
    """
    try:
        OpenIDProviderMetadata(doc).validate()
    except Exception as e:  # noqa: BLE001 - authlib raises ValueError & friends
        raise StepFailed("authlib OpenIDProviderMetadata.validate() to pass", e) from e
    try:
        AuthorizationServerMetadata(as_doc).validate()
    except Exception as e:  # noqa: BLE001
        raise StepFailed("authlib AuthorizationServerMetadata.validate() to pass", e) from e
    note = ""
    for_pyoidc = doc
    if is_loopback_http(doc["issuer"]):
        for_pyoidc = as_https(doc, doc["issuer"])
        note = " (pyoidc saw the loopback http origin spelled https: it refuses http)"
    try:
        ok = ProviderConfigurationResponse(**for_pyoidc).verify()
    except Exception as e:  # noqa: BLE001
        raise StepFailed("pyoidc ProviderConfigurationResponse.verify() to pass",
                         f"{type(e).__name__}: {e}") from e
    expect(ok is True, "pyoidc verify() -> True", ok)
    return note


def check_portcullis_choices(doc: dict) -> None:
    """What this issuer promises beyond the specs: code flow with S256 only, RFC 9207 iss."""
    expect_eq(doc["code_challenge_methods_supported"], ["S256"], "code_challenge_methods_supported")
    expect_eq(doc["response_types_supported"], ["code"], "response_types_supported")
    expect(doc["authorization_response_iss_parameter_supported"] is True,
           "authorization_response_iss_parameter_supported true",
           doc["authorization_response_iss_parameter_supported"])
    expect("openid" in doc["scopes_supported"], "openid in scopes_supported", doc["scopes_supported"])
    grants = doc["grant_types_supported"]
    for g in ("authorization_code", "refresh_token"):
        expect(g in grants, f"{g} in grant_types_supported", grants)
    if "device_authorization_endpoint" in doc:
        expect(DEVICE_GRANT in grants, f"{DEVICE_GRANT} in grant_types_supported", grants)


def step_discovery(h: Harness) -> str:
    doc, as_doc = fetch_documents(h, h.args.issuer.rstrip("/"))
    note = run_third_party_validators(doc, as_doc)
    check_portcullis_choices(doc)
    h.meta = doc
    h.issuer = doc["issuer"]
    jr = h.get(doc["jwks_uri"])
    expect_eq(jr.status_code, 200, "jwks_uri status")
    h.jwks = JsonWebKey.import_key_set(jr.json())
    algs = [a for a in doc["id_token_signing_alg_values_supported"] if a != "none"]
    expect(bool(algs), "a signing alg other than none", doc["id_token_signing_alg_values_supported"])
    h.jwt = JsonWebToken(algs)
    return "both documents pass authlib and pyoidc" + note
