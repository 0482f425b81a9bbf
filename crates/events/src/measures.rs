//! Aggregates per unit for the indicators slice: one query for a whole subtree, grouped by the
//! village-level prefix, so indicators roll up from exact numerators and denominators.

use platform::Db;
use platform::clock::{DAY, Millis};
use platform::db::{DbResult, Sql};
use platform::scope::{Scope, UnitCode};

use crate::model::State;

/// Open events (not rejected, closed, evaluated, archived or merged) in a subtree, grouped by the
/// family of their type (部件/事件/综治 …) and age band on `now`: (family, age band, count). Age
/// bands: `<1d`, `1-7d`, `7-30d`, `>30d` since reported.
pub async fn open_by_family_and_age(db: &Db, root: &UnitCode, now: Millis) -> DbResult<Vec<(String, String, i64)>> {
    let closed: Vec<&str> = State::ALL.iter().filter(|s| !s.is_open()).map(|s| s.as_str()).collect();
    let mut q = Sql::new("SELECT t.family, CASE WHEN e.created_ms > ", []);
    q.bind(now - DAY).push(" THEN '<1d' WHEN e.created_ms > ").bind(now - 7 * DAY).push(" THEN '1-7d' WHEN e.created_ms > ").bind(now - 30 * DAY);
    q.push(" THEN '7-30d' ELSE '>30d' END AS age, CAST(COUNT(*) AS BIGINT) FROM events e JOIN event_types t ON t.code = e.type_code WHERE e.state NOT IN ");
    q.push_list(closed);
    q.push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "e.unit_code");
    q.push(" GROUP BY 1, 2 ORDER BY 1, 2");
    db.fetch_all(q).await
}

/// Events reported in a subtree since `since` (instant), and how many of them are closed: the
/// portrait's trend line. (reported, closed)
pub async fn reported_since(db: &Db, root: &UnitCode, since: Millis) -> DbResult<(i64, i64)> {
    let closed: Vec<&str> = State::ALL.iter().filter(|s| !s.is_open()).map(|s| s.as_str()).collect();
    let mut q = Sql::new("SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN state IN ", []);
    q.push_list(closed);
    q.push(" THEN 1 ELSE 0 END), 0) AS BIGINT) FROM events WHERE created_ms >= ").bind(since).push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    db.fetch_one(q).await
}
