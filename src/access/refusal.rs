//! The pieces of refusal auditing the API and the review pages share: the route template a
//! request matched and the `forbidden` audit event. Each router installs its own middleware
//! (`crate::service::refusals`, `crate::review::refusals`).

use std::sync::Arc;

use axum::extract::{MatchedPath, Request};

use super::audit::AuditLog;
use super::keys::Principal;

/// The route template a request matched (`unmatched` when none did): what logs, metrics
/// and the audit name instead of the raw path.
pub fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned()
}

/// Records a `forbidden` audit event for `method route`; a failing audit log is logged, the
/// refusal stands.
pub async fn record_forbidden(
    audit: &Arc<AuditLog>,
    who: Option<&Principal>,
    method: &str,
    route: &str,
) {
    let subject = format!("{method} {route}");
    if let Err(e) = audit.record_refusal(who, "forbidden", subject, 403).await {
        tracing::error!(error = %e, "audit log failure");
    }
}
