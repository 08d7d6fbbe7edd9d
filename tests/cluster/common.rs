//! Processes and helpers shared by the cluster tests.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tunggal::cluster::wire::StoredVerdict;
use tunggal::cluster::Front;
use tunggal::dedup::enrolment_of;
use tunggal_datasets::population::{CaptureSpec, Population};
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig};
use tunggal_index::search::{Deduplicator, SearchConfig, SearchVerdict};
use tunggal_index::storage::Durability;

pub const SEED: u64 = 2121;

pub fn nats_server() -> Option<&'static str> {
    [
        "/usr/bin/nats-server",
        "/usr/sbin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A JetStream server on loopback, killed on drop.
pub struct Nats {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nats {
    pub fn start() -> Option<Self> {
        let Some(bin) = nats_server() else {
            eprintln!("skipping: nats-server is not installed (apt-get install nats-server)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self {
            child,
            port,
            _dir: dir,
        })
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A shard replica child process, killed (SIGKILL) on drop.
pub struct ShardProc {
    child: Child,
    /// The line it printed when it got ready.
    pub ready: String,
}

impl ShardProc {
    pub fn start(url: &str, shard: u32, shards: u32, replica: u32, dir: &Path) -> Self {
        Self::start_with(url, shard, shards, replica, dir, &[])
    }

    /// [`ShardProc::start`] with more arguments.
    pub fn start_with(
        url: &str,
        shard: u32,
        shards: u32,
        replica: u32,
        dir: &Path,
        extra: &[&str],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tunggal"));
        command
            .args([
                "shard",
                "--nats",
                url,
                "--shard",
                &format!("{shard}/{shards}"),
            ])
            .args(["--replica", &replica.to_string(), "--data-dir"])
            .arg(dir)
            .args(extra);
        Self::spawn(command, shard)
    }

    /// Runs `command` (a `tunggal shard`) and waits until it is ready.
    pub fn spawn(mut command: Command, shard: u32) -> Self {
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("ready") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("shard {shard} did not get ready"));
        eprintln!("{line}");
        Self { child, ready: line }
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ShardProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn capture(pop: &Population, id: u64, number: u64) -> Enrolment {
    let person = pop.person(id);
    enrolment_of(&pop.capture(&person, number, &CaptureSpec::default()), true)
}

/// A verdict as compared between cluster and single node: sequence, kind, candidates with
/// their fused scores.
pub type Outcome = (u64, String, Vec<(u64, f32)>);

pub fn keys(v: &StoredVerdict) -> Vec<u64> {
    v.candidates.iter().map(|c| c.key).collect()
}

/// The verdicts a single node gives the same enrolments in the same order, keys being the
/// sequences.
pub fn single_node(stream: &[(u64, Enrolment)]) -> Vec<Outcome> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = GalleryConfig::default();
    config.store.durability = Durability::NoSync;
    let calibration = tunggal::engine::calibrate::shipped().unwrap();
    let gallery = Gallery::open(dir.path(), config, Some(calibration)).unwrap();
    let dedup = Deduplicator::new(gallery, SearchConfig::default());
    stream
        .iter()
        .map(|(seq, e)| {
            let d = dedup.submit(*seq, e).unwrap();
            let (kind, c) = match d.outcome.verdict {
                SearchVerdict::Single => ("single", Vec::new()),
                SearchVerdict::Duplicate(c) => {
                    ("duplicate", c.iter().map(|c| (c.key, c.fused)).collect())
                }
                SearchVerdict::Rejected(_) => ("rejected", Vec::new()),
            };
            (*seq, kind.to_owned(), c)
        })
        .collect()
}

/// `tunggal serve --cluster` child process, killed on drop.
pub struct FrontProc {
    child: Child,
    base: String,
}

pub const ADMIN_KEY: &str = "cluster-test-admin-key-0123456789abcdef";

impl FrontProc {
    pub fn start(url: &str, shards: u32, dir: &Path) -> Self {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tunggal"))
            .args([
                "serve",
                "--cluster",
                "--nats",
                url,
                "--shards",
                &shards.to_string(),
            ])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir)
            .env("TUNGGAL_ADMIN_KEY", ADMIN_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(line);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve --cluster did not start listening"));
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The front-end's `host:port`.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// `tunggal enrol FILE` through this front-end: the answer's JSON.
    pub fn enrol(&self, file: &Path) -> serde_json::Value {
        self.client("enrol", file)
    }

    /// `tunggal identify FILE` (an enrolment body) through this front-end: the answer's JSON.
    pub fn identify(&self, file: &Path) -> serde_json::Value {
        self.client("identify", file)
    }

    fn client(&self, command: &str, file: &Path) -> serde_json::Value {
        let o = Command::new(env!("CARGO_BIN_EXE_tunggal"))
            .arg(command)
            .arg(file)
            .args(["--target", &self.base, "--api-key", ADMIN_KEY, "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

impl Drop for FrontProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three `nats-server` nodes in one JetStream cluster on loopback.
pub struct NatsCluster {
    nodes: Vec<Option<Child>>,
    ports: Vec<u16>,
    routes: Vec<u16>,
    dir: tempfile::TempDir,
}

impl NatsCluster {
    pub fn start() -> Option<Self> {
        if nats_server().is_none() {
            eprintln!("skipping: nats-server is not installed (apt-get install nats-server)");
            return None;
        }
        let mut cluster = Self {
            nodes: Vec::new(),
            ports: (0..3).map(|_| free_port()).collect(),
            routes: (0..3).map(|_| free_port()).collect(),
            dir: tempfile::tempdir().unwrap(),
        };
        for i in 0..3 {
            let child = cluster.spawn(i);
            cluster.nodes.push(Some(child));
        }
        Some(cluster)
    }

    pub fn spawn(&self, i: usize) -> Child {
        let routes: Vec<String> = (0..3)
            .filter(|&j| j != i)
            .map(|j| format!("nats://127.0.0.1:{}", self.routes[j]))
            .collect();
        let child = Command::new(nats_server().unwrap())
            .args(["-js", "-a", "127.0.0.1", "-p", &self.ports[i].to_string()])
            .args(["-n", &format!("node{i}"), "--cluster_name", "tunggal"])
            .args(["--cluster", &format!("nats://127.0.0.1:{}", self.routes[i])])
            .args(["--routes", &routes.join(","), "-sd"])
            .arg(self.dir.path().join(format!("node{i}")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.ports[i])).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "node {i} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.ports[i])
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn restart(&mut self, i: usize) {
        let child = self.spawn(i);
        self.nodes[i] = Some(child);
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().flatten() {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

/// Enrols, retrying the same request id while the cluster elects new leaders.
pub async fn enrol_retrying(front: &Front, id: &str, e: &Enrolment) -> StoredVerdict {
    let started = Instant::now();
    loop {
        match front.enrol(id, e).await {
            Ok(v) => return v,
            Err(err) => {
                assert!(started.elapsed() < Duration::from_secs(120), "{id}: {err}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
