//! 人房车商事物: the base registers — people (实有人口), households, houses, compounds' attributes,
//! vehicles, organisations, facilities and workforce — with privacy built in: ID numbers and phones
//! encrypted at rest, found by blind index, shown masked everywhere, unmasked only for a stated and
//! audited purpose, and shared with departments only through their sharing lists.

pub mod api;
/// Facility positions for the coverage slice.
pub mod coverage_inputs;
pub mod demo;
pub mod identity;
pub mod import;
/// Public lookups for the volunteers slice (real-name checks through the blind index).
pub mod lookup;
/// Aggregates per unit for the indicators slice.
pub mod measures;
pub mod model;
pub mod pages;
/// Public reads for the consultation slice (owner rolls from the house register, electorates).
pub mod roll;
pub mod sharing;
pub mod simple_import;
pub mod store;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use platform::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/registry", get(pages::registry_root))
        .route("/registry/{unit}/people", get(pages::people_page))
        .route("/registry/{unit}/people/export.csv", get(pages::export_csv))
        .route("/registry/{unit}/people/export.xlsx", get(pages::export_xlsx))
        .route("/registry/{unit}/import", get(pages::import_page).post(pages::import_upload).layer(DefaultBodyLimit::max(import::MAX_FILE_BYTES + 1024 * 1024)))
        .route("/registry/{unit}/{kind}", get(pages::simple_page))
        .route(
            "/registry/{unit}/{kind}/import",
            get(pages::simple_import_page).post(pages::simple_import_upload).layer(DefaultBodyLimit::max(import::MAX_FILE_BYTES + 1024 * 1024)),
        )
        .route("/registry/{unit}/{kind}/{file}", get(simple_csv_route))
        .route("/registry/people/{id}", get(pages::person_page))
        .route("/registry/houses/{id}", get(pages::house_page))
        .route("/registry/people/{id}/unmask", post(pages::unmask_submit))
        .route("/registry/people/{id}/status", post(pages::leave_submit))
        .route("/registry/people/{id}/tags", post(pages::tags_submit))
        .route("/registry/people/{id}/identity", post(pages::identity_bind_submit))
        .route("/registry/people/{id}/identity/revoke", post(pages::identity_revoke_submit))
        .route("/me/identity", get(pages::my_identity))
        .route("/registry/imports/{batch}", get(pages::import_status))
        .route("/registry/imports/{batch}/commit", post(pages::import_commit))
        .route("/registry/template/{file}", get(pages::template))
        .route("/admin/sharing", get(pages::sharing_page).post(pages::sharing_add))
        .route("/admin/sharing/{id}/delete", post(pages::sharing_delete))
        .route("/api/v1/registry/people", get(api::people))
        .route("/api/v1/registry/people/{id}/unmask", post(api::unmask_api))
        .route("/api/v1/shared/people", get(api::shared_people))
}

/// `/registry/{unit}/{kind}/export.csv`.
async fn simple_csv_route(
    state: axum::extract::State<platform::Platform>,
    auth: platform::web::Auth,
    axum::extract::Path((unit, kind, file)): axum::extract::Path<(String, String, String)>,
    q: axum::extract::Query<pages::SimpleQuery>,
) -> platform::AppResult<axum::response::Response> {
    if file != "export.csv" {
        return Err(platform::AppError::not_found());
    }
    pages::simple_csv(state, auth, axum::extract::Path((unit, kind)), q).await
}
