//! 一网统管: the event loop. 网格发现、社区呼叫、分级响应、协同处置 — events are reported by grid
//! workers, staff and residents, handled at the lowest level (属地), timed in working hours on China's
//! holiday calendar, escalated one level at red, and evaluated by the people who reported them.
//! 街道吹哨、部门报到: a street summons departments, which must sign in within a limit.

pub mod alarms;
pub mod api;
/// Aggregates per unit for the indicators slice.
pub mod measures;
pub mod model;
pub mod open311;
pub mod pages;
pub mod service;
pub mod store;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(pages::list))
        .route("/events/new", get(pages::new_form).post(pages::new_submit).layer(DefaultBodyLimit::max(3 * pages::MAX_PHOTO_BYTES + 1024 * 1024)))
        .route("/events/catalogue", get(pages::catalogue))
        .route("/events/catalogue/{code}", post(pages::catalogue_update))
        .route("/events/routing", post(pages::rule_add))
        .route("/events/routing/{id}/delete", post(pages::rule_delete))
        .route("/events/metrics", get(pages::metrics))
        .route("/events/metrics.csv", get(pages::metrics_csv))
        .route("/events/metrics.xlsx", get(pages::metrics_xlsx))
        .route("/events/attachments/{id}", get(pages::attachment))
        .route("/events/whistles/{id}/report-in", post(pages::report_in))
        .route("/events/{id}", get(pages::show))
        .route("/events/{id}/act", post(pages::act))
        .route("/events/{id}/whistle", post(pages::whistle))
        .route("/api/v1/events", get(api::list).post(api::create))
        .route("/api/v1/events/{id}", get(api::get))
        .route("/api/v1/events/{id}/actions", post(api::act))
        .merge(open311::router())
        .merge(alarms::router())
}

/// The background loop of a serving process: every minute, turn lights and escalate, then deliver
/// pending notifications. Runs on the injected clock, so restarts simply resume where the data is.
pub fn spawn_jobs(p: platform::Platform, webhook: Option<service::WebhookNotifier>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let cal = model::WorkCalendar::official();
        let notifier = service::Notifiers { webhook };
        loop {
            if let Err(e) = service::sweep(&p, cal).await {
                tracing::error!(error = %e, "event sweep failed");
            }
            if let Err(e) = service::deliver(&p, &notifier).await {
                tracing::error!(error = %e, "outbox delivery failed");
            }
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    })
}

/// What the event loop holds about a person or a house, for the registers' pages.
pub struct Related;

/// Events as entries of a register page's 关联记录 list.
fn related_items(events: Vec<store::EventRow>) -> Vec<platform::web::RelatedItem> {
    events
        .into_iter()
        .map(|e| platform::web::RelatedItem {
            href: format!("/events/{}", e.id),
            label: format!("事件 {} {}", e.event_no, e.title),
            detail: format!("{}，{}，{}", e.source, e.state().label(), platform::clock::format_beijing(e.created_ms)),
        })
        .collect()
}

impl platform::web::RelatedDirectory for Related {
    fn about_person<'a>(
        &'a self,
        db: &'a platform::Db,
        person_id: &'a str,
    ) -> platform::web::BoxFuture<'a, platform::db::DbResult<Vec<platform::web::RelatedItem>>> {
        Box::pin(async move { Ok(related_items(store::about_person(db, person_id).await?)) })
    }

    fn about_house<'a>(
        &'a self,
        db: &'a platform::Db,
        house_id: &'a str,
    ) -> platform::web::BoxFuture<'a, platform::db::DbResult<Vec<platform::web::RelatedItem>>> {
        Box::pin(async move { Ok(related_items(store::about_house(db, house_id).await?)) })
    }
}
