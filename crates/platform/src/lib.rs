//! The platform under every jiceng slice: configuration values, storage on SQLite or PostgreSQL,
//! accounts and unit scopes, the audit chain, errors with stable codes, the clock, and the page
//! shell. It knows nothing about any domain; slices depend on it, never the other way round.
//!
//! Change policy: slices use only what is re-exported or public here; keep this crate small.

pub mod audit;
pub mod auth;
pub mod clock;
pub mod crypto;
pub mod db;
pub mod error;
pub mod metrics;
pub mod pages;
pub mod scope;
pub mod testing;
pub mod totp;
pub mod web;

use std::sync::Arc;

pub use clock::{Clock, Millis, SharedClock};
pub use db::{Db, Sql, Tx, Value};
pub use error::{AppError, AppResult};
pub use scope::{Scope, UnitCode};

/// Security settings that operators may tune; defaults follow MLPS 2.0 level 3.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Cheap argon2 parameters (tests only).
    pub cheap_hashing: bool,
    /// Mark cookies `Secure` (set when served behind HTTPS).
    pub secure_cookies: bool,
    pub idle_timeout_ms: Millis,
    pub lockout_threshold: i64,
    pub lockout_ms: Millis,
}

impl Default for Settings {
    fn default() -> Self {
        Self { cheap_hashing: false, secure_cookies: false, idle_timeout_ms: 30 * clock::MINUTE, lockout_threshold: 5, lockout_ms: 30 * clock::MINUTE }
    }
}

/// Shared state handed to every handler.
#[derive(Clone)]
pub struct Platform {
    pub db: Db,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    pub metrics: Arc<metrics::Metrics>,
    /// Field encryption and blind index for personal data.
    pub cipher: Arc<crypto::FieldCipher>,
}

impl Platform {
    pub fn new(db: Db, clock: SharedClock, settings: Settings, cipher: crypto::FieldCipher) -> Self {
        Self { db, clock, settings: Arc::new(settings), metrics: Arc::new(metrics::Metrics::default()), cipher: Arc::new(cipher) }
    }
    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }
}
