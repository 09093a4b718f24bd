//! What the issuer runs with: [`Args`] with every rule checked once, so [`crate::build`] only
//! wires adapters and never re-checks a setting.

use super::{Args, ConfigError};
use crate::login_settings::LoginSettings;
use portcullis_directory::HashParams;
use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_domain::usecase::tokens::TokenPolicy;
use portcullis_http::client_ip::TrustedProxies;
use portcullis_http::config_error::secret_or_file;
use portcullis_http::resilience::BreakerSettings;
use portcullis_http::transport::TransportSettings;
use portcullis_redis::RedisSettings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the issuer's users and clients live.
#[derive(Clone)]
pub enum IdentitySource {
    /// The users file, re-read every `ISSUER_USERS_RELOAD_INTERVAL`.
    File(PathBuf),
    /// The SQL identity store at this URL (a secret: it may carry a password).
    Database(String),
}

/// The database URL may carry a password: `Debug` names the kind of source only.
impl std::fmt::Debug for IdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Database(_) => f.write_str("Database([redacted])"),
        }
    }
}

/// The issuer's validated settings. Field names follow [`Args`] where the meaning is the same.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The directory of PEM signing keys.
    pub keys_dir: PathBuf,
    /// How often the keys directory is re-read.
    pub keys_reload_interval: Duration,
    /// Where users and clients come from.
    pub identities: IdentitySource,
    /// How often the users file is re-read.
    pub users_reload_interval: Duration,
    /// The admin API's per-client limit; `None` when the admin API is off.
    pub admin_api: Option<RateLimitPolicy>,
    /// Whether DPoP proofs at the token endpoint must carry a server nonce.
    pub dpop_nonce: bool,
    /// Redis for login limits and refresh tokens; `None` = in process.
    pub redis: Option<RedisSettings>,
    /// The breaker around the login limits on Redis.
    pub redis_breaker: BreakerSettings,
    /// The issued tokens' `iss` (an http(s) URL without a trailing slash) and lifetimes.
    pub tokens: TokenPolicy,
    /// Failed password checks allowed per username from one address.
    pub login_rate_limit: RateLimitPolicy,
    /// Failed password checks allowed per username from all addresses.
    pub login_user_rate_limit: RateLimitPolicy,
    /// Token-endpoint requests allowed per client IP.
    pub ip_rate_limit: RateLimitPolicy,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: TrustedProxies,
    /// Password hashes computed at once.
    pub password_concurrency: usize,
    /// Client-secret hashes computed at once.
    pub client_secret_concurrency: usize,
    /// The cost of new password hashes; weaker stored ones are upgraded at login.
    pub password_hash: HashParams,
    /// `max-age` of the JWKS response.
    pub jwks_max_age: Duration,
    /// Browser sessions and device login.
    pub login: LoginSettings,
    /// Transport limits and shutdown.
    pub transport: TransportSettings,
}

impl Settings {
    /// The public issuer identifier, used as `iss` exactly.
    pub fn issuer_url(&self) -> &str {
        &self.tokens.issuer
    }
}

impl TryFrom<Args> for Settings {
    type Error = ConfigError;

    /// Checks the rules clap cannot express, in the order operators have always seen them.
    fn try_from(args: Args) -> Result<Self, ConfigError> {
        let minute = Duration::from_secs(60);
        if args.access_token_ttl < minute || args.access_token_ttl > 60 * minute {
            return Err(ConfigError::invalid(
                "ISSUER_ACCESS_TOKEN_TTL",
                format!(
                    "must be between 1m and 60m (got {})",
                    humantime::format_duration(args.access_token_ttl)
                ),
            ));
        }
        if args.refresh_token_ttl < args.access_token_ttl {
            return Err(ConfigError::invalid(
                "ISSUER_REFRESH_TOKEN_TTL",
                "must not be shorter than the access-token lifetime",
            ));
        }
        if args.refresh_absolute_lifetime < args.refresh_token_ttl {
            return Err(ConfigError::invalid(
                "ISSUER_REFRESH_ABSOLUTE_LIFETIME",
                "must not be shorter than ISSUER_REFRESH_TOKEN_TTL",
            ));
        }
        if args.refresh_reuse_grace > Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "ISSUER_REFRESH_REUSE_GRACE",
                "must be at most 60s",
            ));
        }
        if args.issuer_url.ends_with('/') || !args.issuer_url.starts_with("http") {
            return Err(ConfigError::invalid(
                "ISSUER_URL",
                "must be an http(s) URL without a trailing slash",
            ));
        }
        let keys_dir = args
            .keys_dir
            .ok_or(ConfigError::Missing("ISSUER_KEYS_DIR (--keys-dir)"))?;
        let database_url = secret_or_file(
            args.database_url,
            args.database_url_file.as_deref(),
            "ISSUER_DATABASE_URL",
            "ISSUER_DATABASE_URL_FILE",
        )?;
        let identities = match (args.users_file, database_url) {
            (Some(file), None) => IdentitySource::File(file),
            (None, Some(url)) if url.starts_with("sqlite:") || url.starts_with("postgres") => {
                IdentitySource::Database(url)
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "ISSUER_DATABASE_URL",
                    "must be a sqlite:// or postgres:// URL",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "ISSUER_USERS_FILE",
                    "set it or ISSUER_DATABASE_URL, not both (import the file with `auth-issuer users import`)",
                ))
            }
            (None, None) => {
                return Err(ConfigError::Missing(
                    "ISSUER_USERS_FILE (--users-file) or ISSUER_DATABASE_URL (--database-url)",
                ))
            }
        };
        let password_hash = HashParams {
            memory_kib: args.password_hash_memory_kib,
            iterations: args.password_hash_iterations,
        };
        let minimum = HashParams::OWASP_MINIMUM;
        if password_hash.memory_kib < minimum.memory_kib || password_hash.memory_kib > 4 << 20 {
            return Err(ConfigError::invalid(
                "ISSUER_PASSWORD_HASH_MEMORY_KIB",
                "must be between OWASP's 19456 and 4194304 (4 GiB)",
            ));
        }
        if password_hash.iterations < minimum.iterations || password_hash.iterations > 100 {
            return Err(ConfigError::invalid(
                "ISSUER_PASSWORD_HASH_ITERATIONS",
                "must be between OWASP's 2 and 100",
            ));
        }
        if args.admin_api && !matches!(identities, IdentitySource::Database(_)) {
            return Err(ConfigError::invalid(
                "ISSUER_ADMIN_API",
                "needs ISSUER_DATABASE_URL: the admin API changes the identity store (a users \
                 file is changed by editing it)",
            ));
        }
        let login = LoginSettings::try_from(args.login)?;
        let transport = args.transport.settings()?;
        let redis_url = secret_or_file(
            args.redis_url,
            args.redis_url_file.as_deref(),
            "ISSUER_REDIS_URL",
            "ISSUER_REDIS_URL_FILE",
        )?;
        let redis_tls = args.redis_tls.settings(redis_url.as_deref())?;
        let redis_sentinel = args.redis_tls.sentinel(redis_url.as_deref())?;
        Ok(Self {
            listen: args.listen,
            keys_dir,
            keys_reload_interval: args.keys_reload_interval,
            identities,
            users_reload_interval: args.users_reload_interval,
            admin_api: args.admin_api.then_some(args.admin_rate_limit),
            dpop_nonce: args.dpop_nonce,
            redis: redis_url.map(|url| RedisSettings {
                url,
                tls: redis_tls,
                sentinel: redis_sentinel,
                prefix: "ISSUER",
                connect_timeout: args.redis_connect_timeout,
                call_timeout: args.redis_timeout,
            }),
            redis_breaker: BreakerSettings {
                threshold: args.redis_breaker_threshold,
                cooldown: args.redis_breaker_cooldown,
            },
            tokens: TokenPolicy {
                issuer: args.issuer_url,
                access_ttl: args.access_token_ttl,
                refresh_ttl: args.refresh_token_ttl,
                refresh_absolute_lifetime: args.refresh_absolute_lifetime,
                refresh_reuse_grace: args.refresh_reuse_grace,
            },
            login_rate_limit: args.login_rate_limit,
            login_user_rate_limit: args.login_user_rate_limit,
            ip_rate_limit: args.ip_rate_limit,
            trusted_proxies: args.trusted_proxies,
            password_concurrency: args.password_concurrency,
            client_secret_concurrency: args.client_secret_concurrency,
            password_hash,
            jwks_max_age: args.jwks_max_age,
            login,
            transport,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> Args {
        let mut args = Args::defaults();
        args.keys_dir = Some("keys".into());
        args.users_file = Some("users.toml".into());
        args
    }

    #[test]
    fn the_defaults_are_valid_once_keys_and_users_are_named() {
        let settings = Settings::try_from(args()).unwrap();
        assert_eq!(settings.issuer_url(), super::super::DEFAULT_URL);
        assert!(settings.redis.is_none());
        assert_eq!(settings.redis_breaker.threshold, 5);
        assert_eq!(settings.redis_breaker.cooldown, Duration::from_secs(2));
        let with_redis = Settings::try_from(Args {
            redis_url: Some("redis://127.0.0.1".into()),
            ..args()
        })
        .unwrap();
        let redis = with_redis.redis.unwrap();
        assert_eq!(redis.connect_timeout, Duration::from_secs(5));
        assert_eq!(redis.call_timeout, Duration::from_millis(100));
    }

    #[test]
    fn required_settings_are_named_when_missing() {
        let error = Settings::try_from(Args::defaults()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "ISSUER_KEYS_DIR (--keys-dir) is required"
        );
        let error = Settings::try_from(Args {
            users_file: None,
            ..args()
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "ISSUER_USERS_FILE (--users-file) or ISSUER_DATABASE_URL (--database-url) is required"
        );
        let both = Settings::try_from(Args {
            database_url: Some("sqlite:///tmp/identity.db".into()),
            ..args()
        })
        .unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        let database = Settings::try_from(Args {
            users_file: None,
            database_url: Some("sqlite:///tmp/identity.db".into()),
            ..args()
        })
        .unwrap();
        assert!(matches!(database.identities, IdentitySource::Database(_)));
    }

    #[test]
    fn the_admin_api_is_off_unless_asked_for_and_needs_the_identity_store() {
        assert!(Settings::try_from(args()).unwrap().admin_api.is_none());
        let on_file = Settings::try_from(Args {
            admin_api: true,
            ..args()
        })
        .unwrap_err()
        .to_string();
        assert!(
            on_file.starts_with("ISSUER_ADMIN_API needs ISSUER_DATABASE_URL"),
            "{on_file}"
        );
        let on_store = Settings::try_from(Args {
            admin_api: true,
            users_file: None,
            database_url: Some("sqlite:///tmp/identity.db".into()),
            ..args()
        })
        .unwrap();
        assert!(on_store.admin_api.is_some());
    }

    #[test]
    fn broken_rules_name_their_setting() {
        for (args, setting) in [
            (
                Args {
                    issuer_url: "http://issuer/".into(),
                    ..args()
                },
                "ISSUER_URL",
            ),
            (
                Args {
                    refresh_reuse_grace: Duration::from_secs(61),
                    ..args()
                },
                "ISSUER_REFRESH_REUSE_GRACE",
            ),
            (
                Args {
                    refresh_absolute_lifetime: Duration::from_secs(60),
                    ..args()
                },
                "ISSUER_REFRESH_ABSOLUTE_LIFETIME",
            ),
        ] {
            let error = Settings::try_from(args).unwrap_err().to_string();
            assert!(error.starts_with(setting), "{error}");
        }
    }
}
