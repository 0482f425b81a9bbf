//! Lookups other slices need from the people register, without reading its tables themselves:
//! real-name checks through the blind index, a person's birth date and household, the members of a
//! household, households of a village, and where facilities of a category stand.

use platform::clock::Date;
use platform::crypto::FieldCipher;
use platform::db::{DbResult, Sql};
use platform::scope::{Scope, UnitCode};
use platform::{AppError, AppResult, Db, sql};

use crate::model::IdNumber;

/// What another slice may know about a registered person: no identifier beyond the masked ones.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct PersonBrief {
    pub id: String,
    pub unit_code: String,
    pub name: String,
    pub id_masked: Option<String>,
    #[serde(skip)]
    pub id_index: Option<String>,
    pub sex: Option<String>,
    pub birth_date: Option<String>,
    pub phone_masked: Option<String>,
    pub household_id: Option<String>,
    pub relation: Option<String>,
}

impl PersonBrief {
    /// Age in whole years on `today`, when the birth date is known.
    pub fn age_on(&self, today: Date) -> Option<i64> {
        crate::model::age_on(self.birth_date.as_deref()?, today)
    }
}

const BRIEF: &str = "SELECT id, unit_code, name, id_masked, id_index, sex, birth_date, phone_masked, household_id, relation FROM people";

/// Validates an ID number (GB 11643) and returns its blind index, the key of real-name checks.
pub fn id_index(cipher: &FieldCipher, raw: &str, today: Date) -> AppResult<String> {
    let idn = IdNumber::parse(raw, today).map_err(|e| AppError::bad_request("person.bad_id", e.to_string()).at_field("id_number"))?;
    Ok(cipher.blind_index("id", idn.as_str()))
}

/// The living, resident person with this ID number inside `scope`, if any (404-like: a person
/// outside the scope is not found).
pub async fn find_by_id_number(db: &Db, cipher: &FieldCipher, scope: &Scope, raw: &str, today: Date) -> AppResult<Option<PersonBrief>> {
    let index = id_index(cipher, raw, today)?;
    let mut q = Sql::new(BRIEF, []);
    q.push(" WHERE id_index = ").bind(index.as_str()).push(" AND moved_out IS NULL AND deceased IS NULL AND ");
    scope.push_filter(&mut q, "unit_code");
    Ok(db.fetch_optional(q).await?)
}

/// A person by id, whatever the scope (the caller has already tied the id to its own record).
pub async fn person(db: &Db, id: &str) -> DbResult<Option<PersonBrief>> {
    let mut q = Sql::new(BRIEF, []);
    q.push(" WHERE id = ").bind(id);
    db.fetch_optional(q).await
}

/// The current members of a household.
pub async fn household_members(db: &Db, household_id: &str) -> DbResult<Vec<PersonBrief>> {
    let mut q = Sql::new(BRIEF, []);
    q.push(" WHERE household_id = ").bind(household_id).push(" AND moved_out IS NULL AND deceased IS NULL ORDER BY id");
    db.fetch_all(q).await
}

/// A household of the register: its number and unit.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct HouseholdBrief {
    pub id: String,
    pub unit_code: String,
    pub household_no: String,
}

pub async fn household(db: &Db, id: &str) -> DbResult<Option<HouseholdBrief>> {
    db.fetch_optional(sql!("SELECT id, unit_code, household_no FROM households WHERE id = $1", id)).await
}

/// Households of a village or community subtree, by household number.
pub async fn households_in(db: &Db, root: &UnitCode, limit: i64) -> DbResult<Vec<HouseholdBrief>> {
    let mut q = Sql::new("SELECT id, unit_code, household_no FROM households WHERE ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY household_no, id LIMIT ").bind(limit);
    db.fetch_all(q).await
}

/// People currently living in a subtree (实有人口), counted from the register.
pub async fn resident_count(db: &Db, root: &UnitCode) -> DbResult<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM people WHERE moved_out IS NULL AND deceased IS NULL AND ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    db.scalar(q).await
}

/// Unit codes (as stored) in a subtree that have a facility of `category`, e.g. 志愿服务站.
pub async fn units_with_facility(db: &Db, root: &UnitCode, category: &str) -> DbResult<Vec<String>> {
    let mut q = Sql::new("SELECT DISTINCT unit_code FROM facilities WHERE category = ", []);
    q.bind(category).push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    let rows: Vec<(String,)> = db.fetch_all(q).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A few living people of a unit subtree whose birth dates fall in [born_from, born_to]: for demo
/// data and for staff picking whom to register.
pub async fn people_born_between(db: &Db, root: &UnitCode, born_from: &str, born_to: &str, limit: i64) -> DbResult<Vec<PersonBrief>> {
    let mut q = Sql::new(BRIEF, []);
    q.push(" WHERE moved_out IS NULL AND deceased IS NULL AND id_index IS NOT NULL AND birth_date >= ")
        .bind(born_from)
        .push(" AND birth_date <= ")
        .bind(born_to)
        .push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY unit_code, id LIMIT ").bind(limit);
    db.fetch_all(q).await
}

/// The living person an account is bound to (实名认证 at the counter), with her household: what
/// resident-facing pages of other slices use to know who is asking. A binding to someone who has
/// since moved out or died finds nobody.
pub async fn bound_person(db: &Db, user_id: &str) -> DbResult<Option<PersonBrief>> {
    let Some(b) = crate::identity::person_of_account(db, user_id).await? else {
        return Ok(None);
    };
    if !b.is_current() {
        return Ok(None);
    }
    person(db, &b.id).await
}

/// Living residents of a village or community subtree, by household then name: for staff choosing
/// a person from the register.
pub async fn residents_in(db: &Db, root: &UnitCode, limit: i64) -> DbResult<Vec<PersonBrief>> {
    let mut q = Sql::new(BRIEF, []);
    q.push(" WHERE moved_out IS NULL AND deceased IS NULL AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY household_id, name, id LIMIT ").bind(limit);
    db.fetch_all(q).await
}
