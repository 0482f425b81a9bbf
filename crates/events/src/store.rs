//! SQL for the event loop. Every change to an event runs in one transaction with its step record
//! and its audit record; a stale form (the event moved on since the page was drawn) is refused by the
//! version check instead of overwriting someone else's work.

use platform::audit::{self, Actor, Event as AuditEvent, Outcome};
use platform::clock::Millis;
use platform::db::{DbResult, Sql, Value, new_id};
use platform::scope::{Scope, UnitCode};
use platform::{AppError, AppResult, Db, Tx, sql};
use serde::Serialize;

use crate::model::{EventType, Limit, LimitUnit, State};

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct EventRow {
    pub id: String,
    pub event_no: String,
    pub type_code: String,
    pub title: String,
    pub description: String,
    pub urgency: String,
    pub state: String,
    pub unit_code: String,
    pub handling_unit: String,
    pub department_id: Option<String>,
    pub lon_e6: Option<i64>,
    pub lat_e6: Option<i64>,
    pub address: String,
    pub source: String,
    #[serde(skip)]
    pub reporter: Option<String>,
    pub anonymous: i64,
    #[serde(skip)]
    pub idem_key: Option<String>,
    pub created_ms: i64,
    pub stage_started_ms: i64,
    pub stage_limit_amount: i64,
    pub stage_limit_unit: String,
    pub suspended_ms: Option<i64>,
    pub light: String,
    pub escalations: i64,
    pub reworks: i64,
    pub signed_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    pub closed_reason: Option<String>,
    pub overdue: i64,
    pub satisfaction: Option<String>,
    pub merged_into: Option<String>,
    pub version: i64,
    pub updated_ms: i64,
    pub person_id: Option<String>,
    #[sqlx(default)]
    pub house_id: Option<String>,
}

impl EventRow {
    pub fn state(&self) -> State {
        State::parse(&self.state).unwrap_or(State::Reported)
    }
    pub fn stage_limit(&self) -> Limit {
        Limit { amount: self.stage_limit_amount, unit: LimitUnit::parse(&self.stage_limit_unit).unwrap_or(LimitUnit::WorkingDays) }
    }
}

// ---------------------------------------------------------------------------------------------
// Catalogue and departments

pub async fn seed_catalogue(tx: &mut Tx, types: &[EventType], now: Millis) -> DbResult<()> {
    for t in types {
        tx.execute(sql!(
            "INSERT INTO event_types (code, name, family, limit_amount, limit_unit, department, active, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT (code) DO NOTHING",
            t.code.as_str(), t.name.as_str(), t.family.as_str(), t.limit.amount, t.limit.unit.as_str(), t.department.as_str(), now
        ))
        .await?;
    }
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct TypeRow {
    pub code: String,
    pub name: String,
    pub family: String,
    pub limit_amount: i64,
    pub limit_unit: String,
    pub department: String,
    pub active: i64,
    pub updated_ms: i64,
}

impl TypeRow {
    pub fn limit(&self) -> Limit {
        Limit { amount: self.limit_amount, unit: LimitUnit::parse(&self.limit_unit).unwrap_or(LimitUnit::WorkingDays) }
    }
}

pub async fn types(db: &Db) -> DbResult<Vec<TypeRow>> {
    db.fetch_all(sql!("SELECT * FROM event_types ORDER BY code")).await
}

pub async fn event_type(db: &Db, code: &str) -> DbResult<Option<TypeRow>> {
    db.fetch_optional(sql!("SELECT * FROM event_types WHERE code = $1 AND active = 1", code)).await
}

pub async fn update_type_limit(tx: &mut Tx, code: &str, limit: Limit, department: &str, now: Millis) -> DbResult<u64> {
    tx.execute(sql!(
        "UPDATE event_types SET limit_amount = $1, limit_unit = $2, department = $3, updated_ms = $4 WHERE code = $5",
        limit.amount,
        limit.unit.as_str(),
        department,
        now,
        code
    ))
    .await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Department {
    pub id: String,
    pub unit_code: String,
    pub name: String,
}

pub async fn ensure_department(tx: &mut Tx, unit: &str, name: &str) -> DbResult<String> {
    let existing: Option<(String,)> = tx.fetch_optional(sql!("SELECT id FROM departments WHERE unit_code = $1 AND name = $2", unit, name)).await?;
    if let Some((id,)) = existing {
        return Ok(id);
    }
    let id = new_id();
    tx.execute(sql!("INSERT INTO departments (id, unit_code, name) VALUES ($1, $2, $3)", id.as_str(), unit, name)).await?;
    Ok(id)
}

pub async fn departments_in(db: &Db, unit_prefix: &str) -> DbResult<Vec<Department>> {
    let mut q = Sql::new("SELECT * FROM departments WHERE ", []);
    if let Ok(c) = UnitCode::parse(unit_prefix) {
        // The departments of the county (or city) the unit belongs to, and those of the city.
        let mut roots = vec![];
        let mut cur = Some(c);
        while let Some(u) = cur {
            roots.push(u.to_string());
            cur = u.structural_parent();
        }
        q.push("unit_code IN ").push_list(roots.iter().map(|r| r.as_str()));
    } else {
        q.push("1 = 1");
    }
    q.push(" ORDER BY unit_code DESC, name");
    db.fetch_all(q).await
}

pub async fn department(db: &Db, id: &str) -> DbResult<Option<Department>> {
    db.fetch_optional(sql!("SELECT * FROM departments WHERE id = $1", id)).await
}

pub async fn add_member(tx: &mut Tx, username: &str, department_id: &str) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO department_members (username, department_id) VALUES ($1, $2) ON CONFLICT (username, department_id) DO NOTHING",
        username,
        department_id
    ))
    .await?;
    Ok(())
}

pub async fn departments_of(db: &Db, username: &str) -> DbResult<Vec<String>> {
    let rows: Vec<(String,)> = db.fetch_all(sql!("SELECT department_id FROM department_members WHERE username = $1 ORDER BY department_id", username)).await?;
    Ok(rows.into_iter().map(|(d,)| d).collect())
}

/// 派单目录: the department for a type at a place — the most specific routing rule, else the
/// catalogue's department in the county (or the city), else none (the county handles it: 属地兜底).
pub async fn route(db: &Db, type_code: &str, unit: &UnitCode, catalogue_department: &str) -> DbResult<Option<String>> {
    let rules: Vec<(String, String)> = db.fetch_all(sql!("SELECT area_code, department_id FROM routing_rules WHERE type_code = $1", type_code)).await?;
    if let Some((_, d)) = rules.into_iter().filter(|(a, _)| unit.as_str().starts_with(a.as_str())).max_by_key(|(a, _)| a.len()) {
        return Ok(Some(d));
    }
    let deps = departments_in(db, unit.as_str()).await?;
    Ok(deps.into_iter().find(|d| d.name == catalogue_department).map(|d| d.id))
}

/// What intake needs to know before it writes a report, in one query: the earlier event this
/// report repeats (see [`earlier_report`]), and the active type with this code and where
/// [`route`] sends it at `unit`.
pub struct IntakeProbe {
    pub earlier: Option<Earlier>,
    pub routed: Option<(TypeRow, Option<String>)>,
}

/// Looks up [`IntakeProbe`]: every report asks both, and each query is a round trip to a
/// database worker thread. An unknown type (bad input) costs a second query for the earlier event.
pub async fn intake_probe(db: &Db, code: &str, unit: &UnitCode, earlier: &EarlierProbe<'_>) -> DbResult<IntakeProbe> {
    #[derive(sqlx::FromRow)]
    struct Probed {
        #[sqlx(flatten)]
        t: TypeRow,
        routed: Option<String>,
        fallback: Option<String>,
        #[sqlx(flatten)]
        earlier: EarlierColumns,
    }
    let mut ancestors = vec![];
    let mut cur = Some(unit.clone());
    while let Some(u) = cur {
        ancestors.push(u.to_string());
        cur = u.structural_parent();
    }
    let mut q = Sql::new(
        &format!(
            "SELECT t.*, {EARLIER_COLUMNS}, \
             (SELECT r.department_id FROM routing_rules r WHERE r.type_code = t.code AND substr($5, 1, length(r.area_code)) = r.area_code \
              ORDER BY length(r.area_code) DESC, r.id LIMIT 1) AS routed, \
             (SELECT d.id FROM departments d WHERE d.name = t.department AND d.unit_code IN "
        ),
        earlier.params().into_iter().chain([unit.as_str().into()]),
    );
    q.push_list(ancestors.iter().map(|a| a.as_str()));
    q.push(" ORDER BY d.unit_code DESC, d.name LIMIT 1) AS fallback FROM event_types t WHERE t.code = ").bind(code).push(" AND t.active = 1");
    let Some(row) = db.fetch_optional::<Probed>(q).await? else {
        return Ok(IntakeProbe { earlier: earlier_report(db, earlier).await?, routed: None });
    };
    Ok(IntakeProbe { earlier: row.earlier.found(), routed: Some((row.t, row.routed.or(row.fallback))) })
}

pub async fn add_rule(tx: &mut Tx, type_code: &str, area: &UnitCode, department_id: &str) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO routing_rules (id, type_code, area_code, department_id) VALUES ($1, $2, $3, $4)",
        new_id(),
        type_code,
        area.as_str(),
        department_id
    ))
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Events

/// Marks an entry of the `departments` list as "events this person reported" rather than a
/// department id (see [`crate::service::visibility`]).
pub const REPORTER_PREFIX: &str = "reporter:";

/// Visible events: those that happened in, or are handled in, the scope; plus those dispatched to the
/// caller's departments; plus the caller's own reports (entries prefixed [`REPORTER_PREFIX`]).
pub fn push_visibility(q: &mut Sql, scope: &Scope, departments: &[String]) {
    q.push("(");
    scope.push_filter(q, "e.unit_code");
    q.push(" OR ");
    scope.push_filter(q, "e.handling_unit");
    let (reporters, deps): (Vec<&String>, Vec<&String>) = departments.iter().partition(|d| d.starts_with(REPORTER_PREFIX));
    if !deps.is_empty() {
        // Dispatched to one of the caller's departments, or one of them was whistled in (吹哨报到).
        q.push(" OR e.department_id IN ").push_list(deps.iter().map(|d| d.as_str()));
        q.push(" OR e.id IN (SELECT w.event_id FROM whistles w JOIN whistle_participants wp ON wp.whistle_id = w.id WHERE wp.department_id IN ")
            .push_list(deps.iter().map(|d| d.as_str()))
            .push(")");
    }
    for r in reporters {
        q.push(" OR e.reporter = ").bind(&r[REPORTER_PREFIX.len()..]);
    }
    q.push(")");
}

#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub state: Option<String>,
    pub light: Option<String>,
    pub open_only: bool,
    pub type_code: Option<String>,
    pub q: Option<String>,
    pub from_ms: Option<Millis>,
    pub to_ms: Option<Millis>,
}

fn event_query(select: &str, scope: &Scope, departments: &[String], f: &EventFilter) -> Sql {
    let mut q = Sql::new(select, []);
    q.push(" WHERE ");
    push_visibility(&mut q, scope, departments);
    if let Some(s) = f.state.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND e.state = ").bind(s);
    }
    if let Some(l) = f.light.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND e.light = ").bind(l);
    }
    if f.open_only {
        q.push(" AND e.state IN ('reported', 'accepted', 'dispatched', 'handling', 'fed_back', 'suspended')");
    }
    if let Some(t) = f.type_code.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND e.type_code = ").bind(t);
    }
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pat = format!("%{}%", platform::db::like_escape(text));
        q.push(" AND (e.title LIKE ")
            .bind(pat.as_str())
            .push(" ESCAPE '\\' OR e.address LIKE ")
            .bind(pat.as_str())
            .push(" ESCAPE '\\' OR e.event_no = ")
            .bind(text)
            .push(")");
    }
    if let Some(t) = f.from_ms {
        q.push(" AND e.created_ms >= ").bind(t);
    }
    if let Some(t) = f.to_ms {
        q.push(" AND e.created_ms < ").bind(t);
    }
    q
}

pub async fn list(db: &Db, scope: &Scope, departments: &[String], f: &EventFilter, limit: i64, offset: i64) -> DbResult<(Vec<EventRow>, i64)> {
    let total = db.scalar(event_query("SELECT COUNT(*) FROM events e", scope, departments, f)).await?;
    let mut q = event_query("SELECT e.* FROM events e", scope, departments, f);
    q.push(" ORDER BY e.created_ms DESC, e.id");
    q.page(limit, offset);
    Ok((db.fetch_all(q).await?, total))
}

pub async fn get(db: &Db, scope: &Scope, departments: &[String], id: &str) -> DbResult<Option<EventRow>> {
    let mut q = Sql::new("SELECT e.* FROM events e WHERE e.id = ", []);
    q.bind(id).push(" AND ");
    push_visibility(&mut q, scope, departments);
    db.fetch_optional(q).await
}

/// An event its reporter just submitted: reporters always see their own reports, so this needs no
/// visibility check (the intake API answers with it).
pub async fn reported_by(db: &Db, id: &str, reporter: &str) -> DbResult<Option<EventRow>> {
    db.fetch_optional(sql!("SELECT * FROM events WHERE id = $1 AND reporter = $2", id, reporter)).await
}

pub async fn by_idem_key(db: &Db, key: &str) -> DbResult<Option<EventRow>> {
    db.fetch_optional(sql!("SELECT * FROM events WHERE idem_key = $1", key)).await
}

/// An earlier report a new one repeats (see [`earlier_report`]).
pub enum Earlier {
    /// Made with the same idempotency key, by `reporter`.
    SameKey { id: String, reporter: Option<String> },
    /// The same content from the same reporter since the cut-off.
    SameContent { id: String },
}

/// What makes a report "the same again": its idempotency key, else the same content from the
/// same reporter since the cut-off.
pub struct EarlierProbe<'a> {
    pub key: Option<&'a str>,
    pub reporter: Option<&'a str>,
    pub content_hash: &'a str,
    pub since: Millis,
}

impl EarlierProbe<'_> {
    /// The values of `$1`–`$4` in [`EARLIER_COLUMNS`].
    fn params(&self) -> Vec<Value> {
        vec![self.key.into(), self.reporter.into(), self.content_hash.into(), self.since.into()]
    }
}

/// The columns that find an [`Earlier`] event, with an [`EarlierProbe`]'s values as `$1`–`$4`:
/// shared by [`earlier_report`] and [`intake_probe`].
const EARLIER_COLUMNS: &str = "(SELECT e.id FROM events e WHERE e.idem_key = $1) AS key_id, \
     (SELECT e.reporter FROM events e WHERE e.idem_key = $1) AS key_reporter, \
     (SELECT e.id FROM events e WHERE e.reporter = $2 AND e.content_hash = $3 AND e.created_ms >= $4 ORDER BY e.created_ms DESC LIMIT 1) AS same_id";

#[derive(sqlx::FromRow)]
struct EarlierColumns {
    key_id: Option<String>,
    key_reporter: Option<String>,
    same_id: Option<String>,
}

impl EarlierColumns {
    /// The key first: a report sent again with its key is that event, whatever its content.
    fn found(self) -> Option<Earlier> {
        match (self.key_id, self.same_id) {
            (Some(id), _) => Some(Earlier::SameKey { id, reporter: self.key_reporter }),
            (None, Some(id)) => Some(Earlier::SameContent { id }),
            (None, None) => None,
        }
    }
}

/// The event an earlier submission with this idempotency key made, else the latest one the same
/// reporter made with the same content since the cut-off — one probe for both, the key first.
pub async fn earlier_report(db: &Db, p: &EarlierProbe<'_>) -> DbResult<Option<Earlier>> {
    let row: EarlierColumns = db.fetch_one(Sql::new(&format!("SELECT {EARLIER_COLUMNS}"), p.params())).await?;
    Ok(row.found())
}

/// A new event, ready to insert.
pub struct NewEvent {
    pub type_code: String,
    pub title: String,
    pub description: String,
    pub urgency: String,
    pub unit_code: String,
    pub handling_unit: String,
    pub department_id: Option<String>,
    pub lon_e6: Option<i64>,
    pub lat_e6: Option<i64>,
    pub address: String,
    pub source: String,
    pub reporter: Option<String>,
    pub anonymous: bool,
    pub idem_key: Option<String>,
    pub limit: Limit,
    /// Hash of what was reported (type, place, text, coordinates): finds "the same report again".
    pub content_hash: Option<String>,
    pub house_id: Option<String>,
}

pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub data_b64: String,
    pub size: i64,
}

/// Inserts an event with its first step, attachments and audit record. The event number is the
/// Beijing date plus a per-day sequence: 20261125-0001.
/// Inserts a reported event with its first step and audit record; returns the row as stored.
pub async fn insert(tx: &mut Tx, now: Millis, actor: &Actor, e: &NewEvent, attachments: &[Attachment]) -> AppResult<EventRow> {
    let id = new_id();
    let day = platform::clock::Date::of_instant(now).to_string().replace('-', "");
    // A per-day counter row: one indexed update, not a count over every event of the day. The
    // first report of a transaction bumps it and reads the number back; having written the row,
    // the transaction holds it (see `Tx::hold`), so the reports after it in the same group commit
    // count on in memory and send the new value with their other writes: one round trip each.
    let counter = format!("event_counters:{day}");
    let (seq, count) = match tx.held(&counter) {
        Some(last) => (last + 1, Some(sql!("UPDATE event_counters SET seq = $1 WHERE day = $2", last + 1, day.as_str()))),
        // The audit chain's head comes back in the same round trip, for the record below.
        None => {
            let (seq,): (i64,) = audit::fetch_taking_head(
                tx,
                sql!(
                    "INSERT INTO event_counters (day, seq) VALUES ($1, 1) ON CONFLICT (day) DO UPDATE SET seq = event_counters.seq + 1 RETURNING seq",
                    day.as_str()
                ),
            )
            .await?;
            (seq, None)
        }
    };
    let event_no = event_number(&day, seq);
    let insert = Sql::new(
        "INSERT INTO events (id, event_no, type_code, title, description, urgency, state, unit_code, handling_unit, department_id, lon_e6, lat_e6, address, source, reporter, anonymous, idem_key, created_ms, stage_started_ms, stage_limit_amount, stage_limit_unit, light, version, updated_ms, content_hash, house_id) \
         VALUES ($1, $2, $3, $4, $5, $6, 'reported', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18, $19, 'green', 1, $17, $20, $21) RETURNING *",
        [
            Value::from(id.as_str()),
            event_no.as_str().into(),
            e.type_code.as_str().into(),
            e.title.as_str().into(),
            e.description.as_str().into(),
            e.urgency.as_str().into(),
            e.unit_code.as_str().into(),
            e.handling_unit.as_str().into(),
            e.department_id.clone().into(),
            e.lon_e6.into(),
            e.lat_e6.into(),
            e.address.as_str().into(),
            e.source.as_str().into(),
            e.reporter.clone().into(),
            e.anonymous.into(),
            e.idem_key.clone().into(),
            now.into(),
            e.limit.amount.into(),
            e.limit.unit.as_str().into(),
            e.content_hash.clone().into(),
            e.house_id.clone().into(),
        ],
    );
    let mut writes: Vec<Sql> = count.into_iter().collect();
    let at = writes.len();
    writes.push(insert);
    let (step, step_sql) = step_insert(&id, now, actor, Some(&e.unit_code), "report", None, State::Reported, &e.description, e.lon_e6, e.lat_e6);
    writes.push(step_sql);
    for a in attachments {
        writes.push(sql!(
            "INSERT INTO event_attachments (id, event_id, step_id, filename, content_type, size, data_b64, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            new_id(),
            id.as_str(),
            step.as_str(),
            a.filename.as_str(),
            a.content_type.as_str(),
            a.size,
            a.data_b64.as_str(),
            now
        ));
    }
    let detail = format!("{event_no} {} ({})", e.type_code, e.source);
    let record = AuditEvent { actor, unit: Some(e.unit_code.as_str()), action: "event.report", target: &id, outcome: Outcome::Ok, detail: &detail };
    let row: EventRow = audit::record_returning(tx, now, &record, writes, at).await?;
    tx.hold(&counter, seq);
    Ok(row)
}

/// 事件编号: the day and its running number, `YYYYMMDD-0001`, with more digits past 9,999.
fn event_number(day: &str, seq: i64) -> String {
    format!("{day}-{seq:04}")
}

/// The insert of a step (its id and statement), for callers that batch it with other writes.
#[allow(clippy::too_many_arguments)]
pub fn step_insert(
    event_id: &str,
    now: Millis,
    actor: &Actor,
    unit: Option<&str>,
    action: &str,
    from: Option<State>,
    to: State,
    note: &str,
    lon: Option<i64>,
    lat: Option<i64>,
) -> (String, Sql) {
    let id = new_id();
    let q = sql!(
        "INSERT INTO event_steps (id, event_id, at_ms, actor, unit_code, action, from_state, to_state, note, lon_e6, lat_e6) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        id.as_str(),
        event_id,
        now,
        actor.name.as_str(),
        unit,
        action,
        from.map(|s| s.as_str()),
        to.as_str(),
        note,
        lon,
        lat
    );
    (id, q)
}

#[allow(clippy::too_many_arguments)]
pub async fn add_step(
    tx: &mut Tx,
    event_id: &str,
    now: Millis,
    actor: &Actor,
    unit: Option<&str>,
    action: &str,
    from: Option<State>,
    to: State,
    note: &str,
    lon: Option<i64>,
    lat: Option<i64>,
) -> DbResult<String> {
    let (id, q) = step_insert(event_id, now, actor, unit, action, from, to, note, lon, lat);
    tx.execute(q).await?;
    Ok(id)
}

/// Applies column changes to an event if its version is still `version`; bumps the version.
/// Fails with a clear "stale" error otherwise.
pub async fn update(tx: &mut Tx, id: &str, version: i64, now: Millis, sets: &[(&str, Value)]) -> AppResult<()> {
    let mut q = Sql::new("UPDATE events SET version = version + 1, updated_ms = ", []);
    q.bind(now);
    for (col, v) in sets {
        q.push(", ").push(col).push(" = ").bind(v.clone());
    }
    q.push(" WHERE id = ").bind(id).push(" AND version = ").bind(version);
    if tx.execute(q).await? == 0 {
        return Err(AppError::conflict("event.stale", "该事件已被他人处理（页面内容已过期），请刷新后重试"));
    }
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Step {
    pub id: String,
    pub event_id: String,
    pub at_ms: i64,
    pub actor: String,
    pub unit_code: Option<String>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub note: String,
    pub lon_e6: Option<i64>,
    pub lat_e6: Option<i64>,
}

pub async fn steps(db: &Db, event_id: &str) -> DbResult<Vec<Step>> {
    db.fetch_all(sql!("SELECT * FROM event_steps WHERE event_id = $1 ORDER BY at_ms, id", event_id)).await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: String,
    pub event_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub data_b64: String,
}

pub async fn attachments(db: &Db, event_id: &str) -> DbResult<Vec<(String, String, i64)>> {
    db.fetch_all(sql!("SELECT id, filename, size FROM event_attachments WHERE event_id = $1 ORDER BY created_ms, id", event_id)).await
}

pub async fn attachment(db: &Db, id: &str) -> DbResult<Option<AttachmentRow>> {
    db.fetch_optional(sql!("SELECT id, event_id, filename, content_type, size, data_b64 FROM event_attachments WHERE id = $1", id)).await
}

// ---------------------------------------------------------------------------------------------
// Whistles

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Whistle {
    pub id: String,
    pub event_id: String,
    pub kind: String,
    pub raised_by: String,
    pub unit_code: String,
    pub raised_ms: i64,
    pub deadline_ms: i64,
    pub note: String,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Participant {
    pub whistle_id: String,
    pub department_id: String,
    pub name: String,
    pub signed_ms: Option<i64>,
    pub signed_by: Option<String>,
    pub late: i64,
}

pub async fn whistles(db: &Db, event_id: &str) -> DbResult<Vec<(Whistle, Vec<Participant>)>> {
    let ws: Vec<Whistle> = db.fetch_all(sql!("SELECT * FROM whistles WHERE event_id = $1 ORDER BY raised_ms", event_id)).await?;
    let mut out = Vec::new();
    for w in ws {
        let ps: Vec<Participant> = db
            .fetch_all(sql!("SELECT p.whistle_id, p.department_id, d.name, p.signed_ms, p.signed_by, p.late FROM whistle_participants p JOIN departments d ON d.id = p.department_id WHERE p.whistle_id = $1 ORDER BY d.name", w.id.as_str()))
            .await?;
        out.push((w, ps));
    }
    Ok(out)
}

pub async fn enqueue(tx: &mut Tx, now: Millis, channel: &str, recipient: &str, message: &str, event_id: Option<&str>) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO outbox (id, channel, recipient, message, event_id, created_ms, attempts) VALUES ($1, $2, $3, $4, $5, $6, 0)",
        new_id(),
        channel,
        recipient,
        message,
        event_id,
        now
    ))
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct OutboxRow {
    pub id: String,
    pub channel: String,
    pub recipient: String,
    pub message: String,
    pub event_id: Option<String>,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

pub async fn pending_outbox(db: &Db, limit: i64) -> DbResult<Vec<OutboxRow>> {
    db.fetch_all(sql!("SELECT * FROM outbox WHERE sent_ms IS NULL AND attempts < 10 ORDER BY created_ms, id LIMIT $1", limit)).await
}

pub async fn outbox_for(db: &Db, event_id: &str) -> DbResult<Vec<OutboxRow>> {
    db.fetch_all(sql!("SELECT * FROM outbox WHERE event_id = $1 ORDER BY created_ms, id", event_id)).await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RoutingRule {
    pub id: String,
    pub type_code: String,
    pub area_code: String,
    pub department_id: String,
    pub department: String,
    pub department_unit: String,
}

pub async fn routing_rules(db: &Db) -> DbResult<Vec<RoutingRule>> {
    db.fetch_all(sql!(
        "SELECT r.id, r.type_code, r.area_code, r.department_id, d.name AS department, d.unit_code AS department_unit FROM routing_rules r JOIN departments d ON d.id = r.department_id ORDER BY r.type_code, r.area_code"
    ))
    .await
}

pub async fn remove_rule(tx: &mut Tx, id: &str) -> DbResult<u64> {
    tx.execute(sql!("DELETE FROM routing_rules WHERE id = $1", id)).await
}

/// Events about a registered house, newest first (for the house's page).
pub async fn about_house(db: &Db, house_id: &str) -> DbResult<Vec<EventRow>> {
    db.fetch_all(sql!("SELECT * FROM events WHERE house_id = $1 ORDER BY created_ms DESC LIMIT 50", house_id)).await
}

/// Events about a registered person, newest first (for the person's page).
pub async fn about_person(db: &Db, person_id: &str) -> DbResult<Vec<EventRow>> {
    db.fetch_all(sql!("SELECT * FROM events WHERE person_id = $1 ORDER BY created_ms DESC LIMIT 50", person_id)).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_numbers_pad_to_four_digits_and_grow_past_them() {
        assert_eq!(super::event_number("20261207", 7), "20261207-0007");
        assert_eq!(super::event_number("20261207", 999), "20261207-0999");
        assert_eq!(super::event_number("20261207", 12_345), "20261207-12345");
    }
}
