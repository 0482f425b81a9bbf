//! JSON API of the registers. Staff (by role) get masked records and may unmask one record for a
//! stated purpose; departments and systems (by sharing list) get exactly the fields listed for them.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use platform::auth::Permission;
use platform::scope::UnitCode;
use platform::web::Auth;
use platform::{AppError, AppResult, Platform};

use crate::pages::{PeopleQuery, people_filter, person_rows, unit_ctx, unmask};
use crate::{sharing, store};

#[derive(Deserialize)]
pub struct ListQuery {
    unit: Option<String>,
    q: Option<String>,
    tag: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

fn paging(page: Option<i64>, per_page: Option<i64>) -> AppResult<(i64, i64)> {
    let per_page = per_page.unwrap_or(50);
    if !(1..=500).contains(&per_page) {
        return Err(AppError::bad_request("request.bad_per_page", "per_page 须在 1–500 之间").at_field("per_page"));
    }
    Ok((page.unwrap_or(1).max(1), per_page))
}

/// People in a unit's subtree, identifiers masked.
pub async fn people(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<ListQuery>) -> AppResult<Json<Value>> {
    let scope = me.require(Permission::ViewRegisters)?;
    let unit = q.unit.clone().or_else(|| scope.roots().first().map(|c| c.to_string())).unwrap_or_default();
    let u = unit_ctx(&p, &me, &unit, Permission::ViewRegisters).await?;
    let (page, per_page) = paging(q.page, q.per_page)?;
    let f = people_filter(&p, &PeopleQuery { q: q.q, tag: q.tag, ..Default::default() });
    let (rows, total) = store::people(&p.db, &u.code, &u.scope, &f, per_page, (page - 1) * per_page).await?;
    let items: Vec<Value> = person_rows(&p, rows)
        .await?
        .into_iter()
        .map(|r| json!({"id": r.id, "name": r.name, "sex": r.sex, "age": r.age.parse::<i64>().ok(), "id_masked": r.id_masked, "phone_masked": r.phone_masked, "residence_kind": r.kind, "unit_code": r.unit, "tags": r.tags, "synthetic": r.synthetic}))
        .collect();
    Ok(Json(json!({"items": items, "total": total, "page": page, "per_page": per_page})))
}

#[derive(Deserialize)]
pub struct UnmaskBody {
    purpose: String,
    #[serde(default)]
    note: String,
}

/// Full ID number and phone of one person, for a purpose; audited.
pub async fn unmask_api(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Json(b): Json<UnmaskBody>) -> AppResult<Json<Value>> {
    let (person, id_full, phone_full) = unmask(&p, &me, &id, &b.purpose, &b.note).await?;
    Ok(Json(
        json!({"id": person.id, "name": person.name, "id_number": id_full, "phone": if phone_full.is_empty() { Value::Null } else { Value::from(phone_full) }, "purpose": b.purpose.trim()}),
    ))
}

/// 共享接口: what the caller's sharing list allows, for one unit, with the purpose on record.
pub async fn shared_people(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<ListQuery>) -> AppResult<Json<Value>> {
    let all = store::sharing_rules(&p.db, Some(&me.username)).await?;
    let default_unit = all.iter().find(|r| r.register == "people").map(|r| r.unit_code.clone());
    let unit = q.unit.clone().or(default_unit).ok_or_else(denied)?;
    let unit = UnitCode::parse(&unit).map_err(|e| AppError::bad_request("unit.bad_code", e.to_string()).at_field("unit"))?;
    let rules = sharing::grants_for(&p.db, &me.username, "people", &unit).await?;
    if rules.is_empty() {
        platform::audit::record_alone(
            &p.db,
            p.now(),
            &platform::audit::Event {
                actor: &me.actor(),
                unit: Some(unit.as_str()),
                action: "sharing.read",
                target: "people",
                outcome: platform::audit::Outcome::Denied,
                detail: "not on the sharing list",
            },
        )
        .await?;
        return Err(denied());
    }
    let mut fields: Vec<&str> = Vec::new();
    for r in &rules {
        for f in r.fields.split(',') {
            if let Some((k, _)) = sharing::PEOPLE_FIELDS.iter().find(|(k, _)| *k == f)
                && !fields.contains(k)
            {
                fields.push(k);
            }
        }
    }
    let (page, per_page) = paging(q.page, q.per_page)?;
    let scope = platform::Scope::new(vec![unit.clone()]);
    let (rows, total) = store::people(&p.db, &unit, &scope, &store::PeopleFilter::default(), per_page, (page - 1) * per_page).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let tags = if fields.contains(&"tags") { store::tags_of(&p.db, &r.id).await? } else { Vec::new() };
        items.push(Value::Object(sharing::project(r, &tags, &fields, &p.cipher)));
    }
    sharing::audit_read(&p.db, p.now(), &me.actor(), &unit, &rules, &fields, items.len()).await?;
    let purposes: Vec<&str> = rules.iter().map(|r| r.purpose.as_str()).collect();
    Ok(Json(json!({"items": items, "total": total, "page": page, "per_page": per_page, "fields": fields, "purpose": purposes})))
}

fn denied() -> AppError {
    AppError::new(axum::http::StatusCode::FORBIDDEN, "sharing.denied", "该数据未列入贵单位的共享清单，不能读取")
}
