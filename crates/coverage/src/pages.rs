//! 服务资源一幅地图: the map page, the coverage table per unit (CSV export) and the rules page.

use std::collections::HashMap;
use std::fmt::Write as _;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use platform::auth::{Permission, Principal};
use platform::clock::{Date, format_beijing};
use platform::scope::{Level, UnitCode};
use platform::web::{Auth, Shell, Site, render};
use platform::{AppError, AppResult, Platform};

use crate::model::{Rule, RuleInput, Tally};
use crate::service;
use crate::store;

/// Shown wherever a demo network's results appear.
pub const SYNTHETIC_LABEL: &str = "合成路网（演示）";

#[derive(Deserialize, Default)]
pub struct MapQuery {
    unit: Option<String>,
    rule: Option<String>,
    category: Option<String>,
}

fn root_of(me: &Principal, unit: Option<&str>) -> AppResult<UnitCode> {
    let scope = me.require(Permission::ViewRegisters)?;
    match unit.filter(|u| !u.is_empty()) {
        Some(u) => {
            let code = UnitCode::parse(u).map_err(|_| AppError::not_found())?;
            if scope.contains(&code) { Ok(code) } else { Err(AppError::not_found()) }
        }
        None => scope.roots().first().cloned().ok_or_else(AppError::forbidden),
    }
}

struct RuleView {
    id: String,
    name: String,
    selected: bool,
}

struct CandidateView {
    rank: i64,
    lon: String,
    lat: String,
    gain: i64,
}

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    shell: Shell,
    unit: String,
    rules: Vec<RuleView>,
    categories: Vec<(String, bool)>,
    rule_name: String,
    rule_desc: String,
    map_svg: String,
    buildings: usize,
    covered: usize,
    gaps: usize,
    unreachable: usize,
    facilities: usize,
    candidates: Vec<CandidateView>,
    runs: Vec<(String, String, String, bool)>,
    synthetic: bool,
    synthetic_label: &'static str,
    tally: Tally,
    share: String,
}

pub async fn map(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<MapQuery>) -> AppResult<Response> {
    let root = root_of(&me, q.unit.as_deref())?;
    let rules = service::rules(&p).await?;
    let rule = q.rule.as_deref().and_then(|id| rules.iter().find(|r| r.id == id)).or_else(|| rules.first()).cloned().ok_or_else(|| AppError::internal("no coverage rules"))?;
    let category = q.category.clone().filter(|c| registry::model::FACILITY_CATEGORIES.contains(&c.as_str()));
    let runs = store::runs(&p.db, 10).await?;
    let synthetic = runs.iter().find(|r| r.profile == rule.mode.as_str()).is_some_and(|r| r.synthetic == 1);

    // Buildings coloured by the chosen rule.
    let buildings = store::map_buildings(&p.db, rule.mode.as_str(), &root, 20_000).await?;
    let mut dist: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for d in store::distances(&p.db, rule.mode.as_str(), &root).await? {
        if let Some(m) = d.distance_m {
            dist.entry(d.building_id).or_default().insert(d.category, m as u32);
        }
    }
    let empty = HashMap::new();
    let mut points = Vec::new();
    let (mut covered, mut gaps, mut unreachable) = (0, 0, 0);
    for b in &buildings {
        let (class, label) = if b.reachable == 0 {
            unreachable += 1;
            ("unreachable", "不可达（距道路过远）")
        } else if rule.covers(dist.get(&b.id).unwrap_or(&empty)) {
            covered += 1;
            ("covered", "已覆盖")
        } else {
            gaps += 1;
            ("gap", "未覆盖")
        };
        points.push(geography::geo::MapPoint {
            lon: b.lon_e6 as f64 / 1e6,
            lat: b.lat_e6 as f64 / 1e6,
            class: format!("bld {class}"),
            title: format!("{}（{} 人）{label}", b.name, b.residents),
            href: None,
        });
    }
    // Facilities of the rule's categories (or the one chosen).
    let facilities: Vec<_> = registry::coverage_inputs::facilities(&p.db, &root)
        .await?
        .into_iter()
        .filter(|f| match &category {
            Some(c) => &f.category == c,
            None => rule.categories.contains(&f.category),
        })
        .filter(|f| f.lon_e6.is_some() && f.lat_e6.is_some())
        .collect();
    for f in &facilities {
        points.push(geography::geo::MapPoint {
            lon: f.lon_e6.unwrap_or(0) as f64 / 1e6,
            lat: f.lat_e6.unwrap_or(0) as f64 / 1e6,
            class: format!("fac cat{}", registry::model::FACILITY_CATEGORIES.iter().position(|c| *c == f.category).unwrap_or(0)),
            title: format!("{}（{}）", f.name, f.category),
            href: None,
        });
    }
    let cands = store::candidates(&p.db, &rule.id).await?;
    for c in &cands {
        points.push(geography::geo::MapPoint {
            lon: c.lon_e6 as f64 / 1e6,
            lat: c.lat_e6 as f64 / 1e6,
            class: "cand".into(),
            title: format!("候选点 {}：可新增覆盖 {} 人", c.rank, c.residents_gain),
            href: None,
        });
    }
    let map_svg = draw(&p, &points).await?;
    let (tally, _, _) = service::subtree_tally(&p.db, &rule, &root).await?;
    Ok(render(&MapPage {
        shell: Shell::new(&site, &me, "服务资源一幅地图", "/coverage"),
        unit: root.as_str().to_owned(),
        rules: rules.iter().map(|r| RuleView { id: r.id.clone(), name: r.name.clone(), selected: r.id == rule.id }).collect(),
        categories: registry::model::FACILITY_CATEGORIES.iter().map(|c| (c.to_string(), category.as_deref() == Some(*c))).collect(),
        rule_name: rule.name.clone(),
        rule_desc: describe(&rule),
        map_svg,
        buildings: buildings.len(),
        covered,
        gaps,
        unreachable,
        facilities: facilities.len(),
        candidates: cands
            .iter()
            .map(|c| CandidateView { rank: c.rank, lon: format!("{:.5}", c.lon_e6 as f64 / 1e6), lat: format!("{:.5}", c.lat_e6 as f64 / 1e6), gain: c.residents_gain })
            .collect(),
        runs: runs
            .iter()
            .map(|r| {
                (
                    format_beijing(r.finished_ms),
                    r.network_name.clone(),
                    format!(
                        "{}：{} 个节点，{} 栋楼（{} 栋不可达），{} 处设施（{} 处在路网外）",
                        crate::model::Mode::parse(&r.profile).map(|m| m.label()).unwrap_or(""),
                        r.nodes,
                        r.buildings,
                        r.unreachable,
                        r.facilities,
                        r.facilities_outside
                    ),
                    r.synthetic == 1,
                )
            })
            .collect(),
        synthetic,
        synthetic_label: SYNTHETIC_LABEL,
        share: tally.share_pct().map(|s| format!("{s:.1}%")).unwrap_or_else(|| "—".into()),
        tally,
    }))
}

fn describe(r: &Rule) -> String {
    format!(
        "{}{} 米（约 {:.0} 分钟），{}：{}；适用于{}",
        r.mode.label(),
        r.metres,
        r.minutes(),
        if r.all { "须全部具备" } else { "具备任一即可" },
        r.categories.join("、"),
        r.applies_to.label()
    )
}

/// County outlines with the points on top; with no points, an empty string.
async fn draw(p: &Platform, points: &[geography::geo::MapPoint]) -> AppResult<String> {
    if points.is_empty() {
        return Ok(String::new());
    }
    // Only the counties the points fall in would need a point-in-polygon test; the frame of the
    // points is enough to pick the outlines around them.
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for pt in points {
        minx = minx.min(pt.lon);
        maxx = maxx.max(pt.lon);
        miny = miny.min(pt.lat);
        maxy = maxy.max(pt.lat);
    }
    let mut shapes = Vec::new();
    for b in geography::store::boundaries_at(&p.db, Level::County).await? {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&b.geometry) {
            if let Ok(g) = geography::geo::parse_geometry(&v) {
                let inside = g.iter().flatten().flatten().any(|&(x, y)| x >= minx - 0.05 && x <= maxx + 0.05 && y >= miny - 0.05 && y <= maxy + 0.05);
                if inside {
                    shapes.push(geography::geo::MapShape { code: b.code, name: b.name, geometry: g, href: None, highlight: false });
                }
            }
        }
    }
    if shapes.is_empty() {
        // No outline near the points (a network outside Suining, e.g. the test extract): frame them.
        let pad = 0.002;
        let frame = vec![vec![vec![(minx - pad, miny - pad), (maxx + pad, miny - pad), (maxx + pad, maxy + pad), (minx - pad, maxy + pad), (minx - pad, miny - pad)]]];
        shapes.push(geography::geo::MapShape { code: String::new(), name: String::new(), geometry: frame, href: None, highlight: false });
    }
    Ok(geography::geo::render_svg_with_points(&shapes, points, "服务资源一幅地图"))
}

// ---------------------------------------------------------------------------------------------
// Coverage table per unit

#[derive(Template)]
#[template(path = "table.html")]
struct TablePage {
    shell: Shell,
    unit: String,
    unit_name: String,
    headers: Vec<String>,
    rows: Vec<(String, String, bool, Vec<String>)>,
    synthetic: bool,
    synthetic_label: &'static str,
}

/// (unit code, unit name, has children, cells per rule) for the unit itself and its children.
async fn table_rows(p: &Platform, me: &Principal, unit: Option<&str>) -> AppResult<(UnitCode, String, Vec<Rule>, Vec<(String, String, bool, Vec<String>)>)> {
    let root = root_of(me, unit)?;
    let scope = me.require(Permission::ViewRegisters)?;
    let rules = service::rules(p).await?;
    let name = geography::store::get(&p.db, root.as_str()).await?.map(|u| u.name).unwrap_or_else(|| root.as_str().to_owned());
    let today = Date::of_instant(p.now());
    let (children, _) = geography::store::children(&p.db, &root, &scope, "", today, 500, 0).await?;
    let mut units: Vec<(String, String, bool)> = vec![(root.as_str().to_owned(), format!("{name}（合计）"), false)];
    units.extend(children.into_iter().map(|c| (c.unit.code, c.unit.name, c.children > 0)));
    let mut rows = Vec::new();
    for (code, uname, drill) in units {
        let Ok(uc) = UnitCode::parse(&code) else { continue };
        let mut cells = Vec::new();
        for r in &rules {
            let (t, n, k) = service::subtree_tally(&p.db, r, &uc).await?;
            cells.push(match t.share_pct() {
                Some(s) => format!("{s:.1}%（{}/{} 人；达标单位 {k}/{n}）", t.residents_covered, t.residents),
                None => "—".to_owned(),
            });
        }
        rows.push((code, uname, drill, cells));
    }
    Ok((root, name, rules, rows))
}

pub async fn table(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<MapQuery>) -> AppResult<Response> {
    let (root, name, rules, rows) = table_rows(&p, &me, q.unit.as_deref()).await?;
    let synthetic = store::runs(&p.db, 1).await?.first().is_some_and(|r| r.synthetic == 1);
    Ok(render(&TablePage {
        shell: Shell::new(&site, &me, "生活圈覆盖统计", "/coverage"),
        unit: root.as_str().to_owned(),
        unit_name: name,
        headers: rules.iter().map(|r| format!("{}（{} 米{}）", r.name, r.metres, if r.indicator.is_empty() { String::new() } else { format!("，{}", r.indicator) })).collect(),
        rows,
        synthetic,
        synthetic_label: SYNTHETIC_LABEL,
    }))
}

pub async fn table_csv(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<MapQuery>) -> AppResult<Response> {
    let (root, _, rules, rows) = table_rows(&p, &me, q.unit.as_deref()).await?;
    let mut out = String::from("\u{feff}单位代码,单位");
    for r in &rules {
        let _ = write!(out, ",{}", platform::pages::csv_cell(&r.name));
    }
    out.push_str("\r\n");
    for (code, name, _, cells) in rows {
        let _ = write!(out, "{},{}", platform::pages::csv_cell(&code), platform::pages::csv_cell(&name));
        for c in cells {
            let _ = write!(out, ",{}", platform::pages::csv_cell(&c));
        }
        out.push_str("\r\n");
    }
    let disposition = format!("attachment; filename=\"coverage-{}.csv\"", root.as_str());
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], out).into_response())
}

// ---------------------------------------------------------------------------------------------
// Rules (city admins edit them)

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    shell: Shell,
    rules: Vec<Rule>,
    can_edit: bool,
}

fn city_admin(me: &Principal) -> bool {
    service::city().is_ok_and(|c| me.scope(Permission::ManageUnits).contains(&c))
}

pub async fn rules_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    me.require(Permission::ViewRegisters)?;
    Ok(render(&RulesPage { shell: Shell::new(&site, &me, "生活圈规则", "/coverage"), rules: service::rules(&p).await?, can_edit: city_admin(&me) }))
}

#[derive(Deserialize)]
pub struct RuleForm {
    name: String,
    profile: String,
    metres: String,
    categories: String,
    match_mode: String,
    applies_to: String,
    indicator: String,
    counts: String,
    unit_share_pct: String,
    note: String,
}

pub async fn rule_update(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(f): Form<RuleForm>) -> AppResult<Response> {
    if !city_admin(&me) {
        return Err(AppError::forbidden());
    }
    let input = RuleInput {
        id: id.clone(),
        name: f.name,
        profile: f.profile,
        metres: f.metres,
        minutes: String::new(),
        categories: f.categories,
        match_mode: f.match_mode,
        applies_to: f.applies_to,
        indicator: f.indicator,
        counts: f.counts,
        unit_share_pct: f.unit_share_pct,
        note: f.note,
    };
    let rule = Rule::parse(0, &input).map_err(|e| AppError::bad_request(e.code(), e.to_string().trim_start_matches("第 0 行：").to_owned()))?;
    let mut tx = p.db.begin().await?;
    store::update_rule(&mut tx, &rule, p.now(), &me.actor()).await?;
    tx.commit().await?;
    Ok(Redirect::to("/coverage/rules").into_response())
}

// ---------------------------------------------------------------------------------------------
// Facility standards compliance per community

#[derive(Template)]
#[template(path = "compliance.html")]
struct CompliancePage {
    shell: Shell,
    unit: String,
    unit_name: String,
    headers: Vec<(String, String)>,
    rows: Vec<(String, String, Vec<crate::model::Check>)>,
    total: usize,
    limit: usize,
}

pub async fn compliance(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<MapQuery>) -> AppResult<Response> {
    let root = root_of(&me, q.unit.as_deref())?;
    let unit_name = geography::store::get(&p.db, root.as_str()).await?.map(|u| u.name).unwrap_or_else(|| root.as_str().to_owned());
    let (rows, total) = service::facility_compliance(&p.db, &root).await?;
    let headers = crate::model::facility_checks(&Default::default())
        .into_iter()
        .map(|c| (if c.target.is_empty() { c.name.to_owned() } else { format!("{}（{}）", c.name, c.target) }, c.standard.to_owned()))
        .collect();
    Ok(render(&CompliancePage { shell: Shell::new(&site, &me, "设施配置达标", "/coverage"), unit: root.as_str().to_owned(), unit_name, headers, rows, total, limit: service::COMPLIANCE_LIMIT }))
}
