//! SQL for the coverage slice. A run replaces the current results of its travel profile in one
//! transaction, together with its run record and its audit record.

use platform::audit::{self, Actor, Event as AuditEvent, Outcome};
use platform::clock::Millis;
use platform::db::{DbResult, Sql, Value, new_id};
use platform::scope::{Scope, UnitCode};
use platform::{AppResult, Db, Tx, sql};
use serde::Serialize;

use crate::model::{Rule, RuleInput, Tally};

// ---------------------------------------------------------------------------------------------
// Rules

#[derive(Clone, Debug, sqlx::FromRow)]
struct RuleRow {
    id: String,
    name: String,
    profile: String,
    metres: i64,
    categories: String,
    match_mode: String,
    applies_to: String,
    indicator: String,
    counts: String,
    unit_share_pct: i64,
    note: String,
}

/// Inserts the shipped rules that are not there yet (an admin's edits are kept).
pub async fn seed_rules(tx: &mut Tx, rules: &[Rule], now: Millis) -> DbResult<()> {
    for r in rules {
        tx.execute(sql!(
            "INSERT INTO coverage_rules (id, name, profile, metres, categories, match_mode, applies_to, indicator, counts, unit_share_pct, note, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
            r.id.as_str(), r.name.as_str(), r.mode.as_str(), i64::from(r.metres), r.categories_text(), if r.all { "all" } else { "any" },
            r.applies_to.as_str(), r.indicator.as_str(), r.counts.as_str(), i64::from(r.unit_share_pct), r.note.as_str(), now
        ))
        .await?;
    }
    Ok(())
}

/// The rules in force, ordered by id. A row that no longer parses (it cannot, through the page)
/// is skipped with a log line rather than failing every page.
pub async fn rules(db: &Db) -> DbResult<Vec<Rule>> {
    let rows: Vec<RuleRow> = db
        .fetch_all(sql!(
            "SELECT id, name, profile, metres, categories, match_mode, applies_to, indicator, counts, unit_share_pct, note FROM coverage_rules ORDER BY id"
        ))
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let input = RuleInput {
                id: r.id,
                name: r.name,
                profile: r.profile,
                metres: r.metres.to_string(),
                minutes: String::new(),
                categories: r.categories,
                match_mode: r.match_mode,
                applies_to: r.applies_to,
                indicator: r.indicator,
                counts: r.counts,
                unit_share_pct: r.unit_share_pct.to_string(),
                note: r.note,
            };
            Rule::parse(0, &input).map_err(|e| tracing::warn!(error = %e, "stored coverage rule no longer parses")).ok()
        })
        .collect())
}

pub async fn update_rule(tx: &mut Tx, r: &Rule, now: Millis, actor: &Actor) -> AppResult<()> {
    let n = tx
        .execute(sql!(
            "UPDATE coverage_rules SET name = $1, profile = $2, metres = $3, categories = $4, match_mode = $5, applies_to = $6, indicator = $7, counts = $8, unit_share_pct = $9, note = $10, updated_ms = $11 WHERE id = $12",
            r.name.as_str(), r.mode.as_str(), i64::from(r.metres), r.categories_text(), if r.all { "all" } else { "any" }, r.applies_to.as_str(),
            r.indicator.as_str(), r.counts.as_str(), i64::from(r.unit_share_pct), r.note.as_str(), now, r.id.as_str()
        ))
        .await?;
    if n == 0 {
        return Err(platform::AppError::not_found());
    }
    let detail =
        serde_json::json!({"metres": r.metres, "profile": r.mode.as_str(), "categories": r.categories, "all": r.all, "unit_share_pct": r.unit_share_pct})
            .to_string();
    audit::record(tx, now, &AuditEvent { actor, unit: None, action: "coverage.rule_update", target: &r.id, outcome: Outcome::Ok, detail: &detail }).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Buildings

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct BuildingRow {
    pub id: String,
    pub unit_code: String,
    pub name: String,
    pub lon_e6: i64,
    pub lat_e6: i64,
    pub households: i64,
    pub residents: i64,
    pub source: String,
}

#[derive(Clone, Debug)]
pub struct NewBuilding {
    pub unit_code: String,
    pub name: String,
    pub lon_e6: i64,
    pub lat_e6: i64,
    pub households: i64,
    pub residents: i64,
    pub source: &'static str,
}

/// Rows at a time in a multi-row INSERT: well under both engines' parameter limits.
const CHUNK: usize = 100;

pub async fn insert_buildings(tx: &mut Tx, rows: &[NewBuilding], now: Millis) -> DbResult<u64> {
    let mut n = 0;
    for chunk in rows.chunks(CHUNK) {
        let mut q = Sql::new("INSERT INTO coverage_buildings (id, unit_code, name, lon_e6, lat_e6, households, residents, source, created_ms) VALUES ", []);
        for (i, b) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_list([
                Value::from(new_id()),
                b.unit_code.as_str().into(),
                b.name.as_str().into(),
                b.lon_e6.into(),
                b.lat_e6.into(),
                b.households.into(),
                b.residents.into(),
                b.source.into(),
                now.into(),
            ]);
        }
        n += tx.execute(q).await?;
    }
    Ok(n)
}

pub async fn delete_buildings_of_source(tx: &mut Tx, source: &str) -> DbResult<u64> {
    tx.execute(sql!("DELETE FROM coverage_buildings WHERE source = $1", source)).await
}

pub async fn buildings(db: &Db, root: &UnitCode) -> DbResult<Vec<BuildingRow>> {
    let mut q = Sql::new("SELECT id, unit_code, name, lon_e6, lat_e6, households, residents, source FROM coverage_buildings WHERE ", []);
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY id");
    db.fetch_all(q).await
}

// ---------------------------------------------------------------------------------------------
// Runs and results

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RunRow {
    pub id: String,
    pub profile: String,
    pub network_name: String,
    pub synthetic: i64,
    pub nodes: i64,
    pub edges: i64,
    pub buildings: i64,
    pub unreachable: i64,
    pub facilities: i64,
    pub facilities_outside: i64,
    pub warnings: String,
    pub actor: String,
    pub started_ms: i64,
    pub finished_ms: i64,
}

/// Everything one analysis writes.
pub struct RunWrite<'a> {
    pub run: &'a RunRow,
    /// (building id, unit code, snap distance in metres or None when it could not be snapped)
    pub buildings: &'a [(String, String, Option<i64>)],
    /// (building id, category, metres to the nearest facility within the search bound)
    pub distances: &'a [(String, String, Option<i64>)],
    /// (rule id, unit code, tally) for the rules of this profile
    pub rollups: &'a [(String, String, Tally)],
    /// (rule id, lon_e6, lat_e6, residents gained), in pick order per rule
    pub candidates: &'a [(String, i64, i64, i64)],
    pub rule_ids: &'a [String],
    /// The thinned network drawing (JSON).
    pub lines: &'a str,
    pub isochrones: &'a [crate::service::IsochroneRow],
}

pub async fn write_run(tx: &mut Tx, w: &RunWrite<'_>, actor: &Actor) -> DbResult<()> {
    let r = w.run;
    tx.execute(sql!(
        "INSERT INTO coverage_runs (id, profile, network_name, synthetic, nodes, edges, buildings, unreachable, facilities, facilities_outside, warnings, actor, started_ms, finished_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        r.id.as_str(), r.profile.as_str(), r.network_name.as_str(), r.synthetic, r.nodes, r.edges, r.buildings, r.unreachable, r.facilities,
        r.facilities_outside, r.warnings.as_str(), r.actor.as_str(), r.started_ms, r.finished_ms
    ))
    .await?;
    let profile = r.profile.as_str();
    tx.execute(sql!("DELETE FROM coverage_building_results WHERE profile = $1", profile)).await?;
    tx.execute(sql!("DELETE FROM coverage_distances WHERE profile = $1", profile)).await?;
    if !w.rule_ids.is_empty() {
        let mut q = Sql::new("DELETE FROM coverage_rollups WHERE rule_id IN ", []);
        q.push_list(w.rule_ids.iter().map(String::as_str));
        tx.execute(q).await?;
        let mut q = Sql::new("DELETE FROM coverage_candidates WHERE rule_id IN ", []);
        q.push_list(w.rule_ids.iter().map(String::as_str));
        tx.execute(q).await?;
    }
    for chunk in w.buildings.chunks(CHUNK) {
        let mut q = Sql::new("INSERT INTO coverage_building_results (run_id, profile, building_id, unit_code, snap_m, reachable) VALUES ", []);
        for (i, (id, unit, snap)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_list([Value::from(r.id.as_str()), profile.into(), id.as_str().into(), unit.as_str().into(), (*snap).into(), Value::from(snap.is_some())]);
        }
        tx.execute(q).await?;
    }
    for chunk in w.distances.chunks(CHUNK) {
        let mut q = Sql::new("INSERT INTO coverage_distances (profile, building_id, category, distance_m) VALUES ", []);
        for (i, (id, cat, d)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_list([Value::from(profile), id.as_str().into(), cat.as_str().into(), (*d).into()]);
        }
        tx.execute(q).await?;
    }
    for chunk in w.rollups.chunks(CHUNK) {
        let mut q = Sql::new(
            "INSERT INTO coverage_rollups (run_id, rule_id, unit_code, buildings, buildings_covered, unreachable, residents, residents_covered, beyond, max_distance_m) VALUES ",
            [],
        );
        for (i, (rule, unit, t)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_list([
                Value::from(r.id.as_str()),
                rule.as_str().into(),
                unit.as_str().into(),
                t.buildings.into(),
                t.buildings_covered.into(),
                t.unreachable.into(),
                t.residents.into(),
                t.residents_covered.into(),
                t.beyond.into(),
                t.max_distance_m.into(),
            ]);
        }
        tx.execute(q).await?;
    }
    tx.execute(sql!("DELETE FROM coverage_isochrones WHERE profile = $1", profile)).await?;
    // Geometry text runs to kilobytes: a few rows per statement.
    for chunk in w.isochrones.chunks(20) {
        let mut q = Sql::new("INSERT INTO coverage_isochrones (profile, facility_id, metres, run_id, category, unit_code, vertices, geometry) VALUES ", []);
        for (i, iso) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_list([
                Value::from(profile),
                iso.facility_id.as_str().into(),
                i64::from(iso.metres).into(),
                r.id.as_str().into(),
                iso.category.as_str().into(),
                iso.unit_code.as_str().into(),
                (iso.vertices as i64).into(),
                iso.geometry.as_str().into(),
            ]);
        }
        tx.execute(q).await?;
    }
    tx.execute(sql!("DELETE FROM coverage_networks WHERE profile = $1", profile)).await?;
    tx.execute(sql!("INSERT INTO coverage_networks (profile, run_id, lines) VALUES ($1, $2, $3)", profile, r.id.as_str(), w.lines)).await?;
    let mut rank: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for (rule, lon, lat, gain) in w.candidates {
        let k = rank.entry(rule.as_str()).or_insert(0);
        *k += 1;
        tx.execute(sql!(
            "INSERT INTO coverage_candidates (rule_id, rank, run_id, lon_e6, lat_e6, residents_gain) VALUES ($1, $2, $3, $4, $5, $6)",
            rule.as_str(),
            *k,
            r.id.as_str(),
            *lon,
            *lat,
            *gain
        ))
        .await?;
    }
    let detail = serde_json::json!({
        "network": r.network_name, "profile": r.profile, "nodes": r.nodes, "buildings": r.buildings,
        "unreachable": r.unreachable, "facilities": r.facilities, "facilities_outside": r.facilities_outside
    })
    .to_string();
    audit::record(tx, r.finished_ms, &AuditEvent { actor, unit: None, action: "coverage.analyze", target: &r.id, outcome: Outcome::Ok, detail: &detail })
        .await?;
    Ok(())
}

pub async fn runs(db: &Db, limit: i64) -> DbResult<Vec<RunRow>> {
    db.fetch_all(sql!("SELECT * FROM coverage_runs ORDER BY finished_ms DESC, id LIMIT $1", limit)).await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RollupRow {
    pub rule_id: String,
    pub unit_code: String,
    pub buildings: i64,
    pub buildings_covered: i64,
    pub unreachable: i64,
    pub residents: i64,
    pub residents_covered: i64,
    pub beyond: i64,
    pub max_distance_m: Option<i64>,
}

impl RollupRow {
    pub fn tally(&self) -> Tally {
        Tally {
            buildings: self.buildings,
            buildings_covered: self.buildings_covered,
            unreachable: self.unreachable,
            residents: self.residents,
            residents_covered: self.residents_covered,
            beyond: self.beyond,
            max_distance_m: self.max_distance_m,
        }
    }
}

/// The per-unit roll-ups of one rule in a subtree (units are the buildings' own units).
pub async fn rollups(db: &Db, rule_id: &str, root: &UnitCode) -> DbResult<Vec<RollupRow>> {
    let mut q = Sql::new(
        "SELECT rule_id, unit_code, buildings, buildings_covered, unreachable, residents, residents_covered, beyond, max_distance_m FROM coverage_rollups WHERE rule_id = ",
        [],
    );
    q.bind(rule_id).push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY unit_code");
    db.fetch_all(q).await
}

/// A building on the map: its position, residents, whether it could be snapped, and its distance
/// per category for the current run of a profile.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MapBuilding {
    pub id: String,
    pub unit_code: String,
    pub name: String,
    pub lon_e6: i64,
    pub lat_e6: i64,
    pub residents: i64,
    pub reachable: i64,
}

pub async fn map_buildings(db: &Db, profile: &str, root: &UnitCode, limit: i64) -> DbResult<Vec<MapBuilding>> {
    let mut q = Sql::new(
        "SELECT b.id, b.unit_code, b.name, b.lon_e6, b.lat_e6, b.residents, r.reachable FROM coverage_buildings b JOIN coverage_building_results r ON r.building_id = b.id AND r.profile = ",
        [],
    );
    q.bind(profile).push(" WHERE ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "b.unit_code");
    q.push(" ORDER BY b.id LIMIT ").bind(limit);
    db.fetch_all(q).await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DistanceRow {
    pub building_id: String,
    pub category: String,
    pub distance_m: Option<i64>,
}

pub async fn distances(db: &Db, profile: &str, root: &UnitCode) -> DbResult<Vec<DistanceRow>> {
    let mut q = Sql::new(
        "SELECT d.building_id, d.category, d.distance_m FROM coverage_distances d JOIN coverage_buildings b ON b.id = d.building_id WHERE d.profile = ",
        [],
    );
    q.bind(profile).push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "b.unit_code");
    db.fetch_all(q).await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct CandidateRow {
    pub rule_id: String,
    pub rank: i64,
    pub lon_e6: i64,
    pub lat_e6: i64,
    pub residents_gain: i64,
}

pub async fn candidates(db: &Db, rule_id: &str) -> DbResult<Vec<CandidateRow>> {
    db.fetch_all(sql!("SELECT rule_id, rank, lon_e6, lat_e6, residents_gain FROM coverage_candidates WHERE rule_id = $1 ORDER BY rank", rule_id)).await
}

#[derive(sqlx::FromRow)]
struct LinesRow {
    lines: String,
}

/// The thinned network of a profile's current run, as segments `[lon1, lat1, lon2, lat2]`.
pub async fn network_lines(db: &Db, profile: &str) -> DbResult<Vec<[f64; 4]>> {
    let row: Option<LinesRow> = db.fetch_optional(sql!("SELECT lines FROM coverage_networks WHERE profile = $1", profile)).await?;
    Ok(row.and_then(|r| serde_json::from_str(&r.lines).ok()).unwrap_or_default())
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct IsochroneStored {
    pub facility_id: String,
    pub category: String,
    pub unit_code: String,
    pub metres: i64,
    pub vertices: i64,
    pub geometry: String,
}

/// The (category, metres) tiers with stored isochrones of a profile's facilities in a subtree.
pub async fn isochrone_tiers(db: &Db, profile: &str, root: &UnitCode) -> DbResult<Vec<(String, i64)>> {
    #[derive(sqlx::FromRow)]
    struct T {
        category: String,
        metres: i64,
    }
    let mut q = Sql::new("SELECT DISTINCT category, metres FROM coverage_isochrones WHERE profile = ", []);
    q.bind(profile).push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY category, metres");
    let rows: Vec<T> = db.fetch_all(q).await?;
    Ok(rows.into_iter().map(|t| (t.category, t.metres)).collect())
}

/// The stored isochrones of one tier (category and metres) in a subtree, by facility id.
pub async fn isochrones(db: &Db, profile: &str, root: &UnitCode, category: &str, metres: i64) -> DbResult<Vec<IsochroneStored>> {
    let mut q = Sql::new("SELECT facility_id, category, unit_code, metres, vertices, geometry FROM coverage_isochrones WHERE profile = ", []);
    q.bind(profile).push(" AND category = ").bind(category).push(" AND metres = ").bind(metres).push(" AND ");
    Scope::new(vec![root.clone()]).push_filter(&mut q, "unit_code");
    q.push(" ORDER BY facility_id");
    db.fetch_all(q).await
}

// ---------------------------------------------------------------------------------------------
// Upload jobs

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub boot: String,
    pub file_name: String,
    pub profile: String,
    pub state: String,
    pub progress: String,
    pub result: Option<String>,
    pub error: Option<String>,
    pub actor: String,
    pub started_ms: i64,
    pub updated_ms: i64,
}

pub async fn insert_job(db: &Db, j: &JobRow) -> DbResult<()> {
    db.execute(sql!(
        "INSERT INTO coverage_jobs (id, boot, file_name, profile, state, progress, result, error, actor, started_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        j.id.as_str(), j.boot.as_str(), j.file_name.as_str(), j.profile.as_str(), j.state.as_str(), j.progress.as_str(), j.result.as_deref(),
        j.error.as_deref(), j.actor.as_str(), j.started_ms, j.updated_ms
    ))
    .await?;
    Ok(())
}

/// Moves a job on: its state, progress text, and the result (JSON) or the error.
pub async fn update_job(db: &Db, id: &str, state: &str, progress: &str, result: Option<&str>, error: Option<&str>, now: Millis) -> DbResult<()> {
    db.execute(sql!(
        "UPDATE coverage_jobs SET state = $1, progress = $2, result = $3, error = $4, updated_ms = $5 WHERE id = $6",
        state,
        progress,
        result,
        error,
        now,
        id
    ))
    .await?;
    Ok(())
}

pub async fn job(db: &Db, id: &str) -> DbResult<Option<JobRow>> {
    db.fetch_optional(sql!("SELECT * FROM coverage_jobs WHERE id = $1", id)).await
}

/// Marks failed every job still running under another server process (cut off by a restart).
pub async fn fail_interrupted_jobs(db: &Db, boot: &str, message: &str, now: Millis) -> DbResult<u64> {
    db.execute(sql!("UPDATE coverage_jobs SET state = 'failed', error = $1, updated_ms = $2 WHERE state = 'running' AND boot <> $3", message, now, boot)).await
}
