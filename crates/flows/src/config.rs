//! Configuration from Spin variables (`spin.toml` `[variables]`, `spin.md` §5), read through a
//! lookup function so it is tested natively. Errors name the variable and never its value.

use crate::poller::PollerConfig;
use connector::Secret;
use connector::schedule::ScheduleConfig;
use datev::backoff::PollPolicy;
use datev::{
    ClientAuthStyle, ClientCredentials, DatevConfig, Endpoints, Keyring, OAuthClientId,
    OAuthConfig, RedirectUri,
};

/// Why the configuration is unusable. Names the variable; never contains its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("variable {0} is not set")]
    Missing(&'static str),
    /// A variable has an unusable value.
    #[error("variable {name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why (never the value).
        reason: String,
    },
    /// The host could not read a variable.
    #[error("variable {name} could not be read: {reason}")]
    Unreadable {
        /// The variable.
        name: &'static str,
        /// The host's reason.
        reason: String,
    },
}

/// Reads one variable: `Ok(None)` when unset.
pub type Lookup<'a> = &'a dyn Fn(&'static str) -> Result<Option<String>, String>;

fn get(lookup: Lookup<'_>, name: &'static str) -> Result<Option<String>, ConfigError> {
    lookup(name)
        .map(|v| v.filter(|s| !s.trim().is_empty()))
        .map_err(|reason| ConfigError::Unreadable { name, reason })
}

fn required(lookup: Lookup<'_>, name: &'static str) -> Result<String, ConfigError> {
    get(lookup, name)?.ok_or(ConfigError::Missing(name))
}

fn number(lookup: Lookup<'_>, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match get(lookup, name)? {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            reason: "must be a non-negative whole number".into(),
        }),
    }
}

/// The DATEV side: endpoints, the registered OAuth client, and the token keys.
#[derive(Debug, Clone)]
pub struct DatevSetup {
    /// Endpoints, OAuth client, timings.
    pub config: DatevConfig,
    /// Keys sealing the tokens.
    pub keyring: Keyring,
}

/// Reads the DATEV configuration:
///
/// | variable | meaning |
/// |---|---|
/// | `datev_client_id` | OAuth `client_id`, also `X-DATEV-Client-Id` |
/// | `datev_client_secret` (secret) | empty: a public client (datev.md §5.2, §8) |
/// | `datev_redirect_uri` | the registered redirect URI (`…/datev/callback`) |
/// | `datev_authorize_url`, `datev_token_url` | OAuth endpoints (datev.md §5.1) |
/// | `datev_extf_files_url`, `datev_accounting_clients_url`, `datev_dxso_jobs_url` | API server URLs incl. `/platform…/v<n>` |
/// | `datev_token_keys` (secret) | `<key-id>:<base64 32 bytes>[,…]`, first = current (`datev::Keyring::parse`) |
pub fn datev(lookup: Lookup<'_>) -> Result<DatevSetup, ConfigError> {
    let invalid = |name: &'static str| {
        move |e: datev::InvalidInput| ConfigError::Invalid {
            name,
            reason: e.reason,
        }
    };
    let client_id = OAuthClientId::parse(&required(lookup, "datev_client_id")?)
        .map_err(invalid("datev_client_id"))?;
    let credentials = match get(lookup, "datev_client_secret")? {
        None => ClientCredentials::Public,
        Some(secret) => ClientCredentials::Confidential {
            secret: Secret::new(secret),
            style: ClientAuthStyle::Basic,
        },
    };
    let redirect = RedirectUri::parse(&required(lookup, "datev_redirect_uri")?)
        .map_err(invalid("datev_redirect_uri"))?;
    let endpoints = Endpoints::custom(
        &required(lookup, "datev_authorize_url")?,
        &required(lookup, "datev_token_url")?,
        &required(lookup, "datev_extf_files_url")?,
        &required(lookup, "datev_accounting_clients_url")?,
        &required(lookup, "datev_dxso_jobs_url")?,
    )
    .map_err(|e| ConfigError::Invalid {
        name: url_variable(e.field),
        reason: e.reason,
    })?;
    let keyring = Keyring::parse(&required(lookup, "datev_token_keys")?).map_err(|e| {
        ConfigError::Invalid {
            name: "datev_token_keys",
            reason: e.to_string(),
        }
    })?;
    Ok(DatevSetup {
        config: DatevConfig::new(
            endpoints,
            OAuthConfig::new(client_id, credentials, redirect),
        ),
        keyring,
    })
}

fn url_variable(field: &str) -> &'static str {
    match field {
        "authorize_url" => "datev_authorize_url",
        "token_url" => "datev_token_url",
        "extf_files_url" => "datev_extf_files_url",
        "accounting_clients_url" => "datev_accounting_clients_url",
        _ => "datev_dxso_jobs_url",
    }
}

/// The keys sealing stored secrets (`datev_token_keys`, a secret variable; see
/// [`datev::Keyring::parse`]): the DATEV tokens and the credentials an operator stores
/// ([`crate::credentials`]).
pub fn keyring(lookup: Lookup<'_>) -> Result<Keyring, ConfigError> {
    Keyring::parse(&required(lookup, "datev_token_keys")?).map_err(|e| ConfigError::Invalid {
        name: "datev_token_keys",
        reason: e.to_string(),
    })
}

/// The operator's bearer token (`admin_token`, a secret variable). Shorter than 16 characters is
/// refused: the API fails closed rather than run with a guessable token.
pub fn admin_token(lookup: Lookup<'_>) -> Result<Secret, ConfigError> {
    let token = required(lookup, "admin_token")?;
    if token.chars().count() < 16 {
        return Err(ConfigError::Invalid {
            name: "admin_token",
            reason: "must be at least 16 characters".into(),
        });
    }
    Ok(Secret::new(token))
}

/// `approval_hold_ttl_ms`: how long a held batch of a client without configuration waits for
/// a decision (default [`connector::approval::DEFAULT_HOLD_TTL_MS`], 72 h; configured clients
/// use their release policy's `hold_ttl_ms`). Must be at least a minute (the expiry index's
/// resolution).
pub fn hold_ttl_ms(lookup: Lookup<'_>) -> Result<u64, ConfigError> {
    const NAME: &str = "approval_hold_ttl_ms";
    let ms = number(lookup, NAME, connector::approval::DEFAULT_HOLD_TTL_MS)?;
    if ms < 60_000 {
        return Err(ConfigError::Invalid {
            name: NAME,
            reason: "must be at least 60000 (one minute)".into(),
        });
    }
    Ok(ms)
}

/// The poller's settings (all optional; defaults in brackets): `poller_tick_ms` [5000, the cron
/// interval], `poller_max_submissions` [10], `poller_max_polls` [50], `poller_budget_ms` [4000],
/// `datev_poll_base_ms` [2000], `datev_poll_cap_ms` [600000], `datev_poll_min_delay_ms` [1000],
/// `datev_poll_deadline_ms` [86400000].
pub fn poller(lookup: Lookup<'_>) -> Result<PollerConfig, ConfigError> {
    let d = PollerConfig::default();
    let policy = PollPolicy::new(
        number(lookup, "datev_poll_base_ms", d.poll.base_ms())?,
        number(lookup, "datev_poll_cap_ms", d.poll.cap_ms())?,
        number(lookup, "datev_poll_min_delay_ms", d.poll.min_delay_ms())?,
        number(lookup, "datev_poll_deadline_ms", d.poll.deadline_ms())?,
    )
    .map_err(|e| ConfigError::Invalid {
        name: match e.field {
            "poll_base_ms" => "datev_poll_base_ms",
            "poll_cap_ms" => "datev_poll_cap_ms",
            "poll_min_delay_ms" => "datev_poll_min_delay_ms",
            _ => "datev_poll_deadline_ms",
        },
        reason: e.reason,
    })?;
    let tick_ms = number(lookup, "poller_tick_ms", d.tick_ms)?;
    if tick_ms == 0 {
        return Err(ConfigError::Invalid {
            name: "poller_tick_ms",
            reason: "must be above zero".into(),
        });
    }
    let small = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
        let n = number(lookup, name, default as u64)?;
        usize::try_from(n)
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or(ConfigError::Invalid {
                name,
                reason: "must be between 1 and 1000".into(),
            })
    };
    Ok(PollerConfig {
        tick_ms,
        max_submissions: small("poller_max_submissions", d.max_submissions)?,
        max_polls: small("poller_max_polls", d.max_polls)?,
        budget_ms: number(lookup, "poller_budget_ms", d.budget_ms)?,
        poll: policy,
        schedule: ScheduleConfig {
            bucket_ms: tick_ms,
            ..d.schedule
        },
        ..d
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&'static str, &str)]) -> HashMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    fn full() -> HashMap<&'static str, String> {
        vars(&[
            ("datev_client_id", "ml-connector-sim"),
            ("datev_client_secret", "s3cret-value"),
            ("datev_redirect_uri", "http://127.0.0.1:3000/datev/callback"),
            (
                "datev_authorize_url",
                "http://127.0.0.1:3000/sandbox/datev/login/openidsandbox/authorize",
            ),
            (
                "datev_token_url",
                "http://127.0.0.1:3000/sandbox/datev/api/token",
            ),
            (
                "datev_extf_files_url",
                "http://127.0.0.1:3000/sandbox/datev/extf-files/platform-sandbox/v3",
            ),
            (
                "datev_accounting_clients_url",
                "http://127.0.0.1:3000/sandbox/datev/clients/platform-sandbox/v2",
            ),
            (
                "datev_dxso_jobs_url",
                "http://127.0.0.1:3000/sandbox/datev/dxso-jobs/platform-sandbox/v2",
            ),
            (
                "datev_token_keys",
                "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("admin_token", "0123456789abcdef-admin"),
        ])
    }

    fn read<'a>(
        map: &'a HashMap<&'static str, String>,
    ) -> impl Fn(&'static str) -> Result<Option<String>, String> + 'a {
        move |name| Ok(map.get(name).cloned())
    }

    #[test]
    fn a_full_configuration() {
        let map = full();
        let setup = datev(&read(&map)).unwrap();
        assert_eq!(
            setup.config.endpoints.token,
            "http://127.0.0.1:3000/sandbox/datev/api/token"
        );
        assert!(matches!(
            setup.config.oauth.credentials,
            ClientCredentials::Confidential { .. }
        ));
        assert_eq!(
            admin_token(&read(&map)).unwrap(),
            Secret::new("0123456789abcdef-admin")
        );
        let p = poller(&read(&map)).unwrap();
        assert_eq!((p.tick_ms, p.max_submissions, p.max_polls), (5_000, 10, 50));
    }

    #[test]
    fn hold_ttl_has_a_default_and_a_floor() {
        let vars = vars(&[]);
        assert_eq!(
            hold_ttl_ms(&read(&vars)),
            Ok(connector::approval::DEFAULT_HOLD_TTL_MS)
        );
        let vars = self::vars(&[("approval_hold_ttl_ms", "3600000")]);
        assert_eq!(hold_ttl_ms(&read(&vars)), Ok(3_600_000));
        let vars = self::vars(&[("approval_hold_ttl_ms", "59999")]);
        assert_eq!(
            hold_ttl_ms(&read(&vars)).unwrap_err().to_string(),
            "variable approval_hold_ttl_ms: must be at least 60000 (one minute)"
        );
    }

    #[test]
    fn errors_name_the_variable_not_the_value() {
        let mut map = full();
        map.remove("datev_token_keys");
        assert_eq!(
            datev(&read(&map)).unwrap_err(),
            ConfigError::Missing("datev_token_keys")
        );
        let mut map = full();
        map.insert("datev_token_keys", "k1:c2VjcmV0LWtleS1tYXRlcmlhbA==".into());
        let e = datev(&read(&map)).unwrap_err();
        assert!(
            matches!(
                &e,
                ConfigError::Invalid {
                    name: "datev_token_keys",
                    ..
                }
            ),
            "{e}"
        );
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        let mut map = full();
        map.insert("datev_token_url", "ftp://x".into());
        assert!(matches!(
            datev(&read(&map)).unwrap_err(),
            ConfigError::Invalid {
                name: "datev_token_url",
                ..
            }
        ));
        let mut map = full();
        map.insert("admin_token", "short".into());
        let e = admin_token(&read(&map)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "variable admin_token: must be at least 16 characters"
        );
        let mut map = full();
        map.insert("datev_poll_base_ms", "0".into());
        assert!(matches!(
            poller(&read(&map)).unwrap_err(),
            ConfigError::Invalid {
                name: "datev_poll_base_ms",
                ..
            }
        ));
        map.insert("datev_poll_base_ms", "abc".into());
        assert!(matches!(
            poller(&read(&map)).unwrap_err(),
            ConfigError::Invalid {
                name: "datev_poll_base_ms",
                ..
            }
        ));
        let mut map = full();
        map.remove("datev_client_secret");
        assert_eq!(
            datev(&read(&map)).unwrap().config.oauth.credentials,
            ClientCredentials::Public
        );
    }
}
