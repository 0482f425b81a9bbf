//! JSON API of the event loop, for the grid workers' phones and for other systems: report with an
//! `Idempotency-Key` header (a retried request never makes a second event), list, read, act.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use platform::clock::format_beijing;
use platform::web::Auth;
use platform::{AppError, AppResult, Platform};

use crate::model::{Action, WorkCalendar};
use crate::service::{self, ActInput, Report};
use crate::store::{self, EventFilter, EventRow};

fn to_json(e: &EventRow) -> Value {
    let deadline = e.stage_limit().deadline(WorkCalendar::official(), e.stage_started_ms);
    json!({
        "id": e.id, "event_no": e.event_no, "type_code": e.type_code, "title": e.title, "description": e.description,
        "urgency": e.urgency, "state": e.state, "state_label": e.state().label(), "light": e.light,
        "unit_code": e.unit_code, "handling_unit": e.handling_unit, "department_id": e.department_id,
        "lon": e.lon_e6.map(|x| x as f64 / 1e6), "lat": e.lat_e6.map(|x| x as f64 / 1e6), "address": e.address,
        "source": e.source, "created": format_beijing(e.created_ms), "created_ms": e.created_ms,
        "stage_deadline_ms": deadline, "escalations": e.escalations, "reworks": e.reworks,
        "closed_reason": e.closed_reason, "satisfaction": e.satisfaction, "version": e.version,
    })
}

#[derive(Deserialize)]
pub struct NewReport {
    type_code: String,
    unit: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    address: String,
    lon: Option<f64>,
    lat: Option<f64>,
    #[serde(default)]
    crs: String,
    #[serde(default)]
    anonymous: bool,
}

/// 201 with the new event, or 200 with the event an earlier identical request made.
pub async fn create(State(p): State<Platform>, Auth(me): Auth, headers: HeaderMap, Json(b): Json<NewReport>) -> AppResult<Response> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let r = Report {
        type_code: b.type_code,
        title: b.title,
        description: b.description,
        urgency: b.urgency.unwrap_or_else(|| "一般".into()),
        unit: b.unit,
        address: b.address,
        lon: b.lon,
        lat: b.lat,
        crs: b.crs,
        anonymous: b.anonymous,
        idem_key: key,
        source: "接口上报".into(),
        subject: None,
        house: None,
    };
    let done = service::report(&p, &me, r, Vec::new()).await?;
    let created = done.created;
    let e = match done.row {
        Some(row) => row,
        None => store::reported_by(&p.db, &done.id, &me.username).await?.ok_or_else(AppError::not_found)?,
    };
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(to_json(&e))).into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    light: Option<String>,
    open: Option<bool>,
    q: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

pub async fn list(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<ListQuery>) -> AppResult<Json<Value>> {
    let (scope, deps) = service::visibility(&p, &me).await?;
    let per_page = q.per_page.unwrap_or(50);
    if !(1..=500).contains(&per_page) {
        return Err(AppError::bad_request("request.bad_per_page", "per_page 须在 1–500 之间").at_field("per_page"));
    }
    let page = q.page.unwrap_or(1).max(1);
    let f = EventFilter { state: q.state, light: q.light, open_only: q.open.unwrap_or(false), q: q.q, ..Default::default() };
    let (rows, total) = store::list(&p.db, &scope, &deps, &f, per_page, (page - 1) * per_page).await?;
    Ok(Json(json!({"items": rows.iter().map(to_json).collect::<Vec<_>>(), "total": total, "page": page, "per_page": per_page})))
}

pub async fn get(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Json<Value>> {
    let (scope, deps) = service::visibility(&p, &me).await?;
    let e = store::get(&p.db, &scope, &deps, &id).await?.ok_or_else(AppError::not_found)?;
    let steps = store::steps(&p.db, &e.id).await?;
    let mut v = to_json(&e);
    v["steps"] = json!(
        steps
            .iter()
            .map(|s| json!({"at": format_beijing(s.at_ms), "action": s.action, "actor": s.actor, "to_state": s.to_state, "note": s.note}))
            .collect::<Vec<_>>()
    );
    v["actions"] = json!(service::available(&me, &e, &deps, &steps).iter().map(|a| a.as_str()).collect::<Vec<_>>());
    Ok(Json(v))
}

#[derive(Deserialize)]
pub struct ActBody {
    action: String,
    version: i64,
    #[serde(default)]
    note: String,
    department: Option<String>,
    reason: Option<String>,
    satisfaction: Option<String>,
    extension_days: Option<i64>,
    merge_into: Option<String>,
    lon: Option<f64>,
    lat: Option<f64>,
}

/// One action with the version the client last saw (409 `event.stale` if someone moved first).
pub async fn act(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Json(b): Json<ActBody>) -> AppResult<Json<Value>> {
    let action = Action::parse(&b.action).ok_or_else(|| AppError::bad_request("event.bad_action", "未知操作").at_field("action"))?;
    let input = ActInput {
        note: b.note,
        department: b.department,
        reason: b.reason,
        satisfaction: b.satisfaction,
        extension_days: b.extension_days,
        merge_into: b.merge_into,
        lon: b.lon,
        lat: b.lat,
    };
    let e = service::act(&p, &me, &id, action, b.version, input).await?;
    Ok(Json(to_json(&e)))
}
