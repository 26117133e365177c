//! The servers a run may start for itself: a throwaway redis-server or
//! valkey-server (primary, replica or sentinel), a Sentinel set with its
//! failovers, an embedded cluster, and the TLS certificates they serve.
//! Every one binds loopback and is stopped on every exit path. Also how a
//! server names itself (`INFO server`), whoever started it. The coordinator
//! picks one in `coordinator/target.rs`; purchase code never sees this
//! folder, only [`crate::conn`].

pub mod certs;
pub mod cluster_set;
pub mod redis_server;
pub mod sentinel_set;
pub mod version;
