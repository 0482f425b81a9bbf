//! 服务资源一幅地图: the service-resource map. Life-circle rules as data (GB 50180-2018 tiers, the
//! plan's childcare 500 m, rural 15 minutes by bicycle, 十里文化圈, one-hour legal aid); the
//! network distance from every residential building to the nearest facility of each category,
//! computed by `walknet` on a real OSM road network; roll-ups per unit; gaps and candidate sites.

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
        .route("/coverage", get(pages::map))
        .route("/coverage/table", get(pages::table))
        .route("/coverage/table.csv", get(pages::table_csv))
        .route("/coverage/compliance", get(pages::compliance))
        .route("/coverage/rules", get(pages::rules_page))
        .route("/coverage/rules/{id}", post(pages::rule_update))
}
