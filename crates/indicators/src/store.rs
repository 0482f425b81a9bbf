//! SQL of the indicators slice: 填报 records, monthly snapshots and assessment schemes. Only this
//! slice's own tables.

use platform::db::{DbResult, Sql, Value};
use platform::scope::{Scope, UnitCode};
use platform::{Db, Tx, sql};
use serde::Serialize;

use crate::model::Fraction;

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Report {
    pub id: String,
    pub indicator_id: String,
    pub unit_code: String,
    pub period: String,
    pub numerator: i64,
    pub denominator: Option<i64>,
    pub note: String,
    pub evidence_name: Option<String>,
    pub evidence_type: Option<String>,
    pub state: String,
    pub submitted_by: String,
    pub submitted_ms: i64,
    pub reviewed_by: Option<String>,
    pub reviewed_ms: Option<i64>,
    pub review_note: String,
    pub version: i64,
    pub synthetic: i64,
}

const REPORT_COLS: &str = "id, indicator_id, unit_code, period, numerator, denominator, note, evidence_name, evidence_type, state, submitted_by, submitted_ms, reviewed_by, reviewed_ms, review_note, version, synthetic";

pub struct NewReport<'a> {
    pub indicator_id: &'a str,
    pub unit_code: &'a str,
    pub period: &'a str,
    pub numerator: i64,
    pub denominator: Option<i64>,
    pub note: &'a str,
    pub evidence: Option<(&'a str, &'a str, String)>,
    pub submitted_by: &'a str,
    pub synthetic: bool,
}

pub async fn insert_report(tx: &mut Tx, now: i64, r: &NewReport<'_>) -> DbResult<String> {
    let id = platform::db::new_id();
    let (en, et, ed) = match &r.evidence {
        Some((n, t, d)) => (Some(n.to_string()), Some(t.to_string()), Some(d.clone())),
        None => (None, None, None),
    };
    tx.execute(sql!(
        "INSERT INTO indicator_reports (id, indicator_id, unit_code, period, numerator, denominator, note, evidence_name, evidence_type, evidence_data, state, submitted_by, submitted_ms, synthetic) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'submitted', $11, $12, $13)",
        id.as_str(),
        r.indicator_id,
        r.unit_code,
        r.period,
        r.numerator,
        r.denominator,
        r.note,
        en,
        et,
        ed,
        r.submitted_by,
        now,
        r.synthetic
    ))
    .await?;
    Ok(id)
}

pub async fn report(db: &Db, id: &str) -> DbResult<Option<Report>> {
    db.fetch_optional(sql!(&format!("SELECT {REPORT_COLS} FROM indicator_reports WHERE id = $1"), id)).await
}

pub async fn evidence(db: &Db, id: &str) -> DbResult<Option<(String, String, String, String)>> {
    db.fetch_optional(sql!(
        "SELECT unit_code, COALESCE(evidence_name, ''), COALESCE(evidence_type, ''), COALESCE(evidence_data, '') FROM indicator_reports WHERE id = $1 AND evidence_data IS NOT NULL",
        id
    ))
    .await
}

/// Reports in scope, newest first, optionally of one state.
pub async fn reports(db: &Db, scope: &Scope, root: &UnitCode, state: Option<&str>, limit: i64) -> DbResult<Vec<Report>> {
    let mut q = Sql::new(&format!("SELECT {REPORT_COLS} FROM indicator_reports WHERE "), []);
    scope.within(root).push_filter(&mut q, "unit_code");
    if let Some(s) = state {
        q.push(" AND state = ").bind(s);
    }
    q.push(" ORDER BY submitted_ms DESC, id").page(limit, 0);
    db.fetch_all(q).await
}

/// Moves a report from `submitted` to approved/rejected if its version still matches.
pub async fn review(tx: &mut Tx, id: &str, version: i64, state: &str, by: &str, now: i64, note: &str) -> DbResult<u64> {
    tx.execute(sql!(
        "UPDATE indicator_reports SET state = $1, reviewed_by = $2, reviewed_ms = $3, review_note = $4, version = version + 1 WHERE id = $5 AND version = $6 AND state = 'submitted'",
        state,
        by,
        now,
        note,
        id,
        version
    ))
    .await
}

/// The approved value per (indicator, unit) for `year`: the latest approved report of the most
/// recent period not after the year.
pub async fn approved_values(db: &Db, root: &UnitCode, year: i64) -> DbResult<Vec<(String, String, Fraction)>> {
    #[derive(sqlx::FromRow)]
    struct ApprovedRow {
        indicator_id: String,
        unit_code: String,
        numerator: i64,
        denominator: Option<i64>,
    }
    let mut q = Sql::new("SELECT indicator_id, unit_code, numerator, denominator FROM indicator_reports WHERE state = 'approved' AND period <= ", []);
    q.bind(format!("{year:04}")).push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY indicator_id, unit_code, period DESC, reviewed_ms DESC");
    let rows: Vec<ApprovedRow> = db.fetch_all(q).await?;
    let mut out: Vec<(String, String, Fraction)> = Vec::new();
    let mut last: Option<(String, String)> = None;
    for r in rows {
        let key = (r.indicator_id.clone(), r.unit_code.clone());
        if last.as_ref() == Some(&key) {
            continue;
        }
        last = Some(key);
        out.push((r.indicator_id, r.unit_code, Fraction { num: r.numerator, den: r.denominator }));
    }
    Ok(out)
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Snapshot {
    pub period: String,
    pub indicator_id: String,
    pub unit_code: String,
    pub status: String,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    pub computed_ms: i64,
}

/// Replaces a period's snapshot rows in one go.
pub async fn replace_snapshots(tx: &mut Tx, period: &str, rows: Vec<(String, String, Option<Fraction>)>, now: i64) -> DbResult<usize> {
    tx.execute(sql!("DELETE FROM indicator_snapshots WHERE period = $1", period)).await?;
    let n = rows.len();
    let mut it = rows.into_iter().peekable();
    while it.peek().is_some() {
        let mut q = Sql::new("INSERT INTO indicator_snapshots (period, indicator_id, unit_code, status, numerator, denominator, computed_ms) VALUES ", []);
        for (i, (ind, unit, f)) in it.by_ref().take(500).enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            q.bind(period).push(", ").bind(ind).push(", ").bind(unit).push(", ");
            match f {
                Some(f) => {
                    q.bind("ok").push(", ").bind(f.num).push(", ").bind(Value::Int(f.den));
                }
                None => {
                    q.bind("nosource").push(", ").bind(Value::Int(None)).push(", ").bind(Value::Int(None));
                }
            }
            q.push(", ").bind(now).push(")");
        }
        tx.execute(q).await?;
    }
    Ok(n)
}

pub async fn snapshot_periods(db: &Db) -> DbResult<Vec<String>> {
    let rows: Vec<(String,)> = db.fetch_all(sql!("SELECT DISTINCT period FROM indicator_snapshots ORDER BY period DESC")).await?;
    Ok(rows.into_iter().map(|(p,)| p).collect())
}

/// Snapshot rows of one period for a unit and its children (the dashboard from snapshots).
pub async fn snapshots_for_units(db: &Db, period: &str, units: &[String]) -> DbResult<Vec<Snapshot>> {
    let mut out = Vec::new();
    for chunk in units.chunks(400) {
        let mut q = Sql::new("SELECT * FROM indicator_snapshots WHERE period = $1 AND unit_code IN ", [Value::from(period)]);
        q.push_list(chunk.iter().map(|s| s.as_str()));
        out.extend(db.fetch_all::<Snapshot>(q).await?);
    }
    Ok(out)
}

/// One unit's history (for sparklines), oldest first, limited to `from` onwards.
pub async fn history(db: &Db, unit: &str, from: &str) -> DbResult<Vec<Snapshot>> {
    db.fetch_all(sql!("SELECT * FROM indicator_snapshots WHERE unit_code = $1 AND period >= $2 ORDER BY indicator_id, period", unit, from)).await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Scheme {
    pub id: String,
    pub name: String,
    pub level: i64,
    pub items: String,
    pub created_by: String,
    pub created_ms: i64,
}

pub async fn insert_scheme(tx: &mut Tx, name: &str, level: i64, items: &str, by: &str, now: i64) -> DbResult<String> {
    let id = platform::db::new_id();
    tx.execute(sql!(
        "INSERT INTO assessment_schemes (id, name, level, items, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        id.as_str(),
        name,
        level,
        items,
        by,
        now
    ))
    .await?;
    Ok(id)
}

pub async fn schemes(db: &Db) -> DbResult<Vec<Scheme>> {
    db.fetch_all(sql!("SELECT * FROM assessment_schemes ORDER BY created_ms DESC, id")).await
}

pub async fn scheme(db: &Db, id: &str) -> DbResult<Option<Scheme>> {
    db.fetch_optional(sql!("SELECT * FROM assessment_schemes WHERE id = $1", id)).await
}
