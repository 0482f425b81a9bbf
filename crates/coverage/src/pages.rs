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
    category_label: String,
    tally: Tally,
    share: String,
    /// Isochrone tiers that can be shown: (value "类别:米", label, checked).
    iso_tiers: Vec<(String, String, bool)>,
    iso_shown: usize,
}

/// One tier's isochrones on the map.
pub struct IsoLayer {
    pub tier: String,
    pub title: String,
    pub colour: usize,
    pub polygons: Vec<crate::model::Rings>,
}

pub async fn map(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Query(q): Query<MapQuery>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Response> {
    let root = root_of(&me, q.unit.as_deref())?;
    let rules = service::rules(&p).await?;
    let rule = q
        .rule
        .as_deref()
        .and_then(|id| rules.iter().find(|r| r.id == id))
        .or_else(|| rules.first())
        .cloned()
        .ok_or_else(|| AppError::internal("no coverage rules"))?;
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
        points.push(Mark {
            lon: b.lon_e6 as f64 / 1e6,
            lat: b.lat_e6 as f64 / 1e6,
            class: format!("bld {class}"),
            title: format!("{}（{} 人）{label}", b.name, b.residents),
            r: 3.0,
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
        points.push(Mark {
            lon: f.lon_e6.unwrap_or(0) as f64 / 1e6,
            lat: f.lat_e6.unwrap_or(0) as f64 / 1e6,
            class: format!("fac cat{}", registry::model::FACILITY_CATEGORIES.iter().position(|c| *c == f.category).unwrap_or(0)),
            title: format!("{}（{}）", f.name, f.category),
            r: 6.0,
        });
    }
    let cands = store::candidates(&p.db, &rule.id).await?;
    for c in &cands {
        points.push(Mark {
            lon: c.lon_e6 as f64 / 1e6,
            lat: c.lat_e6 as f64 / 1e6,
            class: "cand".into(),
            title: format!("候选点 {}：可新增覆盖 {} 人", c.rank, c.residents_gain),
            r: 7.0,
        });
    }
    // Isochrones: the tiers of the facilities shown, each a checkbox (iso=类别:米, repeatable).
    let wanted: Vec<&str> = pairs.iter().filter(|(k, _)| k == "iso").map(|(_, v)| v.as_str()).collect();
    let shown_cat = |c: &str| match &category {
        Some(x) => x == c,
        None => rule.categories.iter().any(|r| r == c),
    };
    let mut iso_tiers = Vec::new();
    let mut layers = Vec::new();
    for (i, (cat, metres)) in store::isochrone_tiers(&p.db, rule.mode.as_str(), &root).await?.into_iter().filter(|(c, _)| shown_cat(c)).enumerate() {
        let value = format!("{cat}:{metres}");
        let label = format!("{cat} {metres} 米（约 {:.0} 分钟）", metres as f64 / rule.mode.speed_m_per_min());
        let on = wanted.contains(&value.as_str());
        if on {
            let polygons: Vec<crate::model::Rings> = store::isochrones(&p.db, rule.mode.as_str(), &root, &cat, metres)
                .await?
                .iter()
                .filter_map(|r| crate::model::parse_multipolygon(&r.geometry))
                .flatten()
                .collect();
            layers.push(IsoLayer { tier: value.clone(), title: format!("等时圈：{label}"), colour: i, polygons });
        }
        iso_tiers.push((value, label, on));
    }
    let iso_shown = layers.iter().map(|l| l.polygons.len()).sum();
    let lines = store::network_lines(&p.db, rule.mode.as_str()).await?;
    let map_svg = if points.is_empty() { String::new() } else { render_map(&outlines(&p).await?, &lines, &layers, &points, "服务资源一幅地图") };
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
            .map(|c| CandidateView {
                rank: c.rank,
                lon: format!("{:.5}", c.lon_e6 as f64 / 1e6),
                lat: format!("{:.5}", c.lat_e6 as f64 / 1e6),
                gain: c.residents_gain,
            })
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
        category_label: category.clone().unwrap_or_else(|| rule.categories.join("、")),
        share: tally.share_pct().map(|s| format!("{s:.1}%")).unwrap_or_else(|| "—".into()),
        tally,
        iso_tiers,
        iso_shown,
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

/// A marker on the coverage map.
pub struct Mark {
    pub lon: f64,
    pub lat: f64,
    pub class: String,
    pub title: String,
    pub r: f64,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The map: framed on the markers (or on the network when there are none), county outlines
/// clipped by the frame, the thinned network as thin lines, then the markers. Equirectangular
/// with x scaled by cos(latitude), 800 px wide. Empty when there is nothing to draw.
pub fn render_map(outlines: &[(String, geography::geo::MultiPolygon)], lines: &[[f64; 4]], isos: &[IsoLayer], marks: &[Mark], title: &str) -> String {
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let mut grow = |x: f64, y: f64| {
        minx = minx.min(x);
        maxx = maxx.max(x);
        miny = miny.min(y);
        maxy = maxy.max(y);
    };
    if marks.is_empty() {
        for l in lines {
            grow(l[0], l[1]);
            grow(l[2], l[3]);
        }
    } else {
        for m in marks {
            grow(m.lon, m.lat);
        }
    }
    if minx > maxx {
        return String::new();
    }
    let padx = ((maxx - minx) * 0.05).max(0.002);
    let pady = ((maxy - miny) * 0.05).max(0.002);
    let (minx, maxx, miny, maxy) = (minx - padx, maxx + padx, miny - pady, maxy + pady);
    let kx = ((miny + maxy) / 2.0).to_radians().cos();
    let width = 800.0;
    let scale = width / ((maxx - minx) * kx);
    let height = ((maxy - miny) * scale).max(1.0);
    let px = |x: f64, y: f64| ((x - minx) * kx * scale, (maxy - y) * scale);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="map covmap" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(title)
    );
    for (name, g) in outlines {
        let mut d = String::new();
        for poly in g {
            for ring in poly {
                let mut last: Option<(f64, f64)> = None;
                for &(x, y) in ring {
                    let (a, b) = px(x, y);
                    if last.is_some_and(|(la, lb): (f64, f64)| (a - la).abs() < 0.7 && (b - lb).abs() < 0.7) {
                        continue;
                    }
                    let _ = write!(d, "{}{a:.1},{b:.1}", if last.is_none() { 'M' } else { 'L' });
                    last = Some((a, b));
                }
                d.push('Z');
            }
        }
        let _ = write!(out, r##"<path class="county" fill="#eef2f6" stroke="#778899" stroke-width="1.5" d="{d}"><title>{}</title></path>"##, esc(name));
    }
    if !lines.is_empty() {
        let mut d = String::new();
        for l in lines {
            let (a, b) = px(l[0], l[1]);
            let (c, e) = px(l[2], l[3]);
            if [a, c].iter().all(|v| *v < 0.0) || [a, c].iter().all(|v| *v > width) || [b, e].iter().all(|v| *v < 0.0) || [b, e].iter().all(|v| *v > height) {
                continue;
            }
            let _ = write!(d, "M{a:.1},{b:.1}L{c:.1},{e:.1}");
        }
        let _ = write!(out, r##"<path class="net" fill="none" stroke="#9aa4ae" stroke-width="0.8" d="{d}"/>"##);
    }
    // Isochrones: translucent areas with an outline, one path per tier (holes by even-odd); the
    // colours are in coverage.css (the shell's `svg.map path` rule outranks attributes), the
    // attributes are for the SVG on its own.
    const ISO_COLOURS: [&str; 6] = ["#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#ad1457", "#283593"];
    for l in isos {
        let mut d = String::new();
        for poly in &l.polygons {
            for ring in poly {
                for (k, q) in ring.iter().enumerate() {
                    let (a, b) = px(q[0], q[1]);
                    let _ = write!(d, "{}{a:.1},{b:.1}", if k == 0 { 'M' } else { 'L' });
                }
                d.push('Z');
            }
        }
        let k = l.colour % ISO_COLOURS.len();
        let c = ISO_COLOURS[k];
        let _ = write!(
            out,
            r#"<path class="iso iso{k}" data-tier="{}" fill="{c}" fill-opacity="0.15" fill-rule="evenodd" stroke="{c}" stroke-width="1.2" d="{d}"><title>{}</title></path>"#,
            esc(&l.tier),
            esc(&l.title)
        );
    }
    for m in marks {
        let (a, b) = px(m.lon, m.lat);
        let (fill, stroke) = paint(&m.class);
        let _ = write!(
            out,
            r#"<circle class="{}" fill="{fill}" stroke="{stroke}" cx="{a:.1}" cy="{b:.1}" r="{:.1}"><title>{}</title></circle>"#,
            esc(&m.class),
            m.r,
            esc(&m.title)
        );
    }
    out.push_str("</svg>");
    out
}

/// Fill and stroke per marker class (presentation attributes: the pages' CSP allows no inline
/// style).
fn paint(class: &str) -> (&'static str, &'static str) {
    match class {
        "bld covered" => ("#2e7d32", "none"),
        "bld gap" => ("#c62828", "none"),
        "bld unreachable" => ("#555555", "none"),
        "cand" => ("#f9a825", "#000000"),
        _ => ("#1565c0", "#ffffff"),
    }
}

/// County outlines (WGS-84) for the map.
async fn outlines(p: &Platform) -> AppResult<Vec<(String, geography::geo::MultiPolygon)>> {
    let mut out = Vec::new();
    for b in geography::store::boundaries_at(&p.db, Level::County).await? {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&b.geometry)
            && let Ok(g) = geography::geo::parse_geometry(&v)
        {
            out.push((b.name, g));
        }
    }
    Ok(out)
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
type TableRow = (String, String, bool, Vec<(Tally, i64, i64)>);

fn cell_text(rule: &Rule, c: &(Tally, i64, i64)) -> String {
    let (t, n, k) = c;
    if rule.counts == crate::model::Counts::Radius {
        // The radius, with the buildings it does not speak for named beside it.
        return match (t.buildings, t.max_distance_m) {
            (0, _) => "—".to_owned(),
            (_, Some(m)) => format!(
                "{:.2} 千米（最远楼栋到最近设施；不可达 {} 栋，{:.1} 千米内无设施 {} 栋）",
                m as f64 / 1000.0,
                t.unreachable,
                f64::from(rule.search_m()) / 1000.0,
                t.beyond
            ),
            (_, None) => format!("无（不可达 {} 栋，{:.1} 千米内无设施 {} 栋）", t.unreachable, f64::from(rule.search_m()) / 1000.0, t.beyond),
        };
    }
    match t.share_pct() {
        Some(s) => format!("{s:.1}%（{}/{} 人；达标单位 {k}/{n}）", t.residents_covered, t.residents),
        None => "—".to_owned(),
    }
}

async fn table_rows(p: &Platform, me: &Principal, unit: Option<&str>) -> AppResult<(UnitCode, String, Vec<Rule>, Vec<TableRow>)> {
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
            cells.push(service::subtree_tally(&p.db, r, &uc).await?);
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
        headers: rules
            .iter()
            .map(|r| format!("{}（{} 米{}）", r.name, r.metres, if r.indicator.is_empty() { String::new() } else { format!("，{}", r.indicator) }))
            .collect(),
        rows: rows.into_iter().map(|(c, n, d, cells)| (c, n, d, rules.iter().zip(&cells).map(|(r, x)| cell_text(r, x)).collect())).collect(),
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
        for (r, c) in rules.iter().zip(&cells) {
            let _ = write!(out, ",{}", platform::pages::csv_cell(&cell_text(r, c)));
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
    Ok(render(&CompliancePage {
        shell: Shell::new(&site, &me, "设施配置达标", "/coverage"),
        unit: root.as_str().to_owned(),
        unit_name,
        headers,
        rows,
        total,
        limit: service::COMPLIANCE_LIMIT,
    }))
}

// ---------------------------------------------------------------------------------------------
// Building import

#[derive(Template)]
#[template(path = "buildings.html")]
struct BuildingsPage {
    shell: Shell,
    columns: Vec<(&'static str, bool, &'static str)>,
    can_import: bool,
    count: usize,
    message: String,
    errors: Vec<crate::model::RowError>,
}

async fn buildings_page(p: &Platform, site: &Site, me: &Principal, message: String, errors: Vec<crate::model::RowError>) -> AppResult<Response> {
    let root = root_of(me, None)?;
    let count = store::buildings(&p.db, &root).await?.len();
    Ok(render(&BuildingsPage {
        shell: Shell::new(site, me, "住宅楼导入", "/coverage"),
        columns: crate::model::BUILDING_COLUMNS.to_vec(),
        can_import: me.can(Permission::EditRegisters),
        count,
        message,
        errors,
    }))
}

pub async fn buildings(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    buildings_page(&p, &site, &me, String::new(), Vec::new()).await
}

pub async fn buildings_template() -> Response {
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"buildings-template.csv\"")],
        crate::model::building_template_csv(),
    )
        .into_response()
}

pub async fn buildings_import(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    mut multipart: axum::extract::Multipart,
) -> AppResult<Response> {
    let scope = me.require(Permission::EditRegisters)?;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(|_| AppError::bad_request("coverage.upload", "上传中断，请重试").at_field("file"))? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload").to_owned();
            let bytes = field.bytes().await.map_err(|_| AppError::bad_request("coverage.upload", "文件过大或上传中断").at_field("file"))?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let (name, bytes) = file.filter(|(_, b)| !b.is_empty()).ok_or_else(|| AppError::bad_request("import.empty", "请选择要上传的文件").at_field("file"))?;
    match service::import_buildings(&p, &me.actor(), &scope, &bytes, &name).await? {
        service::ImportOutcome::Written { rows, replaced, units } => {
            let msg = format!("已导入 {rows} 栋住宅楼（{units} 个村（社区），替换原导入的 {replaced} 栋）。重新运行覆盖分析后生效。");
            buildings_page(&p, &site, &me, msg, Vec::new()).await
        }
        service::ImportOutcome::Refused(errors) => {
            let msg = format!("文件有 {} 处错误，未写入任何数据。请修改后重新上传。", errors.len());
            let mut res = buildings_page(&p, &site, &me, msg, errors).await?;
            *res.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(res)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON API

/// `GET /api/v1/coverage?unit=CODE`: per rule, the subtree's residents and units covered, and the
/// latest runs (whether they came from the synthetic demo network).
pub async fn api_summary(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<MapQuery>) -> AppResult<Response> {
    let root = root_of(&me, q.unit.as_deref())?;
    let mut rules = Vec::new();
    for r in service::rules(&p).await? {
        let (t, units, units_covered) = service::subtree_tally(&p.db, &r, &root).await?;
        rules.push(serde_json::json!({
            "id": r.id, "name": r.name, "profile": r.mode.as_str(), "metres": r.metres, "categories": r.categories,
            "all": r.all, "applies_to": r.applies_to.as_str(), "indicator": r.indicator,
            "buildings": t.buildings, "buildings_covered": t.buildings_covered, "unreachable": t.unreachable,
            "residents": t.residents, "residents_covered": t.residents_covered, "share_pct": t.share_pct(),
            "units": units, "units_covered": units_covered,
        }));
    }
    let runs: Vec<_> = store::runs(&p.db, 10)
        .await?
        .into_iter()
        .map(|r| serde_json::json!({"profile": r.profile, "network": r.network_name, "synthetic": r.synthetic == 1, "nodes": r.nodes, "buildings": r.buildings, "unreachable": r.unreachable, "facilities": r.facilities, "facilities_outside": r.facilities_outside, "finished_ms": r.finished_ms}))
        .collect();
    Ok(axum::Json(serde_json::json!({"unit": root.as_str(), "rules": rules, "runs": runs})).into_response())
}

/// The table as XLSX: per rule, residents covered, residents and the share as numbers.
pub async fn table_xlsx(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<MapQuery>) -> AppResult<Response> {
    let (root, name, rules, rows) = table_rows(&p, &me, q.unit.as_deref()).await?;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("生活圈覆盖").map_err(AppError::internal)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let synthetic = store::runs(&p.db, 1).await?.first().is_some_and(|r| r.synthetic == 1);
    ws.write_string(0, 0, format!("{name} 生活圈覆盖统计{}", if synthetic { format!("（{SYNTHETIC_LABEL}）") } else { String::new() }))
        .map_err(AppError::internal)?;
    ws.write_string_with_format(1, 0, "单位代码", &bold).map_err(AppError::internal)?;
    ws.write_string_with_format(1, 1, "单位", &bold).map_err(AppError::internal)?;
    for (i, r) in rules.iter().enumerate() {
        let c = 2 + i as u16 * 3;
        ws.write_string_with_format(1, c, format!("{} 覆盖人口", r.name), &bold).map_err(AppError::internal)?;
        ws.write_string_with_format(1, c + 1, format!("{} 人口", r.name), &bold).map_err(AppError::internal)?;
        ws.write_string_with_format(1, c + 2, format!("{} 覆盖率（%）", r.name), &bold).map_err(AppError::internal)?;
    }
    for (j, (code, uname, _, cells)) in rows.iter().enumerate() {
        let row = j as u32 + 2;
        ws.write_string(row, 0, code).map_err(AppError::internal)?;
        ws.write_string(row, 1, uname).map_err(AppError::internal)?;
        for (i, (t, _, _)) in cells.iter().enumerate() {
            let c = 2 + i as u16 * 3;
            ws.write_number(row, c, t.residents_covered as f64).map_err(AppError::internal)?;
            ws.write_number(row, c + 1, t.residents as f64).map_err(AppError::internal)?;
            if let Some(s) = t.share_pct() {
                ws.write_number(row, c + 2, (s * 10.0).round() / 10.0).map_err(AppError::internal)?;
            }
        }
    }
    let bytes = wb.save_to_buffer().map_err(AppError::internal)?;
    let disposition = format!("attachment; filename=\"coverage-{}.xlsx\"", root.as_str());
    Ok((
        [(header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}

/// The coverage pages' own stylesheet (map layers, isochrone colours).
pub const CSS: &str = include_str!("../templates/coverage.css");

pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], CSS).into_response()
}
