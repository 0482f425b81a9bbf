//! 志愿服务、时间银行、积分银行: volunteers with their statutory service records and stars, the time
//! bank as a double-entry ledger of minutes, and the village points bank with its rules, awards,
//! monthly publication and shop.

pub mod demo;
pub mod model;

use axum::Router;
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
