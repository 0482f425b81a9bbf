//! Open311 GeoReport v2 at `/open311/v2`. (Being built.)

use axum::Router;
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
