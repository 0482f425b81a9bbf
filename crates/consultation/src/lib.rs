//! Slice skeleton: routes and demo data are filled in by the slice's own work.

pub mod demo;
pub mod model;

use axum::Router;
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
