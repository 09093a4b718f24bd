"""The browser-level OIDC harness behind tests/browser/oidc_login.py, in small modules.

It exists so each part (Chromium, the loopback redirect target, the relying
party, discovery checks and the steps of each flow) can be read on its own.
Importing the package first silences one authlib notice: importing
authlib.deprecate installs an "always" warnings filter, and authlib.jose (used
here for JWKS and id_token decoding) warns that it is deprecated on import.
The filter must be in place before any module of the package imports
authlib.jose, which is why it lives here.
"""

import warnings

import authlib.deprecate

warnings.filterwarnings("ignore", message="authlib.jose module is deprecated",
                        category=authlib.deprecate.AuthlibDeprecationWarning)
