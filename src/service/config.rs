//! Server settings: defaults, then a TOML file, then `TUNGGAL_*` environment variables, then
//! command-line flags, each overriding the one before.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "./tunggal-data"
//! body_limit_bytes = 4194304
//! request_timeout_secs = 30
//! queue_capacity = 64
//! shutdown_grace_secs = 30
//! header_read_timeout_secs = 10
//! first_request_timeout_secs = 3
//! body_read_timeout_secs = 20
//! max_pending_connections = 2048
//! max_connections = 512
//! reserved_connections = 64
//! max_connections_per_address = 64
//! min_free_bytes = 67108864
//! # The audit log's current file is renamed `audit.jsonl.NNNNNN` at this size.
//! audit_rotate_bytes = 67108864
//! # TLS (rustls) when both are set; plain HTTP otherwise.
//! tls_cert = "/etc/tunggal/cert.pem"
//! tls_key = "/etc/tunggal/key.pem"
//! # Duplicate cases: deadline in working days after the opening day (weekends skipped),
//! # and how long an analyst holds a case without activity.
//! case_deadline_working_days = 1
//! case_lease_secs = 900
//! # Clearing a case whose best fused score exceeds this percentage of the engine's
//! # threshold needs a second analyst's approval.
//! case_clear_approval_percent = 200
//! # Callback hosts, internal networks and retries: see `callbacks.rs`.
//! [callbacks]
//! allowed_hosts = ["notify.dukcapil.example"]
//! ```
//!
//! Environment: `TUNGGAL_LISTEN`, `TUNGGAL_DATA_DIR`, `TUNGGAL_BODY_LIMIT_BYTES`,
//! `TUNGGAL_REQUEST_TIMEOUT_SECS`, `TUNGGAL_QUEUE_CAPACITY`, `TUNGGAL_SHUTDOWN_GRACE_SECS`,
//! `TUNGGAL_HEADER_READ_TIMEOUT_SECS`, `TUNGGAL_BODY_READ_TIMEOUT_SECS`,
//! `TUNGGAL_FIRST_REQUEST_TIMEOUT_SECS`, `TUNGGAL_MAX_PENDING_CONNECTIONS`, `TUNGGAL_MAX_CONNECTIONS`,
//! `TUNGGAL_RESERVED_CONNECTIONS`, `TUNGGAL_MAX_CONNECTIONS_PER_ADDRESS`, `TUNGGAL_MIN_FREE_BYTES`,
//! `TUNGGAL_AUDIT_ROTATE_BYTES`, `TUNGGAL_TLS_CERT`, `TUNGGAL_TLS_KEY`,
//! `TUNGGAL_CASE_DEADLINE_WORKING_DAYS`, `TUNGGAL_CASE_LEASE_SECS`,
//! `TUNGGAL_CASE_CLEAR_APPROVAL_PERCENT`, `TUNGGAL_CALLBACK_ALLOWED_HOSTS` (comma-separated),
//! `TUNGGAL_CALLBACK_ALLOW_PRIVATE_ADDRESSES`, `TUNGGAL_CALLBACK_ALLOWED_NETWORKS`
//! (comma-separated), `TUNGGAL_CALLBACK_MAX_ATTEMPTS`, `TUNGGAL_CALLBACK_BASE_DELAY_MS`,
//! `TUNGGAL_CALLBACK_MAX_DELAY_SECS`
//! (and `TUNGGAL_ADMIN_KEY`, read separately, never stored in the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why the settings could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: Box<toml::de::Error>,
    },
    /// An environment variable holds a bad value.
    #[error("environment variable {name}: cannot parse {value:?}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(&'static str),
    /// A callback setting is invalid.
    #[error(transparent)]
    Callbacks(#[from] super::callbacks::CallbackConfigError),
}

/// Server settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for keys, idempotency answers and the audit log.
    pub data_dir: PathBuf,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// Longest a request may take before `request_timeout`.
    pub request_timeout_secs: u64,
    /// Matching jobs admitted at once before `queue_full`.
    pub queue_capacity: usize,
    /// Longest shutdown waits for running jobs.
    pub shutdown_grace_secs: u64,
    /// Longest a keep-alive connection may idle and then send its next request's headers
    /// (one deadline) before it is closed.
    pub header_read_timeout_secs: u64,
    /// Longest from accept to the end of the first request's headers, TLS handshake included
    /// (one deadline, so headers sent a byte at a time do not extend it).
    pub first_request_timeout_secs: u64,
    /// Longest a request's body may take to arrive before `body_timeout`.
    pub body_read_timeout_secs: u64,
    /// Accepted connections that have not completed their first request's headers; when
    /// full, the oldest of them is closed to admit a new one.
    pub max_pending_connections: usize,
    /// Connections served at once (general pool). A first request that finds it full takes
    /// the place of the oldest idle keep-alive connection, else goes to the reserve.
    pub max_connections: usize,
    /// Connections beyond `max_connections` for one `/health` or `/ready` probe or one
    /// request with a valid API key each, while the general pool is busy.
    pub reserved_connections: usize,
    /// Connections one client address (IPv4, or IPv6 /64) may hold over all pools (at most
    /// `max_connections`); at the cap its own oldest pending (else idle) connection makes
    /// room, else it is refused.
    pub max_connections_per_address: usize,
    /// Enrolments are refused with `insufficient_storage` while the data directory's file
    /// system has less free space than this (0 turns the check off).
    pub min_free_bytes: u64,
    /// The audit log's current file is rotated (renamed `audit.jsonl.NNNNNN`, a new one
    /// started) once it reaches this size; rotated files are never deleted by the service.
    pub audit_rotate_bytes: u64,
    /// PEM certificate chain; with `tls_key`, the server speaks TLS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Working days after a case's opening day until its deadline (weekends skipped).
    pub case_deadline_working_days: u32,
    /// Seconds an analyst holds a case without activity before others may take it.
    pub case_lease_secs: u64,
    /// Clearing a case whose best fused score is above this percentage of the engine's
    /// decision threshold needs a second analyst's approval (200: twice the threshold).
    pub case_clear_approval_percent: u32,
    /// Callback allow-lists, internal networks and retry bounds.
    pub callbacks: super::callbacks::CallbackConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./tunggal-data"),
            body_limit_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 30,
            queue_capacity: 64,
            shutdown_grace_secs: 30,
            header_read_timeout_secs: 10,
            first_request_timeout_secs: 3,
            body_read_timeout_secs: 20,
            max_pending_connections: 2048,
            max_connections: 512,
            reserved_connections: 64,
            max_connections_per_address: 64,
            min_free_bytes: 64 * 1024 * 1024,
            audit_rotate_bytes: crate::access::audit::ROTATE_BYTES,
            tls_cert: None,
            tls_key: None,
            case_deadline_working_days: 1,
            case_lease_secs: 15 * 60,
            case_clear_approval_percent: 200,
            callbacks: super::callbacks::CallbackConfig::default(),
        }
    }
}

/// Command-line overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
}

fn env_parse<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    slot: &mut T,
) -> Result<(), ConfigError> {
    if let Some(value) = env(name) {
        *slot = value
            .parse()
            .map_err(|_| ConfigError::Env { name, value })?;
    }
    Ok(())
}

impl ServiceConfig {
    /// Loads the settings: defaults, `file`, the environment as `env` reports it, `flags`.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_path_buf(),
                    source: Box::new(source),
                })?
            }
            None => Self::default(),
        };
        env_parse(env, "TUNGGAL_LISTEN", &mut config.listen)?;
        env_parse(env, "TUNGGAL_DATA_DIR", &mut config.data_dir)?;
        env_parse(
            env,
            "TUNGGAL_BODY_LIMIT_BYTES",
            &mut config.body_limit_bytes,
        )?;
        env_parse(
            env,
            "TUNGGAL_REQUEST_TIMEOUT_SECS",
            &mut config.request_timeout_secs,
        )?;
        env_parse(env, "TUNGGAL_QUEUE_CAPACITY", &mut config.queue_capacity)?;
        env_parse(
            env,
            "TUNGGAL_SHUTDOWN_GRACE_SECS",
            &mut config.shutdown_grace_secs,
        )?;
        env_parse(
            env,
            "TUNGGAL_HEADER_READ_TIMEOUT_SECS",
            &mut config.header_read_timeout_secs,
        )?;
        env_parse(
            env,
            "TUNGGAL_BODY_READ_TIMEOUT_SECS",
            &mut config.body_read_timeout_secs,
        )?;
        env_parse(
            env,
            "TUNGGAL_FIRST_REQUEST_TIMEOUT_SECS",
            &mut config.first_request_timeout_secs,
        )?;
        env_parse(
            env,
            "TUNGGAL_MAX_PENDING_CONNECTIONS",
            &mut config.max_pending_connections,
        )?;
        env_parse(env, "TUNGGAL_MAX_CONNECTIONS", &mut config.max_connections)?;
        env_parse(
            env,
            "TUNGGAL_RESERVED_CONNECTIONS",
            &mut config.reserved_connections,
        )?;
        env_parse(
            env,
            "TUNGGAL_MAX_CONNECTIONS_PER_ADDRESS",
            &mut config.max_connections_per_address,
        )?;
        env_parse(env, "TUNGGAL_MIN_FREE_BYTES", &mut config.min_free_bytes)?;
        env_parse(
            env,
            "TUNGGAL_AUDIT_ROTATE_BYTES",
            &mut config.audit_rotate_bytes,
        )?;
        env_parse(
            env,
            "TUNGGAL_CASE_DEADLINE_WORKING_DAYS",
            &mut config.case_deadline_working_days,
        )?;
        env_parse(env, "TUNGGAL_CASE_LEASE_SECS", &mut config.case_lease_secs)?;
        env_parse(
            env,
            "TUNGGAL_CASE_CLEAR_APPROVAL_PERCENT",
            &mut config.case_clear_approval_percent,
        )?;
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(v) = env("TUNGGAL_CALLBACK_ALLOWED_HOSTS") {
            config.callbacks.allowed_hosts = list(v);
        }
        if let Some(v) = env("TUNGGAL_CALLBACK_ALLOWED_NETWORKS") {
            config.callbacks.allowed_networks = list(v);
        }
        let cb = &mut config.callbacks;
        env_parse(
            env,
            "TUNGGAL_CALLBACK_ALLOW_PRIVATE_ADDRESSES",
            &mut cb.allow_private_addresses,
        )?;
        env_parse(env, "TUNGGAL_CALLBACK_MAX_ATTEMPTS", &mut cb.max_attempts)?;
        env_parse(env, "TUNGGAL_CALLBACK_BASE_DELAY_MS", &mut cb.base_delay_ms)?;
        env_parse(
            env,
            "TUNGGAL_CALLBACK_MAX_DELAY_SECS",
            &mut cb.max_delay_secs,
        )?;
        if let Some(path) = env("TUNGGAL_TLS_CERT") {
            config.tls_cert = Some(PathBuf::from(path));
        }
        if let Some(path) = env("TUNGGAL_TLS_KEY") {
            config.tls_key = Some(PathBuf::from(path));
        }
        if let Some(path) = &flags.tls_cert {
            config.tls_cert = Some(path.clone());
        }
        if let Some(path) = &flags.tls_key {
            config.tls_key = Some(path.clone());
        }
        if let Some(listen) = flags.listen {
            config.listen = listen;
        }
        if let Some(dir) = &flags.data_dir {
            config.data_dir = dir.clone();
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.body_limit_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "body_limit_bytes must be at least 1024",
            ));
        }
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "request_timeout_secs must be positive",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(ConfigError::Invalid("queue_capacity must be positive"));
        }
        if self.header_read_timeout_secs == 0 || self.body_read_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "header_read_timeout_secs and body_read_timeout_secs must be positive",
            ));
        }
        if self.max_connections == 0 || self.max_pending_connections == 0 {
            return Err(ConfigError::Invalid(
                "max_connections and max_pending_connections must be positive",
            ));
        }
        if self.first_request_timeout_secs == 0
            || self.first_request_timeout_secs > self.header_read_timeout_secs
        {
            return Err(ConfigError::Invalid(
                "first_request_timeout_secs must be positive and at most header_read_timeout_secs",
            ));
        }
        if self.max_connections_per_address == 0 {
            return Err(ConfigError::Invalid(
                "max_connections_per_address must be positive",
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key must be given together",
            ));
        }
        self.callbacks.check().map_err(ConfigError::Callbacks)?;
        Ok(())
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The keep-alive idle plus next-header timeout.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// The accept-to-first-request-head deadline (TLS handshake included).
    pub fn first_request_timeout(&self) -> Duration {
        Duration::from_secs(self.first_request_timeout_secs)
    }

    /// The connection limits.
    pub fn connection_limits(&self) -> super::conns::Limits {
        super::conns::Limits {
            pending: self.max_pending_connections,
            general: self.max_connections,
            reserve: self.reserved_connections,
            // One address never holds more than the general pool.
            per_address: self.max_connections_per_address.min(self.max_connections),
        }
    }

    /// The body-read timeout.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }
}

impl ServiceConfig {
    /// The case workflow settings.
    pub fn case_policy(&self) -> crate::cases::store::CasePolicy {
        crate::cases::store::CasePolicy {
            deadline: crate::cases::deadline::DeadlinePolicy {
                working_days: self.case_deadline_working_days,
                ..Default::default()
            },
            lease_secs: self.case_lease_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "queue_capacity = 3\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let env = |name: &str| match name {
            "TUNGGAL_LISTEN" => Some("127.0.0.1:9100".to_owned()),
            "TUNGGAL_REQUEST_TIMEOUT_SECS" => Some("7".to_owned()),
            "TUNGGAL_TLS_KEY" => Some("/tmp/k.pem".to_owned()),
            "TUNGGAL_MAX_CONNECTIONS" => Some("9".to_owned()),
            "TUNGGAL_RESERVED_CONNECTIONS" => Some("2".to_owned()),
            "TUNGGAL_MAX_CONNECTIONS_PER_ADDRESS" => Some("4".to_owned()),
            "TUNGGAL_FIRST_REQUEST_TIMEOUT_SECS" => Some("1".to_owned()),
            _ => None,
        };
        let flags = Overrides {
            listen: None,
            data_dir: Some(PathBuf::from("/tmp/x")),
            tls_cert: Some(PathBuf::from("/tmp/c.pem")),
            tls_key: None,
        };
        let c = ServiceConfig::load(Some(&file), &env, &flags).unwrap();
        assert_eq!(c.queue_capacity, 3);
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.request_timeout_secs, 7);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.tls_cert, Some(PathBuf::from("/tmp/c.pem")));
        assert_eq!(c.tls_key, Some(PathBuf::from("/tmp/k.pem")));
        assert_eq!(c.max_connections, 9);
        assert_eq!(c.reserved_connections, 2);
        assert_eq!(c.max_connections_per_address, 4);
        assert_eq!(c.first_request_timeout(), Duration::from_secs(1));
        assert_eq!(
            c.body_limit_bytes,
            ServiceConfig::default().body_limit_bytes
        );
    }

    #[test]
    fn case_policy_comes_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "case_deadline_working_days = 3\n").unwrap();
        let env = |name: &str| (name == "TUNGGAL_CASE_LEASE_SECS").then(|| "60".to_owned());
        let config = ServiceConfig::load(Some(&file), &env, &Overrides::default()).unwrap();
        let policy = config.case_policy();
        assert_eq!(policy.deadline.working_days, 3);
        assert_eq!(policy.lease_secs, 60);
        let defaults = ServiceConfig::default().case_policy();
        assert_eq!(defaults.deadline.working_days, 1);
        assert_eq!(defaults.lease_secs, 900);
    }

    #[test]
    fn callback_settings_come_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[callbacks]\nallowed_hosts = [\"a.example\"]\nmax_attempts = 3\n\
             [callbacks.service_point_hosts]\n\"317101/sp-1\" = [\"b.example\"]\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "TUNGGAL_CALLBACK_ALLOWED_NETWORKS" => Some("10.0.0.0/8, fd00::/8".to_owned()),
            "TUNGGAL_CALLBACK_BASE_DELAY_MS" => Some("250".to_owned()),
            _ => None,
        };
        let c = ServiceConfig::load(Some(&file), &env, &Overrides::default()).unwrap();
        assert_eq!(c.callbacks.allowed_hosts, ["a.example"]);
        assert_eq!(c.callbacks.allowed_networks.len(), 2);
        let policy = c.callbacks.delivery_policy();
        assert_eq!(policy.retry.max_attempts, 3);
        assert_eq!(policy.retry.base_delay, Duration::from_millis(250));
        assert!(!policy.addresses.allow_internal);
        assert_eq!(policy.addresses.allowed_networks.len(), 2);
        let env = |name: &str| {
            (name == "TUNGGAL_CALLBACK_ALLOWED_NETWORKS").then(|| "10.0.0.0/99".to_owned())
        };
        assert!(matches!(
            ServiceConfig::load(None, &env, &Overrides::default()),
            Err(ConfigError::Callbacks(_))
        ));
    }

    #[test]
    fn bad_values_are_errors() {
        let env = |name: &str| (name == "TUNGGAL_QUEUE_CAPACITY").then(|| "many".to_owned());
        assert!(matches!(
            ServiceConfig::load(None, &env, &Overrides::default()),
            Err(ConfigError::Env { .. })
        ));
        let half_tls = |name: &str| (name == "TUNGGAL_TLS_CERT").then(|| "/tmp/c.pem".to_owned());
        assert!(matches!(
            ServiceConfig::load(None, &half_tls, &Overrides::default()),
            Err(ConfigError::Invalid(_))
        ));
        for (name, value) in [
            ("TUNGGAL_MAX_CONNECTIONS_PER_ADDRESS", "0"),
            ("TUNGGAL_FIRST_REQUEST_TIMEOUT_SECS", "0"),
            ("TUNGGAL_FIRST_REQUEST_TIMEOUT_SECS", "11"),
        ] {
            let env = |n: &str| (n == name).then(|| value.to_owned());
            assert!(
                matches!(
                    ServiceConfig::load(None, &env, &Overrides::default()),
                    Err(ConfigError::Invalid(_))
                ),
                "{name}={value}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "colour = 3\n").unwrap();
        assert!(matches!(
            ServiceConfig::load(Some(&file), &|_| None, &Overrides::default()),
            Err(ConfigError::Parse { .. })
        ));
    }
}
