//! HTML pages: the one-screen dashboard (一屏掌控) with drill-down, the indicator page with ranking
//! and choropleth, the monthly report as XLSX, 填报 and its review, the community portrait and the
//! assessment.

use std::collections::HashMap;
use std::fmt::Write as _;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use platform::auth::{Permission, Principal};
use platform::clock::{Date, format_beijing};
use platform::scope::{Level, Scope, UnitCode};
use platform::web::{Auth, Shell, Site, render};
use platform::{AppError, AppResult, Platform};

use crate::compute::{UnitInfo, level_of};
use crate::model::{self, Formula, Fraction, Indicator, Period, Status, format_value};
use crate::service::{self, Cell};
use crate::store;

pub const CSS: &str = include_str!("../templates/indicators.css");

pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], CSS).into_response()
}

/// The unit a page is about: the one asked for (404 when out of scope or unknown), else the top
/// of the caller's scope, cut to the village level (indicators stop there).
pub async fn resolve(p: &Platform, me: &Principal, unit: Option<&str>) -> AppResult<(UnitCode, Scope)> {
    let scope = me.require(Permission::ViewUnits)?;
    let code = match unit.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => UnitCode::parse(u).map_err(|_| AppError::not_found())?,
        None => {
            let r = scope.roots().first().ok_or_else(AppError::forbidden)?;
            let s = r.as_str();
            UnitCode::parse(if s.len() > 12 { &s[..12] } else { s }).map_err(AppError::internal)?
        }
    };
    // A grid worker's scope is a grid; indicators stop at the community holding it.
    let holds_grid_below = code.as_str().len() == 12 && scope.roots().iter().any(|r| r.as_str().starts_with(code.as_str()));
    if code.as_str().len() > 12 || !(scope.contains(&code) || holds_grid_below) {
        return Err(AppError::not_found());
    }
    geography::store::get(&p.db, code.as_str()).await?.filter(|u| u.is_current()).ok_or_else(AppError::not_found)?;
    Ok((code, scope))
}

/// Values of every indicator for a unit and its children: live, or from a month's snapshot.
pub struct View {
    pub root: UnitInfo,
    pub children: Vec<UnitInfo>,
    pub year: i64,
    /// None = computed live now.
    pub period: Option<Period>,
    pub values: HashMap<String, HashMap<String, Fraction>>,
    pub indicators: Vec<Indicator>,
}

impl View {
    pub fn get(&self, id: &str, unit: &str) -> Option<Fraction> {
        self.values.get(id).and_then(|m| m.get(unit)).copied()
    }
    pub fn cell(&self, ind: &Indicator, unit: &str) -> Cell {
        service::cell(ind, level_of(unit), self.year, self.get(&ind.id, unit))
    }
}

pub async fn view(p: &Platform, root: &UnitCode, period: Option<Period>) -> AppResult<View> {
    match period {
        None => {
            let year = service::this_year(p);
            let c = service::compute(p, root, year, service::Reach::RootAndChildren).await?;
            let root_info = c.dataset.units.iter().find(|u| u.code == root.as_str()).cloned().ok_or_else(AppError::not_found)?;
            let children = c.dataset.units.iter().filter(|u| u.parent.as_deref() == Some(root.as_str())).cloned().collect();
            Ok(View { root: root_info, children, year, period: None, values: c.values, indicators: c.indicators })
        }
        Some(period) => {
            if !store::snapshot_periods(&p.db).await?.iter().any(|x| x == period.as_str()) {
                return Err(
                    AppError::bad_request("indicators.no_snapshot", format!("没有 {} 月的快照；可选的月份见「数据」下拉框", period.as_str())).at_field("as_of")
                );
            }
            let units = geography::store::current_of_kind(&p.db, root, &TREE).await?;
            let info = |u: &geography::model::Unit| UnitInfo {
                code: u.code.clone(),
                name: u.name.clone(),
                kind: u.kind(),
                community_kind: None,
                parent: u.parent_code.clone(),
            };
            let root_info = units.iter().find(|u| u.code == root.as_str()).map(info).ok_or_else(AppError::not_found)?;
            let children: Vec<UnitInfo> = units.iter().filter(|u| u.parent_code.as_deref() == Some(root.as_str())).map(info).collect();
            let mut codes: Vec<String> = children.iter().map(|c| c.code.clone()).collect();
            codes.push(root.as_str().to_owned());
            let mut values: HashMap<String, HashMap<String, Fraction>> = HashMap::new();
            for s in store::snapshots_for_units(&p.db, period.as_str(), &codes).await? {
                if s.status == "ok" {
                    values.entry(s.indicator_id).or_default().insert(s.unit_code, Fraction { num: s.numerator.unwrap_or(0), den: s.denominator });
                }
            }
            Ok(View { root: root_info, children, year: period.year(), period: Some(period), values, indicators: model::indicators() })
        }
    }
}

const TREE: [geography::model::UnitKind; 9] = [
    geography::model::UnitKind::City,
    geography::model::UnitKind::District,
    geography::model::UnitKind::County,
    geography::model::UnitKind::CountyCity,
    geography::model::UnitKind::Street,
    geography::model::UnitKind::Town,
    geography::model::UnitKind::Township,
    geography::model::UnitKind::Community,
    geography::model::UnitKind::Village,
];

fn parse_period(s: Option<&str>) -> AppResult<Option<Period>> {
    match s.map(str::trim).filter(|s| !s.is_empty() && *s != "live") {
        None => Ok(None),
        Some(s) => Period::parse(s)
            .filter(|x| x.as_str().len() == 7)
            .map(Some)
            .ok_or_else(|| AppError::bad_request("indicators.bad_period", "月份应形如 2026-05").at_field("as_of")),
    }
}

/// A sparkline of a series (oldest first) as inline SVG; empty below two points.
pub fn sparkline(points: &[Option<f64>]) -> String {
    let vals: Vec<(usize, f64)> = points.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    if vals.len() < 2 {
        return String::new();
    }
    let (lo, hi) = vals.iter().fold((f64::MAX, f64::MIN), |(a, b), (_, v)| (a.min(*v), b.max(*v)));
    let span = (hi - lo).max(1e-9);
    let n = (points.len().max(2) - 1) as f64;
    let mut d = String::new();
    for (k, (i, v)) in vals.iter().enumerate() {
        let x = *i as f64 / n * 80.0;
        let y = 18.0 - (v - lo) / span * 16.0;
        let _ = write!(d, "{}{x:.1},{y:.1}", if k == 0 { "M" } else { " L" });
    }
    format!(r#"<svg class="spark" viewBox="0 0 80 20" role="img" aria-label="近 {} 个月趋势"><path d="{d}"/></svg>"#, points.len())
}

/// The last twelve months of snapshots of a unit: indicator id → series oldest first.
async fn trends(p: &Platform, unit: &str) -> AppResult<HashMap<String, Vec<Option<f64>>>> {
    let now = Period::month_of(Date::of_instant(p.now()));
    let mut months = vec![now.clone()];
    for _ in 0..11 {
        let prev = months.last().map(|m| m.previous_month()).unwrap_or_else(|| now.clone());
        months.push(prev);
    }
    months.reverse();
    let from = months.first().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let rows = store::history(&p.db, unit, &from).await?;
    let defs: HashMap<String, Indicator> = model::indicators().into_iter().map(|i| (i.id.clone(), i)).collect();
    let mut by: HashMap<String, HashMap<String, Option<f64>>> = HashMap::new();
    for r in rows {
        let Some(ind) = defs.get(&r.indicator_id) else { continue };
        let v = (r.status == "ok").then(|| model::value_of(&ind.formula, Fraction { num: r.numerator.unwrap_or(0), den: r.denominator })).flatten();
        by.entry(r.indicator_id).or_default().insert(r.period, v);
    }
    Ok(by.into_iter().map(|(id, m)| (id, months.iter().map(|p| m.get(p.as_str()).copied().flatten()).collect())).collect())
}

struct Crumb {
    code: String,
    name: String,
    link: bool,
}

async fn crumbs(p: &Platform, scope: &Scope, code: &UnitCode) -> AppResult<Vec<Crumb>> {
    Ok(geography::store::breadcrumbs(&p.db, scope, code)
        .await?
        .into_iter()
        .filter(|(c, _, _)| c != code.as_str() && c.len() >= 4)
        .map(|(code, name, link)| Crumb { code, name, link })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Dashboard

pub struct IndRow {
    pub id: String,
    pub area: String,
    pub name: String,
    pub attribute: &'static str,
    pub binding: bool,
    pub unit: String,
    pub t2022: String,
    pub t2025: String,
    pub value: String,
    pub parts: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub source: &'static str,
    pub reported: bool,
    pub spark: String,
}

fn parts_text(f: Option<Fraction>) -> String {
    match f {
        Some(Fraction { num, den: Some(d) }) => format!("{num} / {d}"),
        Some(Fraction { num, den: None }) => num.to_string(),
        None => String::new(),
    }
}

fn target_text(t: Option<f64>) -> String {
    t.map(|v| format_value(Some(v))).unwrap_or_else(|| "—".into())
}

pub fn rows_for(v: &View, unit: &str, sparks: &HashMap<String, Vec<Option<f64>>>) -> Vec<IndRow> {
    v.indicators
        .iter()
        .map(|i| {
            let c = v.cell(i, unit);
            let finer = level_of(unit) > i.formula.finest_level();
            IndRow {
                id: i.id.clone(),
                area: i.area.clone(),
                name: i.name.clone(),
                attribute: i.attribute.label(),
                binding: i.attribute == model::Attribute::Binding,
                unit: i.unit_label().to_owned(),
                t2022: target_text(i.target_2022),
                t2025: target_text(i.target_2025),
                value: if c.status == Status::NoSource {
                    "暂无数据来源".into()
                } else if finer {
                    "不适用".into()
                } else {
                    model::value_text(&i.formula, c.fraction, c.value)
                },
                parts: parts_text(c.fraction),
                status: c.status.as_str(),
                status_label: c.status.label(),
                source: i.formula.source().label(),
                reported: matches!(i.formula, Formula::Reported { .. } | Formula::ReportedUnits { .. }),
                spark: sparks.get(&i.id).map(|s| sparkline(s)).unwrap_or_default(),
            }
        })
        .collect()
}

struct ChildLink {
    code: String,
    name: String,
    kind: String,
    greens: usize,
    reds: usize,
    village: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    shell: Shell,
    crumbs: Vec<Crumb>,
    code: String,
    name: String,
    kind: String,
    as_of: String,
    periods: Vec<String>,
    live: bool,
    rows: Vec<IndRow>,
    counts: (usize, usize, usize, usize),
    children: Vec<ChildLink>,
    is_village: bool,
    can_snapshot: bool,
    printed: String,
}

#[derive(Deserialize, Default)]
pub struct UnitQuery {
    unit: Option<String>,
    as_of: Option<String>,
    scheme: Option<String>,
}

pub async fn dashboard(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<UnitQuery>) -> AppResult<Response> {
    let (root, scope) = resolve(&p, &me, q.unit.as_deref()).await?;
    let period = parse_period(q.as_of.as_deref())?;
    let v = view(&p, &root, period.clone()).await?;
    let sparks = trends(&p, root.as_str()).await?;
    let rows = rows_for(&v, root.as_str(), &sparks);
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    let counts = (count("green"), count("amber"), count("red"), count("nosource"));
    let children = v
        .children
        .iter()
        .map(|c| {
            let cells: Vec<Cell> = v.indicators.iter().map(|i| v.cell(i, &c.code)).collect();
            ChildLink {
                code: c.code.clone(),
                name: c.name.clone(),
                kind: c.kind.map(|k| k.label()).unwrap_or("").to_owned(),
                greens: cells.iter().filter(|x| x.status == Status::Green).count(),
                reds: cells.iter().filter(|x| x.status == Status::Red).count(),
                village: c.code.len() == 12 && me.can(Permission::ViewRegisters),
            }
        })
        .collect();
    let periods = store::snapshot_periods(&p.db).await?;
    Ok(render(&DashboardPage {
        shell: Shell::new(&site, &me, "规划指标", "/indicators"),
        crumbs: crumbs(&p, &scope, &root).await?,
        code: root.as_str().to_owned(),
        name: v.root.name.clone(),
        kind: v.root.kind.map(|k| k.label()).unwrap_or("").to_owned(),
        as_of: period.as_ref().map(|x| x.as_str().to_owned()).unwrap_or_default(),
        live: period.is_none(),
        periods,
        rows,
        counts,
        children,
        is_village: root.as_str().len() == 12 && me.can(Permission::ViewRegisters),
        can_snapshot: me.grants.iter().any(|g| g.unit.as_str() == "5109" && g.role.allows(Permission::ViewRegisters)),
        printed: format_beijing(p.now()),
    }))
}

/// Takes the current month's snapshot now (city staff), instead of waiting for the job.
pub async fn snapshot_now(State(p): State<Platform>, Auth(me): Auth) -> AppResult<Response> {
    if !me.grants.iter().any(|g| g.unit.as_str() == "5109" && g.role.allows(Permission::ViewRegisters)) {
        return Err(AppError::forbidden());
    }
    let period = Period::month_of(Date::of_instant(p.now()));
    service::snapshot(&p, &period).await?;
    Ok(Redirect::to(&format!("/indicators?as_of={}", period.as_str())).into_response())
}

// ---------------------------------------------------------------------------------------------
// One indicator: ranking, map, drill-down

struct RankRow {
    rank: usize,
    code: String,
    name: String,
    value: String,
    parts: String,
    status: &'static str,
    status_label: &'static str,
    below: bool,
    drill: bool,
}

struct Tile {
    code: String,
    name: String,
    value: String,
    class: String,
    drill: bool,
}

#[derive(Template)]
#[template(path = "indicator.html")]
struct IndicatorPage {
    shell: Shell,
    crumbs: Vec<Crumb>,
    code: String,
    name: String,
    ind: Indicator,
    formula: String,
    value: String,
    parts: String,
    status: &'static str,
    status_label: &'static str,
    target: String,
    as_of: String,
    ranking: Vec<RankRow>,
    map_svg: String,
    tiles: Vec<Tile>,
    legend: Vec<(String, String)>,
    spark: String,
    can_report: bool,
}

/// Five equal-count classes over the children's values, `q0` (lowest) … `q4`; units without a
/// value get `qn`.
fn classes(values: &[(String, Option<f64>)]) -> (HashMap<String, String>, Vec<(String, String)>) {
    let mut vs: Vec<f64> = values.iter().filter_map(|(_, v)| *v).collect();
    vs.sort_by(|a, b| a.total_cmp(b));
    let mut out = HashMap::new();
    let mut legend = Vec::new();
    if vs.is_empty() {
        for (c, _) in values {
            out.insert(c.clone(), "qn".to_owned());
        }
        return (out, legend);
    }
    let cut = |k: usize| vs[((vs.len() - 1) * k) / 5];
    let bounds: Vec<f64> = (1..5).map(cut).collect();
    for (c, v) in values {
        let class = match v {
            None => "qn".to_owned(),
            Some(v) => format!("q{}", bounds.iter().filter(|b| *v > **b).count()),
        };
        out.insert(c.clone(), class);
    }
    let lo = vs[0];
    let hi = vs[vs.len() - 1];
    legend.push(("q0".into(), format!("最低 {}", format_value(Some(lo)))));
    legend.push(("q4".into(), format!("最高 {}", format_value(Some(hi)))));
    legend.push(("qn".into(), "无数值".into()));
    (out, legend)
}

pub async fn indicator_page(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Query(q): Query<UnitQuery>,
) -> AppResult<Response> {
    let ind = model::find(&id).ok_or_else(AppError::not_found)?;
    let (root, scope) = resolve(&p, &me, q.unit.as_deref()).await?;
    let period = parse_period(q.as_of.as_deref())?;
    let v = view(&p, &root, period.clone()).await?;
    let here = v.cell(&ind, root.as_str());
    let target = ind.target_for(v.year);
    let mut ranked: Vec<(UnitInfo, Cell)> = v.children.iter().map(|c| (c.clone(), v.cell(&ind, &c.code))).filter(|(_, c)| c.fraction.is_some()).collect();
    // Worst first: the units that pull the total below target lead the table.
    let worse_first = |a: &Option<f64>, b: &Option<f64>| match ind.direction {
        model::Direction::AtLeast => a.unwrap_or(f64::MIN).total_cmp(&b.unwrap_or(f64::MIN)),
        model::Direction::AtMost => b.unwrap_or(f64::MAX).total_cmp(&a.unwrap_or(f64::MAX)),
    };
    ranked.sort_by(|a, b| worse_first(&a.1.value, &b.1.value).then_with(|| a.0.code.cmp(&b.0.code)));
    let ranking: Vec<RankRow> = ranked
        .iter()
        .enumerate()
        .map(|(i, (u, c))| RankRow {
            rank: i + 1,
            code: u.code.clone(),
            name: u.name.clone(),
            value: model::value_text(&ind.formula, c.fraction, c.value),
            parts: parts_text(c.fraction),
            status: c.status.as_str(),
            status_label: c.status.label(),
            below: matches!(model::status(ind.direction, target, c.value), Status::Red | Status::Amber),
            drill: u.code.len() < 12 && level_of(&u.code) < ind.formula.finest_level(),
        })
        .collect();
    let vals: Vec<(String, Option<f64>)> = v.children.iter().map(|c| (c.code.clone(), v.cell(&ind, &c.code).value)).collect();
    let (cls, legend) = classes(&vals);
    let link = |code: &str| format!("/indicators/{}?unit={}{}", ind.id, code, period.as_ref().map(|x| format!("&as_of={}", x.as_str())).unwrap_or_default());
    // A choropleth where every child has a boundary; a tile layout otherwise.
    let child_level = v.children.first().map(|c| level_of(&c.code));
    let mut map_svg = String::new();
    if let Some(level) = child_level {
        let bounds: HashMap<String, geography::store::BoundaryRow> = geography::store::boundaries_at(&p.db, level)
            .await?
            .into_iter()
            .filter(|b| v.children.iter().any(|c| c.code == b.code))
            .map(|b| (b.code.clone(), b))
            .collect();
        if !v.children.is_empty() && v.children.iter().all(|c| bounds.contains_key(&c.code)) {
            let mut shapes = Vec::new();
            for c in &v.children {
                let Some(b) = bounds.get(&c.code) else { continue };
                let Ok(g) =
                    serde_json::from_str::<serde_json::Value>(&b.geometry).map_err(|_| ()).and_then(|j| geography::geo::parse_geometry(&j).map_err(|_| ()))
                else {
                    continue;
                };
                let val = vals.iter().find(|(k, _)| *k == c.code).and_then(|(_, v)| *v);
                shapes.push(geography::geo::MapShape {
                    code: c.code.clone(),
                    name: format!("{} {}", c.name, format_value(val)),
                    geometry: g,
                    href: Some(link(&c.code)),
                    highlight: false,
                });
            }
            let mut svg = geography::geo::render_svg(&shapes, &format!("{}分布", ind.name));
            for (code, class) in &cls {
                svg = svg.replace(&format!(r#"<path data-unit="{code}""#), &format!(r#"<path class="{class}" data-unit="{code}""#));
            }
            map_svg = svg;
        }
    }
    let tiles = if map_svg.is_empty() {
        v.children
            .iter()
            .map(|c| Tile {
                code: c.code.clone(),
                name: c.name.clone(),
                value: format_value(vals.iter().find(|(k, _)| *k == c.code).and_then(|(_, v)| *v)),
                class: cls.get(&c.code).cloned().unwrap_or_else(|| "qn".into()),
                drill: c.code.len() < 12,
            })
            .collect()
    } else {
        Vec::new()
    };
    let sparks = trends(&p, root.as_str()).await?;
    Ok(render(&IndicatorPage {
        shell: Shell::new(&site, &me, &ind.name, "/indicators"),
        crumbs: crumbs(&p, &scope, &root).await?,
        code: root.as_str().to_owned(),
        name: v.root.name.clone(),
        formula: ind.formula.describe(),
        value: if here.status == Status::NoSource { "暂无数据来源".into() } else { model::value_text(&ind.formula, here.fraction, here.value) },
        parts: parts_text(here.fraction),
        status: here.status.as_str(),
        status_label: here.status.label(),
        target: target_text(target),
        as_of: period.as_ref().map(|x| x.as_str().to_owned()).unwrap_or_default(),
        ranking,
        map_svg,
        tiles,
        legend,
        spark: sparks.get(&ind.id).map(|s| sparkline(s)).unwrap_or_default(),
        can_report: matches!(ind.formula, Formula::Reported { .. } | Formula::ReportedUnits { .. }),
        ind,
    }))
}

// ---------------------------------------------------------------------------------------------
// XLSX monthly report

fn xlsx_response(bytes: Vec<u8>, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        bytes,
    )
        .into_response()
}

pub async fn report_xlsx(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<UnitQuery>) -> AppResult<Response> {
    let (root, _) = resolve(&p, &me, q.unit.as_deref()).await?;
    let period = parse_period(q.as_of.as_deref())?;
    let v = view(&p, &root, period.clone()).await?;
    let e = AppError::internal;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let label = period.as_ref().map(|x| format!("{} 月快照", x.as_str())).unwrap_or_else(|| format!("实时计算（{}）", format_beijing(p.now())));
    {
        let ws = wb.add_worksheet();
        ws.set_name("规划指标").map_err(e)?;
        ws.write_string_with_format(0, 0, format!("{}规划指标月报 · {label}", v.root.name), &bold).map_err(e)?;
        let headers = ["编号", "领域", "指标", "属性", "单位", "2022 目标", "2025 目标", "当前值", "分子/分母", "状态", "数据来源"];
        for (c, h) in headers.iter().enumerate() {
            ws.write_string_with_format(1, c as u16, *h, &bold).map_err(e)?;
        }
        ws.set_column_width(2, 40).map_err(e)?;
        for (r, i) in v.indicators.iter().enumerate() {
            let c = v.cell(i, root.as_str());
            let row = r as u32 + 2;
            ws.write_string(row, 0, &i.id).map_err(e)?;
            ws.write_string(row, 1, &i.area).map_err(e)?;
            ws.write_string(row, 2, &i.name).map_err(e)?;
            ws.write_string(row, 3, i.attribute.label()).map_err(e)?;
            ws.write_string(row, 4, i.unit_label()).map_err(e)?;
            for (col, t) in [(5u16, i.target_2022), (6, i.target_2025)] {
                match t {
                    Some(t) => ws.write_number(row, col, t).map(|_| ()),
                    None => ws.write_string(row, col, "—").map(|_| ()),
                }
                .map_err(e)?;
            }
            match (c.status, c.value) {
                (Status::NoSource, _) => ws.write_string(row, 7, "暂无数据来源").map(|_| ()),
                (_, Some(x)) => ws.write_number(row, 7, (x * 100.0).round() / 100.0).map(|_| ()),
                (_, None) => ws.write_string(row, 7, "—").map(|_| ()),
            }
            .map_err(e)?;
            ws.write_string(row, 8, parts_text(c.fraction)).map_err(e)?;
            ws.write_string(row, 9, c.status.label()).map_err(e)?;
            ws.write_string(row, 10, i.formula.source().label()).map_err(e)?;
        }
    }
    if !v.children.is_empty() {
        let ws = wb.add_worksheet();
        ws.set_name("下级单位").map_err(e)?;
        ws.write_string_with_format(0, 0, "单位", &bold).map_err(e)?;
        let with_source: Vec<&Indicator> = v.indicators.iter().filter(|i| i.formula.has_source()).collect();
        for (c, i) in with_source.iter().enumerate() {
            ws.write_string_with_format(0, c as u16 + 1, format!("{} {}", i.id, i.name), &bold).map_err(e)?;
        }
        ws.set_column_width(0, 30).map_err(e)?;
        for (r, u) in v.children.iter().enumerate() {
            ws.write_string(r as u32 + 1, 0, &u.name).map_err(e)?;
            for (c, i) in with_source.iter().enumerate() {
                if let Some(x) = v.cell(i, &u.code).value {
                    ws.write_number(r as u32 + 1, c as u16 + 1, (x * 100.0).round() / 100.0).map_err(e)?;
                }
            }
        }
    }
    let bytes = wb.save_to_buffer().map_err(e)?;
    Ok(xlsx_response(bytes, &format!("indicators-{}-{}.xlsx", root.as_str(), period.as_ref().map(|x| x.as_str().to_owned()).unwrap_or_else(|| "live".into()))))
}

// ---------------------------------------------------------------------------------------------
// 填报

struct ReportRow {
    id: String,
    indicator: String,
    unit: String,
    period: String,
    numbers: String,
    state: &'static str,
    state_class: String,
    submitted: String,
    reviewed: String,
    has_evidence: bool,
    can_review: bool,
    version: i64,
    synthetic: bool,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    shell: Shell,
    options: Vec<(String, String, bool)>,
    unit: String,
    year: String,
    error: Option<String>,
    notice: Option<String>,
    rows: Vec<ReportRow>,
}

fn state_label(s: &str) -> &'static str {
    match s {
        "submitted" => "待审核",
        "approved" => "已通过",
        "rejected" => "已退回",
        _ => "—",
    }
}

#[derive(Deserialize, Default)]
pub struct ReportsQuery {
    indicator: Option<String>,
    unit: Option<String>,
    done: Option<String>,
}

async fn reports_view(
    p: &Platform,
    site: &Site,
    me: &Principal,
    sel: Option<&str>,
    unit: Option<&str>,
    error: Option<&AppError>,
    notice: Option<String>,
) -> AppResult<Response> {
    let scope = me.require(Permission::ViewUnits)?;
    let mut rows = Vec::new();
    let names: HashMap<String, String> = model::indicators().into_iter().map(|i| (i.id.clone(), format!("{} {}", i.id, i.name))).collect();
    for root in scope.roots() {
        for r in store::reports(&p.db, &scope, root, None, 200).await? {
            let u = UnitCode::parse(&r.unit_code).map_err(AppError::internal)?;
            let unit_name = geography::store::get(&p.db, &r.unit_code).await?.map(|x| x.name).unwrap_or_else(|| r.unit_code.clone());
            rows.push(ReportRow {
                indicator: names.get(&r.indicator_id).cloned().unwrap_or_else(|| r.indicator_id.clone()),
                unit: unit_name,
                period: r.period.clone(),
                numbers: match r.denominator {
                    Some(d) => format!("{} / {}", r.numerator, d),
                    None => r.numerator.to_string(),
                },
                state: state_label(&r.state),
                state_class: r.state.clone(),
                submitted: format!("{} {}", r.submitted_by, format_beijing(r.submitted_ms)),
                reviewed: match (&r.reviewed_by, r.reviewed_ms) {
                    (Some(b), Some(t)) => format!("{b} {} {}", format_beijing(t), r.review_note),
                    _ => String::new(),
                },
                has_evidence: r.evidence_name.is_some(),
                can_review: r.state == "submitted" && service::may_review(me, &u, &r.submitted_by),
                version: r.version,
                synthetic: r.synthetic == 1,
                id: r.id,
            });
        }
    }
    let options = model::indicators()
        .into_iter()
        .filter_map(|i| match i.formula {
            Formula::Reported { level, .. } => Some((i.id.clone(), format!("{} {}（{}填报）", i.id, i.name, level.label()), sel == Some(i.id.as_str()))),
            Formula::ReportedUnits { item, .. } if item == i.id => {
                Some((i.id.clone(), format!("{} 村集体经济收入（元，各村填报，用于 T36–T38）", i.id), sel == Some(i.id.as_str())))
            }
            _ => None,
        })
        .collect();
    Ok(render(&ReportsPage {
        shell: Shell::new(site, me, "指标填报", "/indicators"),
        options,
        unit: unit.map(str::to_owned).unwrap_or_else(|| me.home_unit.as_str().to_owned()),
        year: service::this_year(p).to_string(),
        error: error.map(|e| e.human()),
        notice,
        rows,
    }))
}

pub async fn reports_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<ReportsQuery>) -> AppResult<Response> {
    let notice = q.done.as_deref().map(|d| match d {
        "submitted" => "已提交，等待上级审核。".to_owned(),
        "approved" => "已审核通过，数值已计入指标。".to_owned(),
        _ => "已退回。".to_owned(),
    });
    reports_view(&p, &site, &me, q.indicator.as_deref(), q.unit.as_deref(), None, notice).await
}

pub async fn report_submit(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, mut m: Multipart) -> AppResult<Response> {
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut evidence = None;
    while let Some(field) = m.next_field().await.map_err(|_| AppError::bad_request("indicators.upload", "上传中断或文件超过 5 MB").at_field("evidence"))?
    {
        let name = field.name().unwrap_or("").to_owned();
        if name == "evidence" {
            let filename = field.file_name().unwrap_or("evidence").to_owned();
            let ct = field.content_type().unwrap_or("").to_owned();
            let bytes = field.bytes().await.map_err(|_| AppError::bad_request("indicators.evidence_too_large", "佐证材料不超过 5 MB").at_field("evidence"))?;
            if !bytes.is_empty() {
                evidence = Some((filename, ct, bytes.to_vec()));
            }
        } else {
            fields.insert(name, field.text().await.unwrap_or_default());
        }
    }
    let g = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let s = service::Submission {
        indicator_id: g("indicator"),
        unit: g("unit"),
        period: g("period"),
        numerator: g("numerator"),
        denominator: g("denominator"),
        note: g("note"),
        evidence,
    };
    let (sel, unit) = (g("indicator"), g("unit"));
    match service::submit(&p, &me, s).await {
        Ok(_) => Ok(Redirect::to("/indicators/reports?done=submitted").into_response()),
        Err(e) if e.status == axum::http::StatusCode::BAD_REQUEST => reports_view(&p, &site, &me, Some(&sel), Some(&unit), Some(&e), None).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct ReviewForm {
    decision: String,
    version: i64,
    #[serde(default)]
    note: String,
}

pub async fn report_review(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<ReviewForm>,
) -> AppResult<Response> {
    let approve = f.decision == "approve";
    match service::review(&p, &me, &id, approve, f.version, &f.note).await {
        Ok(()) => Ok(Redirect::to(if approve { "/indicators/reports?done=approved" } else { "/indicators/reports?done=rejected" }).into_response()),
        Err(e) if e.status == axum::http::StatusCode::BAD_REQUEST || e.status == axum::http::StatusCode::CONFLICT => {
            reports_view(&p, &site, &me, None, None, Some(&e), None).await
        }
        Err(e) => Err(e),
    }
}

pub async fn evidence(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    let scope = me.require(Permission::ViewUnits)?;
    let (unit, name, ct, data) = store::evidence(&p.db, &id).await?.ok_or_else(AppError::not_found)?;
    let u = UnitCode::parse(&unit).map_err(AppError::internal)?;
    if !scope.contains(&u) {
        return Err(AppError::not_found());
    }
    let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", if safe.is_empty() { "evidence".into() } else { safe })),
        ],
        platform::crypto::base64_decode(&data).ok_or_else(|| platform::AppError::internal("evidence is not base64"))?,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// 社区画像

struct Stat {
    label: String,
    value: String,
}

#[derive(Template)]
#[template(path = "portrait.html")]
struct PortraitPage {
    shell: Shell,
    crumbs: Vec<Crumb>,
    code: String,
    name: String,
    kind: String,
    elements: Vec<Stat>,
    people: Vec<Stat>,
    tags: Vec<Stat>,
    events: Vec<(String, Vec<i64>, i64)>,
    event_trend: String,
    facilities: Vec<Stat>,
    orgs: Vec<Stat>,
    workforce: Vec<Stat>,
    rows: Vec<IndRow>,
    volunteers: String,
    synthetic: bool,
}

async fn volunteers_text(p: &Platform, root: &UnitCode) -> AppResult<String> {
    let f = service::external(p, model::External::VolunteerRegistration, root).await?;
    let s = service::external(p, model::External::VolunteerStations, root).await?;
    // T22 counts townships and streets; below a township it measures the unit itself.
    let stations = if root.level() <= platform::scope::Level::Township {
        format!("有志愿服务站的乡镇（街道）{} / {}", s.num, s.den.unwrap_or(0))
    } else {
        format!("志愿服务站：{}", if s.num > 0 { "有" } else { "无" })
    };
    Ok(format!(
        "在册志愿者 {} 人（占常住人口 {}%）；{stations}",
        f.num,
        format_value(model::value_of(&Formula::External { measure: model::External::VolunteerRegistration, scale: 100.0 }, f)),
    ))
}

pub const AGE_BANDS: [&str; 4] = ["<1d", "1-7d", "7-30d", ">30d"];

pub async fn portrait(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(unit): Path<String>) -> AppResult<Response> {
    let (root, scope) = resolve(&p, &me, Some(&unit)).await?;
    // Counts of special populations are register data: only those who may browse the registers
    // of the unit see its portrait (residents and departments see the dashboard only).
    let registers = me.require(Permission::ViewRegisters)?;
    if !(registers.contains(&root) || registers.roots().iter().any(|r| r.as_str().starts_with(root.as_str()))) {
        return Err(AppError::not_found());
    }
    let db = &p.db;
    let group_sum = |gs: &[registry::measures::Group]| -> i64 { gs.iter().map(|g| g.n).sum() };
    let by_key = |gs: &[registry::measures::Group], f: &dyn Fn(&str) -> String| -> Vec<Stat> {
        let mut m: Vec<(String, i64)> = Vec::new();
        for g in gs {
            let k = f(&g.key);
            match m.iter_mut().find(|(x, _)| *x == k) {
                Some(e) => e.1 += g.n,
                None => m.push((k, g.n)),
            }
        }
        m.into_iter().map(|(label, n)| Stat { label, value: n.to_string() }).collect()
    };
    let people = registry::measures::people(db, &root).await?;
    let houses = registry::measures::houses(db, &root).await?;
    let households = registry::measures::households(db, &root).await?;
    let vehicles = registry::measures::vehicles(db, &root).await?;
    let orgs = registry::measures::organisations(db, &root).await?;
    let facilities = registry::measures::facility_areas(db, &root).await?;
    let workforce = registry::measures::workforce(db, &root).await?;
    let tags = registry::measures::tags(db, &root).await?;
    let cells = geography::measures::cells_per_village(db, &root).await?;
    let pops = geography::measures::populations_in(db, &root).await?;
    let now = p.now();
    let open = events::measures::open_by_family_and_age(db, &root, now).await?;
    let (reported30, closed30) = events::measures::reported_since(db, &root, now - 30 * platform::clock::DAY).await?;
    let open_total: i64 = open.iter().map(|(_, _, n)| n).sum();
    let compounds: i64 = cells.iter().filter(|(_, k, _)| k == "小区").map(|(_, _, n)| n).sum();
    let grids: i64 = cells.iter().filter(|(_, k, _)| k == "网格").map(|(_, _, n)| n).sum();
    let (fig_h, fig_r): (i64, i64) = pops.iter().fold((0, 0), |(h, r), x| (h + x.households, r + x.residents));
    let elements = vec![
        Stat { label: "人（实有人口）".into(), value: group_sum(&people).to_string() },
        Stat { label: "房（房屋）".into(), value: group_sum(&houses).to_string() },
        Stat { label: "车（车辆）".into(), value: group_sum(&vehicles).to_string() },
        Stat { label: "商（组织与商户）".into(), value: group_sum(&orgs).to_string() },
        Stat { label: "事（未办结事件）".into(), value: open_total.to_string() },
        Stat { label: "物（服务设施）".into(), value: group_sum(&facilities).to_string() },
    ];
    let mut people_stats = vec![
        Stat { label: "常住人口（统计）".into(), value: fig_r.to_string() },
        Stat { label: "户数（统计）".into(), value: fig_h.to_string() },
        Stat { label: "登记户数".into(), value: group_sum(&households).to_string() },
        Stat { label: "小区".into(), value: compounds.to_string() },
        Stat { label: "网格".into(), value: grids.to_string() },
    ];
    people_stats.extend(by_key(&people, &|k| format!("实有人口·{k}")));
    let mut families: Vec<String> = open.iter().map(|(f, _, _)| f.clone()).collect();
    families.dedup();
    let events_rows = families
        .into_iter()
        .map(|f| {
            let counts: Vec<i64> = AGE_BANDS.iter().map(|b| open.iter().filter(|(x, a, _)| *x == f && a == b).map(|(_, _, n)| *n).sum()).collect();
            let total = counts.iter().sum();
            (f, counts, total)
        })
        .collect();
    let v = view(&p, &root, None).await?;
    let sparks = trends(&p, root.as_str()).await?;
    let rows: Vec<IndRow> = rows_for(&v, root.as_str(), &sparks).into_iter().filter(|r| r.value != "不适用" && r.status != "nosource").collect();
    Ok(render(&PortraitPage {
        shell: Shell::new(&site, &me, &format!("{}画像", v.root.name), "/indicators"),
        crumbs: crumbs(&p, &scope, &root).await?,
        code: root.as_str().to_owned(),
        name: v.root.name.clone(),
        kind: v.root.kind.map(|k| k.label()).unwrap_or("").to_owned(),
        elements,
        people: people_stats,
        tags: by_key(&tags, &|k| k.to_owned()),
        events: events_rows,
        event_trend: format!("近 30 天上报 {reported30} 件，其中已办结 {closed30} 件"),
        facilities: by_key(&facilities, &|k| k.split('|').next().unwrap_or("").to_owned()),
        orgs: by_key(&orgs, &|k| k.split('|').next().unwrap_or("").to_owned()),
        workforce: by_key(&workforce, &|k| k.split('|').next().unwrap_or("").to_owned()),
        rows,
        volunteers: volunteers_text(&p, &root).await?,
        synthetic: pops.iter().any(|x| x.synthetic == 1),
    }))
}

// ---------------------------------------------------------------------------------------------
// 考核评价

struct ScoreRow {
    rank: usize,
    code: String,
    name: String,
    score: String,
    items: Vec<String>,
}

#[derive(Template)]
#[template(path = "assessment.html")]
struct AssessmentPage {
    shell: Shell,
    schemes: Vec<(String, String, bool)>,
    selected: Option<store::Scheme>,
    items: Vec<(String, String, f64)>,
    level_label: String,
    code: String,
    name: String,
    rows: Vec<ScoreRow>,
    full: String,
    error: Option<String>,
    can_manage: bool,
    as_of: String,
    periods: Vec<String>,
}

fn can_manage_schemes(me: &Principal) -> bool {
    me.grants.iter().any(|g| g.unit.as_str().len() <= 6 && matches!(g.role, platform::auth::Role::CityStaff | platform::auth::Role::CountyStaff))
}

/// Scores of the units at the scheme's level under `root`, highest first.
async fn scores(p: &Platform, root: &UnitCode, scheme: &store::Scheme, period: Option<&Period>) -> AppResult<(Vec<(String, f64)>, Vec<ScoreRow>, f64, String)> {
    let items = model::parse_scheme(&scheme.items).map_err(|m| AppError::bad_request("indicators.bad_scheme", m))?;
    let level = Level::from_i64(scheme.level).unwrap_or(Level::Township);
    // Live, or as of a month's snapshot (the assessment period).
    let (year, units, values): (i64, Vec<UnitInfo>, HashMap<String, HashMap<String, Fraction>>) = match period {
        None => {
            let year = service::this_year(p);
            let c = service::compute_all(p, root, year).await?;
            (year, c.dataset.units.clone(), c.values)
        }
        Some(period) => {
            let units: Vec<UnitInfo> = geography::store::current_of_kind(&p.db, root, &TREE)
                .await?
                .into_iter()
                .filter(|u| level_of(&u.code) == level)
                .map(|u| UnitInfo { code: u.code, name: u.name, kind: None, community_kind: None, parent: u.parent_code })
                .collect();
            let codes: Vec<String> = units.iter().map(|u| u.code.clone()).collect();
            let mut values: HashMap<String, HashMap<String, Fraction>> = HashMap::new();
            for s in store::snapshots_for_units(&p.db, period.as_str(), &codes).await? {
                if s.status == "ok" {
                    values.entry(s.indicator_id).or_default().insert(s.unit_code, Fraction { num: s.numerator.unwrap_or(0), den: s.denominator });
                }
            }
            (period.year(), units, values)
        }
    };
    let defs: HashMap<String, Indicator> = model::indicators().into_iter().map(|i| (i.id.clone(), i)).collect();
    let get = |id: &str, code: &str| values.get(id).and_then(|m| m.get(code)).copied();
    let mut rows: Vec<(f64, ScoreRow)> = Vec::new();
    for u in units.iter().filter(|u| u.level() == level) {
        let mut total = 0.0;
        let mut parts = Vec::new();
        for (id, w) in &items {
            let Some(ind) = defs.get(id) else { continue };
            let cell = service::cell(ind, level, year, get(id, &u.code));
            let s = model::item_score(ind.direction, *w, ind.target_for(year), cell.value);
            total += s;
            parts.push(format_value(Some(s)));
        }
        rows.push((total, ScoreRow { rank: 0, code: u.code.clone(), name: u.name.clone(), score: format_value(Some(total)), items: parts }));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.code.cmp(&b.1.code)));
    let out: Vec<ScoreRow> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut r))| {
            r.rank = i + 1;
            r
        })
        .collect();
    let full: f64 = items.iter().map(|(_, w)| w).sum();
    Ok((items, out, full, level.label().to_owned()))
}

pub async fn assessment(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<UnitQuery>) -> AppResult<Response> {
    assessment_view(&p, &site, &me, &q, None).await
}

async fn assessment_view(p: &Platform, site: &Site, me: &Principal, q: &UnitQuery, error: Option<String>) -> AppResult<Response> {
    let (root, _) = resolve(p, me, q.unit.as_deref()).await?;
    let period = parse_period(q.as_of.as_deref())?;
    let periods = store::snapshot_periods(&p.db).await?;
    let all = store::schemes(&p.db).await?;
    let selected = match q.scheme.as_deref() {
        Some(id) => all.iter().find(|s| s.id == id).cloned(),
        None => all.first().cloned(),
    };
    let (mut items, mut rows, mut full, mut level_label) = (Vec::new(), Vec::new(), 0.0, String::new());
    if let Some(s) = &selected {
        let (its, r, f, l) = scores(p, &root, s, period.as_ref()).await?;
        let names: HashMap<String, String> = model::indicators().into_iter().map(|i| (i.id.clone(), i.name)).collect();
        items = its.into_iter().map(|(id, w)| (id.clone(), names.get(&id).cloned().unwrap_or_default(), w)).collect();
        rows = r;
        full = f;
        level_label = l;
    }
    let name = geography::store::get(&p.db, root.as_str()).await?.map(|u| u.name).unwrap_or_default();
    Ok(render(&AssessmentPage {
        shell: Shell::new(site, me, "考核评价", "/indicators"),
        schemes: all.iter().map(|s| (s.id.clone(), s.name.clone(), selected.as_ref().is_some_and(|x| x.id == s.id))).collect(),
        selected,
        items,
        level_label,
        code: root.as_str().to_owned(),
        name,
        rows,
        full: format_value(Some(full)),
        error,
        can_manage: can_manage_schemes(me),
        as_of: period.as_ref().map(|x| x.as_str().to_owned()).unwrap_or_default(),
        periods,
    }))
}

#[derive(Deserialize)]
pub struct SchemeForm {
    name: String,
    level: String,
    items: String,
}

pub async fn scheme_add(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Form(f): Form<SchemeForm>) -> AppResult<Response> {
    if !can_manage_schemes(&me) {
        return Err(AppError::forbidden());
    }
    let q = UnitQuery::default();
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return assessment_view(&p, &site, &me, &q, Some("方案名称须为 1–60 字".into())).await;
    }
    let level = match f.level.as_str() {
        "township" => Level::Township,
        "village" => Level::Village,
        "county" => Level::County,
        _ => return assessment_view(&p, &site, &me, &q, Some("考核对象层级无效".into())).await,
    };
    let items = match model::parse_scheme(&f.items) {
        Ok(i) => i,
        Err(m) => return assessment_view(&p, &site, &me, &q, Some(m)).await,
    };
    let text = items.iter().map(|(id, w)| format!("{id}:{}", format_value(Some(*w)))).collect::<Vec<_>>().join(",");
    let mut tx = p.db.begin().await?;
    let id = store::insert_scheme(&mut tx, name, level as i64, &text, &me.username, p.now()).await?;
    platform::audit::record(
        &mut tx,
        p.now(),
        &platform::audit::Event {
            actor: &me.actor(),
            unit: None,
            action: "indicators.scheme_add",
            target: &id,
            outcome: platform::audit::Outcome::Ok,
            detail: &format!("{name}: {text}"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/indicators/assessment?scheme={id}")).into_response())
}

pub async fn assessment_xlsx(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<UnitQuery>) -> AppResult<Response> {
    let (root, _) = resolve(&p, &me, q.unit.as_deref()).await?;
    let s = store::scheme(&p.db, q.scheme.as_deref().unwrap_or("")).await?.ok_or_else(AppError::not_found)?;
    let period = parse_period(q.as_of.as_deref())?;
    let (items, rows, full, _) = scores(&p, &root, &s, period.as_ref()).await?;
    let e = AppError::internal;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("考核评价").map_err(e)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    ws.write_string_with_format(0, 0, format!("{}（满分 {}）", s.name, format_value(Some(full))), &bold).map_err(e)?;
    let mut headers = vec!["名次".to_owned(), "单位".to_owned(), "得分".to_owned()];
    headers.extend(items.iter().map(|(id, w)| format!("{id}（{}）", format_value(Some(*w)))));
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(1, c as u16, h, &bold).map_err(e)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let rr = r as u32 + 2;
        ws.write_number(rr, 0, row.rank as f64).map_err(e)?;
        ws.write_string(rr, 1, &row.name).map_err(e)?;
        ws.write_number(rr, 2, row.score.parse::<f64>().unwrap_or(0.0)).map_err(e)?;
        for (c, v) in row.items.iter().enumerate() {
            ws.write_number(rr, c as u16 + 3, v.parse::<f64>().unwrap_or(0.0)).map_err(e)?;
        }
    }
    let bytes = wb.save_to_buffer().map_err(e)?;
    Ok(xlsx_response(bytes, &format!("assessment-{}.xlsx", root.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_needs_two_points_and_skips_gaps() {
        assert_eq!(sparkline(&[Some(1.0)]), "");
        let s = sparkline(&[Some(1.0), None, Some(3.0)]);
        assert!(s.contains("M0.0,18.0 L80.0,2.0"), "{s}");
    }

    #[test]
    fn classes_split_values_into_quintiles() {
        let vals: Vec<(String, Option<f64>)> = (0..10).map(|i| (format!("u{i}"), Some(i as f64))).chain([("x".to_owned(), None)]).collect();
        let (c, legend) = classes(&vals);
        assert_eq!(c["u0"], "q0");
        assert_eq!(c["u9"], "q4");
        assert_eq!(c["x"], "qn");
        assert_eq!(legend.len(), 3);
    }
}
