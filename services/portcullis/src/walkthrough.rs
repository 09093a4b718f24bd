//! The shell commands `portcullis dev` prints: the device flow (curl only, the browser just to
//! log in and allow), then the browser flow (authorization code + PKCE S256). Each block is meant
//! to be pasted as a whole; the walkthrough test pastes them into one bash and plays the browser.
//!
//! Nothing here reads standard input: pasted commands that did would swallow the lines after
//! them. The one value the reader must bring back from the browser (the callback address) is an
//! edit of the second browser block instead.

use crate::users::{Login, DEMO_CLIENT, DEMO_USER};
use std::fmt;

/// The placeholder in [`Walkthrough::browser_finish`] that the reader replaces with the address
/// their browser ended on.
pub const CALLBACK_PLACEHOLDER: &str = "<paste the address here>";

/// The loopback redirect URI the browser flow uses: the registered `http://127.0.0.1/callback`
/// on a port of the reader's choosing (RFC 8252 §7.3: loopback redirects match any port).
pub const CALLBACK: &str = "http://127.0.0.1:8765/callback";
const CALLBACK_ENCODED: &str = "http%3A%2F%2F127.0.0.1%3A8765%2Fcallback";

/// The printed walkthrough, block by block.
#[derive(Debug, Clone)]
pub struct Walkthrough {
    /// Who to log in as, in words.
    pub login: String,
    /// Device flow: ask for codes, show the page to open, poll until allowed, then use the
    /// tokens on the data API, UserInfo and the id_token.
    pub device: String,
    /// Browser flow, first half: a PKCE pair and the authorization URL to open.
    pub browser_start: String,
    /// Browser flow, second half: the reader pastes the callback address over
    /// [`CALLBACK_PLACEHOLDER`]; the code is exchanged and the id_token shown.
    pub browser_finish: String,
}

/// Prints a JSON string field of the JSON in variable `var` (no jq needed).
fn field(var: &str, name: &str) -> String {
    format!(r#"echo "${var}" | sed -E 's/.*"{name}":"([^"]+)".*/\1/'"#)
}

/// Prints the claims of the JWT in the `id_token` field of the JSON in `$TOKENS`.
fn id_token_claims() -> String {
    format!(
        r#"{} | cut -d. -f2 | tr '_-' '/+' | awk '{{ while (length($0) % 4) $0 = $0 "="; print }}' | base64 -d; echo"#,
        field("TOKENS", "id_token")
    )
}

impl Walkthrough {
    /// The walkthrough against an issuer at `issuer` (its public URL) and a data API at
    /// `data_api` (a base URL), for a reader who logs in as `login` says.
    pub fn new(issuer: &str, data_api: &str, login: &Login) -> Self {
        let login = match login {
            Login::Demo {
                shown_password: Some(password),
            } => format!("Log in as `{DEMO_USER}` with the password {password}"),
            Login::Demo {
                shown_password: None,
            } => format!("Log in as `{DEMO_USER}` with the password in PORTCULLIS_DEMO_PASSWORD"),
            Login::OwnFile {
                path,
                has_demo_client,
            } => {
                let mut text = format!("Log in as a user of {}", path.display());
                if !has_demo_client {
                    text.push_str(&format!(
                        " (it has no client `{DEMO_CLIENT}` with the authorization_code and device_code grants: add it as in the README's Quick start, or these commands fail with invalid_client or unauthorized_client)"
                    ));
                }
                text
            }
        };
        let device = format!(
            r#"# 1. Device login (RFC 8628), as a CLI does it. Ask for a code:
DEVICE=$(curl -s {issuer}/oauth2/device_authorization -d client_id={DEMO_CLIENT} --data-urlencode 'scope=openid profile email items:read items:write')
DEVICE_CODE=$({device_code})
INTERVAL=$(echo "$DEVICE" | sed -E 's/.*"interval":([0-9]+).*/\1/')
echo "$DEVICE" | sed -E 's/.*"verification_uri_complete":"([^"]+)".*/Open \1 in a browser, log in and allow the device./'
# Poll until you allowed it: RFC 8628 asks for INTERVAL seconds between polls, 5 more after each slow_down.
until TOKENS=$(curl -s {issuer}/oauth2/token -d client_id={DEMO_CLIENT} -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d "device_code=$DEVICE_CODE"); ! echo "$TOKENS" | grep -qE 'authorization_pending|slow_down'; do
  if echo "$TOKENS" | grep -q slow_down; then INTERVAL=$((INTERVAL + 5)); fi; sleep "$INTERVAL"
done
TOKEN=$({access_token})
# Write an item, and read it back:
curl -s -X PUT {data_api}/v1/items/hello -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{{"data":{{"greeting":"hello, world"}}}}'; echo
curl -s {data_api}/v1/items/hello -H "Authorization: Bearer $TOKEN"; echo
# Without a token the data API answers 401:
curl -s -i {data_api}/v1/items/hello | head -n 1
# Who logged in: UserInfo, and the claims of the id_token (a JWT; its middle part, base64url):
curl -s {issuer}/oauth2/userinfo -H "Authorization: Bearer $TOKEN"; echo
{claims}
"#,
            device_code = field("DEVICE", "device_code"),
            access_token = field("TOKENS", "access_token"),
            claims = id_token_claims(),
        );
        let browser_start = format!(
            r#"# 2. Browser login (authorization code + PKCE S256), as a web or native app does it.
# A PKCE verifier, its S256 challenge and a nonce, then the page to open:
VERIFIER=$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
NONCE=$(openssl rand -hex 16)
echo "Open {issuer}/oauth2/authorize?response_type=code&client_id={DEMO_CLIENT}&redirect_uri={CALLBACK_ENCODED}&scope=openid%20profile%20email%20items%3Aread&state=walkthrough&nonce=$NONCE&code_challenge=$CHALLENGE&code_challenge_method=S256"
"#
        );
        let browser_finish = format!(
            r#"# The browser ends on {CALLBACK}?code=...&state=walkthrough: nothing listens there, so it
# shows an error. Put that address between the quotes, then paste these lines to exchange the code:
CALLBACK='{CALLBACK_PLACEHOLDER}'
CODE=$(echo "$CALLBACK" | sed -E 's/.*[?&]code=([^&]+).*/\1/')
TOKENS=$(curl -s {issuer}/oauth2/token -d grant_type=authorization_code -d client_id={DEMO_CLIENT} -d "code=$CODE" --data-urlencode 'redirect_uri={CALLBACK}' -d "code_verifier=$VERIFIER")
# The id_token carries the nonce sent (check it equals $NONCE), and the access token reads the item:
{claims}
echo "nonce sent: $NONCE"
TOKEN=$({access_token})
curl -s {data_api}/v1/items/hello -H "Authorization: Bearer $TOKEN"; echo
"#,
            access_token = field("TOKENS", "access_token"),
            claims = id_token_claims(),
        );
        Self {
            login,
            device,
            browser_start,
            browser_finish,
        }
    }
}

impl fmt::Display for Walkthrough {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}. Paste each block into a shell (needs curl and openssl):\n\n{}\n{}\n{}",
            self.login, self.device, self.browser_start, self.browser_finish
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_password_is_shown_and_one_from_the_environment_is_not() {
        let shown = Login::Demo {
            shown_password: Some("s3cret".into()),
        };
        let text = Walkthrough::new("http://i", "http://d", &shown).to_string();
        assert!(text.contains("s3cret"));
        let from_env = Login::Demo {
            shown_password: None,
        };
        let text = Walkthrough::new("http://i", "http://d", &from_env).to_string();
        assert!(text.contains("PORTCULLIS_DEMO_PASSWORD"));
    }

    #[test]
    fn an_own_file_without_the_client_is_called_out() {
        let login = Login::OwnFile {
            path: "/etc/users.toml".into(),
            has_demo_client: false,
        };
        let text = Walkthrough::new("http://i", "http://d", &login).to_string();
        assert!(text.contains("a user of /etc/users.toml"));
        assert!(text.contains("has no client `portcullis-cli`"));
        assert!(!text.contains("`demo`"));
    }

    #[test]
    fn no_command_asks_for_the_password_grant() {
        let login = Login::Demo {
            shown_password: None,
        };
        let text = Walkthrough::new("https://auth.example", "http://d", &login).to_string();
        assert!(!text.contains("grant_type=password"));
        assert!(text.contains("https://auth.example/oauth2/device_authorization"));
        assert!(text.contains(CALLBACK_PLACEHOLDER));
    }
}
