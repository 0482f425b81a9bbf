//! SQL for volunteers, the ledger and the points bank. Writes take a [`Tx`]; the service layer puts
//! each change and its audit record in one transaction.

use platform::clock::Millis;
use platform::db::{DbResult, Sql, new_id};
use platform::scope::{Scope, UnitCode};
use platform::{AppError, AppResult, Db, Tx, sql};
use serde::Serialize;

use crate::model::{self, AccountKind, Currency, TimeBankConfig, TransferKind};

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct VolunteerRow {
    pub id: String,
    pub volunteer_no: String,
    pub person_id: String,
    #[serde(skip)]
    pub id_index: String,
    #[serde(skip)]
    pub user_id: Option<String>,
    pub unit_code: String,
    pub name: String,
    pub sex: Option<String>,
    pub birth_date: Option<String>,
    pub phone_masked: Option<String>,
    #[serde(skip)]
    pub phone_enc: Option<String>,
    pub skills: String,
    pub availability: String,
    pub guardian_name: Option<String>,
    pub guardian_consent: i64,
    pub stars: i64,
    pub status: String,
    pub registered_ms: i64,
    pub synthetic: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct OrgRow {
    pub id: String,
    pub unit_code: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub contact: String,
    pub created_ms: i64,
    pub synthetic: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct ActivityRow {
    pub id: String,
    pub org_id: String,
    pub unit_code: String,
    pub title: String,
    pub description: String,
    pub place: String,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub quota: i64,
    pub signed_up: i64,
    pub state: String,
    pub created_by: String,
    pub created_ms: i64,
    pub synthetic: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct SignupRow {
    pub id: String,
    pub activity_id: String,
    pub volunteer_id: String,
    pub signed_ms: i64,
    pub checkin_ms: Option<i64>,
    pub checkout_ms: Option<i64>,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RecordRow {
    pub id: String,
    pub volunteer_id: String,
    pub activity_id: Option<String>,
    pub signup_id: Option<String>,
    pub org_id: String,
    pub unit_code: String,
    pub content: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub minutes: i64,
    pub kind: String,
    pub corrects_id: Option<String>,
    pub state: String,
    pub confirmed_by: Option<String>,
    pub confirmed_ms: Option<i64>,
    pub publish_until_ms: Option<i64>,
    pub objection: Option<String>,
    pub created_ms: i64,
    pub synthetic: i64,
}

impl RecordRow {
    /// The state as of `now`: a published record whose window has passed is final.
    pub fn state_at(&self, now: Millis) -> model::RecordState {
        model::RecordState::parse(&self.state).unwrap_or(model::RecordState::Pending).effective(self.publish_until_ms, now)
    }
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct NoteRow {
    pub id: String,
    pub volunteer_id: String,
    pub block: String,
    pub content: String,
    pub on_date: String,
    pub issuer: String,
    pub created_by: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct StarAppRow {
    pub id: String,
    pub volunteer_id: String,
    pub unit_code: String,
    pub level: i64,
    pub minutes_at: i64,
    pub state: String,
    pub applied_ms: i64,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
    pub note: String,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct AccountRow {
    pub id: String,
    pub currency: String,
    pub kind: String,
    pub owner: String,
    pub unit_code: String,
    pub balance: i64,
    pub created_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct TransferRow {
    pub id: String,
    pub currency: String,
    pub kind: String,
    pub from_account: String,
    pub to_account: String,
    pub amount: i64,
    pub reason: String,
    pub ref_id: Option<String>,
    pub corrects_id: Option<String>,
    pub service_day: Option<String>,
    pub idem_key: Option<String>,
    pub actor: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct ServiceRow {
    pub id: String,
    pub unit_code: String,
    pub name: String,
    pub minutes: i64,
    pub active: i64,
    pub created_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RelativeRow {
    pub id: String,
    pub volunteer_id: String,
    pub person_id: String,
    pub name: String,
    pub relation: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RuleSetRow {
    pub id: String,
    pub unit_code: String,
    pub version: i64,
    pub state: String,
    pub meeting_ref: Option<String>,
    pub approved_by: Option<String>,
    pub approved_ms: Option<i64>,
    pub created_by: String,
    pub created_ms: i64,
    /// Who may spend the household's points: 'head' (户主) or 'members'.
    pub household_spend: String,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RuleRow {
    pub id: String,
    pub set_id: String,
    pub code: String,
    pub item: String,
    pub points: i64,
    pub evidence: String,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct AwardRow {
    pub id: String,
    pub unit_code: String,
    pub household_id: String,
    pub person_id: Option<String>,
    pub rule_id: String,
    pub points: i64,
    pub source: String,
    pub evidence: String,
    pub state: String,
    pub submitted_by: String,
    pub reviewed_by: Option<String>,
    pub reviewed_ms: Option<i64>,
    pub checked_by: Option<String>,
    pub checked_ms: Option<i64>,
    pub transfer_id: Option<String>,
    #[serde(skip)]
    pub idem_key: Option<String>,
    pub occurred_ms: i64,
    pub created_ms: i64,
    pub synthetic: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct ItemRow {
    pub id: String,
    pub unit_code: String,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    pub active: i64,
    pub created_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RedemptionRow {
    pub id: String,
    pub item_id: String,
    pub unit_code: String,
    pub household_id: String,
    pub transfer_id: String,
    pub points: i64,
    pub by_user: String,
    pub created_ms: i64,
    /// 'household' or 'person': whose account paid.
    pub account_kind: String,
    pub person_id: Option<String>,
    /// Staff who redeemed on the resident's behalf, her presence confirmed.
    pub assisted_by: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Volunteers

pub async fn volunteer(db: &Db, id: &str) -> DbResult<Option<VolunteerRow>> {
    db.fetch_optional(sql!("SELECT * FROM vol_volunteers WHERE id = $1", id)).await
}

pub async fn volunteer_in(db: &Db, scope: &Scope, id: &str) -> DbResult<Option<VolunteerRow>> {
    let mut q = Sql::new("SELECT * FROM vol_volunteers WHERE id = ", []);
    q.bind(id).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    db.fetch_optional(q).await
}

pub async fn volunteer_of_user(db: &Db, user_id: &str) -> DbResult<Option<VolunteerRow>> {
    db.fetch_optional(sql!("SELECT * FROM vol_volunteers WHERE user_id = $1", user_id)).await
}

pub async fn volunteer_of_person(db: &Db, person_id: &str) -> DbResult<Option<VolunteerRow>> {
    db.fetch_optional(sql!("SELECT * FROM vol_volunteers WHERE person_id = $1", person_id)).await
}

pub async fn volunteers(db: &Db, scope: &Scope, q: &str, limit: i64, offset: i64) -> DbResult<(Vec<VolunteerRow>, i64)> {
    let build = |select: &str| {
        let mut s = Sql::new(select, []);
        s.push(" WHERE ");
        scope.push_filter(&mut s, "unit_code");
        if !q.trim().is_empty() {
            s.push(" AND (name LIKE ")
                .bind(format!("%{}%", platform::db::like_escape(q.trim())))
                .push(" ESCAPE '\\' OR volunteer_no = ")
                .bind(q.trim())
                .push(")");
        }
        s
    };
    let total = db.scalar(build("SELECT COUNT(*) FROM vol_volunteers")).await?;
    let mut s = build("SELECT * FROM vol_volunteers");
    s.push(" ORDER BY registered_ms DESC, id");
    s.page(limit, offset);
    Ok((db.fetch_all(s).await?, total))
}

/// Active volunteers registered in a subtree.
pub async fn count_volunteers(db: &Db, root: &UnitCode) -> DbResult<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM vol_volunteers WHERE status = 'active' AND ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    db.scalar(q).await
}

/// The next number of a named sequence (volunteer numbers per county).
pub async fn next_seq(tx: &mut Tx, name: &str) -> DbResult<i64> {
    tx.execute(sql!("INSERT INTO vol_seq (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", name)).await?;
    let (v,): (i64,) = tx.fetch_one(sql!("UPDATE vol_seq SET value = value + 1 WHERE name = $1 RETURNING value", name)).await?;
    Ok(v)
}

pub struct NewVolunteer<'a> {
    pub id: &'a str,
    pub volunteer_no: &'a str,
    pub person_id: &'a str,
    pub id_index: &'a str,
    pub user_id: Option<&'a str>,
    pub unit_code: &'a str,
    pub name: &'a str,
    pub sex: Option<&'a str>,
    pub birth_date: Option<&'a str>,
    pub phone_masked: Option<String>,
    pub phone_enc: Option<String>,
    pub skills: &'a str,
    pub availability: &'a str,
    pub guardian_name: Option<&'a str>,
    pub guardian_consent: bool,
    pub now: Millis,
    pub synthetic: bool,
}

pub async fn insert_volunteer(tx: &mut Tx, v: &NewVolunteer<'_>) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO vol_volunteers (id, volunteer_no, person_id, id_index, user_id, unit_code, name, sex, birth_date, phone_masked, phone_enc, skills, availability, guardian_name, guardian_consent, registered_ms, synthetic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        v.id, v.volunteer_no, v.person_id, v.id_index, v.user_id, v.unit_code, v.name, v.sex, v.birth_date, v.phone_masked.clone(), v.phone_enc.clone(), v.skills, v.availability, v.guardian_name, v.guardian_consent, v.now, v.synthetic
    ))
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Organisations and activities

pub async fn orgs(db: &Db, scope: &Scope) -> DbResult<Vec<OrgRow>> {
    let mut q = Sql::new("SELECT * FROM vol_orgs WHERE ", []);
    scope.push_filter(&mut q, "unit_code");
    q.push(" ORDER BY unit_code, kind, name LIMIT 500");
    db.fetch_all(q).await
}

pub async fn org(db: &Db, id: &str) -> DbResult<Option<OrgRow>> {
    db.fetch_optional(sql!("SELECT * FROM vol_orgs WHERE id = $1", id)).await
}

pub async fn insert_org(tx: &mut Tx, o: &OrgRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO vol_orgs (id, unit_code, name, kind, parent_id, contact, created_ms, synthetic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        o.id.as_str(),
        o.unit_code.as_str(),
        o.name.as_str(),
        o.kind.as_str(),
        o.parent_id.clone(),
        o.contact.as_str(),
        o.created_ms,
        o.synthetic
    ))
    .await?;
    Ok(())
}

/// Village-level units of a subtree that have a volunteer station registered here.
pub async fn station_units(db: &Db, root: &UnitCode) -> DbResult<Vec<String>> {
    let mut q = Sql::new("SELECT DISTINCT unit_code FROM vol_orgs WHERE kind = 'station' AND ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    let rows: Vec<(String,)> = db.fetch_all(q).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn insert_activity(tx: &mut Tx, a: &ActivityRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO vol_activities (id, org_id, unit_code, title, description, place, starts_ms, ends_ms, quota, signed_up, state, created_by, created_ms, synthetic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        a.id.as_str(), a.org_id.as_str(), a.unit_code.as_str(), a.title.as_str(), a.description.as_str(), a.place.as_str(), a.starts_ms, a.ends_ms, a.quota, a.signed_up, a.state.as_str(), a.created_by.as_str(), a.created_ms, a.synthetic
    ))
    .await?;
    Ok(())
}

pub async fn activity(db: &Db, id: &str) -> DbResult<Option<ActivityRow>> {
    db.fetch_optional(sql!("SELECT * FROM vol_activities WHERE id = $1", id)).await
}

/// Activities in a scope, soonest first; `from_ms` hides ones that ended before it.
pub async fn activities(db: &Db, scope: &Scope, from_ms: Millis, limit: i64) -> DbResult<Vec<ActivityRow>> {
    let mut q = Sql::new("SELECT * FROM vol_activities WHERE ends_ms >= ", []);
    q.bind(from_ms).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    q.push(" ORDER BY starts_ms, id LIMIT ").bind(limit);
    db.fetch_all(q).await
}

/// Takes a place if one is left: the guarded UPDATE is the quota check, so two last-minute sign-ups
/// cannot both get the last place.
pub async fn take_place(tx: &mut Tx, activity_id: &str) -> DbResult<bool> {
    Ok(tx
        .execute(sql!("UPDATE vol_activities SET signed_up = signed_up + 1 WHERE id = $1 AND signed_up < quota AND state = 'recruiting'", activity_id))
        .await?
        == 1)
}

pub async fn insert_signup(tx: &mut Tx, s: &SignupRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO vol_signups (id, activity_id, volunteer_id, signed_ms) VALUES ($1, $2, $3, $4)",
        s.id.as_str(),
        s.activity_id.as_str(),
        s.volunteer_id.as_str(),
        s.signed_ms
    ))
    .await?;
    Ok(())
}

pub async fn signup(db: &Db, activity_id: &str, volunteer_id: &str) -> DbResult<Option<SignupRow>> {
    db.fetch_optional(sql!("SELECT * FROM vol_signups WHERE activity_id = $1 AND volunteer_id = $2", activity_id, volunteer_id)).await
}

pub async fn signup_tx(tx: &mut Tx, activity_id: &str, volunteer_id: &str) -> DbResult<Option<SignupRow>> {
    tx.fetch_optional(sql!("SELECT * FROM vol_signups WHERE activity_id = $1 AND volunteer_id = $2", activity_id, volunteer_id)).await
}

pub async fn signups_of_activity(db: &Db, activity_id: &str) -> DbResult<Vec<(SignupRow, String, String)>> {
    #[derive(sqlx::FromRow)]
    struct SignupWithName {
        id: String,
        activity_id: String,
        volunteer_id: String,
        signed_ms: i64,
        checkin_ms: Option<i64>,
        checkout_ms: Option<i64>,
        name: String,
        volunteer_no: String,
    }
    let rows: Vec<SignupWithName> = db
        .fetch_all(sql!(
            "SELECT s.*, v.name, v.volunteer_no FROM vol_signups s JOIN vol_volunteers v ON v.id = s.volunteer_id WHERE s.activity_id = $1 ORDER BY s.signed_ms, s.id",
            activity_id
        ))
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                SignupRow {
                    id: r.id,
                    activity_id: r.activity_id,
                    volunteer_id: r.volunteer_id,
                    signed_ms: r.signed_ms,
                    checkin_ms: r.checkin_ms,
                    checkout_ms: r.checkout_ms,
                },
                r.name,
                r.volunteer_no,
            )
        })
        .collect())
}

pub async fn signups_of_volunteer(db: &Db, volunteer_id: &str) -> DbResult<Vec<SignupRow>> {
    db.fetch_all(sql!("SELECT * FROM vol_signups WHERE volunteer_id = $1", volunteer_id)).await
}

/// Sets check-in once: the guard makes a second scan (or a race of two) a no-op that the caller reports.
pub async fn set_checkin(tx: &mut Tx, signup_id: &str, at: Millis) -> DbResult<bool> {
    Ok(tx.execute(sql!("UPDATE vol_signups SET checkin_ms = $1 WHERE id = $2 AND checkin_ms IS NULL", at, signup_id)).await? == 1)
}

pub async fn set_checkout(tx: &mut Tx, signup_id: &str, at: Millis) -> DbResult<bool> {
    Ok(tx.execute(sql!("UPDATE vol_signups SET checkout_ms = $1 WHERE id = $2 AND checkin_ms IS NOT NULL AND checkout_ms IS NULL", at, signup_id)).await? == 1)
}

// ---------------------------------------------------------------------------------------------
// Service records

pub async fn insert_record(tx: &mut Tx, r: &RecordRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO vol_records (id, volunteer_id, activity_id, signup_id, org_id, unit_code, content, started_ms, ended_ms, minutes, kind, corrects_id, state, confirmed_by, confirmed_ms, publish_until_ms, objection, created_ms, synthetic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        r.id.as_str(), r.volunteer_id.as_str(), r.activity_id.clone(), r.signup_id.clone(), r.org_id.as_str(), r.unit_code.as_str(), r.content.as_str(), r.started_ms, r.ended_ms, r.minutes, r.kind.as_str(), r.corrects_id.clone(), r.state.as_str(), r.confirmed_by.clone(), r.confirmed_ms, r.publish_until_ms, r.objection.clone(), r.created_ms, r.synthetic
    ))
    .await?;
    Ok(())
}

pub async fn record(db: &Db, id: &str) -> DbResult<Option<RecordRow>> {
    db.fetch_optional(sql!("SELECT * FROM vol_records WHERE id = $1", id)).await
}

pub async fn record_tx(tx: &mut Tx, id: &str) -> DbResult<Option<RecordRow>> {
    tx.fetch_optional(sql!("SELECT * FROM vol_records WHERE id = $1", id)).await
}

pub async fn records_of(db: &Db, volunteer_id: &str) -> DbResult<Vec<RecordRow>> {
    db.fetch_all(sql!("SELECT * FROM vol_records WHERE volunteer_id = $1 ORDER BY started_ms DESC, created_ms DESC", volunteer_id)).await
}

/// Service records of a volunteer that overlap [from, to) and still count (not rejected).
pub async fn overlapping(tx: &mut Tx, volunteer_id: &str, from: Millis, to: Millis) -> DbResult<i64> {
    tx.scalar(sql!(
        "SELECT COUNT(*) FROM vol_records WHERE volunteer_id = $1 AND kind = 'service' AND state <> 'rejected' AND started_ms < $2 AND $3 < ended_ms",
        volunteer_id,
        to,
        from
    ))
    .await
}

/// Records in a scope in one state, for the organiser's queue.
pub async fn records_in(db: &Db, scope: &Scope, state: &str, limit: i64) -> DbResult<Vec<RecordRow>> {
    let mut q = Sql::new("SELECT * FROM vol_records WHERE state = ", []);
    q.bind(state).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    q.push(" ORDER BY started_ms DESC, id LIMIT ").bind(limit);
    db.fetch_all(q).await
}

/// Changes a record's state only from the state the caller saw.
pub async fn set_record_state(
    tx: &mut Tx,
    id: &str,
    from: &str,
    to: &str,
    minutes: Option<i64>,
    confirmed: Option<(&str, Millis, Millis)>,
    objection: Option<&str>,
) -> DbResult<bool> {
    let mut q = Sql::new("UPDATE vol_records SET state = ", []);
    q.bind(to);
    if let Some(m) = minutes {
        q.push(", minutes = ").bind(m);
    }
    if let Some((by, at, until)) = confirmed {
        q.push(", confirmed_by = ").bind(by).push(", confirmed_ms = ").bind(at).push(", publish_until_ms = ").bind(until);
    }
    if let Some(o) = objection {
        q.push(", objection = ").bind(o);
    }
    q.push(" WHERE id = ").bind(id).push(" AND state = ").bind(from);
    Ok(tx.execute(q).await? == 1)
}

/// Minutes of final service of a volunteer as of `now` (corrections included).
pub async fn final_minutes(db: &Db, volunteer_id: &str, now: Millis) -> DbResult<i64> {
    db.scalar(sql!(
        "SELECT CAST(COALESCE(SUM(minutes), 0) AS BIGINT) FROM vol_records WHERE volunteer_id = $1 AND (state = 'final' OR (state = 'published' AND publish_until_ms <= $2))",
        volunteer_id,
        now
    ))
    .await
}

pub async fn notes_of(db: &Db, volunteer_id: &str) -> DbResult<Vec<NoteRow>> {
    db.fetch_all(sql!("SELECT * FROM vol_notes WHERE volunteer_id = $1 ORDER BY on_date DESC, created_ms DESC", volunteer_id)).await
}

pub async fn insert_note(tx: &mut Tx, n: &NoteRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO vol_notes (id, volunteer_id, block, content, on_date, issuer, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        n.id.as_str(),
        n.volunteer_id.as_str(),
        n.block.as_str(),
        n.content.as_str(),
        n.on_date.as_str(),
        n.issuer.as_str(),
        n.created_by.as_str(),
        n.created_ms
    ))
    .await?;
    Ok(())
}

pub async fn insert_proof(tx: &mut Tx, no: &str, volunteer_id: &str, minutes: i64, records: i64, now: Millis, to: &str) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO vol_proofs (certificate_no, volunteer_id, minutes, records, issued_ms, issued_to) VALUES ($1, $2, $3, $4, $5, $6)",
        no,
        volunteer_id,
        minutes,
        records,
        now,
        to
    ))
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct ProofRow {
    pub certificate_no: String,
    pub volunteer_id: String,
    pub minutes: i64,
    pub records: i64,
    pub issued_ms: i64,
    pub issued_to: String,
}

pub async fn proof(db: &Db, no: &str) -> DbResult<Option<ProofRow>> {
    db.fetch_optional(sql!("SELECT * FROM vol_proofs WHERE certificate_no = $1", no)).await
}

pub async fn star_apps_of(db: &Db, volunteer_id: &str) -> DbResult<Vec<StarAppRow>> {
    db.fetch_all(sql!("SELECT * FROM vol_star_apps WHERE volunteer_id = $1 ORDER BY applied_ms DESC", volunteer_id)).await
}

pub async fn star_apps_in(db: &Db, scope: &Scope, state: &str) -> DbResult<Vec<StarAppRow>> {
    let mut q = Sql::new("SELECT * FROM vol_star_apps WHERE state = ", []);
    q.bind(state).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    q.push(" ORDER BY applied_ms LIMIT 200");
    db.fetch_all(q).await
}

// ---------------------------------------------------------------------------------------------
// Time-bank configuration

#[derive(Clone, Debug, sqlx::FromRow)]
struct ConfigRow {
    unit_code: String,
    preset: String,
    storage_cap: Option<i64>,
    daily_cap: Option<i64>,
    unlock_age: Option<i64>,
    unlock_earned: Option<i64>,
    overdraft: i64,
    welcome: i64,
    expiry_days: Option<i64>,
    gifts: i64,
    stars: String,
}

/// The rules that apply at a unit: its county's configuration, else the city's, else the default.
pub async fn config_for(db: &Db, unit: &str) -> DbResult<(TimeBankConfig, model::StarLadder, Option<String>)> {
    let county: String = unit.chars().take(6).collect();
    let city: String = unit.chars().take(4).collect();
    let rows: Vec<ConfigRow> =
        db.fetch_all(sql!("SELECT * FROM tb_config WHERE unit_code = $1 OR unit_code = $2 ORDER BY unit_code DESC", county.as_str(), city.as_str())).await?;
    Ok(match rows.into_iter().next() {
        Some(r) => (
            TimeBankConfig {
                preset: r.preset,
                storage_cap: r.storage_cap,
                daily_cap: r.daily_cap,
                unlock_age: r.unlock_age,
                unlock_earned: r.unlock_earned,
                overdraft: r.overdraft,
                welcome: r.welcome,
                expiry_days: r.expiry_days,
                gifts: r.gifts != 0,
            },
            model::StarLadder::parse(&r.stars).unwrap_or_default(),
            Some(r.unit_code),
        ),
        None => (TimeBankConfig::default_preset(), model::StarLadder::default(), None),
    })
}

/// The level that approves each star, as the city set it (the default when it has not).
pub async fn star_approvers_for(db: &Db, unit: &str) -> DbResult<model::StarApprovers> {
    let city: String = unit.chars().take(4).collect();
    let row: Option<(Option<String>,)> = db.fetch_optional(sql!("SELECT star_approvers FROM tb_config WHERE unit_code = $1", city.as_str())).await?;
    Ok(row.and_then(|r| r.0).and_then(|s| model::StarApprovers::parse(&s).ok()).unwrap_or_default())
}

/// Stores the city's star approval levels; a city without a time-bank configuration of its own
/// gets the default one beside them (counties keep theirs).
pub async fn put_star_approvers(tx: &mut Tx, city: &str, a: &model::StarApprovers, by: &str, now: Millis) -> DbResult<()> {
    let n = tx
        .execute(sql!("UPDATE tb_config SET star_approvers = $1, updated_by = $2, updated_ms = $3 WHERE unit_code = $4", a.to_config(), by, now, city))
        .await?;
    if n == 0 {
        put_config(tx, city, &TimeBankConfig::default_preset(), &model::StarLadder::default(), by, now).await?;
        tx.execute(sql!("UPDATE tb_config SET star_approvers = $1 WHERE unit_code = $2", a.to_config(), city)).await?;
    }
    Ok(())
}

pub async fn put_config(tx: &mut Tx, unit: &str, c: &TimeBankConfig, stars: &model::StarLadder, by: &str, now: Millis) -> DbResult<()> {
    let ladder = stars.0.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",");
    tx.execute(sql!(
        "INSERT INTO tb_config (unit_code, preset, storage_cap, daily_cap, unlock_age, unlock_earned, overdraft, welcome, expiry_days, gifts, stars, updated_by, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (unit_code) DO UPDATE SET preset = $2, storage_cap = $3, daily_cap = $4, unlock_age = $5, unlock_earned = $6, overdraft = $7, welcome = $8, expiry_days = $9, gifts = $10, stars = $11, updated_by = $12, updated_ms = $13",
        unit, c.preset.as_str(), c.storage_cap, c.daily_cap, c.unlock_age, c.unlock_earned, c.overdraft, c.welcome, c.expiry_days, c.gifts, ladder, by, now
    ))
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The ledger

/// The account of (currency, kind, owner), opened on first use.
pub async fn account(tx: &mut Tx, currency: Currency, kind: AccountKind, owner: &str, unit: &str, now: Millis) -> DbResult<AccountRow> {
    tx.execute(sql!(
        "INSERT INTO ledger_accounts (id, currency, kind, owner, unit_code, balance, created_ms) VALUES ($1, $2, $3, $4, $5, 0, $6) ON CONFLICT (currency, kind, owner) DO NOTHING",
        new_id(),
        currency.as_str(),
        kind.as_str(),
        owner,
        unit,
        now
    ))
    .await?;
    tx.fetch_one(sql!("SELECT * FROM ledger_accounts WHERE currency = $1 AND kind = $2 AND owner = $3", currency.as_str(), kind.as_str(), owner)).await
}

pub async fn find_account(db: &Db, currency: Currency, kind: AccountKind, owner: &str) -> DbResult<Option<AccountRow>> {
    db.fetch_optional(sql!("SELECT * FROM ledger_accounts WHERE currency = $1 AND kind = $2 AND owner = $3", currency.as_str(), kind.as_str(), owner)).await
}

pub struct NewTransfer<'a> {
    pub currency: Currency,
    pub kind: TransferKind,
    pub from: &'a AccountRow,
    pub to: &'a AccountRow,
    pub amount: i64,
    /// The payer's floor (`None` = may go negative without limit); checked when the kind spends.
    pub floor: Option<i64>,
    pub reason: &'a str,
    pub ref_id: Option<&'a str>,
    pub corrects_id: Option<&'a str>,
    pub service_day: Option<&'a str>,
    pub idem_key: Option<&'a str>,
    pub actor: &'a str,
    pub now: Millis,
}

/// Posts a transfer: the debit (guarded by the floor), the credit, the transfer row and its two
/// movements, all in the caller's transaction — if anything fails the caller drops the transaction
/// and neither movement exists.
pub async fn post(tx: &mut Tx, t: &NewTransfer<'_>) -> AppResult<String> {
    let [debit, credit] = model::movements(&t.from.id, &t.to.id, t.amount)?;
    if t.from.currency != t.currency.as_str() || t.to.currency != t.currency.as_str() {
        return Err(AppError::internal("ledger: currency mismatch"));
    }
    let mut q = Sql::new("UPDATE ledger_accounts SET balance = balance - ", []);
    q.bind(t.amount).push(" WHERE id = ").bind(t.from.id.as_str());
    if let (true, Some(f)) = (t.kind.checks_floor(), t.floor) {
        q.push(" AND balance - ").bind(t.amount).push(" >= ").bind(f);
    }
    if tx.execute(q).await? != 1 {
        let (balance,): (i64,) = tx.fetch_one(sql!("SELECT balance FROM ledger_accounts WHERE id = $1", t.from.id.as_str())).await?;
        model::check_funds(balance, t.amount, t.floor, t.currency)?;
        return Err(AppError::conflict("ledger.insufficient", "余额不足"));
    }
    if tx.execute(sql!("UPDATE ledger_accounts SET balance = balance + $1 WHERE id = $2", t.amount, t.to.id.as_str())).await? != 1 {
        return Err(AppError::internal("ledger: credit account missing"));
    }
    let id = new_id();
    let r = tx
        .execute(sql!(
            "INSERT INTO ledger_transfers (id, currency, kind, from_account, to_account, amount, reason, ref_id, corrects_id, service_day, idem_key, actor, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            id.as_str(), t.currency.as_str(), t.kind.as_str(), t.from.id.as_str(), t.to.id.as_str(), t.amount, t.reason, t.ref_id, t.corrects_id, t.service_day, t.idem_key, t.actor, t.now
        ))
        .await;
    match r {
        Err(e) if e.is_unique_violation() => return Err(AppError::conflict("ledger.duplicate", "该笔已记账，不能重复")),
        r => {
            r?;
        }
    }
    for m in [debit, credit] {
        tx.execute(sql!(
            "INSERT INTO ledger_movements (id, transfer_id, account_id, amount, created_ms) VALUES ($1, $2, $3, $4, $5)",
            new_id(),
            id.as_str(),
            m.account.as_str(),
            m.amount,
            t.now
        ))
        .await?;
    }
    Ok(id)
}

/// Transfers touching an account, newest first.
pub async fn history(db: &Db, account_id: &str, limit: i64) -> DbResult<Vec<TransferRow>> {
    db.fetch_all(sql!("SELECT * FROM ledger_transfers WHERE from_account = $1 OR to_account = $1 ORDER BY created_ms DESC, id LIMIT $2", account_id, limit))
        .await
}

pub async fn transfer(db: &Db, id: &str) -> DbResult<Option<TransferRow>> {
    db.fetch_optional(sql!("SELECT * FROM ledger_transfers WHERE id = $1", id)).await
}

pub async fn transfer_by_key(db: &Db, key: &str) -> DbResult<Option<TransferRow>> {
    db.fetch_optional(sql!("SELECT * FROM ledger_transfers WHERE idem_key = $1", key)).await
}

pub async fn transfer_by_key_tx(tx: &mut Tx, key: &str) -> DbResult<Option<TransferRow>> {
    tx.fetch_optional(sql!("SELECT * FROM ledger_transfers WHERE idem_key = $1", key)).await
}

/// Minutes deposited into an account for one service day (the daily cap).
pub async fn deposited_on(tx: &mut Tx, account_id: &str, day: &str) -> DbResult<i64> {
    tx.scalar(sql!(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_transfers WHERE to_account = $1 AND kind = 'deposit' AND service_day = $2",
        account_id,
        day
    ))
    .await
}

/// Minutes a person earned by their own service (deposits less corrections of deposits).
pub async fn earned(db: &Db, account_id: &str) -> DbResult<i64> {
    db.scalar(sql!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN to_account = $1 THEN amount ELSE -amount END), 0) AS BIGINT) FROM ledger_transfers WHERE (kind = 'deposit' AND to_account = $1) OR (kind = 'correction' AND ref_id IS NOT NULL AND (to_account = $1 OR from_account = $1))",
        account_id
    ))
    .await
}

/// The ledger's own audit: per currency the movements must sum to zero, every transfer must have
/// exactly two movements summing to zero, and every cached balance must equal its movements.
/// Returns the problems found (empty = sound).
pub async fn check_ledger(db: &Db) -> DbResult<Vec<String>> {
    let mut problems = Vec::new();
    let sums: Vec<(String, i64)> = db
        .fetch_all(sql!(
            "SELECT a.currency, CAST(COALESCE(SUM(m.amount), 0) AS BIGINT) FROM ledger_movements m JOIN ledger_accounts a ON a.id = m.account_id GROUP BY a.currency"
        ))
        .await?;
    for (c, s) in sums {
        if s != 0 {
            problems.push(format!("{c}: movements sum to {s}"));
        }
    }
    let bad: Vec<(String, i64, i64)> = db
        .fetch_all(sql!(
            "SELECT t.id, CAST(COUNT(m.id) AS BIGINT), CAST(COALESCE(SUM(m.amount), 0) AS BIGINT) FROM ledger_transfers t LEFT JOIN ledger_movements m ON m.transfer_id = t.id GROUP BY t.id HAVING COUNT(m.id) <> 2 OR COALESCE(SUM(m.amount), 0) <> 0"
        ))
        .await?;
    for (id, n, s) in bad {
        problems.push(format!("transfer {id}: {n} movements summing to {s}"));
    }
    let drift: Vec<(String, i64, i64)> = db
        .fetch_all(sql!(
            "SELECT a.id, a.balance, CAST(COALESCE((SELECT SUM(m.amount) FROM ledger_movements m WHERE m.account_id = a.id), 0) AS BIGINT) FROM ledger_accounts a"
        ))
        .await?;
    for (id, cached, real) in drift {
        if cached != real {
            problems.push(format!("account {id}: cached {cached}, movements {real}"));
        }
    }
    Ok(problems)
}

// ---------------------------------------------------------------------------------------------
// Time-bank catalogue and relatives

pub async fn services_for(db: &Db, unit: &str) -> DbResult<Vec<ServiceRow>> {
    // 通存通兑: any county's catalogue in the same city is open to everyone in the city.
    let city: String = unit.chars().take(4).collect();
    let mut q = Sql::new("SELECT * FROM tb_services WHERE active = 1 AND ", []);
    Scope::new(UnitCode::parse(&city).ok().into_iter().collect()).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY unit_code, minutes, name LIMIT 200");
    db.fetch_all(q).await
}

pub async fn service(db: &Db, id: &str) -> DbResult<Option<ServiceRow>> {
    db.fetch_optional(sql!("SELECT * FROM tb_services WHERE id = $1 AND active = 1", id)).await
}

pub async fn insert_service(tx: &mut Tx, s: &ServiceRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO tb_services (id, unit_code, name, minutes, active, created_ms) VALUES ($1, $2, $3, $4, 1, $5)",
        s.id.as_str(),
        s.unit_code.as_str(),
        s.name.as_str(),
        s.minutes,
        s.created_ms
    ))
    .await?;
    Ok(())
}

pub async fn relatives_of(db: &Db, volunteer_id: &str) -> DbResult<Vec<RelativeRow>> {
    db.fetch_all(sql!("SELECT * FROM tb_relatives WHERE volunteer_id = $1 ORDER BY created_ms", volunteer_id)).await
}

pub async fn insert_relative(tx: &mut Tx, r: &RelativeRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO tb_relatives (id, volunteer_id, person_id, name, relation, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        r.id.as_str(),
        r.volunteer_id.as_str(),
        r.person_id.as_str(),
        r.name.as_str(),
        r.relation.as_str(),
        r.created_ms
    ))
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Points bank

pub async fn rule_sets(db: &Db, unit: &str) -> DbResult<Vec<RuleSetRow>> {
    db.fetch_all(sql!("SELECT * FROM pb_rule_sets WHERE unit_code = $1 ORDER BY version DESC", unit)).await
}

pub async fn rule_set(db: &Db, id: &str) -> DbResult<Option<RuleSetRow>> {
    db.fetch_optional(sql!("SELECT * FROM pb_rule_sets WHERE id = $1", id)).await
}

/// The rule set in force at a village: the highest approved version.
pub async fn active_rule_set(db: &Db, unit: &str) -> DbResult<Option<RuleSetRow>> {
    db.fetch_optional(sql!("SELECT * FROM pb_rule_sets WHERE unit_code = $1 AND state = 'approved' ORDER BY version DESC LIMIT 1", unit)).await
}

pub async fn rules_of(db: &Db, set_id: &str) -> DbResult<Vec<RuleRow>> {
    db.fetch_all(sql!("SELECT * FROM pb_rules WHERE set_id = $1 ORDER BY code", set_id)).await
}

pub async fn rule(db: &Db, id: &str) -> DbResult<Option<RuleRow>> {
    db.fetch_optional(sql!("SELECT * FROM pb_rules WHERE id = $1", id)).await
}

pub async fn insert_rule_set(tx: &mut Tx, s: &RuleSetRow, rules: &[RuleRow]) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO pb_rule_sets (id, unit_code, version, state, created_by, created_ms, household_spend) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        s.id.as_str(),
        s.unit_code.as_str(),
        s.version,
        s.state.as_str(),
        s.created_by.as_str(),
        s.created_ms,
        s.household_spend.as_str()
    ))
    .await?;
    for r in rules {
        tx.execute(sql!(
            "INSERT INTO pb_rules (id, set_id, code, item, points, evidence) VALUES ($1, $2, $3, $4, $5, $6)",
            r.id.as_str(),
            s.id.as_str(),
            r.code.as_str(),
            r.item.as_str(),
            r.points,
            r.evidence.as_str()
        ))
        .await?;
    }
    Ok(())
}

pub async fn approve_rule_set(tx: &mut Tx, id: &str, meeting: &str, by: &str, now: Millis) -> DbResult<bool> {
    Ok(tx
        .execute(sql!(
            "UPDATE pb_rule_sets SET state = 'approved', meeting_ref = $1, approved_by = $2, approved_ms = $3 WHERE id = $4 AND state = 'draft'",
            meeting,
            by,
            now,
            id
        ))
        .await?
        == 1)
}

pub async fn next_rule_version(tx: &mut Tx, unit: &str) -> DbResult<i64> {
    tx.scalar(sql!("SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM pb_rule_sets WHERE unit_code = $1", unit)).await
}

pub async fn insert_award(tx: &mut Tx, a: &AwardRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO pb_awards (id, unit_code, household_id, person_id, rule_id, points, source, evidence, state, submitted_by, reviewed_by, reviewed_ms, checked_by, checked_ms, transfer_id, idem_key, occurred_ms, created_ms, synthetic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        a.id.as_str(), a.unit_code.as_str(), a.household_id.as_str(), a.person_id.clone(), a.rule_id.as_str(), a.points, a.source.as_str(), a.evidence.as_str(), a.state.as_str(), a.submitted_by.as_str(), a.reviewed_by.clone(), a.reviewed_ms, a.checked_by.clone(), a.checked_ms, a.transfer_id.clone(), a.idem_key.clone(), a.occurred_ms, a.created_ms, a.synthetic
    ))
    .await?;
    Ok(())
}

pub async fn award(db: &Db, id: &str) -> DbResult<Option<AwardRow>> {
    db.fetch_optional(sql!("SELECT * FROM pb_awards WHERE id = $1", id)).await
}

pub async fn award_by_key(db: &Db, key: &str) -> DbResult<Option<AwardRow>> {
    db.fetch_optional(sql!("SELECT * FROM pb_awards WHERE idem_key = $1", key)).await
}

pub async fn awards_in(db: &Db, scope: &Scope, state: &str, limit: i64) -> DbResult<Vec<AwardRow>> {
    let mut q = Sql::new("SELECT * FROM pb_awards WHERE state = ", []);
    q.bind(state).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    q.push(" ORDER BY created_ms, id LIMIT ").bind(limit);
    db.fetch_all(q).await
}

pub async fn awards_of_household(db: &Db, household_id: &str, limit: i64) -> DbResult<Vec<AwardRow>> {
    db.fetch_all(sql!("SELECT * FROM pb_awards WHERE household_id = $1 ORDER BY created_ms DESC LIMIT $2", household_id, limit)).await
}

/// Approved awards of a village subtree checked in [from, to): the month's publication.
pub async fn approved_between(db: &Db, root: &UnitCode, from: Millis, to: Millis) -> DbResult<Vec<AwardRow>> {
    let mut q = Sql::new("SELECT * FROM pb_awards WHERE state = 'approved' AND checked_ms >= ", []);
    q.bind(from).push(" AND checked_ms < ").bind(to).push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY household_id, checked_ms");
    db.fetch_all(q).await
}

pub async fn set_award_state(tx: &mut Tx, id: &str, from: &str, to: &str, by: &str, now: Millis, review: bool, transfer_id: Option<&str>) -> DbResult<bool> {
    let mut q = Sql::new("UPDATE pb_awards SET state = ", []);
    q.bind(to);
    if review {
        q.push(", reviewed_by = ").bind(by).push(", reviewed_ms = ").bind(now);
    } else {
        q.push(", checked_by = ").bind(by).push(", checked_ms = ").bind(now);
    }
    if let Some(t) = transfer_id {
        q.push(", transfer_id = ").bind(t);
    }
    q.push(" WHERE id = ").bind(id).push(" AND state = ").bind(from);
    Ok(tx.execute(q).await? == 1)
}

pub async fn insert_objection(tx: &mut Tx, id: &str, award_id: &str, unit: &str, text: &str, by: &str, now: Millis) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO pb_objections (id, award_id, unit_code, text, by_user, state, created_ms) VALUES ($1, $2, $3, $4, $5, 'open', $6)",
        id,
        award_id,
        unit,
        text,
        by,
        now
    ))
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct ObjectionRow {
    pub id: String,
    pub award_id: String,
    pub unit_code: String,
    pub text: String,
    pub by_user: String,
    pub state: String,
    pub created_ms: i64,
}

pub async fn objections_in(db: &Db, root: &UnitCode) -> DbResult<Vec<ObjectionRow>> {
    let mut q = Sql::new("SELECT * FROM pb_objections WHERE ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY created_ms DESC LIMIT 200");
    db.fetch_all(q).await
}

pub async fn items(db: &Db, unit: &str) -> DbResult<Vec<ItemRow>> {
    db.fetch_all(sql!("SELECT * FROM pb_items WHERE unit_code = $1 AND active = 1 ORDER BY price, name", unit)).await
}

pub async fn item(db: &Db, id: &str) -> DbResult<Option<ItemRow>> {
    db.fetch_optional(sql!("SELECT * FROM pb_items WHERE id = $1", id)).await
}

pub async fn insert_item(tx: &mut Tx, i: &ItemRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO pb_items (id, unit_code, name, price, stock, active, created_ms) VALUES ($1, $2, $3, $4, $5, 1, $6)",
        i.id.as_str(),
        i.unit_code.as_str(),
        i.name.as_str(),
        i.price,
        i.stock,
        i.created_ms
    ))
    .await?;
    Ok(())
}

/// Takes one from stock if any is left (guarded, like the ledger's debit).
pub async fn take_stock(tx: &mut Tx, item_id: &str) -> DbResult<bool> {
    Ok(tx.execute(sql!("UPDATE pb_items SET stock = stock - 1 WHERE id = $1 AND stock >= 1 AND active = 1", item_id)).await? == 1)
}

pub async fn add_stock(tx: &mut Tx, item_id: &str, n: i64) -> DbResult<bool> {
    Ok(tx.execute(sql!("UPDATE pb_items SET stock = stock + $1 WHERE id = $2", n, item_id)).await? == 1)
}

pub async fn insert_redemption(tx: &mut Tx, r: &RedemptionRow) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO pb_redemptions (id, item_id, unit_code, household_id, transfer_id, points, by_user, created_ms, account_kind, person_id, assisted_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        r.id.as_str(),
        r.item_id.as_str(),
        r.unit_code.as_str(),
        r.household_id.as_str(),
        r.transfer_id.as_str(),
        r.points,
        r.by_user.as_str(),
        r.created_ms,
        r.account_kind.as_str(),
        r.person_id.clone(),
        r.assisted_by.clone()
    ))
    .await?;
    Ok(())
}

pub async fn redemptions_in(db: &Db, unit: &str, limit: i64) -> DbResult<Vec<RedemptionRow>> {
    db.fetch_all(sql!("SELECT * FROM pb_redemptions WHERE unit_code = $1 ORDER BY created_ms DESC LIMIT $2", unit, limit)).await
}

// ---------------------------------------------------------------------------------------------
// Expiry

/// Is expiry enabled anywhere? (Off in every preset: the job then does nothing.)
pub async fn any_expiry(db: &Db) -> DbResult<bool> {
    let n: i64 = db.scalar(sql!("SELECT COUNT(*) FROM tb_config WHERE expiry_days IS NOT NULL")).await?;
    Ok(n > 0)
}

/// Person time accounts, a page at a time by id.
pub async fn person_minute_accounts(db: &Db, after: &str, limit: i64) -> DbResult<Vec<AccountRow>> {
    db.fetch_all(sql!("SELECT * FROM ledger_accounts WHERE currency = 'minutes' AND kind = 'person' AND id > $1 ORDER BY id LIMIT $2", after, limit)).await
}

/// (credited before `cutoff`, debited ever) of an account, in its transaction.
pub async fn credits_and_debits(tx: &mut Tx, account_id: &str, cutoff: Millis) -> DbResult<(i64, i64)> {
    tx.fetch_one(sql!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN to_account = $1 AND created_ms < $2 THEN amount ELSE 0 END), 0) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN from_account = $1 THEN amount ELSE 0 END), 0) AS BIGINT) FROM ledger_transfers WHERE to_account = $1 OR from_account = $1",
        account_id,
        cutoff
    ))
    .await
}
