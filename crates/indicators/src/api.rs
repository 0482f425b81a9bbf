//! JSON API: the definitions, and one indicator's values for a unit and its children, live or from
//! a month's snapshot.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use platform::web::Auth;
use platform::{AppError, AppResult, Platform};

use crate::compute::level_of;
use crate::model::{self, Indicator, Period};
use crate::pages;

fn def_json(i: &Indicator) -> Value {
    json!({
        "id": i.id, "source": i.source, "area": i.area, "name": i.name, "name_en": i.name_en, "unit": i.unit,
        "target_2022": i.target_2022, "target_2025": i.target_2025, "attribute": i.attribute, "attribute_label": i.attribute.label(),
        "applies_to": i.applies_to, "direction": i.direction, "formula": i.formula, "formula_text": i.formula.describe(),
        "data_source": i.formula.source().label(), "has_source": i.formula.has_source(),
    })
}

pub async fn definitions(Auth(me): Auth) -> AppResult<Json<Value>> {
    me.require(platform::auth::Permission::ViewUnits)?;
    Ok(Json(json!({ "indicators": model::indicators().iter().map(def_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
pub struct ValuesQuery {
    unit: Option<String>,
    period: Option<String>,
}

pub async fn values(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Query(q): Query<ValuesQuery>) -> AppResult<Json<Value>> {
    let ind = model::find(&id).ok_or_else(AppError::not_found)?;
    let (root, _) = pages::resolve(&p, &me, q.unit.as_deref()).await?;
    let period = match q.period.as_deref().map(str::trim).filter(|s| !s.is_empty() && *s != "live") {
        None => None,
        Some(s) => Some(
            Period::parse(s)
                .filter(|x| x.as_str().len() == 7)
                .ok_or_else(|| AppError::bad_request("indicators.bad_period", "period 应形如 2026-05").at_field("period"))?,
        ),
    };
    let v = pages::view(&p, &root, period.clone()).await?;
    let one = |code: &str, name: &str| {
        let c = v.cell(&ind, code);
        json!({
            "unit_code": code, "unit_name": name, "level": level_of(code),
            "numerator": c.fraction.map(|f| f.num), "denominator": c.fraction.and_then(|f| f.den),
            "value": c.value, "status": c.status.as_str(), "status_label": c.status.label(),
        })
    };
    Ok(Json(json!({
        "indicator": def_json(&ind),
        "period": period.as_ref().map(|x| x.as_str().to_owned()),
        "computed": if period.is_some() { "snapshot" } else { "live" },
        "target": ind.target_for(v.year),
        "unit": one(&v.root.code, &v.root.name),
        "children": v.children.iter().map(|c| one(&c.code, &c.name)).collect::<Vec<_>>(),
    })))
}
