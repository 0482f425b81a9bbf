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
        .route("/indicators/reports", get(pages::reports_page).post(pages::report_submit).layer(DefaultBodyLimit::max(service::MAX_EVIDENCE_BYTES + 1024 * 1024)))
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

/// Base64 for evidence files stored in the database (no third-party crate for twenty lines).
pub(crate) mod b64 {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for c in data.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            out.push(T[(n >> 18) as usize & 63] as char);
            out.push(T[(n >> 12) as usize & 63] as char);
            out.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
            out.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
        }
        out
    }
    pub fn decode(s: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len() / 4 * 3);
        let (mut buf, mut bits) = (0u32, 0);
        for b in s.bytes() {
            let Some(v) = T.iter().position(|&t| t == b) else { continue };
            buf = buf << 6 | v as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn round_trip() {
            for s in [&b""[..], b"a", b"ab", b"abc", b"%PDF-1.4\n\x00\xff"] {
                assert_eq!(super::decode(&super::encode(s)), s);
            }
        }
    }
}
