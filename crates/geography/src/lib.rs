//! 治理空间一张网: the governance geography. Units from the city down to compounds (小区) and grids
//! (网格), coded by the statistical division codes, with their reform history (撤并/拆分) and "as of"
//! queries, county boundaries for the server-drawn map, and community scale checks.
//!
//! Other slices ask this crate about units through its functions (and the platform through
//! [`Directory`]); none reads its tables.

pub mod api;
pub mod demo;
pub mod geo;
pub mod import;
/// Aggregates per unit for the indicators slice.
pub mod measures;
pub mod model;
pub mod pages;
pub mod store;

use axum::Router;
use axum::routing::get;
use platform::Db;
use platform::db::DbResult;
use platform::scope::UnitCode;
use platform::web::{AppState, BoxFuture, UnitDirectory};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/units", get(pages::units_root))
        .route("/units/search", get(pages::search_page))
        .route("/units/{code}", get(pages::unit_page))
        .route("/units/{code}/industrial-park", axum::routing::post(pages::industrial_park))
        .route("/units/{code}/children.csv", get(pages::children_csv))
        .route("/api/v1/units", get(api::list))
        .route("/api/v1/units/{code}", get(api::get))
}

/// The platform's view of units.
pub struct Directory;

impl UnitDirectory for Directory {
    fn name_of<'a>(&'a self, db: &'a Db, code: &'a UnitCode) -> BoxFuture<'a, DbResult<Option<String>>> {
        Box::pin(async move { Ok(store::get(db, code.as_str()).await?.filter(|u| u.valid_to.is_none()).map(|u| u.name)) })
    }
}
