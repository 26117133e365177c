//! The servers a run may start for itself: a throwaway redis-server
//! (primary, replica or sentinel), a Sentinel set with its failovers, an
//! embedded Redis Cluster, and the TLS certificates they serve. Every one
//! binds loopback and is stopped on every exit path. The coordinator picks
//! one in `coordinator/target.rs`; purchase code never sees this folder,
//! only [`crate::conn`].

pub mod certs;
pub mod cluster_set;
pub mod redis_server;
pub mod sentinel_set;
