//! Electorates and owner rolls built from the house and people registers for other slices.
//!
//! 产权登记 (`house_owners`: who owns each unit, or the developer while unsold) and 村民代表
//! (`village_representatives`) are kept here, beside the registers they refer to, so the
//! consultation slice never reads the registry's tables.

use platform::clock::{Date, Millis};
use platform::db::{DbResult, Sql};
use platform::{AppError, AppResult, Db, Tx, sql};

/// Who holds a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A person in the people register.
    Person(String),
    /// The developer (建设单位), for units not yet sold.
    Developer(String),
}

/// One unit of a compound with its area and owner, for an owner roll.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OwnedHouse {
    pub house_id: String,
    pub label: String,
    pub floor_area_dm2: Option<i64>,
    pub person_id: Option<String>,
    pub person_name: Option<String>,
    /// The owner's ID-number blind index, so a voter can be matched without decrypting.
    pub id_index: Option<String>,
    pub developer: Option<String>,
}

/// Records who owns a house of a compound (产权登记). Returns the compound's code.
pub async fn set_owner(tx: &mut Tx, now: Millis, house_id: &str, owner: &Owner, synthetic: bool) -> AppResult<String> {
    let compound: Option<(Option<String>,)> = tx.fetch_optional(sql!("SELECT compound_code FROM houses WHERE id = $1", house_id)).await?;
    let Some((Some(compound),)) = compound else {
        return Err(AppError::bad_request("roll.house_not_in_compound", "该房屋不存在或不属于任何小区，无法登记产权人"));
    };
    let (person, developer) = match owner {
        Owner::Person(id) => {
            let n = tx.scalar(sql!("SELECT COUNT(*) FROM people WHERE id = $1", id.as_str())).await?;
            if n == 0 {
                return Err(AppError::bad_request("roll.unknown_person", "产权人不在人口台账中"));
            }
            (Some(id.as_str()), None)
        }
        Owner::Developer(name) => (None, Some(name.as_str())),
    };
    tx.execute(sql!(
        "INSERT INTO house_owners (house_id, compound_code, person_id, developer, synthetic, updated_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (house_id) DO UPDATE SET person_id = $3, developer = $4, updated_ms = $6",
        house_id,
        compound.as_str(),
        person,
        developer,
        synthetic,
        now
    ))
    .await?;
    Ok(compound)
}

/// Every unit of a compound (住宅 and others with an exclusive part), with its owner when recorded.
pub async fn compound_units(db: &Db, compound: &str) -> DbResult<Vec<OwnedHouse>> {
    db.fetch_all(sql!(
        "SELECT h.id AS house_id,
                h.address || h.building || '-' || h.unit_no || '-' || h.room AS label,
                h.floor_area_dm2, o.person_id, p.name AS person_name, p.id_index, o.developer
         FROM houses h
         LEFT JOIN house_owners o ON o.house_id = h.id
         LEFT JOIN people p ON p.id = o.person_id
         WHERE h.compound_code = $1
         ORDER BY h.building, h.unit_no, h.room, h.id",
        compound
    ))
    .await
}

/// A person on a roll of villagers, households or representatives.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Voter {
    pub person_id: String,
    pub name: String,
    pub id_index: Option<String>,
    pub detail: String,
}

fn adult_cutoff(today: Date) -> String {
    // Born on or before this day 18 years ago: 年满十八周岁. Feb 29 births turn 18 on Mar 1.
    let (y, m, d) = platform::clock::civil_from_days(today.days());
    let y18 = y - 18;
    let d = if m == 2 && d == 29 { 28 } else { d };
    Date::from_days(platform::clock::days_from_civil(y18, m, d)).to_string()
}

fn live_people(q: &mut Sql, unit: &str) {
    q.push("p.unit_code >= ").bind(unit).push(" AND p.unit_code < ").bind(format!("{unit}~").as_str());
    q.push(" AND p.moved_out IS NULL AND p.deceased IS NULL");
}

/// 年满十八周岁的村（居）民 registered in the village or community (and its compounds and grids),
/// living there and not deceased.
pub async fn adults(db: &Db, unit: &str, today: Date) -> DbResult<Vec<Voter>> {
    let mut q = Sql::new("SELECT p.id AS person_id, p.name, p.id_index, COALESCE(p.id_masked, '') AS detail FROM people p WHERE ", []);
    live_people(&mut q, unit);
    q.push(" AND p.birth_date IS NOT NULL AND p.birth_date <= ").bind(adult_cutoff(today).as_str());
    q.push(" ORDER BY p.name, p.id");
    db.fetch_all(q).await
}

/// One representative per household: the 户主, or else the household's oldest adult member.
pub async fn household_representatives(db: &Db, unit: &str, today: Date) -> DbResult<Vec<Voter>> {
    #[derive(sqlx::FromRow)]
    struct Member {
        household_id: String,
        household_no: String,
        person_id: String,
        name: String,
        id_index: Option<String>,
        relation: Option<String>,
        birth_date: Option<String>,
    }
    let mut q = Sql::new(
        "SELECT h.id AS household_id, h.household_no, p.id AS person_id, p.name, p.id_index, p.relation, p.birth_date FROM households h JOIN people p ON p.household_id = h.id WHERE ",
        [],
    );
    live_people(&mut q, unit);
    q.push(" ORDER BY h.id, p.birth_date");
    let cutoff = adult_cutoff(today);
    let rows: Vec<Member> = db.fetch_all(q).await?;
    let mut out: Vec<Voter> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let hid = rows[i].household_id.clone();
        let group: Vec<&Member> = rows[i..].iter().take_while(|m| m.household_id == hid).collect();
        i += group.len();
        let adult = |m: &&&Member| m.birth_date.as_deref().is_some_and(|b| b <= cutoff.as_str());
        let pick = group.iter().filter(adult).find(|m| m.relation.as_deref() == Some("户主")).or_else(|| group.iter().find(adult));
        if let Some(m) = pick {
            out.push(Voter {
                person_id: m.person_id.clone(), name: m.name.clone(), id_index: m.id_index.clone(), detail: format!("户号 {}", m.household_no)
            });
        }
    }
    Ok(out)
}

/// The current 村民代表 of a village (not retired, living there), for the representatives' roll.
pub async fn representatives(db: &Db, unit: &str) -> DbResult<Vec<Voter>> {
    db.fetch_all(sql!(
        "SELECT p.id AS person_id, p.name, p.id_index,
                CASE WHEN r.household_group = '' THEN COALESCE(p.id_masked, '') ELSE COALESCE(p.id_masked, '') || ' · 联系 ' || r.household_group END AS detail
         FROM village_representatives r JOIN people p ON p.id = r.person_id
         WHERE r.unit_code = $1 AND r.retired_ms IS NULL AND p.moved_out IS NULL AND p.deceased IS NULL ORDER BY p.name, p.id",
        unit
    ))
    .await
}

/// A 村民代表 as the management page lists them, current and retired.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Representative {
    pub person_id: String,
    pub name: String,
    pub id_masked: Option<String>,
    /// The 户 group the representative stands for (e.g. 三组 1–15 户).
    pub household_group: String,
    pub created_ms: i64,
    pub retired_ms: Option<i64>,
    /// Moved out or deceased since: no longer on any roll whatever the list says.
    pub gone: i64,
}

/// Every 村民代表 a village has had: current first, then retired.
pub async fn all_representatives(db: &Db, unit: &str) -> DbResult<Vec<Representative>> {
    db.fetch_all(sql!(
        "SELECT p.id AS person_id, p.name, p.id_masked, r.household_group, r.created_ms, r.retired_ms,
                CAST(CASE WHEN p.moved_out IS NOT NULL OR p.deceased IS NOT NULL THEN 1 ELSE 0 END AS BIGINT) AS gone
         FROM village_representatives r JOIN people p ON p.id = r.person_id
         WHERE r.unit_code = $1 ORDER BY (r.retired_ms IS NOT NULL), r.household_group, p.name, p.id",
        unit
    ))
    .await
}

/// Adds a 村民代表 (who must live in the village), or brings a retired one back, with the 户 group
/// they stand for. Returns false when they were already a current representative.
pub async fn add_representative(tx: &mut Tx, now: Millis, unit: &str, person_id: &str, group: &str, by: &str, synthetic: bool) -> AppResult<bool> {
    let n = tx
        .scalar(sql!(
            "SELECT COUNT(*) FROM people WHERE id = $1 AND unit_code >= $2 AND unit_code < $3 AND moved_out IS NULL AND deceased IS NULL",
            person_id,
            unit,
            format!("{unit}~")
        ))
        .await?;
    if n == 0 {
        return Err(AppError::bad_request("roll.unknown_person", "该村民不在本村人口台账中"));
    }
    let current =
        tx.scalar(sql!("SELECT COUNT(*) FROM village_representatives WHERE unit_code = $1 AND person_id = $2 AND retired_ms IS NULL", unit, person_id)).await?;
    tx.execute(sql!(
        "INSERT INTO village_representatives (unit_code, person_id, synthetic, created_ms, household_group, updated_by) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (unit_code, person_id) DO UPDATE SET household_group = $5, retired_ms = NULL, updated_by = $6",
        unit,
        person_id,
        synthetic,
        now,
        group,
        by
    ))
    .await?;
    Ok(current == 0)
}

/// Retires a current 村民代表 (the row stays, with the day they left). Returns the rows changed.
pub async fn retire_representative(tx: &mut Tx, now: Millis, unit: &str, person_id: &str, by: &str) -> AppResult<u64> {
    Ok(tx
        .execute(sql!(
            "UPDATE village_representatives SET retired_ms = $1, updated_by = $2 WHERE unit_code = $3 AND person_id = $4 AND retired_ms IS NULL",
            now,
            by,
            unit,
            person_id
        ))
        .await?)
}

/// The blind index of an ID number typed by a voter, or `None` when it is not a valid number.
pub fn id_index(cipher: &platform::crypto::FieldCipher, raw: &str, today: Date) -> Option<String> {
    let id = crate::model::IdNumber::parse(raw, today).ok()?;
    Some(cipher.blind_index("id", id.as_str()))
}

/// For demo data: every house of a compound gets its household head as owner; every seventh
/// owner also holds the next house; every tenth house stays with the developer. Returns how many
/// houses got an owner.
pub async fn seed_demo_owners(tx: &mut Tx, now: Millis, compound: &str, developer: &str) -> AppResult<usize> {
    #[derive(sqlx::FromRow)]
    struct H {
        id: String,
        head: Option<String>,
    }
    let houses: Vec<H> = tx
        .fetch_all(sql!(
            "SELECT h.id, (SELECT p.id FROM people p WHERE p.house_id = h.id AND p.relation = '户主' ORDER BY p.id LIMIT 1) AS head
             FROM houses h WHERE h.compound_code = $1 ORDER BY h.building, h.unit_no, h.room, h.id",
            compound
        ))
        .await?;
    let mut last_owner: Option<String> = None;
    for (i, h) in houses.iter().enumerate() {
        let owner = if i % 10 == 9 {
            Owner::Developer(developer.to_owned())
        } else if let (true, Some(prev)) = (i % 7 == 6, last_owner.clone()) {
            Owner::Person(prev)
        } else if let Some(p) = &h.head {
            Owner::Person(p.clone())
        } else {
            Owner::Developer(developer.to_owned())
        };
        if let Owner::Person(p) = &owner {
            last_owner = Some(p.clone());
        }
        set_owner(tx, now, &h.id, &owner, true).await?;
    }
    Ok(houses.len())
}

/// A registered person found by ID-number blind index, anywhere in the registers (an owner need not
/// live in the compound), or only under `unit` when given.
pub async fn person_by_index(db: &Db, id_index: &str, unit: Option<&str>) -> DbResult<Option<(String, String)>> {
    let mut q = Sql::new("SELECT id, name FROM people WHERE id_index = ", []);
    q.bind(id_index);
    if let Some(u) = unit {
        q.push(" AND unit_code >= ").bind(u).push(" AND unit_code < ").bind(format!("{u}~").as_str());
    }
    db.fetch_optional(q).await
}
