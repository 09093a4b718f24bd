"""The state one run carries from step to step, and its back-channel HTTP helpers.

Steps run in order and build on each other: discovery fills in the metadata
and keys, the login steps store tokens and validated id_token claims under a
name, and later steps (userinfo, refresh, logout, ...) read them back.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import requests
from authlib.jose import JsonWebToken
from selenium import webdriver

from .callback_server import CallbackServer

HTTP_SECONDS = 10  # bound on one back-channel request


@dataclass
class Harness:
    args: argparse.Namespace
    server: CallbackServer
    driver: webdriver.Chrome | None = None
    http: requests.Session = field(default_factory=requests.Session)
    meta: dict = field(default_factory=dict)  # the openid-configuration document
    issuer: str = ""
    jwks: object = None
    jwt: JsonWebToken | None = None
    tokens: dict = field(default_factory=dict)  # name -> token response
    claims: dict = field(default_factory=dict)  # name -> validated id_token claims

    def get(self, url: str, **kw) -> requests.Response:
        return self.http.get(url, timeout=HTTP_SECONDS, **kw)

    def post(self, url: str, **kw) -> requests.Response:
        return self.http.post(url, timeout=HTTP_SECONDS, **kw)

    def uses_basic_auth(self) -> bool:
        """client_secret_basic when discovery offers it, client_secret_post otherwise."""
        return "client_secret_basic" in self.meta.get("token_endpoint_auth_methods_supported", [])

    def with_client_credentials(self, data: dict) -> tuple[dict, tuple[str, str] | None]:
        """The form and HTTP basic auth that authenticate the confidential client."""
        if self.uses_basic_auth():
            return data, (self.args.client_id, self.args.client_secret)
        return {**data, "client_id": self.args.client_id,
                "client_secret": self.args.client_secret}, None
