//! Aggregates per unit for the indicators slice: one query for a whole subtree, grouped by the
//! village-level prefix, so indicators roll up from exact numerators and denominators.

use platform::Db;
use platform::db::{DbResult, Sql};
use platform::scope::{Scope, UnitCode};

/// One group of a register, counted under a village-level unit (or the township/county/city code
/// itself when a record is registered there). `key` is the grouping the function names; `n` the
/// number of records, `sum` a summed quantity (area in dm², capacity), 0 when not applicable.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize, PartialEq, Eq)]
pub struct Group {
    pub code: String,
    pub key: String,
    pub n: i64,
    pub sum: i64,
}

fn grouped(select_key: &str, sum: &str, table: &str, code_col: &str, extra_where: &str, root: &UnitCode) -> Sql {
    let mut q = Sql::new(
        &format!(
            "SELECT SUBSTR({code_col}, 1, 12) AS code, {select_key} AS key, CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM({sum}), 0) AS BIGINT) AS sum FROM {table} WHERE {extra_where}"
        ),
        [],
    );
    Scope::new(vec![root.clone()]).push_filter(&mut q, code_col);
    q.push(&format!(" GROUP BY SUBSTR({code_col}, 1, 12), {select_key} ORDER BY 1, 2"));
    q
}

/// Workforce by role and qualification: key `role|qualified` (qualified = holds a social-work
/// level, 0/1).
pub async fn workforce(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    db.fetch_all(grouped("role || '|' || CASE WHEN qualification IS NULL OR qualification = '' THEN '0' ELSE '1' END", "0", "workforce", "unit_code", "", root))
        .await
}

/// Organisations: key `kind|two_new|party_work_covered|certified_social_enterprise`.
pub async fn organisations(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    db.fetch_all(grouped(
        "kind || '|' || CAST(two_new AS TEXT) || '|' || CAST(party_work_covered AS TEXT) || '|' || CAST(certified_social_enterprise AS TEXT)",
        "0",
        "organisations",
        "unit_code",
        "",
        root,
    ))
    .await
}

/// Facilities: key `category|friendly_renovated`, `sum` = floor area in dm².
pub async fn facility_areas(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    db.fetch_all(grouped("category || '|' || CAST(friendly_renovated AS TEXT)", "floor_area_dm2", "facilities", "unit_code", "", root)).await
}

/// Facilities: key `category`, `sum` = capacity (places), for childcare and elderly care.
pub async fn facility_capacity(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    db.fetch_all(grouped("category", "capacity", "facilities", "unit_code", "", root)).await
}

/// Compounds' attributes: key `management|owners_committee|smart_security|party_org|age` where
/// age is `old` (built before 2001, 老旧小区), `new` (built 2021 or later, the plan's period) or
/// `mid`/`unknown`.
pub async fn compounds(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    db.fetch_all(grouped(
        "management || '|' || CAST(owners_committee AS TEXT) || '|' || CAST(smart_security AS TEXT) || '|' || CAST(party_org AS TEXT) || '|' || \
         CASE WHEN built_year IS NULL THEN 'unknown' WHEN built_year < 2001 THEN 'old' WHEN built_year >= 2021 THEN 'new' ELSE 'mid' END",
        "0",
        "compound_info",
        "code",
        "",
        root,
    ))
    .await
}

/// Current people (实有人口: not moved out, not deceased): key = residence kind.
pub async fn people(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    db.fetch_all(grouped("residence_kind", "0", "people", "unit_code", "moved_out IS NULL AND deceased IS NULL AND ", root)).await
}

/// Special-population tags of current people: key = tag.
pub async fn tags(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    let mut q = Sql::new(
        "SELECT SUBSTR(t.unit_code, 1, 12) AS code, t.tag AS key, CAST(COUNT(*) AS BIGINT) AS n, CAST(0 AS BIGINT) AS sum FROM person_tags t JOIN people p ON p.id = t.person_id WHERE p.moved_out IS NULL AND p.deceased IS NULL AND ",
        [],
    );
    Scope::new(vec![root.clone()]).push_filter(&mut q, "t.unit_code");
    q.push(" GROUP BY SUBSTR(t.unit_code, 1, 12), t.tag ORDER BY 1, 2");
    db.fetch_all(q).await
}

/// Houses (key = use), households (key `户`) and vehicles (key = kind) per unit, for the portrait.
pub async fn houses(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    db.fetch_all(grouped("house_use", "0", "houses", "unit_code", "", root)).await
}
pub async fn households(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    // PostgreSQL refuses a constant in GROUP BY, so this one groups by the unit alone.
    let mut q =
        Sql::new("SELECT SUBSTR(unit_code, 1, 12) AS code, '户' AS key, CAST(COUNT(*) AS BIGINT) AS n, CAST(0 AS BIGINT) AS sum FROM households WHERE ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" GROUP BY SUBSTR(unit_code, 1, 12) ORDER BY 1");
    db.fetch_all(q).await
}
pub async fn vehicles(db: &Db, root: &UnitCode) -> DbResult<Vec<Group>> {
    db.fetch_all(grouped("kind", "0", "vehicles", "unit_code", "", root)).await
}
