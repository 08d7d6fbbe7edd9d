//! `tunggal serve` and `tunggal keys`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::demo_keys;
use crate::access::keys::{KeyError, KeySpec, KeyStore, MIN_ADMIN_KEY_LEN};
use crate::cases::CaseStore;
use crate::engine::demo::{self, DemoPlan};
use crate::engine::{EngineOptions, GalleryEngine};
use crate::service::{Overrides, Service, ServiceConfig};

/// Seconds between two advances of the registry's acknowledgement mark while serving.
const ACK_MARK_EVERY_SECS: u64 = 10;

/// Options of `tunggal serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML settings file (see `service::config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory for keys, idempotency answers and the audit log.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// PEM certificate chain: with --tls-key, serve HTTPS (rustls) instead of plain HTTP.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Try-out mode: on an empty gallery, load synthetic persons and enrol a burst of probes
    /// (returning persons, NIK re-issues and conflicts, twins) so cases exist; create a key
    /// for each demo service point and two analyst keys once, keep them in
    /// `DATA_DIR/demo-keys.txt` and print them at every start.
    #[arg(long)]
    demo: bool,
    /// Persons in the demo gallery.
    #[arg(long, default_value_t = 2000)]
    demo_persons: u64,
    /// Probes enrolled after the demo gallery is loaded.
    #[arg(long, default_value_t = 64)]
    demo_probes: u64,
    /// Serve MOSIP's ABIS interface too: the ActiveMQ STOMP connector, `host:port`
    /// (credentials from `TUNGGAL_MOSIP_BROKER_LOGIN` and `TUNGGAL_MOSIP_BROKER_PASSCODE`,
    /// the datashare token from `TUNGGAL_MOSIP_DATASHARE_TOKEN`; `docs/mosip.md`).
    #[arg(long)]
    mosip_broker: Option<String>,
    /// MOSIP's request queue.
    #[arg(long, default_value = "mosip-to-abis", requires = "mosip_broker")]
    mosip_inbound: String,
    /// MOSIP's response queue.
    #[arg(long, default_value = "abis-to-mosip", requires = "mosip_broker")]
    mosip_outbound: String,
    /// Serve OSIA's ABIS interface (version 1.4) under `/osia` (`docs/osia.md`); callbacks
    /// go to the hosts of `[callbacks]`, or of `service_point_hosts."osia/abis"`.
    #[arg(long, conflicts_with = "cluster")]
    osia: bool,
    /// Cluster front-end: enrolments are decided by the shards over NATS JetStream
    /// (`docs/scale-out.md`) instead of a gallery in this process.
    #[arg(long, requires = "nats", conflicts_with = "demo")]
    cluster: bool,
    /// NATS server URLs, comma-separated (cluster mode).
    #[arg(long, requires = "cluster")]
    nats: Option<String>,
    /// Shard count of the cluster.
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// Copies of each JetStream stream and bucket (3 on a three-node NATS cluster).
    #[arg(long, default_value_t = 1)]
    stream_replicas: usize,
}

impl ServeArgs {
    /// The MOSIP listener's settings, when `--mosip-broker` is given.
    fn mosip(&self) -> anyhow::Result<Option<crate::mosip::MosipConfig>> {
        let Some(broker) = self.mosip_broker.as_deref() else {
            return Ok(None);
        };
        let mut config = crate::mosip::MosipConfig::new(broker);
        config.inbound = self.mosip_inbound.clone();
        config.outbound = self.mosip_outbound.clone();
        config.login = env_var("TUNGGAL_MOSIP_BROKER_LOGIN").map(|l| {
            (
                l,
                env_var("TUNGGAL_MOSIP_BROKER_PASSCODE").unwrap_or_default(),
            )
        });
        config.datashare_token = env_var("TUNGGAL_MOSIP_DATASHARE_TOKEN");
        config.datashare_ca = env_var("TUNGGAL_MOSIP_DATASHARE_CA_FILE").map(PathBuf::from);
        if let Some(path) = env_var("TUNGGAL_MOSIP_DATASHARE_KEY_FILE") {
            let key = crate::mosip::envelope::ShareKey::from_pem_file(std::path::Path::new(&path))?;
            config.datashare_key = Some(std::sync::Arc::new(key));
        }
        Ok(Some(config))
    }
}

pub(super) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The shutdown future, with its signal handlers installed now rather than at the first
/// poll: a SIGTERM that arrives as soon as "listening" is printed stops the server cleanly
/// instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (term, int) = streams;
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received: finishing open requests");
    }
}

impl ServeArgs {
    /// Runs the server until SIGTERM or ctrl-c.
    pub fn run(self) -> anyhow::Result<()> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
        let mosip = self.mosip()?;
        let flags = Overrides {
            listen: self.listen,
            data_dir: self.data_dir,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
        };
        let config = ServiceConfig::load(self.config.as_deref(), &env_var, &flags)?;
        // Configuration is checked before any work: opening a large gallery takes a while.
        let admin_key = env_var("TUNGGAL_ADMIN_KEY");
        if admin_key
            .as_deref()
            .is_some_and(|k| k.len() < MIN_ADMIN_KEY_LEN)
        {
            return Err(KeyError::WeakAdminKey.into());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        if let (true, Some(url)) = (self.cluster, self.nats.as_deref()) {
            let front = super::serve_cluster::FrontArgs {
                nats: url.to_owned(),
                shards: self.shards,
                stream_replicas: self.stream_replicas,
            };
            let handle = runtime.handle().clone();
            // The signal handlers need the runtime: installed inside it.
            return runtime.block_on(async move {
                super::serve_cluster::run(config, front, handle, admin_key, shutdown_signal()).await
            });
        }
        runtime.block_on(async move {
            crate::service::disk::make_private(&config.data_dir)
                .with_context(|| format!("creating {}", config.data_dir.display()))?;
            let cases = Arc::new(CaseStore::open_with(
                &config.data_dir,
                config.case_policy(),
            )?);
            let started = std::time::Instant::now();
            let data_dir = config.data_dir.clone();
            let engine_cases = cases.clone();
            // Mapping the gallery, replaying its WAL and reconciling the registry (and, on a
            // new data directory, learning the calibration) is blocking work.
            let demo = self.demo.then_some(DemoPlan {
                persons: self.demo_persons,
                probes: self.demo_probes,
                seed: 2026,
            });
            let engine = tokio::task::spawn_blocking(move || {
                let engine =
                    GalleryEngine::open(&data_dir, engine_cases, EngineOptions::default())?;
                if let Some(plan) = demo.filter(|_| engine.gallery().is_empty()) {
                    let r = demo::fill(&engine, &plan, &|s| tracing::info!("{s}"))?;
                    println!(
                        "tunggal: demo gallery of {} persons loaded in {:.1} s; {} probes in \
                         {:.1} s: {} single ({} re-issues), {} duplicate ({} NIK conflicts), \
                         {} rejected; {} cases open",
                        r.loaded,
                        r.load_s,
                        plan.probes,
                        r.probes_s,
                        r.single,
                        r.reissue,
                        r.duplicate,
                        r.nik_conflict,
                        r.rejected,
                        engine.cases().len()
                    );
                }
                anyhow::Ok(engine)
            })
            .await
            .context("opening the gallery engine")??;
            let callback_ca = env_var("TUNGGAL_CALLBACK_CA_FILE").map(PathBuf::from);
            let notifier = crate::engine::callback::spawn_durable(
                &config.data_dir,
                callback_ca.as_deref(),
                config.callbacks.delivery_policy(),
            )?;
            engine.set_notifier(notifier.clone());
            let recovery = engine.recovery();
            tracing::info!(
                persons = engine.gallery().len(),
                rolled_forward = recovery.rolled_forward,
                aborted = recovery.aborted,
                rolled_back = recovery.rolled_back,
                cases_opened = recovery.cases_opened,
                seconds = started.elapsed().as_secs_f64(),
                "gallery engine open"
            );
            println!(
                "tunggal: gallery open with {} persons ({:.1} s)",
                engine.gallery().len(),
                started.elapsed().as_secs_f64()
            );
            match &engine.gallery().recovery_report().key_index {
                tunggal_index::storage::KeyIndexOutcome::Rebuilt { reason } => tracing::warn!(
                    reason = %reason,
                    "gallery key index not used; the key map was rebuilt from the slot metadata"
                ),
                outcome => tracing::info!(?outcome, "gallery key map"),
            }
            let engine = Arc::new(engine);
            {
                // Record CRCs are checked while the service runs, not at open.
                let engine = Arc::clone(&engine);
                std::thread::Builder::new()
                    .name("gallery-scrub".into())
                    .spawn(move || {
                        let report = engine.gallery().store().scrub();
                        if let Some(reason) = &report.key_index {
                            tracing::error!(
                                reason = %reason,
                                "gallery key index failed its checksum: the key map was \
                                 rebuilt from the slot metadata (the next checkpoint \
                                 rewrites the file)"
                            );
                        }
                        for (addr, key) in &report.quarantined {
                            tracing::error!(
                                segment = addr.segment,
                                slot = addr.slot,
                                key,
                                "gallery record failed its checksum: quarantined"
                            );
                        }
                        tracing::info!(
                            checked = report.checked,
                            quarantined = report.quarantined.len(),
                            "gallery scrub finished"
                        );
                    })?;
            }
            {
                // The acknowledgement mark follows the gallery's checkpoints, so that the next
                // open checks only the persons acknowledged since the last one.
                let engine = Arc::downgrade(&engine);
                std::thread::Builder::new()
                    .name("ack-mark".into())
                    .spawn(move || loop {
                        std::thread::sleep(std::time::Duration::from_secs(ACK_MARK_EVERY_SECS));
                        let Some(engine) = engine.upgrade() else {
                            break;
                        };
                        if let Err(e) = engine.advance_acknowledged_mark() {
                            tracing::warn!(error = %e, "advancing the acknowledgement mark");
                        }
                    })?;
            }
            let mut service =
                Service::bind(config.clone(), engine.clone(), cases, admin_key.as_deref()).await?;
            if self.osia {
                let origin = crate::osia::default_origin();
                let callbacks = config.callbacks.clone();
                let hosts: crate::osia::HostCheck =
                    Arc::new(move |host: &str| callbacks.host_allowed(host, &origin));
                let (engine, keys) = (engine.clone(), service.app().keys.clone());
                let osia = tokio::task::spawn_blocking(move || {
                    crate::osia::OsiaApp::open(engine, keys, Some(notifier), hosts)
                })
                .await
                .context("opening the OSIA interface")??;
                service.add_routes(crate::osia::router(Arc::new(osia)));
            }
            if self.demo {
                let lines = demo_keys::ensure(
                    &service.app().keys,
                    &config.data_dir,
                    service.generated_admin_key(),
                )?;
                for line in lines {
                    println!("{line}");
                }
                println!(
                    "tunggal: the demo keys are kept in {}",
                    config.data_dir.join(demo_keys::FILE).display()
                );
            } else if let Some(key) = service.generated_admin_key() {
                println!("tunggal: generated the initial admin key (shown only now): {key}");
            }
            let addr = service.local_addr()?;
            let scheme = if service.is_tls() { "https" } else { "http" };
            let shutdown = shutdown_signal();
            let (stop_mosip, mosip_stopped) = tokio::sync::watch::channel(false);
            let mosip_task = match mosip {
                Some(m) => {
                    let abis = crate::mosip::handler::Abis::new(
                        engine.clone(),
                        m.origin.clone(),
                        crate::mosip::transport::datashare(&m)?,
                    );
                    println!(
                        "tunggal: MOSIP ABIS on {} ({} -> {})",
                        m.broker, m.inbound, m.outbound
                    );
                    Some(tokio::spawn(crate::mosip::transport::run(
                        abis,
                        m,
                        mosip_stopped,
                    )))
                }
                None => None,
            };
            println!("tunggal: listening on {scheme}://{addr}");
            println!("tunggal: analyst review pages at {scheme}://{addr}/review");
            if self.osia {
                println!("tunggal: OSIA ABIS interface at {scheme}://{addr}/osia/v1");
            }
            service.run(shutdown).await?;
            let _ = stop_mosip.send(true);
            if let Some(task) = mosip_task {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(30), task).await;
            }
            // A clean stop checkpoints the gallery and brings the acknowledgement mark up to
            // it, so that the next start checks no person acknowledged before now.
            let settling = engine.clone();
            match tokio::task::spawn_blocking(move || settling.settle()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "checkpoint at shutdown"),
                Err(e) => tracing::warn!(error = %e, "checkpoint at shutdown"),
            }
            println!("tunggal: stopped");
            Ok(())
        })
    }
}

/// Where `tunggal keys` finds the data directory.
#[derive(Debug, Args)]
pub struct KeysDir {
    /// Data directory (default: config, `TUNGGAL_DATA_DIR`, or ./tunggal-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML settings file.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl KeysDir {
    fn open(self) -> anyhow::Result<KeyStore> {
        let flags = Overrides {
            listen: None,
            data_dir: self.data_dir,
            ..Overrides::default()
        };
        let config = ServiceConfig::load(self.config.as_deref(), &env_var, &flags)?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        Ok(KeyStore::open(&config.data_dir)?)
    }
}

/// `tunggal keys …` (every change is recorded in the key trail, `tunggal keys events`).
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue an API key to an owner and print it (only its hash is stored).
    Create {
        #[command(flatten)]
        dir: KeysDir,
        /// `service-point`, `analyst`, `supervisor` or `admin`.
        #[arg(long)]
        role: String,
        /// Holder's name.
        #[arg(long)]
        name: String,
        /// The person the key is issued to (default: the name); four-eyes decisions need
        /// two different owners.
        #[arg(long)]
        owner: Option<String>,
        /// The key stops working after this many days.
        #[arg(long)]
        expires_in_days: Option<u64>,
        /// District `PPRRDD` (service-point keys).
        #[arg(long)]
        district: Option<String>,
        /// Service point id (service-point keys).
        #[arg(long)]
        service_point: Option<String>,
    },
    /// List every key (id, role, owner, name, binding, created, expiry, revocation).
    List {
        #[command(flatten)]
        dir: KeysDir,
    },
    /// Revoke a key: refused from its next request on.
    Revoke {
        #[command(flatten)]
        dir: KeysDir,
        /// The key id.
        key_id: String,
    },
    /// Replace a key by a new secret for the same owner and role (the old one is revoked);
    /// prints the new key.
    Rotate {
        #[command(flatten)]
        dir: KeysDir,
        /// The key id.
        key_id: String,
    },
    /// Print the trail of key creations, revocations and rotations.
    Events {
        #[command(flatten)]
        dir: KeysDir,
    },
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl KeysCommand {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let problem = |p: crate::service::Problem| anyhow::anyhow!("{p}");
        match self {
            Self::Create {
                dir,
                role,
                name,
                owner,
                expires_in_days,
                district,
                service_point,
            } => {
                let mut spec =
                    KeySpec::parse(&role, &name, district.as_deref(), service_point.as_deref())
                        .map_err(problem)?;
                if let Some(owner) = owner {
                    spec = spec.owned_by(&owner).map_err(problem)?;
                }
                if let Some(days) = expires_in_days {
                    let at = crate::clock::now_secs() + days.saturating_mul(86_400);
                    spec = spec.expiring(at).map_err(problem)?;
                }
                let store = dir.open()?;
                let (key, record) = store.create(&spec, "cli")?;
                eprintln!(
                    "created {} key {} for {} (owner {})",
                    role,
                    record.key_id,
                    record.name,
                    record.owner()
                );
                println!("{key}");
            }
            Self::List { dir } => {
                println!(
                    "key_id\trole\towner\tname\tservice_point\tcreated_at\texpires_at\trevoked_at"
                );
                for r in dir.open()?.list()? {
                    let sp = match (&r.district, &r.service_point) {
                        (Some(d), Some(s)) => format!("{d}/{s}"),
                        _ => "-".to_owned(),
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{sp}\t{}\t{}\t{}",
                        r.key_id,
                        r.role.as_str(),
                        r.owner(),
                        r.name,
                        r.created_at,
                        opt(r.expires_at),
                        opt(r.revoked_at)
                    );
                }
            }
            Self::Revoke { dir, key_id } => {
                let r = dir.open()?.revoke(&key_id, "cli")?;
                eprintln!(
                    "revoked {} key {} of {}",
                    r.role.as_str(),
                    r.key_id,
                    r.owner()
                );
            }
            Self::Rotate { dir, key_id } => {
                let (key, r) = dir.open()?.rotate(&key_id, "cli")?;
                eprintln!(
                    "rotated {key_id}: new {} key {} for {} (the old key is revoked)",
                    r.role.as_str(),
                    r.key_id,
                    r.owner()
                );
                println!("{key}");
            }
            Self::Events { dir } => {
                println!("at\tkey_id\taction\tby\tdetail");
                for e in dir.open()?.events()? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        e.at, e.key_id, e.action, e.by, e.detail
                    );
                }
            }
        }
        Ok(())
    }
}
