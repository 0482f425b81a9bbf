//! 规划指标、一屏掌控、社区画像: the targets of the 十四五 community-governance plan as indicator
//! definitions (data/plan-targets.csv), computed live for every unit from the other slices' public
//! measures, rolled up from numerators and denominators; 填报 for what no register holds, with
//! review by the level above; monthly snapshots; the one-screen dashboard; the community portrait;
//! assessment scoring.

use axum::Router;
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}

/// The monthly snapshot job of a serving process.
pub fn spawn_jobs(p: platform::Platform) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = p;
    })
}

/// Demo content: snapshots and a few 填报 values marked 演示数据.
pub async fn seed_demo(p: &platform::Platform) -> platform::AppResult<bool> {
    let _ = p;
    Ok(false)
}
