//! JSON API: the smart-bin intake for garbage-sorting points (bearer token, idempotent by the bin's
//! message id), the caller's own volunteer summary, and the T06/T22 indicators of a unit.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use platform::auth::Permission;
use platform::scope::UnitCode;
use platform::web::Auth;
use platform::{AppError, AppResult, Platform};

use crate::model::{AccountKind, Currency};
use crate::{service, store};

#[derive(Deserialize)]
pub struct BinEvent {
    message_id: String,
    household_id: String,
    rule_code: String,
    occurred_ms: Option<i64>,
    weight_g: Option<i64>,
    #[serde(default)]
    bin_id: String,
}

/// 201 with the award a new message made; 200 with the same award for a retried message.
pub async fn bin_event(State(p): State<Platform>, Auth(me): Auth, Json(b): Json<BinEvent>) -> AppResult<Response> {
    let evidence = format!("智能垃圾箱 {} 称重 {} 克", b.bin_id, b.weight_g.unwrap_or(0));
    let (id, created) = service::bin_award(&p, &me, &b.message_id, &b.household_id, &b.rule_code, b.occurred_ms.unwrap_or_else(|| p.now()), &evidence).await?;
    let a = store::award(&p.db, &id).await?.ok_or_else(AppError::not_found)?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"award_id": a.id, "household_id": a.household_id, "points": a.points, "state": a.state, "created": created}))).into_response())
}

/// The caller's volunteer record: number, stars, final minutes, time-bank balance.
pub async fn me(State(p): State<Platform>, Auth(me): Auth) -> AppResult<Json<serde_json::Value>> {
    let v = service::me_volunteer(&p, &me).await?;
    let minutes = store::final_minutes(&p.db, &v.id, p.now()).await?;
    let balance = store::find_account(&p.db, Currency::Minutes, AccountKind::Person, &v.person_id).await?.map(|a| a.balance).unwrap_or(0);
    Ok(Json(
        json!({"id": v.id, "volunteer_no": v.volunteer_no, "name": v.name, "unit_code": v.unit_code, "stars": v.stars, "final_minutes": minutes, "time_balance_minutes": balance}),
    ))
}

#[derive(Deserialize)]
pub struct UnitQuery {
    unit: String,
}

/// T06 registration rate and T22 station coverage for a unit in the caller's scope.
pub async fn indicators(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<UnitQuery>) -> AppResult<Json<serde_json::Value>> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let code = UnitCode::parse(&q.unit).map_err(|_| AppError::bad_request("unit.bad_code", "单位代码无效").at_field("unit"))?;
    if !scope.contains(&code) {
        return Err(AppError::not_found());
    }
    let t06 = service::registration_rate(&p.db, &code).await?;
    let t22 = service::station_coverage(&p.db, &code).await?;
    Ok(Json(json!({"unit": code.as_str(), "T06": t06, "T22": t22})))
}
