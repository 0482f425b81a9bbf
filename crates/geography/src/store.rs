//! SQL for units, lineage, boundaries and population figures. Every read that returns unit rows to a
//! person takes a [`Scope`] and filters in SQL.

use platform::audit::{self, Actor, Event, Outcome};
use platform::clock::{Date, Millis};
use platform::db::{DbResult, Sql};
use platform::scope::{Level, Scope, UnitCode};
use platform::{AppError, AppResult, Db, Tx, sql};

use crate::model::{NewUnit, Unit, UnitKind};

/// `valid on date d`, appended to a WHERE clause. Dates are `YYYY-MM-DD` text, so they compare as text.
fn push_valid_on(q: &mut Sql, as_of: Date) {
    let d = as_of.to_string();
    q.push(" AND (valid_from IS NULL OR valid_from <= ").bind(d.as_str()).push(") AND (valid_to IS NULL OR valid_to > ").bind(d).push(")");
}

pub async fn get(db: &Db, code: &str) -> DbResult<Option<Unit>> {
    db.fetch_optional(sql!("SELECT * FROM units WHERE code = $1", code)).await
}

/// The unit if it lies in `scope`; otherwise nothing (the caller answers 404).
pub async fn get_in_scope(db: &Db, scope: &Scope, code: &UnitCode) -> DbResult<Option<Unit>> {
    let mut q = Sql::new("SELECT * FROM units WHERE code = ", []);
    q.bind(code.as_str()).push(" AND ");
    scope.push_filter(&mut q, "code");
    db.fetch_optional(q).await
}

/// Ancestors from the city down to the parent, by structure of the code.
pub async fn ancestors(db: &Db, code: &UnitCode) -> DbResult<Vec<Unit>> {
    let mut codes = Vec::new();
    let mut c = code.structural_parent();
    while let Some(p) = c {
        c = p.structural_parent();
        codes.push(p);
    }
    let mut out = Vec::new();
    for c in codes.iter().rev() {
        if let Some(u) = get(db, c.as_str()).await? {
            out.push(u);
        }
    }
    Ok(out)
}

/// Breadcrumbs above a unit: (code, name, whether the viewer may open it).
pub async fn breadcrumbs(db: &Db, scope: &Scope, code: &UnitCode) -> DbResult<Vec<(String, String, bool)>> {
    Ok(ancestors(db, code)
        .await?
        .into_iter()
        .map(|a| {
            let link = UnitCode::parse(&a.code).is_ok_and(|c| scope.contains(&c));
            (a.code, a.name, link)
        })
        .collect())
}

/// A child row for tables: the unit plus how many units sit directly below it and its residents.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ChildRow {
    #[serde(flatten)]
    pub unit: Unit,
    pub children: i64,
    pub residents: Option<i64>,
}

fn children_query(select: &str, parent: &UnitCode, scope: &Scope, q: &str, as_of: Date) -> Sql {
    let mut s = Sql::new(select, []);
    s.push(" WHERE parent_code = ").bind(parent.as_str()).push(" AND ");
    scope.push_filter(&mut s, "code");
    push_valid_on(&mut s, as_of);
    if !q.trim().is_empty() {
        s.push(" AND (name LIKE ")
            .bind(format!("%{}%", platform::db::like_escape(q.trim())))
            .push(" ESCAPE '\\' OR code LIKE ")
            .bind(format!("{}%", platform::db::like_escape(q.trim())))
            .push(" ESCAPE '\\')");
    }
    s
}

pub async fn children(db: &Db, parent: &UnitCode, scope: &Scope, q: &str, as_of: Date, limit: i64, offset: i64) -> DbResult<(Vec<ChildRow>, i64)> {
    let total = db.scalar(children_query("SELECT COUNT(*) FROM units", parent, scope, q, as_of)).await?;
    let mut s = children_query("SELECT * FROM units", parent, scope, q, as_of);
    s.push(" ORDER BY code");
    s.page(limit, offset);
    let units: Vec<Unit> = db.fetch_all(s).await?;
    let mut rows = Vec::with_capacity(units.len());
    for u in units {
        let mut cq = Sql::new("SELECT COUNT(*) FROM units WHERE parent_code = ", []);
        cq.bind(u.code.as_str());
        push_valid_on(&mut cq, as_of);
        let n = db.scalar(cq).await?;
        let code = UnitCode::parse(&u.code).map_err(|e| platform::db::DbError::Unsafe(e.to_string()))?;
        let residents = population_total(db, &code).await?.map(|(_, r)| r);
        rows.push(ChildRow { unit: u, children: n, residents });
    }
    Ok((rows, total))
}

/// Units below `root` (excluding it) counted by kind, on a date.
pub async fn counts_by_kind(db: &Db, root: &UnitCode, as_of: Date) -> DbResult<Vec<(String, i64)>> {
    let mut q = Sql::new("SELECT kind, COUNT(*) FROM units WHERE ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "code");
    q.push(" AND code <> ").bind(root.as_str());
    push_valid_on(&mut q, as_of);
    q.push(" GROUP BY kind");
    let mut rows: Vec<(String, i64)> = db.fetch_all(q).await?;
    rows.sort_by_key(|(k, _)| UnitKind::parse(k).map(|k| k as i64).unwrap_or(99));
    Ok(rows)
}

/// Counts of current units at each level, city-wide (the tree-shape check).
pub async fn count_kind(db: &Db, kind: UnitKind) -> DbResult<i64> {
    db.scalar(sql!("SELECT COUNT(*) FROM units WHERE kind = $1 AND valid_to IS NULL", kind.label())).await
}

/// Name search within scope, current units, up to `limit`.
pub async fn search(db: &Db, scope: &Scope, q: &str, as_of: Date, limit: i64, offset: i64) -> DbResult<(Vec<Unit>, i64)> {
    let build = |select: &str| {
        let mut s = Sql::new(select, []);
        s.push(" WHERE ");
        scope.push_filter(&mut s, "code");
        push_valid_on(&mut s, as_of);
        s.push(" AND name LIKE ").bind(format!("%{}%", platform::db::like_escape(q.trim()))).push(" ESCAPE '\\'");
        s
    };
    let total = db.scalar(build("SELECT COUNT(*) FROM units")).await?;
    let mut s = build("SELECT * FROM units");
    s.push(" ORDER BY code");
    s.page(limit, offset);
    Ok((db.fetch_all(s).await?, total))
}

/// Inserts validated units in one transaction, checking against the database: the parent must
/// exist (earlier in the batch or already stored) and the code must be new. Errors carry `row`
/// as given in `rows` (line numbers from the file).
pub async fn insert_units(tx: &mut Tx, units: &[(usize, NewUnit)]) -> AppResult<usize> {
    let mut batch: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (line, u) in units {
        if !batch.insert(u.code.as_str()) {
            return Err(AppError::bad_request("unit.duplicate_code", format!("单位代码 {} 在文件中重复", u.code)).at_row(*line).at_field("code"));
        }
    }
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (line, u) in units {
        if let Some(p) = &u.parent
            && !seen.contains(p.as_str())
        {
            let exists = tx.scalar(sql!("SELECT COUNT(*) FROM units WHERE code = $1 AND valid_to IS NULL", p.as_str())).await?;
            if exists == 0 {
                return Err(AppError::bad_request("unit.parent_not_found", format!("上级单位 {p} 不存在（须先导入上级，或上级已撤销）"))
                    .at_row(*line)
                    .at_field("parent_code"));
            }
            seen.insert(p.to_string());
        }
        let r = tx
            .execute(sql!(
                "INSERT INTO units (code, name, kind, level, parent_code, valid_from, valid_to, synthetic) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
                u.code.as_str(),
                u.name.as_str(),
                u.kind.label(),
                u.kind.level() as i64,
                u.parent.as_ref().map(|p| p.to_string()),
                u.valid_from.map(|d| d.to_string()),
                u.synthetic
            ))
            .await;
        match r {
            Err(e) if e.is_unique_violation() => {
                return Err(AppError::conflict("unit.duplicate_code", format!("单位代码 {} 已存在", u.code)).at_row(*line).at_field("code"));
            }
            r => r?,
        };
        seen.insert(u.code.to_string());
    }
    Ok(units.len())
}

/// Stores a boundary (WGS-84 GeoJSON geometry text).
pub async fn put_boundary(tx: &mut Tx, code: &str, geometry: &str, source: &str) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO unit_boundaries (code, geometry, source) VALUES ($1, $2, $3) ON CONFLICT (code) DO UPDATE SET geometry = excluded.geometry, source = excluded.source",
        code, geometry, source
    ))
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BoundaryRow {
    pub code: String,
    pub name: String,
    pub geometry: String,
}

/// Boundaries of the current units at one level (the map draws one level at a time).
pub async fn boundaries_at(db: &Db, level: Level) -> DbResult<Vec<BoundaryRow>> {
    db.fetch_all(sql!(
        "SELECT b.code, u.name, b.geometry FROM unit_boundaries b JOIN units u ON u.code = b.code WHERE u.level = $1 AND u.valid_to IS NULL ORDER BY b.code",
        level as i64
    ))
    .await
}

pub async fn put_population(tx: &mut Tx, code: &str, community_kind: Option<&str>, households: i64, residents: i64, synthetic: bool) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO unit_population (code, community_kind, households, residents, synthetic) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO UPDATE SET community_kind = excluded.community_kind, households = excluded.households, residents = excluded.residents, synthetic = excluded.synthetic",
        code, community_kind, households, residents, synthetic
    ))
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Population {
    pub code: String,
    pub community_kind: Option<String>,
    pub households: i64,
    pub residents: i64,
    pub synthetic: i64,
}

pub async fn population(db: &Db, code: &str) -> DbResult<Option<Population>> {
    db.fetch_optional(sql!("SELECT * FROM unit_population WHERE code = $1", code)).await
}

/// (households, residents) summed over the current village-level units in a subtree.
pub async fn population_total(db: &Db, root: &UnitCode) -> DbResult<Option<(i64, i64)>> {
    let mut q = Sql::new(
        "SELECT COUNT(*), CAST(COALESCE(SUM(p.households), 0) AS BIGINT), CAST(COALESCE(SUM(p.residents), 0) AS BIGINT) FROM unit_population p JOIN units u ON u.code = p.code WHERE u.valid_to IS NULL AND ",
        [],
    );
    Scope::new(vec![root.clone()]).push_filter(&mut q, "p.code");
    let (n, h, r): (i64, i64, i64) = db.fetch_one(q).await?;
    Ok((n > 0).then_some((h, r)))
}

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct LineageRow {
    pub reform_id: String,
    pub kind: String,
    pub from_code: String,
    pub from_name: String,
    pub to_code: String,
    pub to_name: String,
    pub effective: String,
    pub note: String,
}

/// Reforms the unit took part in, as predecessor or successor.
pub async fn lineage(db: &Db, code: &str) -> DbResult<Vec<LineageRow>> {
    db.fetch_all(sql!(
        "SELECT l.reform_id, l.kind, l.from_code, f.name AS from_name, l.to_code, t.name AS to_name, l.effective, l.note FROM unit_lineage l JOIN units f ON f.code = l.from_code JOIN units t ON t.code = l.to_code WHERE l.from_code = $1 OR l.to_code = $1 ORDER BY l.effective, l.from_code, l.to_code",
        code
    ))
    .await
}

/// Current direct children of a unit, in code order.
async fn current_children(tx: &mut Tx, code: &str) -> DbResult<Vec<Unit>> {
    tx.fetch_all(sql!("SELECT * FROM units WHERE parent_code = $1 AND valid_to IS NULL ORDER BY code", code)).await
}

async fn retire(tx: &mut Tx, code: &str, effective: Date) -> DbResult<()> {
    tx.execute(sql!("UPDATE units SET valid_to = $1 WHERE code = $2", effective.to_string(), code)).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn link(tx: &mut Tx, reform_id: &str, kind: &str, from: &str, to: &str, effective: Date, note: &str) -> DbResult<()> {
    tx.execute(sql!(
        "INSERT INTO unit_lineage (id, reform_id, kind, from_code, to_code, effective, note) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        platform::db::new_id(),
        reform_id,
        kind,
        from,
        to,
        effective.to_string(),
        note
    ))
    .await?;
    Ok(())
}

/// Moves the current children of `old` under `new`, giving each a new code (the new parent's code
/// plus a sequence number), retiring the old child and linking old → new; recursively.
fn recode_children<'a>(
    tx: &'a mut Tx,
    reform_id: &'a str,
    old: &'a str,
    new: &'a UnitCode,
    effective: Date,
    note: &'a str,
) -> platform::web::BoxFuture<'a, AppResult<usize>> {
    Box::pin(async move {
        let kids = current_children(tx, old).await?;
        let mut moved = 0;
        for k in kids {
            let suffix_len = k.code.len() - old.len();
            let prefix = new.as_str();
            let taken: Option<String> =
                tx.fetch_optional::<(String,)>(sql!("SELECT code FROM units WHERE parent_code = $1 ORDER BY code DESC LIMIT 1", prefix)).await?.map(|(c,)| c);
            let next = taken.as_deref().and_then(|c| c[prefix.len()..].parse::<u64>().ok()).unwrap_or(0) + 1;
            let code_s = format!("{prefix}{next:0width$}", width = suffix_len);
            let code = UnitCode::parse(&code_s).map_err(|e| AppError::bad_request("unit.recode_overflow", e.to_string()))?;
            if code_s.len() != k.code.len() {
                return Err(AppError::bad_request("unit.recode_overflow", format!("{new} 下的代码已用尽，无法迁移 {}", k.code)));
            }
            tx.execute(sql!(
                "INSERT INTO units (code, name, kind, level, parent_code, valid_from, valid_to, synthetic) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
                code.as_str(),
                k.name.as_str(),
                k.kind.as_str(),
                k.level,
                prefix,
                effective.to_string(),
                k.synthetic
            ))
            .await?;
            tx.execute(sql!(
                "INSERT INTO unit_population (code, community_kind, households, residents, synthetic) SELECT $1, community_kind, households, residents, synthetic FROM unit_population WHERE code = $2",
                code.as_str(), k.code.as_str()
            ))
            .await?;
            retire(tx, &k.code, effective).await?;
            link(tx, reform_id, "recode", &k.code, code.as_str(), effective, note).await?;
            moved += 1 + recode_children(tx, reform_id, &k.code, &code, effective, note).await?;
        }
        Ok(moved)
    })
}

/// What a reform did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReformReport {
    pub reform_id: String,
    pub retired: Vec<String>,
    pub created: Vec<String>,
    pub recoded: usize,
}

async fn current_unit(tx: &mut Tx, code: &UnitCode, field: &str) -> AppResult<Unit> {
    let u: Option<Unit> = tx.fetch_optional(sql!("SELECT * FROM units WHERE code = $1", code.as_str())).await?;
    match u {
        Some(u) if u.valid_to.is_none() => Ok(u),
        Some(_) => Err(AppError::bad_request("unit.already_retired", format!("单位 {code} 已撤销，不能再参与调整")).at_field(field.to_owned())),
        None => Err(AppError::bad_request("unit.not_found", format!("单位 {code} 不存在")).at_field(field.to_owned())),
    }
}

/// 撤并: merges `from` units into one new unit. The old units keep their history with
/// `valid_to = effective`; their subordinate units move under the new unit with new codes.
pub async fn merge(tx: &mut Tx, now: Millis, actor: &Actor, from: &[UnitCode], into: &NewUnit, effective: Date, note: &str) -> AppResult<ReformReport> {
    if from.len() < 2 {
        return Err(AppError::bad_request("unit.merge_needs_two", "撤并至少需要两个原单位").at_field("from"));
    }
    for f in from {
        let u = current_unit(tx, f, "from").await?;
        if u.level != into.kind.level() as i64 || u.parent_code.as_deref() != into.parent.as_ref().map(|p| p.as_str()) {
            return Err(AppError::bad_request("unit.merge_mismatch", format!("原单位 {f} 与新单位不在同一上级或同一层级")).at_field("from"));
        }
    }
    let reform_id = platform::db::new_id();
    insert_units(tx, &[(0, NewUnit { valid_from: Some(effective), ..into.clone() })]).await?;
    let mut recoded = 0;
    let (mut households, mut residents, mut any) = (0, 0, false);
    for f in from {
        recoded += recode_children(tx, &reform_id, f.as_str(), &into.code, effective, note).await?;
        if let Some(p) = tx.fetch_optional::<(i64, i64)>(sql!("SELECT households, residents FROM unit_population WHERE code = $1", f.as_str())).await? {
            households += p.0;
            residents += p.1;
            any = true;
        }
        retire(tx, f.as_str(), effective).await?;
        link(tx, &reform_id, "merge", f.as_str(), into.code.as_str(), effective, note).await?;
    }
    if any {
        put_population(tx, into.code.as_str(), None, households, residents, false).await?;
    }
    let retired: Vec<String> = from.iter().map(|c| c.to_string()).collect();
    let detail = format!("merge {} -> {} effective {effective}; {recoded} subordinate units recoded; {note}", retired.join(","), into.code);
    audit::record(
        tx,
        now,
        &Event {
            actor,
            unit: into.parent.as_ref().map(|p| p.as_str()),
            action: "unit.reform",
            target: into.code.as_str(),
            outcome: Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    Ok(ReformReport { reform_id, retired, created: vec![into.code.to_string()], recoded })
}

/// 拆分: splits one unit into several new ones. The old unit must have no current subordinate units
/// (move them first), because which new unit each belongs to is a decision the system cannot make.
pub async fn split(tx: &mut Tx, now: Millis, actor: &Actor, from: &UnitCode, into: &[NewUnit], effective: Date, note: &str) -> AppResult<ReformReport> {
    if into.len() < 2 {
        return Err(AppError::bad_request("unit.split_needs_two", "拆分至少需要两个新单位").at_field("into"));
    }
    let old = current_unit(tx, from, "from").await?;
    for n in into {
        if n.kind.level() as i64 != old.level || n.parent.as_ref().map(|p| p.as_str()) != old.parent_code.as_deref() {
            return Err(AppError::bad_request("unit.split_mismatch", format!("新单位 {} 与原单位不在同一上级或同一层级", n.code)).at_field("into"));
        }
    }
    if !current_children(tx, from.as_str()).await?.is_empty() {
        return Err(AppError::bad_request("unit.split_has_children", format!("单位 {from} 下仍有下级单位，请先将其迁移后再拆分")).at_field("from"));
    }
    let reform_id = platform::db::new_id();
    let rows: Vec<(usize, NewUnit)> = into.iter().map(|n| (0, NewUnit { valid_from: Some(effective), ..n.clone() })).collect();
    insert_units(tx, &rows).await?;
    retire(tx, from.as_str(), effective).await?;
    for n in into {
        link(tx, &reform_id, "split", from.as_str(), n.code.as_str(), effective, note).await?;
    }
    let created: Vec<String> = into.iter().map(|n| n.code.to_string()).collect();
    let detail = format!("split {from} -> {} effective {effective}; {note}", created.join(","));
    audit::record(
        tx,
        now,
        &Event { actor, unit: old.parent_code.as_deref(), action: "unit.reform", target: from.as_str(), outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    Ok(ReformReport { reform_id, retired: vec![from.to_string()], created, recoded: 0 })
}

pub async fn get_tx(tx: &mut Tx, code: &str) -> DbResult<Option<Unit>> {
    tx.fetch_optional(sql!("SELECT * FROM units WHERE code = $1", code)).await
}

/// Current units of one kind in a subtree, in code order (other slices use this, e.g. the compounds
/// of a community for an import, or every village-level unit for demo data).
pub async fn current_of_kind(db: &Db, root: &UnitCode, kinds: &[UnitKind]) -> DbResult<Vec<Unit>> {
    let mut q = Sql::new("SELECT * FROM units WHERE valid_to IS NULL AND ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "code");
    q.push(" AND kind IN ").push_list(kinds.iter().map(|k| k.label()));
    q.push(" ORDER BY code");
    db.fetch_all(q).await
}

// ---------------------------------------------------------------------------------------------
// 产业园区社区: a mark an administrator sets on a community (T45 counts only marked ones)

/// The communities in a subtree marked as industrial parks.
pub async fn industrial_parks(db: &Db, root: &UnitCode) -> DbResult<std::collections::HashSet<String>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        code: String,
    }
    let mut q = Sql::new("SELECT code FROM unit_industrial_parks WHERE ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "code");
    let rows: Vec<Row> = db.fetch_all(q).await?;
    Ok(rows.into_iter().map(|r| r.code).collect())
}

pub async fn is_industrial_park(db: &Db, code: &str) -> DbResult<bool> {
    Ok(db.scalar(sql!("SELECT CAST(COUNT(*) AS BIGINT) FROM unit_industrial_parks WHERE code = $1", code)).await? > 0)
}

/// Sets or clears the mark on a current community, with its audit record. Returns whether the
/// mark changed.
pub async fn set_industrial_park(tx: &mut Tx, now: Millis, actor: &Actor, code: &str, park: bool) -> AppResult<bool> {
    let unit = get_tx(tx, code).await?.ok_or_else(AppError::not_found)?;
    if unit.kind() != Some(UnitKind::Community) || unit.valid_to.is_some() {
        return Err(AppError::bad_request("unit.park_kind", "只有现有的社区可以标记为产业园区社区"));
    }
    let n = if park {
        tx.execute(sql!(
            "INSERT INTO unit_industrial_parks (code, actor, marked_ms) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING",
            code,
            actor.name.as_str(),
            now
        ))
        .await?
    } else {
        tx.execute(sql!("DELETE FROM unit_industrial_parks WHERE code = $1", code)).await?
    };
    if n > 0 {
        let detail = serde_json::json!({ "industrial_park": park }).to_string();
        audit::record(tx, now, &Event { actor, unit: Some(code), action: "unit.industrial_park", target: code, outcome: Outcome::Ok, detail: &detail }).await?;
    }
    Ok(n > 0)
}
