//! Device alarms over MQTT and an HTTP webhook. (Being built.)

use axum::Router;
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
