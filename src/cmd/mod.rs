//! The commands a user types: each reads its flags and scenario, drives the
//! coordinator (once, per sweep point, per capacity step), and hands the
//! records to `report/`. `main.rs` dispatches here; nothing below depends on
//! this folder.

pub mod agent;
pub mod capacity;
pub mod compare;
pub mod run;
pub mod sweep;
