//! The offline sandbox: a Spin HTTP component that serves the DATEV and Twilio simulator
//! ([`sim`]) under `/sandbox/…`, keeps its state in the key-value store (`default`, key
//! [`STATE_KEY`]), shows what the phones received at `/sandbox/phone` and takes replies at
//! `POST /sandbox/phone/reply` (routes: [`sim::sandbox`]). Outside sandbox mode
//! (`sandbox_enabled = "false"`) every route answers 404.
//!
//! Callbacks are signed for `public_base_url` (an `https://` URL: TLS ends in front of Spin, so
//! the webhook's HTTPS rule needs no exception) and delivered to `sandbox_webhook_url` + path,
//! by default `http://webhook.spin.internal` (Spin service chaining, allowed because this
//! component is HTTP-triggered; spin.md §6).
//!
//! This file is host-independent (configuration from variables); the Spin glue is in
//! `component.rs`, compiled for `wasm32` only.

#[cfg(target_arch = "wasm32")]
mod component;

use sim::sandbox::SandboxSettings;
use sim::{ApiKey, SecretString, SimConfig, VerifyServiceSpec};

/// Key of the simulator state in the `default` store.
pub const STATE_KEY: &str = "sandbox:state";

/// Largest accepted request body: the EXTF limit (50 MB, datev.md §1.7) plus multipart framing.
pub const BODY_LIMIT: usize = 51 * 1024 * 1024;

/// A variable that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("variable {variable}: {reason}")]
pub struct ConfigError {
    /// The Spin variable.
    pub variable: &'static str,
    /// Why.
    pub reason: String,
}

/// Everything the sandbox reads from its variables.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// `sandbox_enabled`.
    pub settings: SandboxSettings,
    /// The simulated world.
    pub sim: SimConfig,
    /// `public_base_url`, without trailing `/`: what callbacks are signed for.
    pub public_base_url: String,
    /// `sandbox_webhook_url`, without trailing `/`: where they are delivered.
    pub webhook_url: String,
}

fn err(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

fn absolute(variable: &'static str, value: &str, https_only: bool) -> Result<String, ConfigError> {
    let v = value.trim().trim_end_matches('/');
    let ok_scheme = v.starts_with("https://") || (!https_only && v.starts_with("http://"));
    match sim::util::Url::parse(v) {
        Some(u) if ok_scheme && u.query.is_none() && u.fragment.is_none() => Ok(v.to_owned()),
        _ if https_only => Err(err(
            variable,
            format!("{value:?} is not an absolute https:// URL without query"),
        )),
        _ => Err(err(
            variable,
            format!("{value:?} is not an absolute http(s):// URL without query"),
        )),
    }
}

/// `sandbox_enabled`: `"true"` (also when not declared) or `"false"`. Read before anything else so
/// a disabled sandbox answers 404 whatever the rest of its configuration says.
pub fn sandbox_enabled<E: std::fmt::Display>(
    get: impl Fn(&str) -> Result<Option<String>, E>,
) -> Result<bool, ConfigError> {
    let value = get("sandbox_enabled").map_err(|e| err("sandbox_enabled", e.to_string()))?;
    match value.as_deref().map(str::trim) {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(err(
            "sandbox_enabled",
            format!("{other:?} is neither \"true\" nor \"false\""),
        )),
    }
}

impl SandboxConfig {
    /// Reads the configuration through `get` (Spin's `variables::get`; `Ok(None)` for a variable
    /// not declared). Credentials not declared fall back to the simulator's defaults.
    pub fn from_variables<E: std::fmt::Display>(
        get: impl Fn(&str) -> Result<Option<String>, E>,
    ) -> Result<SandboxConfig, ConfigError> {
        let read = |name: &'static str| -> Result<Option<String>, ConfigError> {
            get(name)
                .map(|v| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
                .map_err(|e| err(name, e.to_string()))
        };
        let enabled = sandbox_enabled(&get)?;
        let mut cfg = SimConfig {
            keep_upload_bytes: false,
            record_limit: 200,
            ..SimConfig::default()
        };
        if let Some(seed) = read("sandbox_seed")? {
            cfg.seed = seed.parse().map_err(|_| {
                err(
                    "sandbox_seed",
                    format!("{seed:?} is not an unsigned integer"),
                )
            })?;
        }
        let public = match read("public_base_url")? {
            Some(v) => absolute("public_base_url", &v, true)?,
            None => {
                return Err(err(
                    "public_base_url",
                    "not set (callbacks are signed for it)",
                ));
            }
        };
        let webhook = match read("sandbox_webhook_url")? {
            Some(v) => absolute("sandbox_webhook_url", &v, false)?,
            None => "http://webhook.spin.internal".to_owned(),
        };
        if let Some(id) = read("datev_client_id")? {
            cfg.datev.client_id = id;
        }
        if let Some(secret) = read("datev_client_secret")? {
            cfg.datev.client_secret = SecretString::new(secret);
        }
        let tw = &mut cfg.twilio;
        if let Some(sid) = read("twilio_account_sid")? {
            tw.account_sid = sid;
        }
        if let Some(token) = read("twilio_auth_token")? {
            tw.auth_token = SecretString::new(token);
        }
        if let Some(sid) = read("twilio_api_key_sid")? {
            let secret = read("twilio_api_key_secret")?.ok_or_else(|| {
                err(
                    "twilio_api_key_secret",
                    "not set although twilio_api_key_sid is",
                )
            })?;
            tw.api_keys = vec![ApiKey {
                sid,
                secret: SecretString::new(secret),
            }];
        }
        if let Some(number) = read("twilio_from_number")? {
            tw.phone_numbers = vec![number];
        }
        if let Some(sid) = read("twilio_verify_service_sid")? {
            tw.verify_services = vec![VerifyServiceSpec {
                sid,
                friendly_name: "ml-connector".into(),
                code_length: 6,
            }];
        }
        tw.inbound_sms_url = Some(format!("{public}/twilio/inbound"));
        Ok(SandboxConfig {
            settings: SandboxSettings { enabled },
            sim: cfg,
            public_base_url: public,
            webhook_url: webhook,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(vars: &[(&str, &str)]) -> Result<SandboxConfig, ConfigError> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        SandboxConfig::from_variables(|name| Ok::<_, String>(map.get(name).cloned()))
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&[("public_base_url", "https://connector.example.org/")]).unwrap();
        assert!(c.settings.enabled);
        assert_eq!(c.public_base_url, "https://connector.example.org");
        assert_eq!(c.webhook_url, "http://webhook.spin.internal");
        assert_eq!(
            c.sim.twilio.inbound_sms_url.as_deref(),
            Some("https://connector.example.org/twilio/inbound")
        );
        assert!(!c.sim.keep_upload_bytes);
        let c = config(&[
            ("public_base_url", "https://x.example"),
            ("sandbox_enabled", "false"),
            ("sandbox_seed", "99"),
            ("twilio_api_key_sid", "SK11111111111111111111111111111111"),
            ("twilio_api_key_secret", "s3cret"),
            ("twilio_from_number", "+4930123456"),
            ("datev_client_id", "my-app"),
        ])
        .unwrap();
        assert!(!c.settings.enabled);
        assert_eq!(c.sim.seed, 99);
        assert_eq!(
            c.sim.twilio.api_keys[0].sid,
            "SK11111111111111111111111111111111"
        );
        assert!(c.sim.twilio.api_keys[0].secret.matches("s3cret"));
        assert_eq!(c.sim.twilio.phone_numbers, ["+4930123456"]);
        assert_eq!(c.sim.datev.client_id, "my-app");
        // Secrets never print.
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = config(&[("public_base_url", "http://plain.example")]).unwrap_err();
        assert_eq!(e.variable, "public_base_url");
        let e = config(&[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "variable public_base_url: not set (callbacks are signed for it)"
        );
        // Disabled wins over a broken configuration.
        let get =
            |name: &str| Ok::<_, String>((name == "sandbox_enabled").then(|| "false".to_owned()));
        assert_eq!(sandbox_enabled(get), Ok(false));
        let e = config(&[
            ("public_base_url", "https://x.example"),
            ("sandbox_enabled", "yes"),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "variable sandbox_enabled: \"yes\" is neither \"true\" nor \"false\""
        );
        let e = config(&[
            ("public_base_url", "https://x.example"),
            ("sandbox_seed", "-1"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "sandbox_seed");
        let e = config(&[
            ("public_base_url", "https://x.example"),
            ("twilio_api_key_sid", "SK1"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "twilio_api_key_secret");
        let e = config(&[
            ("public_base_url", "https://x.example"),
            ("sandbox_webhook_url", "webhook"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "sandbox_webhook_url");
    }
}
