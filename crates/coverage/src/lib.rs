//! 服务资源一幅地图: the service-resource map. Life-circle rules as data (GB 50180-2018 tiers, the
//! plan's childcare 500 m, rural 15 minutes by bicycle, 十里文化圈, one-hour legal aid); the
//! network distance from every residential building to the nearest facility of each category,
//! computed by `walknet` on a real OSM road network; roll-ups per unit; gaps and candidate sites.

pub mod demo;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;
pub mod upload;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/coverage", get(pages::map))
        .route("/coverage/coverage.css", get(pages::stylesheet))
        .route("/coverage/table", get(pages::table))
        .route("/coverage/table.csv", get(pages::table_csv))
        .route("/coverage/table.xlsx", get(pages::table_xlsx))
        .route("/coverage/compliance", get(pages::compliance))
        .route(
            "/coverage/buildings",
            get(pages::buildings).post(pages::buildings_import).layer(DefaultBodyLimit::max(registry::import::MAX_FILE_BYTES + 1024 * 1024)),
        )
        .route("/coverage/buildings/template.csv", get(pages::buildings_template))
        .route("/coverage/network", get(upload::form).post(upload::submit).layer(DefaultBodyLimit::max(upload::MAX_NETWORK_BYTES as usize + 1024 * 1024)))
        .route("/coverage/network/{job}", get(upload::status))
        .route("/coverage/rules", get(pages::rules_page))
        .route("/coverage/rules/{id}", post(pages::rule_update))
        .route("/api/v1/coverage", get(pages::api_summary))
}
