//! JSON API under `/api/v1/units`, scoped exactly like the pages. Documented in the binary's
//! OpenAPI document.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use platform::auth::Permission;
use platform::web::Auth;
use platform::{AppError, AppResult, Platform};

use crate::model::Unit;
use crate::pages::{parse_as_of, parse_code, visible_unit};
use crate::store::{self, ChildRow, LineageRow, Population};

#[derive(Deserialize)]
pub struct ListQuery {
    parent: Option<String>,
    q: Option<String>,
    as_of: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

#[derive(Serialize)]
pub struct Page<T> {
    items: Vec<T>,
    total: i64,
    page: i64,
    per_page: i64,
}

/// Lists units: the children of `parent`, or a name search with `q`, or (with neither) the units at
/// the top of the caller's scope.
pub async fn list(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<ListQuery>) -> AppResult<Json<serde_json::Value>> {
    let scope = me.require(Permission::ViewUnits)?;
    let (as_of, _) = parse_as_of(&p, q.as_of.as_deref())?;
    let per_page = q.per_page.unwrap_or(50);
    if !(1..=500).contains(&per_page) {
        return Err(AppError::bad_request("request.bad_per_page", "per_page 须在 1–500 之间").at_field("per_page"));
    }
    let page = q.page.unwrap_or(1).max(1);
    let offset = (page - 1) * per_page;
    let text = q.q.unwrap_or_default();
    let body = if let Some(parent) = q.parent.as_deref() {
        let parent = parse_code(parent)?;
        // A parent above the caller's scope is allowed: its children come back filtered to the scope.
        if !(scope.contains(&parent) || scope.is_ancestor_of_scope(&parent)) || store::get(&p.db, parent.as_str()).await?.is_none() {
            return Err(AppError::not_found());
        }
        let (items, total) = store::children(&p.db, &parent, &scope, &text, as_of, per_page, offset).await?;
        serde_json::to_value(Page::<ChildRow> { items, total, page, per_page })
    } else if !text.trim().is_empty() {
        let (items, total) = store::search(&p.db, &scope, &text, as_of, per_page, offset).await?;
        serde_json::to_value(Page::<Unit> { items, total, page, per_page })
    } else {
        let mut items = Vec::new();
        for r in scope.roots() {
            if let Some(u) = store::get(&p.db, r.as_str()).await? {
                items.push(u);
            }
        }
        let total = items.len() as i64;
        serde_json::to_value(Page::<Unit> { items, total, page: 1, per_page })
    };
    Ok(Json(body.map_err(AppError::internal)?))
}

#[derive(Serialize)]
pub struct UnitDetail {
    #[serde(flatten)]
    unit: Unit,
    ancestors: Vec<Unit>,
    counts: std::collections::BTreeMap<String, i64>,
    population: Option<Population>,
    lineage: Vec<LineageRow>,
}

/// One unit with its ancestors, counts of units below it by kind, population and reform history.
pub async fn get(State(p): State<Platform>, Auth(me): Auth, Path(code): Path<String>, Query(q): Query<ListQuery>) -> AppResult<Json<UnitDetail>> {
    let (unit, code, _) = visible_unit(&p, &me, &code).await?;
    let (as_of, _) = parse_as_of(&p, q.as_of.as_deref())?;
    let counts = store::counts_by_kind(&p.db, &code, as_of).await?.into_iter().collect();
    let ancestors = store::ancestors(&p.db, &code).await?;
    let population = store::population(&p.db, &unit.code).await?;
    let lineage = store::lineage(&p.db, &unit.code).await?;
    Ok(Json(UnitDetail { unit, ancestors, counts, population, lineage }))
}
