//! Demo data for this slice, marked 演示数据.

use platform::{AppResult, Platform};

/// Seeds the slice's demo data once; returns whether anything was added.
pub async fn seed(_p: &Platform) -> AppResult<bool> {
    Ok(false)
}
