//! MOSIP's ABIS interface: JSON requests from MOSIP's registration processor on an ActiveMQ
//! queue, answered on another, beside Tunggal's own HTTP API.
//!
//! - [`message`]: the requests, responses and failure reasons of the specification.
//! - [`cbeff`]: the CBEFF XML of a registration's biometrics.
//! - [`iris_code`]: Tunggal's iris code BDB (codes where a platform has no eye images).
//! - [`biometrics`]: a share's samples validated into a probe, irises one by one.
//! - [`analytics`]: a candidate's per-modality analytics.
//! - [`datashare`]: fetching a `referenceURL`.
//! - [`envelope`]: opening an encrypted share with the ABIS partner's private key.
//! - [`handler`]: one request mapped onto the engine (`engine/external.rs`).
//! - [`transport`]: the STOMP connection to ActiveMQ, one request at a time in queue order.
//!
//! `docs/mosip.md` describes the mapping, the failure reasons and what is not built.

pub mod analytics;
pub mod biometrics;
pub mod cbeff;
pub mod datashare;
pub mod envelope;
pub mod handler;
pub mod iris_code;
pub mod message;
pub mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::enrolment::record::Origin;

/// The registry origin (district, service point) of persons MOSIP inserts: outside every
/// district code, so no service-point key can submit or read under it.
pub fn default_origin() -> Origin {
    Origin {
        district: "mosip".to_owned(),
        service_point: "abis".to_owned(),
    }
}

/// Settings of the MOSIP listener.
#[derive(Clone)]
pub struct MosipConfig {
    /// The broker's STOMP connector, `host:port`.
    pub broker: String,
    /// STOMP login and passcode, when the broker requires them.
    pub login: Option<(String, String)>,
    /// Queue of requests from MOSIP.
    pub inbound: String,
    /// Queue of responses to MOSIP.
    pub outbound: String,
    /// The datashare token (sent as the `Authorization` cookie).
    pub datashare_token: Option<String>,
    /// Extra CA certificates (PEM) for `https://` datashare URLs.
    pub datashare_ca: Option<PathBuf>,
    /// The private key that opens encrypted shares; without it, shares must be plain CBEFF.
    pub datashare_key: Option<Arc<envelope::ShareKey>>,
    /// Time allowed for one datashare fetch.
    pub datashare_timeout: Duration,
    /// Where the registry keeps MOSIP's persons.
    pub origin: Origin,
}

impl std::fmt::Debug for MosipConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MosipConfig")
            .field("broker", &self.broker)
            .field("login", &self.login.as_ref().map(|(l, _)| l))
            .field("inbound", &self.inbound)
            .field("outbound", &self.outbound)
            .field(
                "datashare_token",
                &self.datashare_token.as_ref().map(|_| "<set>"),
            )
            .field("datashare_ca", &self.datashare_ca)
            .field(
                "datashare_key",
                &self.datashare_key.as_ref().map(|_| "<set>"),
            )
            .field("origin", &self.origin)
            .finish()
    }
}

impl MosipConfig {
    /// Defaults for a broker at `broker`: queues `mosip-to-abis` and `abis-to-mosip`, no
    /// credentials, 30 s per fetch.
    pub fn new(broker: &str) -> Self {
        Self {
            broker: broker.to_owned(),
            login: None,
            inbound: "mosip-to-abis".to_owned(),
            outbound: "abis-to-mosip".to_owned(),
            datashare_token: None,
            datashare_ca: None,
            datashare_key: None,
            datashare_timeout: Duration::from_secs(30),
            origin: default_origin(),
        }
    }
}
