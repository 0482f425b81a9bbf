//! The analysis: from a road network, the facilities register and the residential buildings to
//! distances per building, roll-ups per unit and candidate sites, written in one transaction.

use std::collections::HashMap;

use platform::audit::Actor;
use platform::db::new_id;
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Db, Platform};
use walknet::{Network, Site, Snap, SnapOptions};

use crate::model::{self, Counts, Mode, Rule, Tally};
use crate::store::{self, RunRow, RunWrite};

/// The city: every analysis covers the whole tree.
pub const CITY: &str = "5109";

/// Candidate sites picked per rule.
pub const CANDIDATES: usize = 10;

pub fn city() -> AppResult<UnitCode> {
    UnitCode::parse(CITY).map_err(AppError::internal)
}

/// Makes sure the shipped rules are in the database, and returns the rules in force.
pub async fn rules(p: &Platform) -> AppResult<Vec<Rule>> {
    let shipped = model::parse_rules(model::RULES_CSV).map_err(AppError::internal)?;
    let have = store::rules(&p.db).await?;
    // Pages call this on every view: write only when a shipped rule is missing.
    if shipped.iter().all(|s| have.iter().any(|r| r.id == s.id)) {
        return Ok(have);
    }
    let mut tx = p.db.begin().await?;
    store::seed_rules(&mut tx, &shipped, p.now()).await?;
    tx.commit().await?;
    Ok(store::rules(&p.db).await?)
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Buildings and facilities farther than this from every usable road are not snapped.
    pub max_snap_m: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_snap_m: 200.0 }
    }
}

/// What an analysis did, for the CLI summary and the page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub run_id: String,
    pub profile: Mode,
    pub nodes: usize,
    pub edges: usize,
    pub buildings: usize,
    /// Buildings farther than the snap limit from every road: stored as unreachable, counted as
    /// not covered.
    pub unreachable: usize,
    pub facilities: usize,
    /// Facilities with a position that could not be snapped (outside the network's area).
    pub facilities_outside: usize,
    /// Facilities of a rule's category without a position in the register.
    pub facilities_without_position: usize,
    pub rules: usize,
    pub warnings: Vec<String>,
}

/// Runs one analysis for the network's profile and stores it, replacing that profile's current
/// results. The network is already built (streamed from the file by walknet).
pub async fn analyze(p: &Platform, actor: &Actor, net: &Network, network_name: &str, synthetic: bool, opts: Options) -> AppResult<Report> {
    let started = p.now();
    let mode = match net.profile() {
        walknet::Profile::Walk => Mode::Walk,
        walknet::Profile::Bicycle => Mode::Bicycle,
    };
    let all_rules = rules(p).await?;
    let rules: Vec<Rule> = all_rules.into_iter().filter(|r| r.mode == mode).collect();
    let bounds = model::bounds(&rules, mode);
    let root = city()?;
    let facilities = registry::coverage_inputs::facilities(&p.db, &root).await?;
    let buildings = store::buildings(&p.db, &root).await?;
    let snap_opts = SnapOptions { max_m: opts.max_snap_m, min_component: SnapOptions::default().min_component };

    let mut warnings: Vec<String> = net.report().warnings.iter().map(|w| w.to_string()).collect();
    // Facilities: only the categories some rule of this profile needs.
    let mut sites: HashMap<&str, Vec<Site>> = HashMap::new();
    let mut snapped_facilities: Vec<(&registry::coverage_inputs::FacilityPoint, Snap)> = Vec::new();
    let (mut counted, mut outside, mut no_pos) = (0usize, 0usize, 0usize);
    for f in &facilities {
        if !bounds.iter().any(|(c, _)| c == &f.category) {
            continue;
        }
        counted += 1;
        let Some((lon, lat)) = f.lon_e6.zip(f.lat_e6) else {
            no_pos += 1;
            continue;
        };
        match net.snap_one([lon as f64 / 1e6, lat as f64 / 1e6], &snap_opts) {
            Ok(s) => {
                sites.entry(f.category.as_str()).or_default().push(Site::Snap(s));
                snapped_facilities.push((f, s));
            }
            Err(_) => outside += 1,
        }
    }
    if outside > 0 {
        warnings.push(format!("{outside} 处设施不在路网范围内（距道路超过 {:.0} 米），未参与计算", opts.max_snap_m));
    }
    if no_pos > 0 {
        warnings.push(format!("{no_pos} 处设施在台账中没有坐标，未参与计算"));
    }
    // Buildings.
    let points: Vec<[f64; 2]> = buildings.iter().map(|b| [b.lon_e6 as f64 / 1e6, b.lat_e6 as f64 / 1e6]).collect();
    let snaps: Vec<Option<Snap>> = net.snap(&points, &snap_opts).into_iter().map(Result::ok).collect();
    let unreachable = snaps.iter().filter(|s| s.is_none()).count();
    if unreachable > 0 {
        warnings.push(format!("{unreachable} 栋住宅楼距道路超过 {:.0} 米，记为不可达（计入未覆盖）", opts.max_snap_m));
    }
    // One bounded search per category answers every rule naming it.
    let mut dist: Vec<HashMap<String, u32>> = vec![HashMap::new(); buildings.len()];
    let mut distance_rows = Vec::new();
    for (cat, bound) in &bounds {
        let Some(s) = sites.get(cat.as_str()) else {
            for b in &buildings {
                distance_rows.push((b.id.clone(), cat.clone(), None));
            }
            continue;
        };
        let field = net.nearest_facility(s, *bound as f32);
        for (i, b) in buildings.iter().enumerate() {
            let d = snaps[i].as_ref().and_then(|sn| field.at(net, sn)).map(|(m, _)| m.round() as u32);
            if let Some(d) = d {
                dist[i].insert(cat.clone(), d);
            }
            distance_rows.push((b.id.clone(), cat.clone(), d.map(i64::from)));
        }
    }
    // Roll-ups per rule and unit, and candidate sites over uncovered residents.
    let mut rollups = Vec::new();
    let mut candidates = Vec::new();
    let candidate_nodes = grid_nodes(net, 150.0, 2000);
    for r in &rules {
        let mut per_unit: std::collections::BTreeMap<&str, Tally> = std::collections::BTreeMap::new();
        let mut demand: Vec<Snap> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for (i, b) in buildings.iter().enumerate() {
            let t = per_unit.entry(b.unit_code.as_str()).or_default();
            t.buildings += 1;
            t.residents += b.residents;
            if snaps[i].is_none() {
                t.unreachable += 1;
                continue;
            }
            match r.nearest(&dist[i]) {
                Some(d) => t.max_distance_m = t.max_distance_m.max(Some(i64::from(d))),
                None => t.beyond += 1,
            }
            if r.covers(&dist[i]) {
                t.buildings_covered += 1;
                t.residents_covered += b.residents;
            } else if let Some(s) = snaps[i] {
                demand.push(s);
                weights.push(b.residents.max(1) as f64);
            }
        }
        for (u, t) in per_unit {
            rollups.push((r.id.clone(), u.to_owned(), t));
        }
        if !demand.is_empty() && !candidate_nodes.is_empty() {
            let site_list: Vec<Site> = candidate_nodes.iter().map(|&n| Site::Node(n)).collect();
            let sets = net.coverage_of_points(&site_list, &demand, r.metres as f32);
            match walknet::greedy_max_cover(&sets, &weights, CANDIDATES, None) {
                Ok(cover) => {
                    for pick in cover.picks.iter().filter(|p| p.gain > 0.0) {
                        let [lon, lat] = net.lonlat(candidate_nodes[pick.set as usize]);
                        candidates.push((r.id.clone(), (lon * 1e6).round() as i64, (lat * 1e6).round() as i64, pick.gain.round() as i64));
                    }
                }
                Err(e) => warnings.push(format!("{}：候选点计算失败（{}）", r.name, e)),
            }
        }
    }
    let run = RunRow {
        id: new_id(),
        profile: mode.as_str().to_owned(),
        network_name: network_name.to_owned(),
        synthetic: i64::from(synthetic),
        nodes: net.node_count() as i64,
        edges: net.edge_count() as i64,
        buildings: buildings.len() as i64,
        unreachable: unreachable as i64,
        facilities: counted as i64,
        facilities_outside: outside as i64,
        warnings: warnings.join("\n"),
        actor: actor.name.clone(),
        started_ms: started,
        finished_ms: p.now(),
    };
    let building_rows: Vec<(String, String, Option<i64>)> =
        buildings.iter().zip(&snaps).map(|(b, s)| (b.id.clone(), b.unit_code.clone(), s.map(|s| s.access_m.round() as i64))).collect();
    let rule_ids: Vec<String> = rules.iter().map(|r| r.id.clone()).collect();
    let lines = serde_json::to_string(&thinned_lines(net, 20_000)).map_err(AppError::internal)?;
    let isochrones = isochrones(net, &rules, mode, &snapped_facilities, &mut warnings);
    let mut tx = p.db.begin().await?;
    store::write_run(
        &mut tx,
        &RunWrite {
            run: &run,
            buildings: &building_rows,
            distances: &distance_rows,
            rollups: &rollups,
            candidates: &candidates,
            rule_ids: &rule_ids,
            lines: &lines,
            isochrones: &isochrones,
        },
        actor,
    )
    .await?;
    tx.commit().await?;
    Ok(Report {
        run_id: run.id,
        profile: mode,
        nodes: net.node_count(),
        edges: net.edge_count(),
        buildings: buildings.len(),
        unreachable,
        facilities: counted,
        facilities_outside: outside,
        facilities_without_position: no_pos,
        rules: rules.len(),
        warnings,
    })
}

/// Facilities whose isochrones one run draws at most (each at every tier of its category).
pub const ISOCHRONE_FACILITIES: usize = 3000;

/// One facility's isochrone at one tier, ready to store.
#[derive(Clone, Debug)]
pub struct IsochroneRow {
    pub facility_id: String,
    pub category: String,
    pub unit_code: String,
    pub metres: u32,
    pub vertices: usize,
    pub geometry: String,
}

/// Per facility, one bounded search to its category's largest tier, then walknet's isochrone at
/// every tier, simplified to at most [`model::ISOCHRONE_MAX_VERTICES`] vertices. The raster cell
/// grows with the distance (1/60 of it, at least 20 m), so a 12 km circle costs about what a
/// 1 km one does.
pub fn isochrones(
    net: &Network,
    rules: &[Rule],
    mode: Mode,
    facilities: &[(&registry::coverage_inputs::FacilityPoint, Snap)],
    warnings: &mut Vec<String>,
) -> Vec<IsochroneRow> {
    if facilities.len() > ISOCHRONE_FACILITIES {
        warnings.push(format!("设施 {} 处，等时圈只绘制前 {ISOCHRONE_FACILITIES} 处", facilities.len()));
    }
    let mut out = Vec::new();
    for (f, snap) in facilities.iter().take(ISOCHRONE_FACILITIES) {
        let tiers = model::tiers(rules, mode, &f.category);
        let Some(&top) = tiers.last() else { continue };
        let field = net.nearest_facility(&[Site::Snap(*snap)], top as f32);
        for t in tiers {
            let cell = (f64::from(t) / 60.0).max(20.0);
            let opts = walknet::IsochroneOptions { cell_m: cell, buffer_m: (2.0 * cell).max(40.0) };
            let polys = net.isochrone(&field, t as f32, &opts);
            let rings: Vec<model::Rings> = polys.into_iter().map(|p| std::iter::once(p.exterior).chain(p.holes).collect()).collect();
            let simple = model::simplify_polygons(&rings, cell / 2.0, model::ISOCHRONE_MAX_VERTICES);
            if simple.is_empty() {
                continue;
            }
            out.push(IsochroneRow {
                facility_id: f.id.clone(),
                category: f.category.clone(),
                unit_code: f.unit_code.clone(),
                metres: t,
                vertices: simple.iter().flatten().map(Vec::len).sum(),
                geometry: model::multipolygon_json(&simple),
            });
        }
    }
    out
}

/// The network's edges for drawing: endpoints snapped to a grid (20 m, coarser until at most
/// `cap` segments remain), duplicates and zero-length segments dropped, 5 decimals (about 1 m).
pub fn thinned_lines(net: &Network, cap: usize) -> Vec<[f64; 4]> {
    let mut cell = 20.0;
    let proj = net.projection();
    loop {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in net.edges() {
            let (a, b) = (net.xy(e.a), net.xy(e.b));
            let q = |p: [f64; 2]| ((p[0] / cell).round() as i64, (p[1] / cell).round() as i64);
            let (qa, qb) = (q(a), q(b));
            if qa == qb || !seen.insert(if qa < qb { (qa, qb) } else { (qb, qa) }) {
                continue;
            }
            let back = |q: (i64, i64)| proj.to_lonlat([q.0 as f64 * cell, q.1 as f64 * cell]);
            let (la, lb) = (back(qa), back(qb));
            let r = |x: f64| (x * 1e5).round() / 1e5;
            out.push([r(la[0]), r(la[1]), r(lb[0]), r(lb[1])]);
        }
        if out.len() <= cap || cell > 5000.0 {
            return out;
        }
        cell *= 2.0;
    }
}

/// Network nodes thinned to one per grid cell of the largest component, at most `cap` of them:
/// the candidate sites for a new facility.
pub fn grid_nodes(net: &Network, cell_m: f64, cap: usize) -> Vec<u32> {
    let mut seen: std::collections::HashSet<(i64, i64)> = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut cell = cell_m;
    for _ in 0..8 {
        seen.clear();
        out.clear();
        for n in net.largest_component() {
            let [x, y] = net.xy(n);
            if seen.insert(((x / cell).floor() as i64, (y / cell).floor() as i64)) {
                out.push(n);
            }
        }
        if out.len() <= cap {
            break;
        }
        cell *= 1.5;
    }
    out.truncate(cap);
    out
}

/// The coverage value of a plan target for one subtree: (numerator, denominator). Residents
/// covered ÷ residents of the units the rule applies to, or units whose share reaches the rule's
/// threshold ÷ units with residents; for a radius rule (T18) the largest service radius of the
/// units as (metres, 1000), i.e. kilometres, the maximum over the subtree. (0, 0) when no
/// analysis has run. `None` when no unit of the subtree is one the rule applies to (T45 where no
/// community is marked as an industrial park).
pub async fn indicator(db: &Db, target: &str, root: &UnitCode) -> AppResult<Option<(i64, i64)>> {
    // Before the rules were first seeded (no page opened, no analysis run) the shipped ones apply.
    let mut rules = store::rules(db).await?;
    if rules.is_empty() {
        rules = model::parse_rules(model::RULES_CSV).map_err(AppError::internal)?;
    }
    let Some(rule) = rules.into_iter().find(|r| r.indicator == target) else {
        return Ok(Some((0, 0)));
    };
    let kinds = unit_kinds(db, root).await?;
    let parks = geography::store::industrial_parks(db, root).await?;
    let applies = |code: &str| rule.applies_to.includes(kinds.get(code).map(String::as_str).unwrap_or(""), parks.contains(code));
    if rule.applies_to == model::AppliesTo::Industrial && !kinds.keys().any(|c| applies(c)) {
        return Ok(None);
    }
    let mut num = 0;
    let mut den = 0;
    for row in store::rollups(db, &rule.id, root).await? {
        if !applies(&row.unit_code) {
            continue;
        }
        let t = row.tally();
        match rule.counts {
            Counts::Residents => {
                num += t.residents_covered;
                den += t.residents;
            }
            Counts::Units => {
                if t.residents > 0 {
                    den += 1;
                    num += i64::from(t.unit_covered(rule.unit_share_pct));
                }
            }
            Counts::Radius => {
                if let Some(m) = t.max_distance_m {
                    num = num.max(m);
                    den = 1000;
                }
            }
        }
    }
    Ok(Some((num, den)))
}

/// Kind labels (社区 / 村) of the villages and communities under `root`.
pub async fn unit_kinds(db: &Db, root: &UnitCode) -> AppResult<HashMap<String, String>> {
    use geography::model::UnitKind;
    Ok(geography::store::current_of_kind(db, root, &[UnitKind::Community, UnitKind::Village]).await?.into_iter().map(|u| (u.code, u.kind)).collect())
}

/// One rule's tally for a whole subtree, over the units it applies to: (sum, units with
/// residents, units covered). The sum's `max_distance_m` is the subtree's service radius.
pub async fn subtree_tally(db: &Db, rule: &Rule, root: &UnitCode) -> AppResult<(Tally, i64, i64)> {
    let kinds = unit_kinds(db, root).await?;
    let parks = geography::store::industrial_parks(db, root).await?;
    let mut total = Tally::default();
    let (mut units, mut units_covered) = (0, 0);
    for row in store::rollups(db, &rule.id, root).await? {
        if !rule.applies_to.includes(kinds.get(&row.unit_code).map(String::as_str).unwrap_or(""), parks.contains(&row.unit_code)) {
            continue;
        }
        let t = row.tally();
        total.add(&t);
        if t.residents > 0 {
            units += 1;
            units_covered += i64::from(t.unit_covered(rule.unit_share_pct));
        }
    }
    Ok((total, units, units_covered))
}

/// Units listed at most on one compliance page.
pub const COMPLIANCE_LIMIT: usize = 300;

/// 设施配置达标 for the villages and communities under `root` (the unit itself when it is one),
/// from the registers' facility areas and places and the population table. Returns the rows and
/// the number of units there are in all.
pub async fn facility_compliance(db: &Db, root: &UnitCode) -> AppResult<(Vec<(String, String, Vec<model::Check>)>, usize)> {
    use geography::model::UnitKind;
    let units = geography::store::current_of_kind(db, root, &[UnitKind::Community, UnitKind::Village]).await?;
    let total = units.len();
    let mut inputs: HashMap<String, model::FacilityInputs> = HashMap::new();
    for g in registry::measures::facility_areas(db, root).await? {
        let cat = g.key.split_once('|').map(|x| x.0).unwrap_or(g.key.as_str());
        let e = inputs.entry(g.code.clone()).or_default();
        if model::SERVICE_CATEGORIES.contains(&cat) {
            e.service_area_dm2 += g.sum;
        }
        if cat == "党群服务中心" || cat == "综合服务站" {
            e.centre_area_dm2 += g.sum;
        }
    }
    for g in registry::measures::facility_capacity(db, root).await? {
        if g.key == "托育" {
            inputs.entry(g.code.clone()).or_default().childcare_places += g.sum;
        }
    }
    let standards = geography::model::scale_standards();
    let mut rows = Vec::new();
    for u in units.into_iter().take(COMPLIANCE_LIMIT) {
        let mut i = inputs.remove(&u.code).unwrap_or_default();
        if let Some(pop) = geography::store::population(db, &u.code).await? {
            i.households = pop.households;
            i.residents = pop.residents;
            i.scale = pop.community_kind.as_ref().and_then(|k| standards.iter().find(|s| &s.kind == k)).map(|s| {
                let v = geography::model::check_scale(s, pop.households, pop.residents);
                let pass = match v {
                    geography::model::ScaleVerdict::Within => Some(true),
                    geography::model::ScaleVerdict::NoBounds => None,
                    _ => Some(false),
                };
                (format!("{}（{}）", s.kind_zh, v.label()), pass)
            });
        }
        rows.push((u.code, u.name, model::facility_checks(&i)));
    }
    Ok((rows, total))
}

/// What a building import did, or why it wrote nothing.
pub enum ImportOutcome {
    Written { rows: usize, replaced: u64, units: usize },
    Refused(Vec<model::RowError>),
}

/// Imports residential buildings (CSV or XLSX, see [`model::BUILDING_COLUMNS`]). Every row is
/// checked first; with any error nothing is written. Otherwise the file replaces the imported
/// buildings of the units it names, in one transaction with its audit record.
pub async fn import_buildings(p: &Platform, actor: &Actor, scope: &platform::scope::Scope, bytes: &[u8], filename: &str) -> AppResult<ImportOutcome> {
    let table = registry::import::read_table(bytes, filename)?;
    let pos: Vec<Option<usize>> = model::BUILDING_COLUMNS.iter().map(|(h, _, _)| table.headers.iter().position(|x| x.trim() == *h)).collect();
    let missing: Vec<&str> = model::BUILDING_COLUMNS.iter().zip(&pos).filter(|((_, req, _), p)| *req && p.is_none()).map(|((h, _, _), _)| *h).collect();
    if !missing.is_empty() {
        return Err(AppError::bad_request("coverage.import_columns", format!("缺少列：{}（请使用模板）", missing.join("、"))).at_field("file"));
    }
    if table.rows.is_empty() {
        return Err(AppError::bad_request("coverage.import_empty", "文件中没有数据行").at_field("file"));
    }
    let mut good = Vec::new();
    let mut errors = Vec::new();
    let mut known: HashMap<String, bool> = HashMap::new();
    for (line, cells) in &table.rows {
        let row: Vec<String> = pos.iter().map(|p| p.and_then(|i| cells.get(i)).map(|c| c.text()).unwrap_or_default()).collect();
        match model::parse_building(*line, &row) {
            Ok(b) => {
                let ok = match known.get(&b.unit_code) {
                    Some(v) => *v,
                    None => {
                        let v = match UnitCode::parse(&b.unit_code) {
                            Ok(c) if scope.contains(&c) => {
                                geography::store::get(&p.db, c.as_str()).await?.is_some_and(|u| u.valid_to.is_none() && (u.kind == "社区" || u.kind == "村"))
                            }
                            _ => false,
                        };
                        known.insert(b.unit_code.clone(), v);
                        v
                    }
                };
                if ok {
                    good.push(b);
                } else {
                    errors.push(model::RowError {
                        row: *line,
                        field: model::BUILDING_COLUMNS[0].0.to_owned(),
                        message: format!("“{}”不是您管辖范围内现有的村（社区）", b.unit_code),
                    });
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Ok(ImportOutcome::Refused(errors));
    }
    let units: std::collections::BTreeSet<String> = good.iter().map(|b| b.unit_code.clone()).collect();
    let rows: Vec<store::NewBuilding> = good
        .iter()
        .map(|b| store::NewBuilding {
            unit_code: b.unit_code.clone(),
            name: b.name.clone(),
            lon_e6: (b.lon * 1e6).round() as i64,
            lat_e6: (b.lat * 1e6).round() as i64,
            households: b.households,
            residents: b.residents,
            source: "import",
        })
        .collect();
    let mut tx = p.db.begin().await?;
    let mut replaced = 0;
    for u in &units {
        replaced += tx.execute(platform::sql!("DELETE FROM coverage_buildings WHERE source = 'import' AND unit_code = $1", u.as_str())).await?;
    }
    store::insert_buildings(&mut tx, &rows, p.now()).await?;
    let detail = serde_json::json!({"file": filename, "rows": rows.len(), "replaced": replaced, "units": units.len()}).to_string();
    platform::audit::record(
        &mut tx,
        p.now(),
        &platform::audit::Event {
            actor,
            unit: units.iter().next().map(String::as_str),
            action: "coverage.buildings_import",
            target: filename,
            outcome: platform::audit::Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ImportOutcome::Written { rows: rows.len(), replaced, units: units.len() })
}
