//! SQL for the registers. Every read that returns rows to a person takes a [`Scope`]; personal
//! identifiers leave this module masked unless a caller asks for [`reveal`] (which the handler audits).

use platform::db::{DbResult, Sql, Value};
use platform::scope::{Scope, UnitCode};
use platform::{Db, Tx, sql};
use serde::Serialize;

/// A person row as stored (identifiers encrypted and masked).
#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Person {
    pub id: String,
    pub unit_code: String,
    pub name: String,
    #[serde(skip)]
    pub id_enc: Option<String>,
    #[serde(skip)]
    pub id_index: Option<String>,
    pub id_masked: Option<String>,
    pub sex: Option<String>,
    pub birth_date: Option<String>,
    #[serde(skip)]
    pub phone_enc: Option<String>,
    #[serde(skip)]
    pub phone_index: Option<String>,
    pub phone_masked: Option<String>,
    pub residence_kind: String,
    pub household_id: Option<String>,
    pub relation: Option<String>,
    pub house_id: Option<String>,
    pub moved_in: Option<String>,
    pub moved_out: Option<String>,
    pub deceased: Option<String>,
    pub synthetic: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// Filters for the people list.
#[derive(Clone, Debug, Default)]
pub struct PeopleFilter {
    /// Name substring.
    pub name: Option<String>,
    /// Exact blind index of an ID number.
    pub id_index: Option<String>,
    /// Exact blind index of a phone.
    pub phone_index: Option<String>,
    pub tag: Option<String>,
    pub compound: Option<String>,
    /// Birth dates between these (inclusive), for age bands.
    pub born_from: Option<String>,
    pub born_to: Option<String>,
    /// Include people who moved out or died.
    pub include_left: bool,
}

fn people_query(select: &str, root: &UnitCode, scope: &Scope, f: &PeopleFilter) -> Sql {
    let mut q = Sql::new(select, []);
    q.push(" WHERE ");
    scope.within(root).push_filter(&mut q, "p.unit_code");
    if !f.include_left {
        q.push(" AND p.moved_out IS NULL AND p.deceased IS NULL");
    }
    if let Some(n) = f.name.as_deref().filter(|s| !s.trim().is_empty()) {
        q.push(" AND p.name LIKE ").bind(format!("%{}%", platform::db::like_escape(n.trim()))).push(" ESCAPE '\\'");
    }
    if let Some(i) = &f.id_index {
        q.push(" AND p.id_index = ").bind(i.as_str());
    }
    if let Some(i) = &f.phone_index {
        q.push(" AND p.phone_index = ").bind(i.as_str());
    }
    if let Some(t) = f.tag.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND EXISTS (SELECT 1 FROM person_tags t WHERE t.person_id = p.id AND t.tag = ").bind(t).push(")");
    }
    if let Some(c) = f.compound.as_deref().filter(|s| !s.is_empty()) {
        q.push(" AND p.house_id IN (SELECT h.id FROM houses h WHERE h.compound_code = ").bind(c).push(")");
    }
    if let Some(d) = &f.born_from {
        q.push(" AND p.birth_date >= ").bind(d.as_str());
    }
    if let Some(d) = &f.born_to {
        q.push(" AND p.birth_date <= ").bind(d.as_str());
    }
    q
}

/// People living in `root`'s subtree, within `scope`, newest code order then name.
pub async fn people(db: &Db, root: &UnitCode, scope: &Scope, f: &PeopleFilter, limit: i64, offset: i64) -> DbResult<(Vec<Person>, i64)> {
    let total = db.scalar(people_query("SELECT COUNT(*) FROM people p", root, scope, f)).await?;
    let mut q = people_query("SELECT p.* FROM people p", root, scope, f);
    q.push(" ORDER BY p.unit_code, p.household_id, p.id");
    q.page(limit, offset);
    Ok((db.fetch_all(q).await?, total))
}

pub async fn person(db: &Db, scope: &Scope, id: &str) -> DbResult<Option<Person>> {
    let mut q = Sql::new("SELECT * FROM people WHERE id = ", []);
    q.bind(id).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    db.fetch_optional(q).await
}

pub async fn tags_of(db: &Db, person_id: &str) -> DbResult<Vec<String>> {
    let rows: Vec<(String,)> = db.fetch_all(sql!("SELECT tag FROM person_tags WHERE person_id = $1 ORDER BY tag", person_id)).await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// Tags for many people at once (list pages).
pub async fn tags_for(db: &Db, ids: &[String]) -> DbResult<Vec<(String, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT person_id, tag FROM person_tags WHERE person_id IN ", []);
    q.push_list(ids.iter().map(|id| id.as_str()));
    q.push(" ORDER BY person_id, tag");
    db.fetch_all(q).await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct House {
    pub id: String,
    pub unit_code: String,
    pub compound_code: Option<String>,
    pub address: String,
    pub building: String,
    pub unit_no: String,
    pub room: String,
    pub house_use: String,
    pub floor_area_dm2: Option<i64>,
    pub occupancy: String,
    pub synthetic: i64,
    pub created_ms: i64,
}

impl House {
    /// 地址 + 楼栋/单元/房号, as staff write it.
    pub fn full_address(&self) -> String {
        let mut s = self.address.clone();
        for (v, unit) in [(&self.building, "栋"), (&self.unit_no, "单元"), (&self.room, "号")] {
            if !v.is_empty() {
                s.push_str(v);
                if !v.ends_with(unit) {
                    s.push_str(unit);
                }
            }
        }
        s
    }
}

pub async fn house(db: &Db, scope: &Scope, id: &str) -> DbResult<Option<House>> {
    let mut q = Sql::new("SELECT * FROM houses WHERE id = ", []);
    q.bind(id).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    db.fetch_optional(q).await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct Household {
    pub id: String,
    pub unit_code: String,
    pub house_id: Option<String>,
    pub household_no: String,
    pub synthetic: i64,
    pub created_ms: i64,
}

pub async fn household(db: &Db, scope: &Scope, id: &str) -> DbResult<Option<Household>> {
    let mut q = Sql::new("SELECT * FROM households WHERE id = ", []);
    q.bind(id).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    db.fetch_optional(q).await
}

/// The households living in a house, by household number.
pub async fn households_in_house(db: &Db, house_id: &str) -> DbResult<Vec<Household>> {
    db.fetch_all(sql!("SELECT * FROM households WHERE house_id = $1 ORDER BY household_no, id", house_id)).await
}

pub async fn members(db: &Db, household_id: &str) -> DbResult<Vec<Person>> {
    db.fetch_all(sql!("SELECT * FROM people WHERE household_id = $1 ORDER BY CASE WHEN relation = '户主' THEN 0 ELSE 1 END, birth_date, id", household_id))
        .await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct CompoundInfo {
    pub code: String,
    pub management: String,
    pub owners_committee: i64,
    pub property_company: String,
    pub built_year: Option<i64>,
    pub smart_security: i64,
    pub party_org: i64,
    pub synthetic: i64,
}

impl CompoundInfo {
    /// 老旧小区: built before 2001, the plan's line for renovation.
    pub fn is_old(&self) -> bool {
        self.built_year.is_some_and(|y| y < 2001)
    }
}

pub async fn compound_info(db: &Db, code: &str) -> DbResult<Option<CompoundInfo>> {
    db.fetch_optional(sql!("SELECT * FROM compound_info WHERE code = $1", code)).await
}

pub async fn compounds_in(db: &Db, root: &UnitCode, scope: &Scope) -> DbResult<Vec<CompoundInfo>> {
    let mut q = Sql::new("SELECT * FROM compound_info WHERE ", []);
    scope.within(root).push_filter(&mut q, "code");
    q.push(" ORDER BY code");
    db.fetch_all(q).await
}

pub async fn put_compound_info(tx: &mut Tx, c: &CompoundInfo) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO compound_info (code, management, owners_committee, property_company, built_year, smart_security, party_org, synthetic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (code) DO UPDATE SET management = excluded.management, owners_committee = excluded.owners_committee, property_company = excluded.property_company, built_year = excluded.built_year, smart_security = excluded.smart_security, party_org = excluded.party_org",
        c.code.as_str(), c.management.as_str(), c.owners_committee, c.property_company.as_str(), c.built_year, c.smart_security, c.party_org, c.synthetic
    ))
    .await?;
    Ok(())
}

/// Which of these blind indexes already exist (duplicate detection against the database).
pub async fn existing_id_indexes(db: &Db, indexes: &[String]) -> DbResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in indexes.chunks(500) {
        let mut q = Sql::new("SELECT id_index FROM people WHERE id_index IN ", []);
        q.push_list(chunk.iter().map(|x| x.as_str()));
        let rows: Vec<(String,)> = db.fetch_all(q).await?;
        out.extend(rows.into_iter().map(|(x,)| x));
    }
    Ok(out)
}

/// Column lists of the bulk-inserted tables, shared by the roster import and the demo generator.
pub const HOUSE_COLUMNS: [&str; 12] =
    ["id", "unit_code", "compound_code", "address", "building", "unit_no", "room", "house_use", "floor_area_dm2", "occupancy", "synthetic", "created_ms"];
pub const HOUSEHOLD_COLUMNS: [&str; 6] = ["id", "unit_code", "house_id", "household_no", "synthetic", "created_ms"];
pub const PEOPLE_COLUMNS: [&str; 19] = [
    "id",
    "unit_code",
    "name",
    "id_enc",
    "id_index",
    "id_masked",
    "sex",
    "birth_date",
    "phone_enc",
    "phone_index",
    "phone_masked",
    "residence_kind",
    "household_id",
    "relation",
    "house_id",
    "moved_in",
    "synthetic",
    "created_ms",
    "updated_ms",
];
pub const TAG_COLUMNS: [&str; 3] = ["person_id", "tag", "unit_code"];

/// Multi-row INSERT in chunks: the import path writes hundreds of thousands of rows and one
/// statement per row would spend its time on round trips.
pub async fn bulk_insert(tx: &mut Tx, table: &str, columns: &[&str], rows: Vec<Vec<Value>>) -> DbResult<()> {
    let per_chunk = (4_000 / columns.len().max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut q = Sql::new(&format!("INSERT INTO {table} ({}) VALUES ", columns.join(", ")), []);
        for (i, row) in rows.by_ref().take(per_chunk).enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            for (j, v) in row.into_iter().enumerate() {
                if j > 0 {
                    q.push(", ");
                }
                q.bind(v);
            }
            q.push(")");
        }
        tx.execute(q).await?;
    }
    Ok(())
}

/// Counts per register in a subtree (for the register overview).
pub async fn count_in(db: &Db, table: &str, root: &UnitCode, scope: &Scope, extra: &str) -> DbResult<i64> {
    let mut q = Sql::new(&format!("SELECT COUNT(*) FROM {table} WHERE "), []);
    scope.within(root).push_filter(&mut q, "unit_code");
    q.push(extra);
    db.scalar(q).await
}

/// A generic row of the simpler registers (vehicles, organisations, facilities, workforce), as text
/// columns in the order the register declares.
pub async fn simple_rows(
    db: &Db,
    select: &str,
    root: &UnitCode,
    scope: &Scope,
    q_text: &str,
    name_col: &str,
    limit: i64,
    offset: i64,
) -> DbResult<(Vec<Vec<Option<String>>>, i64)> {
    let build = |sel: &str| {
        let mut q = Sql::new(sel, []);
        q.push(" WHERE ");
        scope.within(root).push_filter(&mut q, "unit_code");
        if !q_text.trim().is_empty() {
            q.push(&format!(" AND {name_col} LIKE ")).bind(format!("%{}%", platform::db::like_escape(q_text.trim()))).push(" ESCAPE '\\'");
        }
        q
    };
    let from = select.find(" FROM ").map(|i| &select[i..]).unwrap_or("");
    let total = db.scalar(build(&format!("SELECT COUNT(*){from}"))).await?;
    let mut q = build(select);
    q.push(" ORDER BY unit_code, id");
    q.page(limit, offset);
    let rows: Vec<TextRow> = db.fetch_all(q).await?;
    Ok((rows.into_iter().map(|r| r.0).collect(), total))
}

/// A row of text columns (every selected column must be text or cast to text).
pub struct TextRow(pub Vec<Option<String>>);

impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for TextRow {
    fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        (0..row.len()).map(|i| row.try_get::<Option<String>, _>(i)).collect::<Result<Vec<_>, _>>().map(TextRow)
    }
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for TextRow {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        (0..row.len()).map(|i| row.try_get::<Option<String>, _>(i)).collect::<Result<Vec<_>, _>>().map(TextRow)
    }
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct SharingRule {
    pub id: String,
    pub consumer: String,
    pub register: String,
    pub fields: String,
    pub unit_code: String,
    pub purpose: String,
    pub created_ms: i64,
}

pub async fn sharing_rules(db: &Db, consumer: Option<&str>) -> DbResult<Vec<SharingRule>> {
    let mut q = Sql::new("SELECT * FROM sharing_rules", []);
    if let Some(c) = consumer {
        q.push(" WHERE consumer = ").bind(c);
    }
    q.push(" ORDER BY consumer, register, unit_code");
    db.fetch_all(q).await
}

/// 迁出 or 死亡 on a date (both keep the record; lists hide them by default). `None` clears both (迁回).
pub async fn set_left(tx: &mut Tx, id: &str, moved_out: Option<&str>, deceased: Option<&str>, now: i64) -> DbResult<u64> {
    tx.execute(sql!("UPDATE people SET moved_out = $1, deceased = $2, updated_ms = $3 WHERE id = $4", moved_out, deceased, now, id)).await
}

pub async fn set_tags(tx: &mut Tx, person_id: &str, unit_code: &str, tags: &[&str]) -> DbResult<()> {
    tx.execute(sql!("DELETE FROM person_tags WHERE person_id = $1", person_id)).await?;
    let rows = tags.iter().map(|t| vec![Value::from(person_id), Value::from(*t), Value::from(unit_code)]).collect();
    bulk_insert(tx, "person_tags", &["person_id", "tag", "unit_code"], rows).await
}
