//! The use cases of the event loop: report, act on an event, whistle and sign in, and the sweep that
//! turns lights and escalates. Each writes one transaction with its step and audit records.

use platform::audit::{self, Actor, Event as AuditEvent, Outcome};
use platform::auth::{Permission, Principal, Role};
use platform::db::Value;
use platform::scope::{Level, Scope, UnitCode};
use platform::{AppError, AppResult, Platform, sql};

use crate::model::{self, Action, Light, Limit, LimitUnit, State, Urgency, WorkCalendar};
use crate::store::{self, Attachment, EventRow, NewEvent};

/// Minutes a level has to acknowledge (受理/签收) a 特急 event before it rises to the next level:
/// 市县乡村四级呼叫全响应.
pub const CRITICAL_ACK_MINUTES: i64 = 15;

/// Stage limits other than handling (受理, 派遣, 签收, 核查): in working hours; for 特急 events the
/// acknowledgement stages run in clock minutes, so an unanswered alarm climbs a level every 15 minutes.
pub fn stage_limit(state: State, urgency: Urgency, handling: Limit) -> Limit {
    let short = |h: i64| {
        if urgency == Urgency::Critical {
            Limit { amount: CRITICAL_ACK_MINUTES, unit: LimitUnit::Minutes }
        } else {
            Limit { amount: h, unit: LimitUnit::WorkingHours }
        }
    };
    match state {
        State::Reported | State::Accepted | State::Dispatched => short(2),
        State::Handling => urgency.scale(handling),
        State::FedBack => short(7),
        _ => handling,
    }
}

/// Where the caller sees events: units from their staff roles, events dispatched to their
/// departments, and always their own reports. Residents see only what they reported themselves.
pub async fn visibility(p: &Platform, me: &Principal) -> AppResult<(Scope, Vec<String>)> {
    let roots = me
        .grants
        .iter()
        .filter(|g| !matches!(g.role, Role::DepartmentStaff | Role::Resident))
        .filter(|g| g.role.allows(Permission::ReportEvents) || g.role.allows(Permission::HandleEvents) || g.role.allows(Permission::WorkEvents))
        .map(|g| g.unit.clone())
        .collect();
    let mut departments =
        if me.grants.iter().any(|g| g.role == Role::DepartmentStaff) { store::departments_of(&p.db, &me.username).await? } else { Vec::new() };
    let scope = Scope::new(roots);
    if scope.is_empty() && departments.is_empty() && !me.can(Permission::WorkEvents) && !me.can(Permission::ReportEvents) {
        return Err(AppError::forbidden());
    }
    departments.push(format!("{}{}", store::REPORTER_PREFIX, me.username));
    Ok((scope, departments))
}

#[derive(Default)]
pub struct Report {
    pub type_code: String,
    pub title: String,
    pub description: String,
    pub urgency: String,
    pub unit: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub crs: String,
    pub anonymous: bool,
    pub idem_key: Option<String>,
    pub source: String,
    /// The ID number of a registered person the event concerns (涉及人员), if any.
    pub subject: Option<String>,
    /// The id of a registered house the event concerns (涉及房屋), if any. Checked by [`report`]
    /// against the reporter's registers; a device's house is trusted as registered.
    pub house: Option<String>,
}

/// The city's rough extent in WGS-84, for rejecting coordinates that cannot be in Suining.
const CITY_BBOX: (f64, f64, f64, f64) = (104.95, 30.05, 106.10, 31.15);

/// BD-09 (Baidu) → GCJ-02.
fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    let x_pi = std::f64::consts::PI * 3000.0 / 180.0;
    let (x, y) = (lon - 0.0065, lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * x_pi).sin();
    let theta = y.atan2(x) - 0.000003 * (x * x_pi).cos();
    (z * theta.cos(), z * theta.sin())
}

pub fn to_wgs84(lon: f64, lat: f64, crs: &str) -> AppResult<(f64, f64)> {
    let (lon, lat) = match crs.trim().to_ascii_lowercase().as_str() {
        "" | "wgs84" | "wgs-84" | "epsg:4326" => (lon, lat),
        "gcj02" | "gcj-02" => geography::geo::gcj02_to_wgs84(lon, lat),
        "bd09" | "bd-09" => {
            let (g, t) = bd09_to_gcj02(lon, lat);
            geography::geo::gcj02_to_wgs84(g, t)
        }
        other => return Err(AppError::bad_request("event.bad_crs", format!("坐标系「{other}」不支持，应为 wgs84、gcj02 或 bd09")).at_field("crs")),
    };
    let (x0, y0, x1, y1) = CITY_BBOX;
    if !(x0..=x1).contains(&lon) || !(y0..=y1).contains(&lat) {
        return Err(AppError::bad_request("event.outside_city", "坐标不在遂宁市范围内，请检查经纬度和坐标系").at_field("location"));
    }
    Ok((lon, lat))
}

/// What makes two reports "the same report": type, place, text and coordinates (WGS-84 × 10⁶).
fn same_report_hash(type_code: &str, unit: &str, description: &str, lon_e6: Option<i64>, lat_e6: Option<i64>) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [type_code, unit, description, &lon_e6.map(|v| v.to_string()).unwrap_or_default(), &lat_e6.map(|v| v.to_string()).unwrap_or_default()] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

/// What a report made: the event's id, whether it is new, and the new row as stored (`None` when
/// an earlier event was returned for a retry).
pub struct Reported {
    pub id: String,
    pub created: bool,
    pub row: Option<store::EventRow>,
}

/// 上报. Idempotent by `idem_key`: a retried submission returns the event the first one made.
pub async fn report(p: &Platform, me: &Principal, r: Report, attachments: Vec<Attachment>) -> AppResult<Reported> {
    let scope = me.require(Permission::ReportEvents)?;
    let person = match r.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(idn) => Some(find_person(p, me, idn).await?),
        None => None,
    };
    let mut r = r;
    r.house = match r.house.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(h) => Some(find_house(p, me, h, &r.unit).await?),
        None => None,
    };
    let mut done = report_as(p, &me.actor(), Some(&me.username), &scope, r, attachments).await?;
    if let (Some(person), true) = (person, done.created) {
        p.db.execute(sql!("UPDATE events SET person_id = $1 WHERE id = $2", person.as_str(), done.id.as_str())).await?;
        if let Some(row) = &mut done.row {
            row.person_id = Some(person);
        }
    }
    Ok(done)
}

/// The registered house with this id, if the reporter may see the register there and it lies in
/// the village (community) where the event happens.
async fn find_house(p: &Platform, me: &Principal, house_id: &str, unit: &str) -> AppResult<String> {
    let bad = || AppError::bad_request("event.unknown_house", "涉及房屋须为事发村（社区）内、您管辖范围内已登记的房屋").at_field("house");
    let house = registry::store::house(&p.db, &me.scope(Permission::ViewRegisters), house_id).await?.ok_or_else(bad)?;
    let village = |code: &str| UnitCode::parse(code).ok().map(|u| if u.level() == Level::Cell { u.structural_parent().unwrap_or(u) } else { u });
    match (village(&house.unit_code), village(unit.trim())) {
        (Some(h), Some(e)) if h.as_str().starts_with(e.as_str()) || e.as_str().starts_with(h.as_str()) => Ok(house.id),
        _ => Err(bad()),
    }
}

/// The registered person with this ID number, if the reporter may see the register there.
async fn find_person(p: &Platform, me: &Principal, id_number: &str) -> AppResult<String> {
    let scope = me.scope(Permission::ViewRegisters);
    let bad = || AppError::bad_request("event.unknown_person", "涉及人员须为您管辖范围内已登记的居民（请填写完整身份证号）").at_field("subject");
    let idn = registry::model::IdNumber::parse(id_number, platform::clock::Date::of_instant(p.now())).map_err(|_| bad())?;
    let f = registry::store::PeopleFilter { id_index: Some(p.cipher.blind_index("id", idn.as_str())), include_left: true, ..Default::default() };
    for root in scope.roots() {
        if let Some(person) = registry::store::people(&p.db, root, &scope, &f, 1, 0).await?.0.into_iter().next() {
            return Ok(person.id);
        }
    }
    Err(bad())
}

/// Reports on behalf of someone or something (a signed-in person, an Open311 client, a device):
/// `allowed` is where it may report; `reporter` is who gets told about progress (None for devices).
pub async fn report_as(p: &Platform, actor: &Actor, reporter: Option<&str>, scope: &Scope, r: Report, attachments: Vec<Attachment>) -> AppResult<Reported> {
    let earlier = |id: String| Ok(Reported { id, created: false, row: None });
    let key = r.idem_key.as_deref().filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > 100) {
        return Err(AppError::bad_request("event.bad_idem_key", "幂等键过长").at_field("idem_key"));
    }
    // The same person sending the same report again within ten minutes (a form resubmitted after
    // going back, a second tap) gets the first event, even without an idempotency key.
    let content_hash = {
        let (lon, lat) = match (r.lon, r.lat) {
            (Some(x), Some(y)) => to_wgs84(x, y, &r.crs).map(|(a, b)| (Some((a * 1e6).round() as i64), Some((b * 1e6).round() as i64))).unwrap_or((None, None)),
            _ => (None, None),
        };
        same_report_hash(r.type_code.trim(), r.unit.trim(), r.description.trim(), lon, lat)
    };
    let probe = store::EarlierProbe { key, reporter, content_hash: &content_hash, since: p.now() - 10 * 60_000 };
    let answer_earlier = |e: store::Earlier| match e {
        store::Earlier::SameKey { id, reporter: by } if by.as_deref() == reporter => earlier(id),
        store::Earlier::SameKey { .. } => Err(AppError::conflict("event.idem_conflict", "该提交编号已被使用")),
        store::Earlier::SameContent { id } => earlier(id),
    };
    let unit = match UnitCode::parse(&r.unit) {
        Ok(u) => u,
        Err(e) => {
            if let Some(e) = store::earlier_report(&p.db, &probe).await? {
                return answer_earlier(e);
            }
            return Err(AppError::bad_request("event.bad_unit", e.to_string()).at_field("unit"));
        }
    };
    // Two independent reads on two pooled connections at once: the report waits for one round
    // trip to a database worker thread instead of two in a row.
    let (found, place) = tokio::join!(store::intake_probe(&p.db, r.type_code.trim(), &unit, &probe), geography::store::get(&p.db, unit.as_str()));
    let found = found?;
    if let Some(e) = found.earlier {
        return answer_earlier(e);
    }
    let (t, department) =
        found.routed.ok_or_else(|| AppError::bad_request("event.unknown_type", format!("未知的事件类型「{}」", r.type_code.trim())).at_field("type_code"))?;
    let urgency =
        Urgency::parse(r.urgency.trim()).ok_or_else(|| AppError::bad_request("event.bad_urgency", "紧急程度应为 一般、紧急 或 特急").at_field("urgency"))?;
    if !scope.contains(&unit) || unit.level() < Level::Village {
        return Err(AppError::bad_request("event.bad_unit", "事发地须为您管辖范围内的村（社区）、小区或网格").at_field("unit"));
    }
    let place = place?
        .filter(|u| u.valid_to.is_none())
        .ok_or_else(|| AppError::bad_request("event.bad_unit", format!("单位 {unit} 不存在或已撤销")).at_field("unit"))?;
    let title = r.title.trim();
    let title = if title.is_empty() { t.name.clone() } else { title.chars().take(60).collect() };
    if r.description.trim().chars().count() > 2000 {
        return Err(AppError::bad_request("event.too_long", "描述不超过 2000 字").at_field("description"));
    }
    let (lon, lat) = match (r.lon, r.lat) {
        (Some(x), Some(y)) => {
            let (x, y) = to_wgs84(x, y, &r.crs)?;
            (Some((x * 1e6).round() as i64), Some((y * 1e6).round() as i64))
        }
        (None, None) => (None, None),
        _ => return Err(AppError::bad_request("event.bad_location", "经度和纬度须同时填写").at_field("location")),
    };
    // 属地: the village or community handles first; the catalogue says which department to involve.
    let village = if unit.level() == Level::Cell { unit.structural_parent().unwrap_or(unit.clone()) } else { unit.clone() };
    let address = if r.address.trim().is_empty() { place.name.clone() } else { r.address.trim().chars().take(200).collect() };
    let e = NewEvent {
        type_code: t.code.clone(),
        title,
        description: r.description.trim().to_owned(),
        urgency: urgency.label().to_owned(),
        unit_code: unit.to_string(),
        handling_unit: village.to_string(),
        department_id: department,
        lon_e6: lon,
        lat_e6: lat,
        address,
        source: r.source,
        reporter: reporter.map(str::to_owned),
        anonymous: r.anonymous,
        idem_key: r.idem_key.filter(|k| !k.is_empty()),
        limit: stage_limit(State::Reported, urgency, t.limit()),
        content_hash: Some(content_hash),
        house_id: r.house.filter(|h| !h.is_empty()),
    };
    // Reports arriving together share one durable commit (group commit); each is answered only
    // once its transaction is on disk.
    let now = p.now();
    let alert = (urgency != Urgency::Normal).then(|| format!("【{}】{} {}：{}", urgency.label(), place.name, t.name, e.title));
    let idem_key = e.idem_key.clone();
    let job_actor = actor.clone();
    let written =
        p.db.write_grouped(move |tx: &mut platform::Tx| -> platform::web::BoxFuture<'_, AppResult<store::EventRow>> {
            Box::pin(async move {
                let row = store::insert(tx, now, &job_actor, &e, &attachments).await?;
                if let Some(msg) = alert {
                    store::enqueue(tx, now, "sms", &format!("unit:{}", e.handling_unit), &msg, Some(&row.id)).await?;
                }
                Ok(row)
            })
        })
        .await;
    let row = match written {
        Err(err) if err.code == "internal" => {
            // A concurrent retry with the same key won the race: answer with its event.
            if let Some(k) = &idem_key
                && let Some(ev) = store::by_idem_key(&p.db, k).await?
            {
                return earlier(ev.id);
            }
            return Err(err);
        }
        r => r?,
    };
    Ok(Reported { id: row.id.clone(), created: true, row: Some(row) })
}

/// The inputs an action may need.
#[derive(Default, Debug, Clone)]
pub struct ActInput {
    pub note: String,
    /// 派遣/改派: a department id, or empty for the event's own unit.
    pub department: Option<String>,
    pub reason: Option<String>,
    pub satisfaction: Option<String>,
    pub extension_days: Option<i64>,
    pub merge_into: Option<String>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
}

/// Whether the caller may take this action on this event.
fn may(me: &Principal, e: &EventRow, departments: &[String], action: Action) -> bool {
    let handling = UnitCode::parse(&e.handling_unit).ok();
    let place = UnitCode::parse(&e.unit_code).ok();
    let in_scope = |perm: Permission| {
        let s = me.scope(perm);
        handling.as_ref().is_some_and(|h| s.contains(h)) || place.as_ref().is_some_and(|u| s.contains(u))
    };
    let my_department = e.department_id.as_ref().is_some_and(|d| departments.contains(d));
    match action {
        Action::SignIn | Action::Feedback | Action::Return | Action::RequestExtension => {
            if e.state() == State::Dispatched || e.state() == State::Handling {
                // Sent to a department: its members work it; sent to a unit: that unit's people.
                if e.department_id.is_some() && e.state() != State::Reported {
                    my_department || in_scope(Permission::HandleEvents)
                } else {
                    in_scope(Permission::WorkEvents)
                }
            } else {
                false
            }
        }
        Action::Evaluate => in_scope(Permission::HandleEvents) || e.reporter.as_deref() == Some(me.username.as_str()),
        _ => in_scope(Permission::HandleEvents),
    }
}

/// Actions the caller can take now (for the page's buttons).
pub fn available(me: &Principal, e: &EventRow, departments: &[String], steps: &[store::Step]) -> Vec<Action> {
    let pending = pending_extension_days(steps).is_some();
    Action::ALL
        .into_iter()
        .filter(|a| model::next_state(e.state(), *a, false).is_ok() && may(me, e, departments, *a))
        .filter(|a| match a {
            Action::ApproveExtension | Action::RefuseExtension => pending,
            Action::RequestExtension => !pending,
            _ => true,
        })
        .collect()
}

/// Days asked for by the last extension request, if it has not been answered yet.
pub fn pending_extension_days(steps: &[store::Step]) -> Option<i64> {
    let last = steps.iter().rev().find(|s| matches!(s.action.as_str(), "request_extension" | "approve_extension" | "refuse_extension"))?;
    if last.action != "request_extension" {
        return None;
    }
    last.note.split("申请延期 ").nth(1)?.split(' ').next()?.parse().ok()
}

/// Applies an action with the version the form was drawn from.
pub async fn act(p: &Platform, me: &Principal, id: &str, action: Action, version: i64, input: ActInput) -> AppResult<EventRow> {
    let (scope, departments) = visibility(p, me).await?;
    let e = store::get(&p.db, &scope, &departments, id).await?.ok_or_else(AppError::not_found)?;
    if !may(me, &e, &departments, action) {
        return Err(AppError::forbidden());
    }
    if version != e.version {
        return Err(AppError::conflict("event.stale", "该事件已被他人处理（页面内容已过期），请刷新后重试"));
    }
    let from = e.state();
    let reopen = action == Action::Evaluate && input.satisfaction.as_deref() == Some("不满意");
    let to = model::next_state(from, action, reopen).map_err(|err| AppError::conflict("event.bad_transition", err.to_string()))?;
    let now = p.now();
    let t = store::event_type(&p.db, &e.type_code).await?.ok_or_else(|| AppError::internal("event type vanished"))?;
    let urgency = Urgency::parse(&e.urgency).unwrap_or(Urgency::Normal);
    let mut sets: Vec<(&str, Value)> = vec![("state", to.as_str().into())];
    let mut note = input.note.trim().chars().take(1000).collect::<String>();
    let new_stage = |sets: &mut Vec<(&str, Value)>, s: State| {
        let l = stage_limit(s, urgency, t.limit());
        sets.push(("stage_started_ms", now.into()));
        sets.push(("stage_limit_amount", l.amount.into()));
        sets.push(("stage_limit_unit", l.unit.as_str().into()));
        sets.push(("light", "green".into()));
    };
    let mut notify: Vec<(String, String)> = Vec::new();
    match action {
        Action::Dispatch | Action::Reassign => {
            let dep = input.department.filter(|d| !d.is_empty());
            if let Some(d) = &dep {
                let dept =
                    store::department(&p.db, d).await?.ok_or_else(|| AppError::bad_request("event.bad_department", "部门不存在").at_field("department"))?;
                note = format!("派往{}。{note}", dept.name);
                notify.push((format!("department:{}", dept.id), format!("{} 事件 {} 已派往贵部门，请及时签收", e.address, e.event_no)));
            } else {
                note = format!("由属地处置。{note}");
                notify.push((format!("unit:{}", e.handling_unit), format!("事件 {} 已派遣，请及时签收", e.event_no)));
            }
            sets.push(("department_id", dep.into()));
            new_stage(&mut sets, to);
        }
        Action::Accept | Action::SignIn | Action::Feedback | Action::Rework | Action::Return => {
            if action == Action::SignIn {
                sets.push(("signed_ms", now.into()));
            }
            if action == Action::Rework {
                sets.push(("reworks", (e.reworks + 1).into()));
            }
            if action == Action::Feedback && note.is_empty() {
                return Err(AppError::bad_request("event.note_required", "处置反馈须说明处置情况").at_field("note"));
            }
            new_stage(&mut sets, to);
        }
        Action::Reject => {
            if note.is_empty() {
                return Err(AppError::bad_request("event.note_required", "不予受理须说明理由").at_field("note"));
            }
            sets.push(("closed_ms", now.into()));
        }
        Action::Close => {
            let reason = input.reason.unwrap_or_default();
            if !model::CLOSE_REASONS.contains(&reason.as_str()) {
                return Err(AppError::bad_request("event.bad_reason", format!("结案原因应为：{}", model::CLOSE_REASONS.join("、"))).at_field("reason"));
            }
            note = format!("结案：{reason}。{note}");
            sets.push(("closed_reason", reason.into()));
            sets.push(("closed_ms", now.into()));
            if e.reporter.is_some() {
                notify.push((
                    format!("reporter:{}", e.reporter.clone().unwrap_or_default()),
                    format!("您反映的事件 {} 已办结，请对处理结果进行评价", e.event_no),
                ));
            }
        }
        Action::Evaluate => {
            let s = input.satisfaction.unwrap_or_default();
            if !model::SATISFACTION.contains(&s.as_str()) {
                return Err(AppError::bad_request("event.bad_satisfaction", "评价应为 满意、基本满意 或 不满意").at_field("satisfaction"));
            }
            note = format!("回访评价：{s}。{note}");
            sets.push(("satisfaction", s.into()));
            if reopen {
                sets.push(("closed_ms", Value::Int(None)));
                sets.push(("closed_reason", Value::Text(None)));
                sets.push(("reworks", (e.reworks + 1).into()));
                new_stage(&mut sets, to);
            }
        }
        Action::Suspend => {
            if note.is_empty() {
                return Err(AppError::bad_request("event.note_required", "挂起须说明理由").at_field("note"));
            }
            sets.push(("suspended_ms", now.into()));
            // Remember the state to return to in the step's from_state.
        }
        Action::Resume => {
            // The clock did not run while suspended: move the stage start forward by the pause.
            let paused = now - e.suspended_ms.unwrap_or(now);
            sets.push(("stage_started_ms", (e.stage_started_ms + paused).into()));
            sets.push(("suspended_ms", Value::Int(None)));
            let back = store::steps(&p.db, &e.id)
                .await?
                .into_iter()
                .rev()
                .find(|s| s.action == "suspend")
                .and_then(|s| s.from_state)
                .and_then(|s| State::parse(&s))
                .unwrap_or(State::Handling);
            sets[0] = ("state", back.as_str().into());
        }
        Action::Escalate => {
            let up = UnitCode::parse(&e.handling_unit)
                .ok()
                .and_then(|u| u.structural_parent())
                .filter(|u| u.level() >= Level::City)
                .ok_or_else(|| AppError::bad_request("event.top_level", "已是市级，不能再上报"))?;
            note = format!("越级上报至 {up}。{note}");
            sets.push(("handling_unit", up.to_string().into()));
            sets.push(("escalations", (e.escalations + 1).into()));
            notify.push((format!("unit:{up}"), format!("事件 {} 已上报至贵单位，请及时处置", e.event_no)));
            new_stage(&mut sets, from);
        }
        Action::Merge => {
            let into = input.merge_into.unwrap_or_default();
            let target = store::list(&p.db, &scope, &departments, &store::EventFilter { q: Some(into.trim().to_owned()), ..Default::default() }, 1, 0)
                .await?
                .0
                .into_iter()
                .find(|x| x.event_no == into.trim() && x.id != e.id);
            let target =
                target.ok_or_else(|| AppError::bad_request("event.bad_merge", "请填写要合并到的事件编号（须在您的管辖范围内）").at_field("merge_into"))?;
            note = format!("与 {} 重复，已合并。{note}", target.event_no);
            sets.push(("merged_into", target.id.clone().into()));
            sets.push(("closed_reason", "重复".into()));
            sets.push(("closed_ms", now.into()));
            if let Some(r) = &e.reporter {
                notify.push((format!("reporter:{r}"), format!("您反映的事件 {} 与 {} 为同一问题，将随其一并办理", e.event_no, target.event_no)));
            }
        }
        Action::RequestExtension => {
            if pending_extension_days(&store::steps(&p.db, &e.id).await?).is_some() {
                return Err(AppError::conflict("event.extension_pending", "已有待审批的延期申请"));
            }
            let days = input
                .extension_days
                .filter(|d| (1..=30).contains(d))
                .ok_or_else(|| AppError::bad_request("event.bad_extension", "延期天数应为 1–30 个工作日").at_field("extension_days"))?;
            note = format!("申请延期 {days} 个工作日：{note}");
        }
        Action::ApproveExtension => {
            let days = pending_extension_days(&store::steps(&p.db, &e.id).await?)
                .ok_or_else(|| AppError::bad_request("event.no_extension", "没有待审批的延期申请"))?;
            let limit = e.stage_limit();
            let minutes = match limit.unit {
                LimitUnit::WorkingDays => limit.amount * model::WORK_MINUTES_PER_DAY,
                LimitUnit::Minutes => limit.amount,
                _ => limit.amount * 60,
            } + days * model::WORK_MINUTES_PER_DAY;
            sets.push(("stage_limit_amount", (minutes / 60).into()));
            sets.push(("stage_limit_unit", LimitUnit::WorkingHours.as_str().into()));
            sets.push(("light", "green".into()));
            note = format!("批准延期 {days} 个工作日。{note}");
        }
        Action::RefuseExtension => {
            if pending_extension_days(&store::steps(&p.db, &e.id).await?).is_none() {
                return Err(AppError::bad_request("event.no_extension", "没有待审批的延期申请"));
            }
            note = format!("不批准延期。{note}");
        }
        Action::Archive => {}
    }
    let mut tx = p.db.begin().await?;
    store::update(&mut tx, &e.id, version, now, &sets).await?;
    let lon = input.lon.map(|x| (x * 1e6).round() as i64);
    let lat = input.lat.map(|x| (x * 1e6).round() as i64);
    let final_state = match &sets[0].1 {
        Value::Text(Some(s)) => State::parse(s).unwrap_or(to),
        _ => to,
    };
    store::add_step(&mut tx, &e.id, now, &me.actor(), Some(e.handling_unit.as_str()), action.as_str(), Some(from), final_state, &note, lon, lat).await?;
    for (to, msg) in &notify {
        store::enqueue(&mut tx, now, "sms", to, msg, Some(&e.id)).await?;
    }
    let detail = format!("{} {} → {}", e.event_no, from.as_str(), final_state.as_str());
    audit::record(
        &mut tx,
        now,
        &AuditEvent {
            actor: &me.actor(),
            unit: Some(e.handling_unit.as_str()),
            action: &format!("event.{}", action.as_str()),
            target: &e.id,
            outcome: Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    tx.commit().await?;
    store::get(&p.db, &scope, &departments, id).await?.ok_or_else(AppError::not_found)
}

/// 吹哨: a township or county raises a whistle naming departments, which must sign in (报到)
/// within `minutes` clock minutes.
pub async fn whistle(p: &Platform, me: &Principal, id: &str, kind: &str, departments: &[String], minutes: i64, note: &str) -> AppResult<String> {
    let scope = me.require(Permission::Whistle)?;
    let (vis, deps) = visibility(p, me).await?;
    let e = store::get(&p.db, &vis, &deps, id).await?.ok_or_else(AppError::not_found)?;
    let handling = UnitCode::parse(&e.handling_unit).map_err(AppError::internal)?;
    let place = UnitCode::parse(&e.unit_code).map_err(AppError::internal)?;
    if !scope.contains(&handling) && !scope.contains(&place) {
        return Err(AppError::forbidden());
    }
    if !e.state().is_open() {
        return Err(AppError::conflict("event.closed", "事件已办结，不能再吹哨"));
    }
    if !model::WHISTLE_KINDS.contains(&kind) {
        return Err(AppError::bad_request("event.bad_whistle", "哨的类型应为 日常哨、攻坚哨 或 应急哨").at_field("kind"));
    }
    if departments.is_empty() {
        return Err(AppError::bad_request("event.no_departments", "请至少选择一个报到部门").at_field("departments"));
    }
    if !(5..=24 * 60).contains(&minutes) {
        return Err(AppError::bad_request("event.bad_minutes", "报到时限应为 5 分钟到 24 小时").at_field("minutes"));
    }
    let now = p.now();
    let wid = platform::db::new_id();
    let mut tx = p.db.begin().await?;
    let raised_at =
        scope.roots().iter().find(|r| r.contains(&handling) || r.contains(&place)).map(|r| r.to_string()).unwrap_or_else(|| e.handling_unit.clone());
    tx.execute(sql!(
        "INSERT INTO whistles (id, event_id, kind, raised_by, unit_code, raised_ms, deadline_ms, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        wid.as_str(),
        e.id.as_str(),
        kind,
        me.username.as_str(),
        raised_at.as_str(),
        now,
        now + minutes * 60_000,
        note.trim()
    ))
    .await?;
    let mut names = Vec::new();
    for d in departments {
        let dep = store::department(&p.db, d).await?.ok_or_else(|| AppError::bad_request("event.bad_department", "部门不存在").at_field("departments"))?;
        tx.execute(sql!("INSERT INTO whistle_participants (whistle_id, department_id, late) VALUES ($1, $2, 0)", wid.as_str(), d.as_str())).await?;
        store::enqueue(
            &mut tx,
            now,
            "sms",
            &format!("department:{d}"),
            &format!("【{kind}】事件 {} 请于 {minutes} 分钟内报到：{}", e.event_no, e.title),
            Some(&e.id),
        )
        .await?;
        names.push(dep.name);
    }
    let step_note = format!("{kind}，报到部门：{}，时限 {minutes} 分钟。{}", names.join("、"), note.trim());
    store::add_step(&mut tx, &e.id, now, &me.actor(), Some(raised_at.as_str()), "whistle", Some(e.state()), e.state(), &step_note, None, None).await?;
    audit::record(
        &mut tx,
        now,
        &AuditEvent { actor: &me.actor(), unit: Some(raised_at.as_str()), action: "event.whistle", target: &e.id, outcome: Outcome::Ok, detail: &step_note },
    )
    .await?;
    tx.commit().await?;
    Ok(wid)
}

/// 报到: a department member signs in to a whistle.
pub async fn report_in(p: &Platform, me: &Principal, whistle_id: &str, department_id: &str) -> AppResult<bool> {
    let mine = store::departments_of(&p.db, &me.username).await?;
    if !mine.iter().any(|d| d == department_id) {
        return Err(AppError::forbidden());
    }
    let row: Option<(String, i64, Option<i64>)> = p
        .db
        .fetch_optional(sql!("SELECT w.event_id, w.deadline_ms, wp.signed_ms FROM whistles w JOIN whistle_participants wp ON wp.whistle_id = w.id WHERE w.id = $1 AND wp.department_id = $2", whistle_id, department_id))
        .await?;
    let (event_id, deadline, signed) = row.ok_or_else(AppError::not_found)?;
    if signed.is_some() {
        return Err(AppError::conflict("event.already_signed", "贵部门已报到"));
    }
    let now = p.now();
    let late = now > deadline;
    let mut tx = p.db.begin().await?;
    tx.execute(sql!(
        "UPDATE whistle_participants SET signed_ms = $1, signed_by = $2, late = $3 WHERE whistle_id = $4 AND department_id = $5",
        now,
        me.username.as_str(),
        late,
        whistle_id,
        department_id
    ))
    .await?;
    let dep = store::department(&p.db, department_id).await?.map(|d| d.name).unwrap_or_default();
    let note = format!("{dep}报到{}", if late { "（超时）" } else { "" });
    let st: (String,) = tx.fetch_one(sql!("SELECT state FROM events WHERE id = $1", event_id.as_str())).await?;
    let s = State::parse(&st.0).unwrap_or(State::Handling);
    store::add_step(&mut tx, &event_id, now, &me.actor(), None, "report_in", Some(s), s, &note, None, None).await?;
    audit::record(
        &mut tx,
        now,
        &AuditEvent { actor: &me.actor(), unit: None, action: "event.report_in", target: &event_id, outcome: Outcome::Ok, detail: &note },
    )
    .await?;
    tx.commit().await?;
    Ok(late)
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub checked: usize,
    pub yellow: usize,
    pub red: usize,
    pub escalated: usize,
    pub late_departments: usize,
}

/// Turns lights and escalates: an event whose stage turns red rises one level (village → township →
/// county → city) with a fresh stage limit, and the new handling unit is notified. Whistle
/// participants who have not signed in by the deadline are marked late. Idempotent; run every minute.
pub async fn sweep(p: &Platform, cal: &WorkCalendar) -> AppResult<SweepReport> {
    let now = p.now();
    let mut rep = SweepReport::default();
    // One state at a time, in id order, so the (state, id) index serves each page without a sort.
    for state in ["reported", "accepted", "dispatched", "handling", "fed_back"] {
        let mut after = String::new();
        loop {
            let batch: Vec<EventRow> =
                p.db.fetch_all(sql!("SELECT * FROM events WHERE state = $1 AND id > $2 ORDER BY id LIMIT 1000", state, after.as_str())).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            let mut tx = p.db.begin().await?;
            for e in &batch {
                rep.checked += 1;
                let light = Light::from_percent(e.stage_limit().used_percent(cal, e.stage_started_ms, now));
                match light {
                    Light::Yellow => rep.yellow += 1,
                    Light::Red => rep.red += 1,
                    Light::Green => {}
                }
                let escalate = light == Light::Red && e.state() != State::FedBack && UnitCode::parse(&e.handling_unit).is_ok_and(|u| u.level() > Level::City);
                if escalate {
                    let up = UnitCode::parse(&e.handling_unit).ok().and_then(|u| u.structural_parent()).map(|u| u.to_string()).unwrap_or_default();
                    let urgency = Urgency::parse(&e.urgency).unwrap_or(Urgency::Normal);
                    let t = store::event_type(&p.db, &e.type_code).await?;
                    let l = t.map(|t| stage_limit(e.state(), urgency, t.limit())).unwrap_or(e.stage_limit());
                    let n = tx
                    .execute(sql!(
                        "UPDATE events SET handling_unit = $1, escalations = escalations + 1, overdue = 1, light = 'green', stage_started_ms = $2, stage_limit_amount = $3, stage_limit_unit = $4, version = version + 1, updated_ms = $2 WHERE id = $5 AND version = $6",
                        up.as_str(), now, l.amount, l.unit.as_str(), e.id.as_str(), e.version
                    ))
                    .await?;
                    if n == 1 {
                        let note = format!("{}超时（红灯），自动上报至 {up}", e.state().label());
                        store::add_step(
                            &mut tx,
                            &e.id,
                            now,
                            &Actor::system(),
                            Some(e.handling_unit.as_str()),
                            "auto_escalate",
                            Some(e.state()),
                            e.state(),
                            &note,
                            None,
                            None,
                        )
                        .await?;
                        store::enqueue(
                            &mut tx,
                            now,
                            "sms",
                            &format!("unit:{up}"),
                            &format!("事件 {} 在下级超时未办，已自动上报至贵单位", e.event_no),
                            Some(&e.id),
                        )
                        .await?;
                        store::enqueue(
                            &mut tx,
                            now,
                            "sms",
                            &format!("unit:{}", e.handling_unit),
                            &format!("事件 {} 超时，已自动上报", e.event_no),
                            Some(&e.id),
                        )
                        .await?;
                        audit::record(
                            &mut tx,
                            now,
                            &AuditEvent {
                                actor: &Actor::system(),
                                unit: Some(up.as_str()),
                                action: "event.auto_escalate",
                                target: &e.id,
                                outcome: Outcome::Ok,
                                detail: &note,
                            },
                        )
                        .await?;
                        rep.escalated += 1;
                    }
                } else if light.as_str() != e.light {
                    let overdue = if light == Light::Red { 1 } else { e.overdue };
                    tx.execute(sql!(
                        "UPDATE events SET light = $1, overdue = $2 WHERE id = $3 AND version = $4",
                        light.as_str(),
                        overdue,
                        e.id.as_str(),
                        e.version
                    ))
                    .await?;
                }
            }
            tx.commit().await?;
        }
    }
    let late: Vec<(String, String, String)> = p
        .db
        .fetch_all(sql!("SELECT w.id, wp.department_id, w.event_id FROM whistle_participants wp JOIN whistles w ON w.id = wp.whistle_id WHERE wp.signed_ms IS NULL AND wp.late = 0 AND w.deadline_ms < $1", now))
        .await?;
    if !late.is_empty() {
        let mut tx = p.db.begin().await?;
        for (w, d, ev) in &late {
            tx.execute(sql!("UPDATE whistle_participants SET late = 1 WHERE whistle_id = $1 AND department_id = $2", w.as_str(), d.as_str())).await?;
            store::enqueue(&mut tx, now, "sms", &format!("department:{d}"), "吹哨报到已超时，请立即报到", Some(ev)).await?;
            rep.late_departments += 1;
        }
        tx.commit().await?;
    }
    Ok(rep)
}

/// Where notifications go. The shipped implementation writes them to the log (an SMS gateway
/// implements the same trait); messages carry event numbers and place names, never personal data.
pub trait Notifier: Send + Sync {
    fn send(&self, recipient: &str, message: &str) -> Result<(), String>;
}

pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn send(&self, recipient: &str, message: &str) -> Result<(), String> {
        tracing::info!(target: "jiceng::sms", %recipient, %message, "notification");
        Ok(())
    }
}

/// Outgoing webhook: every notification is also POSTed as JSON to an intranet URL
/// (`http://host:port/path`; plain HTTP, as systems on a government intranet usually are). A receiver
/// that does not answer 2xx within 5 seconds fails the delivery, which is retried on the next run.
pub struct WebhookNotifier {
    host: String,
    port: u16,
    path: String,
}

impl WebhookNotifier {
    pub fn parse(url: &str) -> Result<WebhookNotifier, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("webhook 地址须以 http:// 开头：{url}"))?;
        let (hostport, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| format!("webhook 端口无效：{url}"))?),
            None => (hostport.to_owned(), 80),
        };
        if host.is_empty() {
            return Err(format!("webhook 地址缺少主机：{url}"));
        }
        Ok(WebhookNotifier { host, port, path })
    }
}

impl Notifier for WebhookNotifier {
    fn send(&self, recipient: &str, message: &str) -> Result<(), String> {
        use std::io::{Read, Write};
        use std::net::ToSocketAddrs;
        let body = serde_json::json!({"recipient": recipient, "message": message}).to_string();
        let addr = (self.host.as_str(), self.port).to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("webhook 主机无法解析")?;
        let timeout = std::time::Duration::from_secs(5);
        let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        let req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.host,
            body.len()
        );
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).map_err(|e| e.to_string())?;
        let status = std::str::from_utf8(&head[9..12]).unwrap_or("000");
        if status.starts_with('2') { Ok(()) } else { Err(format!("webhook 返回 {status}")) }
    }
}

/// The log (standing in for an SMS gateway) plus an optional webhook.
pub struct Notifiers {
    pub webhook: Option<WebhookNotifier>,
}

impl Notifier for Notifiers {
    fn send(&self, recipient: &str, message: &str) -> Result<(), String> {
        LogNotifier.send(recipient, message)?;
        match &self.webhook {
            Some(w) => w.send(recipient, message),
            None => Ok(()),
        }
    }
}

/// Delivers pending outbox rows; failures are retried on the next run (up to 10 attempts).
pub async fn deliver(p: &Platform, n: &dyn Notifier) -> AppResult<usize> {
    let mut sent = 0;
    for row in store::pending_outbox(&p.db, 500).await? {
        let r = n.send(&row.recipient, &row.message);
        let mut tx = p.db.begin().await?;
        match r {
            Ok(()) => {
                tx.execute(sql!("UPDATE outbox SET sent_ms = $1, attempts = attempts + 1 WHERE id = $2", p.now(), row.id.as_str())).await?;
                sent += 1;
            }
            Err(e) => {
                tx.execute(sql!("UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2", e, row.id.as_str())).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(sent)
}

/// Ships the catalogue and one set of departments per county (and the city) if absent.
pub async fn seed(p: &Platform) -> AppResult<bool> {
    if p.db.scalar(sql!("SELECT COUNT(*) FROM event_types")).await? > 0 {
        return Ok(false);
    }
    let types = model::default_catalogue();
    let mut tx = p.db.begin().await?;
    store::seed_catalogue(&mut tx, &types, p.now()).await?;
    let mut names: Vec<&str> = types.iter().map(|t| t.department.as_str()).collect();
    names.sort();
    names.dedup();
    let city = UnitCode::parse("5109").map_err(AppError::internal)?;
    let counties = geography::store::current_of_kind(
        &p.db,
        &city,
        &[geography::model::UnitKind::District, geography::model::UnitKind::County, geography::model::UnitKind::CountyCity],
    )
    .await?;
    for c in counties.iter().map(|c| c.code.as_str()).chain(std::iter::once("5109")) {
        for n in &names {
            store::ensure_department(&mut tx, c, n).await?;
        }
    }
    audit::record(
        &mut tx,
        p.now(),
        &AuditEvent {
            actor: &Actor::system(),
            unit: None,
            action: "event.seed_catalogue",
            target: "event_types",
            outcome: Outcome::Ok,
            detail: &format!("{} types", types.len()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Metres between two WGS-84 points (haversine).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6_371_000.0;
    let (la1, la2) = (a.1.to_radians(), b.1.to_radians());
    let dla = la2 - la1;
    let dlo = (b.0 - a.0).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

/// Radius and window inside which two reports of the same type are probably the same problem.
pub const DUPLICATE_RADIUS_M: f64 = 100.0;
pub const DUPLICATE_WINDOW_MS: i64 = 72 * 3600 * 1000;

/// Likely duplicates of `e` the caller can see: same type, reported within 72 hours of it, not
/// merged or rejected, and either within 100 m (when both have coordinates) or in the same
/// village or community (when either has none).
pub async fn similar(p: &Platform, scope: &Scope, departments: &[String], e: &EventRow) -> AppResult<Vec<EventRow>> {
    let f = store::EventFilter {
        type_code: Some(e.type_code.clone()),
        from_ms: Some(e.created_ms - DUPLICATE_WINDOW_MS),
        to_ms: Some(e.created_ms + DUPLICATE_WINDOW_MS),
        ..Default::default()
    };
    let (candidates, _) = store::list(&p.db, scope, departments, &f, 200, 0).await?;
    let here = e.lon_e6.zip(e.lat_e6).map(|(x, y)| (x as f64 / 1e6, y as f64 / 1e6));
    let village = |c: &str| c.chars().take(12).collect::<String>();
    Ok(candidates
        .into_iter()
        .filter(|c| c.id != e.id && !matches!(c.state(), State::Merged | State::Rejected))
        .filter(|c| match (here, c.lon_e6.zip(c.lat_e6)) {
            (Some(a), Some((x, y))) => distance_m(a, (x as f64 / 1e6, y as f64 / 1e6)) <= DUPLICATE_RADIUS_M,
            _ => village(&c.unit_code) == village(&e.unit_code),
        })
        .take(10)
        .collect())
}

/// A handful of synthetic events for the demo (source 演示数据), spread over the demo street's
/// communities and states, so the lists, lights and map have something to show.
pub async fn seed_demo(p: &Platform) -> AppResult<usize> {
    if p.db.scalar(sql!("SELECT COUNT(*) FROM events WHERE source = '演示数据'")).await? > 0 {
        return Ok(0);
    }
    let street = UnitCode::parse("510903001").map_err(AppError::internal)?;
    let units = geography::store::current_of_kind(&p.db, &street, &[geography::model::UnitKind::Community, geography::model::UnitKind::Village]).await?;
    let samples = [
        ("06005", "雨后路口积水", "紧急"),
        ("06001", "垃圾桶满溢未清运", "一般"),
        ("01001", "井盖破损有安全隐患", "特急"),
        ("09001", "早市占道经营", "一般"),
        ("90001", "邻里漏水纠纷", "一般"),
        ("06006", "夜间施工噪声扰民", "一般"),
        ("90002", "电动车楼道充电", "紧急"),
        ("06004", "人行道地砖松动", "一般"),
        ("90004", "独居老人求助送餐", "一般"),
        ("07001", "楼道小广告", "一般"),
    ];
    let actor = Actor { name: "system:demo".into(), client_addr: "local".into() };
    let mut n = 0;
    for (i, (code, title, urgency)) in samples.iter().enumerate() {
        let Some(u) = units.get(i % units.len().max(1)) else { break };
        let r = Report {
            type_code: (*code).into(),
            title: (*title).into(),
            description: format!("{title}（演示数据）"),
            urgency: (*urgency).into(),
            unit: u.code.clone(),
            address: u.name.clone(),
            lon: Some(105.565 + 0.006 * (i % 5) as f64),
            lat: Some(30.515 + 0.005 * (i / 5) as f64),
            crs: "wgs84".into(),
            anonymous: false,
            idem_key: Some(format!("demo-{i}")),
            source: "演示数据".into(),
            subject: None,
            house: None,
        };
        let id = report_as(p, &actor, None, &Scope::new(vec![street.clone()]), r, Vec::new()).await?.id;
        // Move some along the loop so every state shows up.
        let steps: &[&str] = match i % 4 {
            1 => &["accepted"],
            2 => &["accepted", "dispatched"],
            3 => &["accepted", "dispatched", "handling"],
            _ => &[],
        };
        for s in steps {
            let mut tx = p.db.begin().await?;
            tx.execute(sql!("UPDATE events SET state = $1, version = version + 1 WHERE id = $2", *s, id.as_str())).await?;
            store::add_step(
                &mut tx,
                &id,
                p.now(),
                &actor,
                Some(u.code.as_str()),
                "demo",
                None,
                State::parse(s).unwrap_or(State::Reported),
                "演示数据",
                None,
                None,
            )
            .await?;
            audit::record(
                &mut tx,
                p.now(),
                &AuditEvent { actor: &actor, unit: Some(u.code.as_str()), action: "event.demo", target: &id, outcome: Outcome::Ok, detail: s },
            )
            .await?;
            tx.commit().await?;
        }
        n += 1;
    }
    Ok(n)
}
