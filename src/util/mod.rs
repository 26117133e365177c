//! Small pieces every layer uses and that depend on nothing else of the
//! crate: child processes and signals, a worker's stop and freeze, password
//! redaction, run ids, private files, numbers as people read them.

pub mod bounded_read;
pub mod format;
pub mod freeze;
pub mod fs;
pub mod interrupt;
pub mod process;
pub mod reaper;
pub mod redact;
pub mod run_id;
pub mod stop;
