//! `tunggal serve --cluster`: the HTTP service in front of the sharded gallery.

use std::sync::Arc;

use anyhow::Context as _;

use crate::cases::CaseStore;
use crate::cluster::engine::ClusterEngine;
use crate::cluster::Front;
use crate::service::{Service, ServiceConfig};

/// Where the cluster is.
#[derive(Debug, Clone)]
pub(super) struct FrontArgs {
    /// NATS server URL.
    pub nats: String,
    /// Shard count.
    pub shards: u32,
    /// Copies of each stream and bucket.
    pub stream_replicas: usize,
}

/// Serves until `shutdown`, deciding enrolments through the cluster.
pub(super) async fn run(
    config: ServiceConfig,
    front: FrontArgs,
    runtime: tokio::runtime::Handle,
    admin_key: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    crate::service::disk::make_private(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let cases = Arc::new(CaseStore::open_with(
        &config.data_dir,
        config.case_policy(),
    )?);
    let handle = Front::connect(&front.nats, front.shards, front.stream_replicas)
        .await
        .with_context(|| format!("joining the cluster at {}", front.nats))?;
    let engine = Arc::new(ClusterEngine::new(handle, runtime));
    let service = Service::bind(config.clone(), engine, cases, admin_key.as_deref()).await?;
    if let Some(key) = service.generated_admin_key() {
        println!("tunggal: generated the initial admin key (shown only now): {key}");
    }
    let addr = service.local_addr()?;
    let scheme = if service.is_tls() { "https" } else { "http" };
    println!(
        "tunggal: cluster front-end of {} shards at {}",
        front.shards, front.nats
    );
    println!("tunggal: listening on {scheme}://{addr}");
    service.run(shutdown).await?;
    println!("tunggal: stopped");
    Ok(())
}
