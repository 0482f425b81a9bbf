//! 规划指标、一屏掌控、社区画像: the targets of the 十四五 community-governance plan as indicator
//! definitions (data/plan-targets.csv), computed live for every unit from the other slices' public
//! measures, rolled up from numerators and denominators; 填报 for what no register holds, with
//! review by the level above; monthly snapshots; the one-screen dashboard; the community portrait;
//! assessment scoring.

pub mod api;
pub mod compute;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/indicators", get(pages::dashboard))
        .route("/indicators/indicators.css", get(pages::stylesheet))
        .route("/indicators/report.xlsx", get(pages::report_xlsx))
        .route("/indicators/snapshots", post(pages::snapshot_now))
        .route(
            "/indicators/reports",
            get(pages::reports_page).post(pages::report_submit).layer(DefaultBodyLimit::max(service::MAX_EVIDENCE_BYTES + 1024 * 1024)),
        )
        .route("/indicators/reports/{id}/review", post(pages::report_review))
        .route("/indicators/reports/{id}/evidence", get(pages::evidence))
        .route("/indicators/assessment", get(pages::assessment).post(pages::scheme_add))
        .route("/indicators/assessment.xlsx", get(pages::assessment_xlsx))
        .route("/indicators/portrait/{unit}", get(pages::portrait))
        .route("/indicators/{id}", get(pages::indicator_page))
        .route("/api/v1/indicators", get(api::definitions))
        .route("/api/v1/indicators/{id}/values", get(api::values))
}

/// The snapshot job of a serving process: once an hour, take the current month's snapshot if the
/// last one is more than a day old. All state is in the database, so a restart simply resumes.
pub fn spawn_jobs(p: platform::Platform) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match service::snapshot_if_due(&p).await {
                Ok(Some(n)) => tracing::info!(rows = n, "indicator snapshot taken"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "indicator snapshot failed"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    })
}

/// Demo content: approved 填报 values marked 演示数据 and the current month's snapshot.
pub async fn seed_demo(p: &platform::Platform) -> platform::AppResult<bool> {
    service::seed_demo(p).await
}
