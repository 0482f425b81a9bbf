//! 志愿服务、时间银行、积分银行: volunteers with their statutory service records and stars, the time
//! bank as a double-entry ledger of minutes, and the village points bank with its rules, awards,
//! monthly publication and shop.

pub mod api;
pub mod demo;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;

use axum::Router;
use axum::routing::{get, post};
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/volunteers", get(pages::home))
        .route("/volunteers/register", get(pages::register_form).post(pages::register_submit))
        .route("/volunteers/manage", get(pages::manage))
        .route("/volunteers/orgs", post(pages::org_create))
        .route("/volunteers/activities", post(pages::activity_create))
        .route("/volunteers/activities/{id}", get(pages::activity))
        .route("/volunteers/activities/{id}/signup", post(pages::sign_up))
        .route("/volunteers/scan/{token}", get(pages::scan_page).post(pages::scan_submit))
        .route("/volunteers/records/{id}/confirm", post(pages::record_confirm))
        .route("/volunteers/records/{id}/object", post(pages::record_object))
        .route("/volunteers/records/{id}/resolve", post(pages::record_resolve))
        .route("/volunteers/records/{id}/correct", post(pages::record_correct))
        .route("/volunteers/publication", get(pages::publication))
        .route("/volunteers/me", get(pages::my_record))
        .route("/volunteers/people", get(pages::people).post(pages::assisted_register))
        .route("/volunteers/people/{id}/records", post(pages::manual_record))
        .route("/volunteers/people/{id}", get(pages::person_record))
        .route("/volunteers/people/{id}/notes", post(pages::note_add))
        .route("/volunteers/people/{id}/redeem", post(pages::redeem_for))
        .route("/volunteers/stars/apply", post(pages::star_apply))
        .route("/volunteers/stars/{id}/decide", post(pages::star_decide))
        .route("/volunteers/stars/approvers", post(pages::star_approvers_submit))
        .route("/volunteers/proofs", post(pages::proof_issue))
        .route("/volunteers/proofs/{no}", get(pages::proof))
        .route("/volunteers/timebank", get(pages::timebank))
        .route("/volunteers/timebank/deposit/{id}", post(pages::deposit))
        .route("/volunteers/timebank/redeem", post(pages::redeem))
        .route("/volunteers/timebank/relatives", post(pages::relative_add))
        .route("/volunteers/timebank/give", post(pages::give))
        .route("/volunteers/timebank/config", post(pages::config_submit))
        .route("/volunteers/timebank/services", post(pages::service_add))
        .route("/volunteers/timebank/grants", post(pages::pool_grant))
        .route("/volunteers/points", get(pages::points))
        .route("/volunteers/points/publication", get(pages::points_publication))
        .route("/volunteers/points/rules", post(pages::rules_draft))
        .route("/volunteers/points/rules/{id}/approve", post(pages::rules_approve))
        .route("/volunteers/points/awards", post(pages::award_submit))
        .route("/volunteers/points/awards/{id}/decide", post(pages::award_decide))
        .route("/volunteers/points/awards/{id}/object", post(pages::award_object))
        .route("/volunteers/points/items", post(pages::item_add))
        .route("/volunteers/points/items/{id}/redeem", post(pages::item_redeem))
        .route("/volunteers/points/assisted", post(pages::item_redeem_for))
        .route("/api/v1/volunteers/me", get(api::me))
        .route("/api/v1/volunteers/indicators", get(api::indicators))
        .route("/api/v1/points/bin-events", post(api::bin_event))
}

/// The background loop of a serving process: the time-bank expiry runs every hour (it does nothing
/// unless a county's or the city's rules set a validity, which no preset does).
pub fn spawn_jobs(p: platform::Platform) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match service::expire_hours(&p).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(transfers = n, "time-bank hours past their validity moved to the donation pools"),
                Err(e) => tracing::error!(error = %e, "time-bank expiry failed"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    })
}
