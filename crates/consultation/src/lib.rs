//! 议事协商与表决: consultations (topics, discussion, meetings with attendance and quorum, minutes,
//! decisions, the 四议两公开 template), ballots that hold up in law (民法典第二百七十八条 for
//! owners, 村民会议 and 村民代表会议 for villages, custom rules) with rolls frozen from the registers,
//! one vote per voter across channels, secret ballots with receipts and archived results; and
//! 村务公开 with its calendar and escalation of missed publications to the township.

pub mod api;
pub mod demo;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;

use axum::Router;
use axum::routing::{get, post};
use platform::web::AppState;

pub use service::{check_deadlines, spawn_jobs};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/consultation", get(pages::home))
        .route("/consultation/print.css", get(pages::print_css))
        .route("/consultation/ballots", post(pages::ballot_create))
        .route("/consultation/ballots/new", get(pages::ballot_new))
        .route("/consultation/ballots/{id}", get(pages::ballot_show))
        .route("/consultation/ballots/{id}/open", post(pages::ballot_open))
        .route("/consultation/ballots/{id}/vote", post(pages::ballot_vote))
        .route("/consultation/ballots/{id}/close", post(pages::ballot_close))
        .route("/consultation/ballots/{id}/owners", post(pages::ballot_owner))
        .route("/consultation/ballots/{id}/representatives", post(pages::ballot_representative))
        .route("/consultation/ballots/{id}/result", get(pages::ballot_result))
        .route("/consultation/ballots/{id}/receipt", get(pages::ballot_receipt))
        .route("/consultation/topics", post(pages::topic_create))
        .route("/consultation/topics/{id}", get(pages::topic_show))
        .route("/consultation/topics/{id}/post", post(pages::topic_post))
        .route("/consultation/topics/{id}/step", post(pages::topic_step))
        .route("/consultation/topics/{id}/meetings", post(pages::meeting_create))
        .route("/consultation/topics/{id}/meetings/{mid}", post(pages::meeting_update))
        .route("/consultation/topics/{id}/meetings/{mid}/attendance", get(pages::meeting_attendance))
        .route("/consultation/topics/{id}/meetings/{mid}/arrive", post(pages::meeting_arrive))
        .route("/consultation/meeting.js", get(pages::meeting_js))
        .route("/consultation/affairs", get(pages::affairs).post(pages::affair_create))
        .route("/consultation/affairs/check", post(pages::affairs_check))
        .route("/consultation/affairs/{id}/publish", post(pages::affair_publish))
        .route("/consultation/power/{unit}", get(pages::power).post(pages::power_add))
        .route("/consultation/power/{unit}/{item}", post(pages::power_change))
        .route("/consultation/representatives/{unit}", get(pages::representatives).post(pages::representative_add))
        .route("/consultation/representatives/{unit}/{person}/retire", post(pages::representative_retire))
        .route("/public/affairs/{unit}", get(pages::public_affairs))
        .route("/api/v1/ballots/{id}/result", get(api::result))
}
