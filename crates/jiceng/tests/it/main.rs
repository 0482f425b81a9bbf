//! The integration suite: one test binary (linking one binary is what costs on two cores).
//! Runs on SQLite by default and on PostgreSQL when `JICENG_TEST_PG` is set; every test gets a fresh
//! database with the real Suining tree and the small demo layer.

// Test code: an unwrap that fails is a failed test, which is what it should be (the workspace
// lint is for library code; `clippy.toml` allows it in `#[test]` functions, this covers helpers).
#![allow(clippy::unwrap_used)]

mod harness;

mod alarms;
mod audit_chain;
mod authz;
mod cli;
mod consultation;
mod coverage;
mod events;
mod geography;
mod identity;
mod indicators;
mod open311;
mod registers;
mod reliability;
mod security;
mod storage;
mod volunteers;
