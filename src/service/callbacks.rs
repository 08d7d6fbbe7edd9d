//! Callback settings: which hosts a `callback_url` may name (checked when the enrolment
//! arrives), which internal networks deliveries may reach, and the retry bounds.
//!
//! ```toml
//! [callbacks]
//! # Hosts any service point may name; `*.example.org` allows every subdomain. Empty (the
//! # default): every callback_url is refused with `callback_host_not_allowed`.
//! allowed_hosts = ["notify.dukcapil.example"]
//! # Loopback, private, link-local, … addresses are refused at delivery unless allowed.
//! allow_private_addresses = false
//! allowed_networks = ["10.20.0.0/16"]
//! max_attempts = 8
//! base_delay_ms = 2000
//! max_delay_secs = 3600
//! # Hosts only one service point may name, by `district/service_point`.
//! [callbacks.service_point_hosts]
//! "317101/loket-1" = ["loket1.example"]
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::callback_policy::{
    AddressPolicy, DeliveryPolicy, Network, NetworkError, RetryPolicy,
};
use crate::enrolment::record::Origin;
use crate::problem::{Problem, Reason};

/// Callback settings (`[callbacks]` of the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackConfig {
    /// Hosts every service point may name in `callback_url` (`*.domain` for subdomains).
    pub allowed_hosts: Vec<String>,
    /// Further hosts per service point, keyed `district/service_point`.
    pub service_point_hosts: BTreeMap<String, Vec<String>>,
    /// Deliver to loopback, private, link-local and other internal addresses.
    pub allow_private_addresses: bool,
    /// Internal networks deliveries may reach (CIDR), when not all are allowed.
    pub allowed_networks: Vec<String>,
    /// Attempts per notice, over restarts, before it becomes a dead letter.
    pub max_attempts: u32,
    /// Wait after the first failed attempt, doubled after each further one.
    pub base_delay_ms: u64,
    /// Longest wait between two attempts.
    pub max_delay_secs: u64,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        Self {
            allowed_hosts: Vec::new(),
            service_point_hosts: BTreeMap::new(),
            allow_private_addresses: false,
            allowed_networks: Vec::new(),
            max_attempts: retry.max_attempts,
            base_delay_ms: retry.base_delay.as_millis() as u64,
            max_delay_secs: retry.max_delay.as_secs(),
        }
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        None => !pattern.is_empty() && pattern == host,
    }
}

/// The host of a URL, without IPv6 brackets; `None` if it has none.
pub fn url_host(url: &str) -> Option<String> {
    let uri: hyper::Uri = url.parse().ok()?;
    let host = uri.host()?;
    Some(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
}

/// Why callback settings are refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackConfigError {
    /// An allowed network does not parse.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// `max_attempts` is zero.
    #[error("callbacks.max_attempts must be positive")]
    NoAttempts,
    /// A `service_point_hosts` key is not `district/service_point`.
    #[error("callbacks.service_point_hosts key {0:?} is not district/service_point")]
    ServicePointKey(String),
}

impl CallbackConfig {
    /// Checks the values (networks parse, attempts positive).
    pub fn check(&self) -> Result<(), CallbackConfigError> {
        self.networks()?;
        if self.max_attempts == 0 {
            return Err(CallbackConfigError::NoAttempts);
        }
        for key in self.service_point_hosts.keys() {
            if key.split_once('/').is_none() {
                return Err(CallbackConfigError::ServicePointKey(key.clone()));
            }
        }
        Ok(())
    }

    fn networks(&self) -> Result<Vec<Network>, NetworkError> {
        self.allowed_networks
            .iter()
            .map(|n| n.parse::<Network>())
            .collect()
    }

    /// Whether `origin` may name `host` in a `callback_url`.
    pub fn host_allowed(&self, host: &str, origin: &Origin) -> bool {
        let own = self
            .service_point_hosts
            .get(&format!("{}/{}", origin.district, origin.service_point));
        self.allowed_hosts
            .iter()
            .chain(own.into_iter().flatten())
            .any(|p| host_matches(p, host))
    }

    /// Refuses a `callback_url` whose host `origin` may not name.
    pub fn check_url(&self, url: &str, origin: &Origin) -> Result<(), Problem> {
        let allowed = url_host(url).is_some_and(|h| self.host_allowed(&h, origin));
        if allowed {
            Ok(())
        } else {
            Err(Problem::new(
                Reason::CallbackHostNotAllowed,
                "the callback_url's host is not on this service point's callback allow-list",
            )
            .at("/callback_url"))
        }
    }

    /// The delivery policy of the posting task.
    pub fn delivery_policy(&self) -> DeliveryPolicy {
        DeliveryPolicy {
            addresses: AddressPolicy {
                allow_internal: self.allow_private_addresses,
                // Checked at load; a bad entry allows nothing.
                allowed_networks: self.networks().unwrap_or_default(),
            },
            retry: RetryPolicy {
                max_attempts: self.max_attempts.max(1),
                base_delay: Duration::from_millis(self.base_delay_ms),
                max_delay: Duration::from_secs(self.max_delay_secs),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(sp: &str) -> Origin {
        Origin {
            district: "317101".to_owned(),
            service_point: sp.to_owned(),
        }
    }

    #[test]
    fn hosts_are_allowed_globally_by_suffix_or_per_service_point() {
        let mut c = CallbackConfig {
            allowed_hosts: vec!["notify.example".to_owned(), "*.dukcapil.example".to_owned()],
            ..CallbackConfig::default()
        };
        c.service_point_hosts
            .insert("317101/sp-1".to_owned(), vec!["loket1.example".to_owned()]);
        let sp1 = origin("sp-1");
        assert!(c.check_url("https://notify.example/cb", &sp1).is_ok());
        assert!(c.check_url("https://NOTIFY.example:8443/cb", &sp1).is_ok());
        assert!(c.check_url("https://a.dukcapil.example/cb", &sp1).is_ok());
        assert!(c.check_url("https://dukcapil.example/cb", &sp1).is_err());
        assert!(c
            .check_url("https://evildukcapil.example/cb", &sp1)
            .is_err());
        assert!(c.check_url("https://loket1.example/cb", &sp1).is_ok());
        let refused = c
            .check_url("https://loket1.example/cb", &origin("sp-2"))
            .unwrap_err();
        assert_eq!(refused.reason, Reason::CallbackHostNotAllowed);
        assert_eq!(refused.status, 400);
        assert!(c
            .check_url("https://169.254.169.254/latest/meta-data/", &sp1)
            .is_err());
        // The default allows nothing.
        assert!(CallbackConfig::default()
            .check_url("https://notify.example/cb", &sp1)
            .is_err());
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad_net = CallbackConfig {
            allowed_networks: vec!["10.0.0.0/40".to_owned()],
            ..CallbackConfig::default()
        };
        assert!(bad_net.check().is_err());
        let zero = CallbackConfig {
            max_attempts: 0,
            ..CallbackConfig::default()
        };
        assert!(zero.check().is_err());
        assert!(CallbackConfig::default().check().is_ok());
    }
}
