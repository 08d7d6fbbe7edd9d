//! The drill's child processes: `nats-server` nodes of one JetStream cluster, shard
//! replicas and `serve --cluster` front-ends, each killed with SIGKILL on request or when
//! dropped. Each one's standard error is appended to `DIR/logs/NAME.log`.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// Where the Debian package and other installs put `nats-server`.
pub const NATS_SERVER_PATHS: [&str; 3] = [
    "/usr/bin/nats-server",
    "/usr/sbin/nats-server",
    "/usr/local/bin/nats-server",
];

/// The first `nats-server` found.
pub fn find_nats_server() -> Option<PathBuf> {
    NATS_SERVER_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A free TCP port on loopback.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child process killed with SIGKILL when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    /// The line it printed when it got ready.
    pub ready_line: String,
}

impl Proc {
    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it is running (not killed by the drill).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Opens `DIR/logs/NAME.log` for appending (a restarted process adds to its history).
fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let path = logs.join(format!("{name}.log"));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Starts `command` with its standard output piped and its standard error appended to
/// `log`, and waits for a line containing `needle`; later lines are read and dropped.
fn spawn_until(
    mut command: Command,
    log: std::fs::File,
    needle: &'static str,
    wait: Duration,
) -> anyhow::Result<Proc> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let Some(stdout) = child.stdout.take() else {
        bail!("no standard output from {command:?}");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(needle) {
                let _ = tx.send(line);
            }
        }
    });
    let mut proc = Proc {
        child: Some(child),
        ready_line: String::new(),
    };
    match rx.recv_timeout(wait) {
        Ok(line) => proc.ready_line = line,
        Err(_) => {
            proc.kill();
            bail!("{command:?} did not print {needle:?} within {wait:?}");
        }
    }
    Ok(proc)
}

/// Three `nats-server` nodes of one JetStream cluster on loopback.
#[derive(Debug)]
pub struct NatsNodes {
    binary: PathBuf,
    dir: PathBuf,
    ports: Vec<u16>,
    routes: Vec<u16>,
    /// The nodes (index = node).
    pub nodes: Vec<Proc>,
}

impl NatsNodes {
    /// Starts `count` nodes storing under `dir`.
    pub fn start(binary: &Path, dir: &Path, count: usize) -> anyhow::Result<Self> {
        let mut nodes = Self {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            ports: (0..count).map(|_| free_port()).collect::<Result<_, _>>()?,
            routes: (0..count).map(|_| free_port()).collect::<Result<_, _>>()?,
            nodes: Vec::new(),
        };
        for i in 0..count {
            let node = nodes.spawn(i)?;
            nodes.nodes.push(node);
        }
        Ok(nodes)
    }

    fn spawn(&self, i: usize) -> anyhow::Result<Proc> {
        let routes: Vec<String> = (0..self.routes.len())
            .filter(|&j| j != i)
            .filter_map(|j| self.routes.get(j))
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect();
        let (Some(port), Some(route)) = (self.ports.get(i), self.routes.get(i)) else {
            bail!("no node {i}");
        };
        let child = Command::new(&self.binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["-n", &format!("node{i}"), "--cluster_name", "tunggal-drill"])
            .args(["--cluster", &format!("nats://127.0.0.1:{route}")])
            .args(["--routes", &routes.join(","), "-sd"])
            .arg(self.dir.join(format!("node{i}")))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file(&self.dir, &format!("node{i}"))?))
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let proc = Proc {
            child: Some(child),
            ready_line: String::new(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                bail!("nats-server node {i} did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(proc)
    }

    /// Every node's client URL, comma-separated.
    pub fn urls(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills node `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.kill();
        }
    }

    /// Starts node `i` again on its port and store.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let node = self.spawn(i)?;
        if let Some(slot) = self.nodes.get_mut(i) {
            *slot = node;
        }
        Ok(())
    }
}

/// How to start the drill's `tunggal` processes.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The `tunggal` binary.
    pub binary: PathBuf,
    /// NATS URLs, comma-separated.
    pub nats: String,
    /// Shard count.
    pub shards: u32,
    /// The drill's directory.
    pub dir: PathBuf,
    /// The admin key of the front-ends.
    pub admin_key: String,
    /// `--snapshot-every` of replica 1 of every shard (0: no snapshots).
    pub snapshot_every: u64,
}

impl Launcher {
    /// The data directory of a shard replica.
    pub fn shard_dir(&self, shard: u32, replica: u32) -> PathBuf {
        self.dir.join(format!("shard-{shard}-r{replica}"))
    }

    /// Starts replica `replica` of shard `shard` and waits until it is ready.
    pub fn shard(&self, shard: u32, replica: u32) -> anyhow::Result<Proc> {
        let mut command = Command::new(&self.binary);
        command
            .args(["shard", "--nats", &self.nats])
            .args(["--shard", &format!("{shard}/{}", self.shards)])
            .args(["--replica", &replica.to_string(), "--stream-replicas", "3"])
            .arg("--data-dir")
            .arg(self.shard_dir(shard, replica))
            .env("RUST_LOG", "warn,tunggal::cluster::snapshot=debug");
        if replica == 1 && self.snapshot_every > 0 {
            command.args(["--snapshot-every", &self.snapshot_every.to_string()]);
        }
        let log = log_file(&self.dir, &format!("shard-{shard}-r{replica}"))?;
        spawn_until(command, log, "ready", Duration::from_secs(180))
    }

    /// Starts front-end `index` listening on `port` and waits until it listens.
    pub fn front(&self, index: usize, port: u16) -> anyhow::Result<Proc> {
        let mut command = Command::new(&self.binary);
        command
            .args(["serve", "--cluster", "--nats", &self.nats])
            .args([
                "--shards",
                &self.shards.to_string(),
                "--stream-replicas",
                "3",
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(self.dir.join(format!("front-{index}")))
            .env("TUNGGAL_ADMIN_KEY", &self.admin_key)
            .env("RUST_LOG", "warn");
        let log = log_file(&self.dir, &format!("front-{index}"))?;
        spawn_until(command, log, "listening on", Duration::from_secs(180))
    }
}
