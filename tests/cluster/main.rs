//! The sharded gallery over NATS JetStream: `nats-server` processes started here (JetStream,
//! loopback, free ports, temporary stores), shard replicas and `serve --cluster` front-ends
//! as child processes of the `tunggal` binary, `Front` handles in this process. Every test
//! skips, saying why, when `nats-server` is absent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod control;
mod drill;
mod enrol;
mod nats_cluster;
mod reads;
mod recovery;
mod reshard;
mod snapshot;
mod stats;
