//! HTML pages of the registers: lists with filters and exports, person detail with audited
//! unmasking, the import wizard (upload → dry-run preview → atomic commit with progress), the
//! simpler registers, and the sharing-list administration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use platform::audit::{self, Event, Outcome};
use platform::auth::{Permission, Principal};
use platform::clock::Date;
use platform::scope::{Level, Scope, UnitCode};
use platform::web::{Auth, Pager, Shell, Site, render};
use platform::{AppError, AppResult, Platform};

use geography::model::UnitKind;

use crate::import::{self, RosterRow};
use crate::model::{self, AGE_BANDS, TAGS};
use crate::store::{self, PeopleFilter, Person};

/// Purposes offered when unmasking (PIPL: processing needs a stated purpose).
pub const UNMASK_PURPOSES: [&str; 6] = ["入户走访核实", "办理民生服务", "矛盾纠纷调处", "应急联络", "协助公安/司法机关", "数据核对纠错"];

pub struct UnitCtx {
    pub code: UnitCode,
    pub name: String,
    pub scope: Scope,
    pub crumbs: Vec<(String, String, bool)>,
}

/// The unit if it is in the caller's register scope (404 otherwise), with breadcrumbs.
pub async fn unit_ctx(p: &Platform, me: &Principal, code: &str, perm: Permission) -> AppResult<UnitCtx> {
    let scope = me.require(perm)?;
    let code = UnitCode::parse(code).map_err(|e| AppError::bad_request("unit.bad_code", e.to_string()).at_field("code"))?;
    if !scope.contains(&code) {
        return Err(AppError::not_found());
    }
    let unit = geography::store::get(&p.db, code.as_str()).await?.ok_or_else(AppError::not_found)?;
    let mut crumbs = geography::store::breadcrumbs(&p.db, &scope, &code).await?;
    crumbs.push((unit.code.clone(), unit.name.clone(), false));
    Ok(UnitCtx { code, name: unit.name, scope, crumbs })
}

fn tabs(unit: &UnitCode, active: &str, can_import: bool) -> Vec<(String, &'static str, bool)> {
    let mut t: Vec<(String, &'static str, bool)> =
        [("people", "人口"), ("compounds", "小区"), ("vehicles", "车辆"), ("organisations", "组织"), ("facilities", "设施"), ("workforce", "工作力量")]
            .into_iter()
            .map(|(k, l)| (format!("/registry/{unit}/{k}"), l, k == active))
            .collect();
    if can_import && unit.level() == Level::Village {
        t.push((format!("/registry/{unit}/import"), "导入", active == "import"));
    }
    t
}

/// `/registry`: the caller's top unit.
pub async fn registry_root(Auth(me): Auth) -> AppResult<Response> {
    let scope = me.require(Permission::ViewRegisters)?;
    let first = scope.roots().first().ok_or_else(AppError::forbidden)?;
    Ok(Redirect::to(&format!("/registry/{first}/people")).into_response())
}

fn years_before(today: Date, years: i64) -> String {
    let t = today.to_string();
    let y: i64 = t[..4].parse().unwrap_or(2000) - years;
    let s = format!("{y:04}{}", &t[4..]);
    if Date::parse(&s).is_some() { s } else { format!("{y:04}-02-28") }
}

#[derive(Deserialize, Default, Clone)]
pub struct PeopleQuery {
    pub q: Option<String>,
    pub tag: Option<String>,
    pub compound: Option<String>,
    /// Index into [`AGE_BANDS`]; empty means all ages.
    pub age: Option<String>,
    pub page: Option<i64>,
}

impl PeopleQuery {
    fn age_band(&self) -> Option<usize> {
        self.age.as_deref().and_then(|a| a.trim().parse().ok())
    }
}

/// Turns the query into a filter: an 18-character ID or an 11-digit phone is looked up exactly by
/// blind index; anything else is a name search.
pub fn people_filter(p: &Platform, q: &PeopleQuery) -> PeopleFilter {
    let mut f = PeopleFilter { tag: q.tag.clone().filter(|s| !s.is_empty()), compound: q.compound.clone().filter(|s| !s.is_empty()), ..Default::default() };
    let text = q.q.clone().unwrap_or_default();
    let t = text.trim();
    let today = Date::of_instant(p.now());
    if t.len() == 18 && t.chars().take(17).all(|c| c.is_ascii_digit()) {
        f.id_index = Some(p.cipher.blind_index("id", &t.to_ascii_uppercase()));
    } else if let Some(phone) = t.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+')).then(|| model::Phone::parse(t).ok()).flatten() {
        f.phone_index = Some(p.cipher.blind_index("phone", phone.as_str()));
    } else if !t.is_empty() {
        f.name = Some(t.to_owned());
    }
    if let Some((_, lo, hi)) = q.age_band().and_then(|i| AGE_BANDS.get(i)).filter(|(l, _, _)| *l != "全部年龄") {
        f.born_to = Some(years_before(today, *lo));
        f.born_from = Some(years_before(today, hi + 1));
    }
    f
}

pub struct PersonRow {
    pub id: String,
    pub name: String,
    pub sex: String,
    pub age: String,
    pub id_masked: String,
    pub phone_masked: String,
    pub kind: String,
    pub unit: String,
    pub tags: Vec<String>,
    pub synthetic: bool,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    shell: Shell,
    crumbs: Vec<(String, String, bool)>,
    unit_name: String,
    unit_code: String,
    tabs: Vec<(String, &'static str, bool)>,
    rows: Vec<PersonRow>,
    pager: Pager,
    q: String,
    tag: String,
    compound: String,
    tag_options: Vec<String>,
    age_options: Vec<(usize, &'static str, bool)>,
    compound_options: Vec<(String, String)>,
    query: String,
    filtered: bool,
    can_import: bool,
}

pub async fn person_rows(p: &Platform, people: Vec<Person>) -> AppResult<Vec<PersonRow>> {
    let ids: Vec<String> = people.iter().map(|x| x.id.clone()).collect();
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    for (pid, t) in store::tags_for(&p.db, &ids).await? {
        tags.entry(pid).or_default().push(t);
    }
    let today = Date::of_instant(p.now());
    Ok(people
        .into_iter()
        .map(|x| PersonRow {
            age: x.birth_date.as_deref().and_then(|b| model::age_on(b, today)).map(|a| a.to_string()).unwrap_or_default(),
            tags: tags.remove(&x.id).unwrap_or_default(),
            id: x.id,
            name: x.name,
            sex: x.sex.unwrap_or_default(),
            id_masked: x.id_masked.unwrap_or_else(|| "—".into()),
            phone_masked: x.phone_masked.unwrap_or_else(|| "—".into()),
            kind: x.residence_kind,
            unit: x.unit_code,
            synthetic: x.synthetic != 0,
        })
        .collect())
}

fn query_string(q: &PeopleQuery) -> String {
    let enc = platform::web::urlencode;
    format!(
        "q={}&tag={}&compound={}&age={}&",
        enc(q.q.as_deref().unwrap_or("")),
        enc(q.tag.as_deref().unwrap_or("")),
        enc(q.compound.as_deref().unwrap_or("")),
        q.age_band().map(|a| a.to_string()).unwrap_or_default()
    )
}

pub async fn people_page(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(code): Path<String>,
    Query(q): Query<PeopleQuery>,
) -> AppResult<Response> {
    let u = unit_ctx(&p, &me, &code, Permission::ViewRegisters).await?;
    let f = people_filter(&p, &q);
    let per_page = 50;
    let (_, total) = store::people(&p.db, &u.code, &u.scope, &f, 0, 0).await?;
    let query = query_string(&q);
    let pager = Pager::new(q.page, per_page, total, query.clone());
    let (people, _) = store::people(&p.db, &u.code, &u.scope, &f, per_page, pager.offset()).await?;
    let rows = person_rows(&p, people).await?;
    let compound_options = if u.code.level() == Level::Village {
        geography::store::current_of_kind(&p.db, &u.code, &[UnitKind::Compound]).await?.into_iter().map(|c| (c.code, c.name)).collect()
    } else {
        Vec::new()
    };
    let can_import = me.scope(Permission::EditRegisters).contains(&u.code);
    let page = PeoplePage {
        shell: Shell::new(&site, &me, &format!("{} · 人口", u.name), "/registry"),
        tabs: tabs(&u.code, "people", can_import),
        crumbs: u.crumbs,
        unit_name: u.name,
        unit_code: u.code.to_string(),
        rows,
        pager,
        filtered: f.name.is_some() || f.id_index.is_some() || f.phone_index.is_some() || f.tag.is_some() || f.compound.is_some() || f.born_from.is_some(),
        q: q.q.clone().unwrap_or_default(),
        tag: q.tag.clone().unwrap_or_default(),
        compound: q.compound.clone().unwrap_or_default(),
        tag_options: TAGS.iter().map(|t| (*t).to_owned()).collect(),
        age_options: AGE_BANDS
            .iter()
            .enumerate()
            .map(|(i, (l, _, _))| (i, *l, q.age_band() == Some(i) || (q.age_band().is_none() && *l == "全部年龄")))
            .collect(),
        compound_options,
        query,
        can_import,
    };
    Ok(render(&page))
}

// ---------------------------------------------------------------------------------------------
// Person detail and unmasking

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    shell: Shell,
    p: Person,
    id_masked: String,
    phone_masked: String,
    sex: String,
    birth: String,
    age: String,
    relation: String,
    unit_name: String,
    tags: Vec<String>,
    /// (full address, house id) of the person's registered home.
    house: Option<(String, String)>,
    compound: Option<String>,
    household_no: Option<String>,
    members: Vec<(String, String, String, String, String, String)>,
    can_unmask: bool,
    related: Vec<platform::web::RelatedItem>,
    can_edit: bool,
    all_tags: Vec<(&'static str, bool)>,
    today: String,
    flash: Option<String>,
    purposes: Vec<&'static str>,
    /// (full ID, full phone, purpose) after an audited unmask.
    revealed: Option<(String, String, String)>,
    /// 实名认证: the person's bindings (live first) and a refused bind/revoke as (code, message).
    live_binding: Option<crate::identity::Binding>,
    past_bindings: Vec<crate::identity::Binding>,
    identity_error: Option<(String, String)>,
}

async fn person_view(p: &Platform, site: &Site, me: &Principal, id: &str, revealed: Option<(String, String, String)>) -> AppResult<Response> {
    person_view_with(p, site, me, id, revealed, None).await
}

async fn person_view_with(
    p: &Platform,
    site: &Site,
    me: &Principal,
    id: &str,
    revealed: Option<(String, String, String)>,
    flash: Option<String>,
) -> AppResult<Response> {
    person_view_full(p, site, me, id, revealed, flash, None).await
}

async fn person_view_full(
    p: &Platform,
    site: &Site,
    me: &Principal,
    id: &str,
    revealed: Option<(String, String, String)>,
    flash: Option<String>,
    identity_error: Option<&AppError>,
) -> AppResult<Response> {
    let scope = me.require(Permission::ViewRegisters)?;
    let person = store::person(&p.db, &scope, id).await?.ok_or_else(AppError::not_found)?;
    let tags = store::tags_of(&p.db, &person.id).await?;
    let house = match &person.house_id {
        Some(h) => store::house(&p.db, &scope, h).await?,
        None => None,
    };
    let compound = match house.as_ref().and_then(|h| h.compound_code.clone()) {
        Some(c) => geography::store::get(&p.db, &c).await?.map(|u| u.name),
        None => None,
    };
    let household = match &person.household_id {
        Some(h) => store::household(&p.db, &scope, h).await?,
        None => None,
    };
    let members = match &household {
        Some(h) => store::members(&p.db, &h.id)
            .await?
            .into_iter()
            .map(|m| {
                (m.id, m.name, m.relation.unwrap_or_default(), m.sex.unwrap_or_default(), m.birth_date.unwrap_or_default(), m.id_masked.unwrap_or_default())
            })
            .collect(),
        None => Vec::new(),
    };
    let unit_name = geography::store::get(&p.db, &person.unit_code).await?.map(|u| u.name).unwrap_or_default();
    let today = Date::of_instant(p.now());
    let related = site.related.about_person(&p.db, &person.id).await?;
    let (live, past): (Vec<_>, Vec<_>) = crate::identity::bindings_of_person(&p.db, &person.id).await?.into_iter().partition(|b| b.revoked_ms.is_none());
    let page = PersonPage {
        live_binding: live.into_iter().next(),
        past_bindings: past,
        identity_error: identity_error.map(|e| (e.code.to_owned(), e.human())),
        related,
        shell: Shell::new(site, me, &person.name, "/registry"),
        id_masked: person.id_masked.clone().unwrap_or_else(|| "—".into()),
        phone_masked: person.phone_masked.clone().unwrap_or_else(|| "—".into()),
        sex: person.sex.clone().unwrap_or_default(),
        birth: person.birth_date.clone().unwrap_or_default(),
        age: person.birth_date.as_deref().and_then(|b| model::age_on(b, today)).map(|a| format!("{a} 岁")).unwrap_or_default(),
        relation: person.relation.clone().unwrap_or_else(|| "—".into()),
        unit_name,
        tags: tags.clone(),
        house: house.map(|h| (h.full_address(), h.id)),
        compound,
        household_no: household.map(|h| h.household_no),
        members,
        can_unmask: me.scope(Permission::UnmaskPersonal).contains(&UnitCode::parse(&person.unit_code).map_err(AppError::internal)?),
        can_edit: me.scope(Permission::EditRegisters).contains(&UnitCode::parse(&person.unit_code).map_err(AppError::internal)?),
        all_tags: TAGS.iter().map(|t| (*t, tags.iter().any(|x| x == t))).collect(),
        today: today.to_string(),
        flash,
        purposes: UNMASK_PURPOSES.to_vec(),
        revealed,
        p: person,
    };
    Ok(render(&page))
}

pub async fn person_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    person_view(&p, &site, &me, &id, None).await
}

// ---------------------------------------------------------------------------------------------
// House detail

#[derive(Template)]
#[template(path = "house.html")]
struct HousePage {
    shell: Shell,
    h: store::House,
    address: String,
    area: String,
    unit_name: String,
    compound: Option<(String, String)>,
    /// Per household: its number and its members as (person id, masked name, relation).
    households: Vec<(String, Vec<(String, String, String)>)>,
    related: Vec<platform::web::RelatedItem>,
    can_report: bool,
    can_install: bool,
}

/// `/registry/houses/{id}`: a registered house (房), who lives there and what other slices hold about
/// it (events there, alarms from devices installed there). Out of scope answers 404.
pub async fn house_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    let scope = me.require(Permission::ViewRegisters)?;
    let h = store::house(&p.db, &scope, &id).await?.ok_or_else(AppError::not_found)?;
    let code = UnitCode::parse(&h.unit_code).map_err(AppError::internal)?;
    let unit_name = geography::store::get(&p.db, &h.unit_code).await?.map(|u| u.name).unwrap_or_else(|| h.unit_code.clone());
    let compound = match &h.compound_code {
        Some(c) => geography::store::get(&p.db, c).await?.map(|u| (u.code, u.name)),
        None => None,
    };
    let mut households = Vec::new();
    for hh in store::households_in_house(&p.db, &h.id).await? {
        let members = store::members(&p.db, &hh.id)
            .await?
            .into_iter()
            .filter(|m| m.moved_out.is_none() && m.deceased.is_none())
            .map(|m| (m.id, model::mask_name(&m.name), m.relation.unwrap_or_default()))
            .collect();
        households.push((hh.household_no, members));
    }
    let related = site.related.about_house(&p.db, &h.id).await?;
    let page = HousePage {
        shell: Shell::new(&site, &me, &h.full_address(), "/registry"),
        address: h.full_address(),
        area: h.floor_area_dm2.map(|a| format!("{:.2} ㎡", a as f64 / 100.0)).unwrap_or_else(|| "—".into()),
        unit_name,
        compound,
        households,
        related,
        can_report: me.scope(Permission::ReportEvents).contains(&code),
        can_install: me.scope(Permission::HandleEvents).contains(&code),
        h,
    };
    Ok(render(&page))
}

#[derive(Deserialize)]
pub struct UnmaskForm {
    pub purpose: String,
    pub note: Option<String>,
}

/// Decrypts a person's identifiers for a stated purpose, recording who, why and which fields.
pub async fn unmask(p: &Platform, me: &Principal, id: &str, purpose: &str, note: &str) -> AppResult<(Person, String, String)> {
    let scope = me.require(Permission::UnmaskPersonal)?;
    let person = store::person(&p.db, &scope, id).await?.ok_or_else(AppError::not_found)?;
    if !UNMASK_PURPOSES.contains(&purpose.trim()) {
        return Err(AppError::bad_request(
            "registry.no_purpose",
            format!("查看完整号码须从以下用途中选择：{}（其他情况请在说明中写明）", UNMASK_PURPOSES.join("、")),
        )
        .at_field("purpose"));
    }
    let dec = |v: &Option<String>| v.as_deref().map(|e| p.cipher.decrypt(e).map_err(AppError::internal)).transpose();
    let id_full = dec(&person.id_enc)?.unwrap_or_default();
    let phone_full = dec(&person.phone_enc)?.unwrap_or_default();
    let detail = format!(
        "fields: id_number,phone; purpose: {}{}",
        purpose.trim(),
        if note.trim().is_empty() { String::new() } else { format!("; note: {}", note.trim()) }
    );
    audit::record_alone(
        &p.db,
        p.now(),
        &Event {
            actor: &me.actor(),
            unit: Some(person.unit_code.as_str()),
            action: "registry.unmask",
            target: &person.id,
            outcome: Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    Ok((person, id_full, phone_full))
}

pub async fn unmask_submit(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<UnmaskForm>,
) -> AppResult<Response> {
    let (_, id_full, phone_full) = unmask(&p, &me, &id, &f.purpose, f.note.as_deref().unwrap_or("")).await?;
    person_view(&p, &site, &me, &id, Some((id_full, phone_full, f.purpose.trim().to_owned()))).await
}

// ---------------------------------------------------------------------------------------------
// Export

const EXPORT_HEADERS: [&str; 10] =
    ["姓名", "性别", "出生日期", "身份证号（脱敏）", "联系电话（脱敏）", "人口类别", "单位代码", "与户主关系", "标签", "演示数据"];

async fn export_rows(p: &Platform, me: &Principal, code: &str, q: &PeopleQuery, format: &str) -> AppResult<(UnitCtx, Vec<Vec<String>>)> {
    let u = unit_ctx(p, me, code, Permission::ViewRegisters).await?;
    let f = people_filter(p, q);
    let (people, total) = store::people(&p.db, &u.code, &u.scope, &f, 200_000, 0).await?;
    if total > 200_000 {
        return Err(AppError::bad_request("registry.export_too_large", format!("共 {total} 人，超过单次导出上限 200,000 人，请按下级单位分别导出")));
    }
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    let ids: Vec<String> = people.iter().map(|x| x.id.clone()).collect();
    for chunk in ids.chunks(500) {
        for (pid, t) in store::tags_for(&p.db, chunk).await? {
            tags.entry(pid).or_default().push(t);
        }
    }
    let rows: Vec<Vec<String>> = people
        .into_iter()
        .map(|x| {
            let t = tags.remove(&x.id).unwrap_or_default().join("、");
            vec![
                x.name,
                x.sex.unwrap_or_default(),
                x.birth_date.unwrap_or_default(),
                x.id_masked.unwrap_or_default(),
                x.phone_masked.unwrap_or_default(),
                x.residence_kind,
                x.unit_code,
                x.relation.unwrap_or_default(),
                t,
                if x.synthetic != 0 { "是".into() } else { String::new() },
            ]
        })
        .collect();
    let detail = format!("{} rows, masked, {format}", rows.len());
    audit::record_alone(
        &p.db,
        p.now(),
        &Event { actor: &me.actor(), unit: Some(u.code.as_str()), action: "registry.export", target: "people", outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    Ok((u, rows))
}

pub fn csv_bytes(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&headers.join(","));
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|c| platform::pages::csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

pub fn xlsx_bytes(sheet: &str, headers: &[&str], rows: &[Vec<String>]) -> AppResult<Vec<u8>> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet).map_err(AppError::internal)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let text = rust_xlsxwriter::Format::new().set_num_format("@");
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold).map_err(AppError::internal)?;
        ws.set_column_width(c as u16, 16).map_err(AppError::internal)?;
        // Text format keeps long digit strings (ID numbers) from being turned into numbers.
        ws.set_column_format(c as u16, &text).map_err(AppError::internal)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32 + 1, c as u16, v).map_err(AppError::internal)?;
        }
    }
    wb.save_to_buffer().map_err(AppError::internal)
}

fn download(content_type: &str, filename: String, body: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body).into_response()
}

pub async fn export_csv(State(p): State<Platform>, Auth(me): Auth, Path(code): Path<String>, Query(q): Query<PeopleQuery>) -> AppResult<Response> {
    let (u, rows) = export_rows(&p, &me, &code, &q, "csv").await?;
    Ok(download("text/csv; charset=utf-8", format!("people-{}.csv", u.code), csv_bytes(&EXPORT_HEADERS, &rows).into_bytes()))
}

pub async fn export_xlsx(State(p): State<Platform>, Auth(me): Auth, Path(code): Path<String>, Query(q): Query<PeopleQuery>) -> AppResult<Response> {
    let (u, rows) = export_rows(&p, &me, &code, &q, "xlsx").await?;
    let bytes = xlsx_bytes("实有人口", &EXPORT_HEADERS, &rows)?;
    Ok(download("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", format!("people-{}.xlsx", u.code), bytes))
}

pub async fn template_csv() -> Response {
    download("text/csv; charset=utf-8", "people-template.csv".into(), import::roster_template_csv().into_bytes())
}

pub async fn template_xlsx() -> AppResult<Response> {
    let headers: Vec<String> = import::ROSTER_COLUMNS.iter().map(|(h, req, _)| if *req { format!("{h}*") } else { (*h).to_owned() }).collect();
    let hdr: Vec<&str> = headers.iter().map(String::as_str).collect();
    let example: Vec<String> = import::roster_template_csv().lines().nth(1).unwrap_or_default().split(',').map(str::to_owned).collect();
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "people-template.xlsx".into(),
        xlsx_bytes("人口花名册", &hdr, &[example])?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Simpler registers

struct SimpleRegister {
    key: &'static str,
    title: &'static str,
    headers: &'static [&'static str],
    select: &'static str,
    name_col: &'static str,
}

const SIMPLE: [SimpleRegister; 4] = [
    SimpleRegister {
        key: "vehicles",
        title: "车辆",
        headers: &["号牌", "类型", "单位代码"],
        select: "SELECT plate, kind, unit_code FROM vehicles",
        name_col: "plate",
    },
    SimpleRegister {
        key: "organisations",
        title: "组织",
        headers: &["名称", "类型", "认证社会企业", "“两新”组织", "党的工作覆盖", "单位代码"],
        select: "SELECT name, kind, CASE WHEN certified_social_enterprise = 1 THEN '是' ELSE '' END, CASE WHEN two_new = 1 THEN '是' ELSE '' END, CASE WHEN party_work_covered = 1 THEN '已覆盖' ELSE '未覆盖' END, unit_code FROM organisations",
        name_col: "name",
    },
    SimpleRegister {
        key: "facilities",
        title: "设施",
        headers: &["名称", "类别", "面积（㎡）", "容量", "适老化/儿童友好改造", "单位代码"],
        select: "SELECT name, category, CAST(floor_area_dm2 / 100 AS TEXT), CAST(capacity AS TEXT), CASE WHEN friendly_renovated = 1 THEN '已改造' ELSE '' END, unit_code FROM facilities",
        name_col: "name",
    },
    SimpleRegister {
        key: "workforce",
        title: "工作力量",
        headers: &["姓名", "岗位", "职业资格", "联系电话", "单位代码"],
        select: "SELECT name, role, qualification, phone_masked, unit_code FROM workforce",
        name_col: "name",
    },
];

#[derive(Template)]
#[template(path = "simple.html")]
struct SimplePage {
    shell: Shell,
    crumbs: Vec<(String, String, bool)>,
    unit_name: String,
    unit_code: String,
    tabs: Vec<(String, &'static str, bool)>,
    title: &'static str,
    kind: &'static str,
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    pager: Pager,
    q: String,
    can_import: bool,
}

#[derive(Deserialize, Default)]
pub struct SimpleQuery {
    q: Option<String>,
    page: Option<i64>,
}

async fn compound_rows(p: &Platform, u: &UnitCtx) -> AppResult<Vec<Vec<String>>> {
    let infos: HashMap<String, store::CompoundInfo> = store::compounds_in(&p.db, &u.code, &u.scope).await?.into_iter().map(|c| (c.code.clone(), c)).collect();
    let units = geography::store::current_of_kind(&p.db, &u.code, &[UnitKind::Compound]).await?;
    let yes = |b: i64| if b != 0 { "是".to_owned() } else { "否".to_owned() };
    Ok(units
        .into_iter()
        .map(|c| match infos.get(&c.code) {
            Some(i) => vec![
                c.name,
                i.management.clone(),
                yes(i.owners_committee),
                i.property_company.clone(),
                i.built_year.map(|y| format!("{y}{}", if i.is_old() { "（老旧）" } else { "" })).unwrap_or_default(),
                yes(i.smart_security),
                yes(i.party_org),
                c.code,
            ],
            None => vec![c.name, "未登记".into(), String::new(), String::new(), String::new(), String::new(), String::new(), c.code],
        })
        .collect())
}

const COMPOUND_HEADERS: [&str; 8] = ["小区", "管理方式", "业委会", "物业公司", "建成年份", "智能安防", "党组织", "代码"];

pub async fn simple_page(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path((code, kind)): Path<(String, String)>,
    Query(q): Query<SimpleQuery>,
) -> AppResult<Response> {
    let u = unit_ctx(&p, &me, &code, Permission::ViewRegisters).await?;
    let text = q.q.unwrap_or_default();
    let per_page = 50;
    let (title, kind_s, headers, rows, total): (&str, &'static str, Vec<&'static str>, Vec<Vec<String>>, i64) = if kind == "compounds" {
        let mut all = compound_rows(&p, &u).await?;
        all.retain(|r| text.is_empty() || r[0].contains(text.trim()));
        let total = all.len() as i64;
        ("小区", "compounds", COMPOUND_HEADERS.to_vec(), all, total)
    } else {
        let reg = SIMPLE.iter().find(|r| r.key == kind).ok_or_else(AppError::not_found)?;
        let (_, total) = store::simple_rows(&p.db, reg.select, &u.code, &u.scope, &text, reg.name_col, 0, 0).await?;
        let pager = Pager::new(q.page, per_page, total, String::new());
        let (rows, _) = store::simple_rows(&p.db, reg.select, &u.code, &u.scope, &text, reg.name_col, per_page, pager.offset()).await?;
        (reg.title, reg.key, reg.headers.to_vec(), rows.into_iter().map(|r| r.into_iter().map(Option::unwrap_or_default).collect()).collect(), total)
    };
    let pager = Pager::new(q.page, per_page, total, format!("q={}&", platform::web::urlencode(&text)));
    let rows = if kind == "compounds" { rows.into_iter().skip(pager.offset() as usize).take(per_page as usize).collect() } else { rows };
    let can_import = me.scope(Permission::EditRegisters).contains(&u.code);
    let u_level_village = u.code.level() == Level::Village;
    Ok(render(&SimplePage {
        shell: Shell::new(&site, &me, &format!("{} · {title}", u.name), "/registry"),
        tabs: tabs(&u.code, kind_s, can_import),
        unit_code: u.code.to_string(),
        crumbs: u.crumbs,
        unit_name: u.name,
        title,
        kind: kind_s,
        headers,
        rows,
        pager,
        q: text,
        can_import: can_import && (kind_s != "compounds" || u_level_village),
    }))
}

pub async fn simple_csv(
    State(p): State<Platform>,
    Auth(me): Auth,
    Path((code, kind)): Path<(String, String)>,
    Query(q): Query<SimpleQuery>,
) -> AppResult<Response> {
    let kind = kind.as_str();
    let u = unit_ctx(&p, &me, &code, Permission::ViewRegisters).await?;
    let text = q.q.unwrap_or_default();
    let (headers, rows): (Vec<&str>, Vec<Vec<String>>) = if kind == "compounds" {
        (COMPOUND_HEADERS.to_vec(), compound_rows(&p, &u).await?)
    } else {
        let reg = SIMPLE.iter().find(|r| r.key == kind).ok_or_else(AppError::not_found)?;
        let (rows, _) = store::simple_rows(&p.db, reg.select, &u.code, &u.scope, &text, reg.name_col, 200_000, 0).await?;
        (reg.headers.to_vec(), rows.into_iter().map(|r| r.into_iter().map(Option::unwrap_or_default).collect()).collect())
    };
    let detail = format!("{} rows", rows.len());
    audit::record_alone(
        &p.db,
        p.now(),
        &Event { actor: &me.actor(), unit: Some(u.code.as_str()), action: "registry.export", target: kind, outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    Ok(download("text/csv; charset=utf-8", format!("{kind}-{}.csv", u.code), csv_bytes(&headers, &rows).into_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Import wizard

enum BatchState {
    Ready,
    Running { done: Arc<AtomicUsize>, total: usize },
    Done(usize),
    Failed(String),
}

enum BatchRows {
    Roster(Vec<RosterRow>),
    Simple(&'static str, Vec<(usize, Vec<platform::db::Value>)>),
}

impl BatchRows {
    fn len(&self) -> usize {
        match self {
            BatchRows::Roster(r) => r.len(),
            BatchRows::Simple(_, r) => r.len(),
        }
    }
}

struct Batch {
    owner: String,
    unit: UnitCode,
    file: String,
    created_ms: i64,
    rows: BatchRows,
    state: BatchState,
}

fn keep_batch(p: &Platform, me: &Principal, unit: &UnitCode, file: &str, rows: BatchRows) -> String {
    let id = platform::db::new_id();
    if let Ok(mut b) = batches().lock() {
        let now = p.now();
        b.retain(|_, v| now - v.created_ms < 30 * platform::clock::MINUTE);
        b.insert(id.clone(), Batch { owner: me.username.clone(), unit: unit.clone(), file: file.to_owned(), created_ms: now, rows, state: BatchState::Ready });
    }
    id
}

/// Checked imports waiting for confirmation, kept in memory for 30 minutes: a preview holds
/// plaintext identifiers, which never go to disk unencrypted.
fn batches() -> &'static Mutex<HashMap<String, Batch>> {
    static B: OnceLock<Mutex<HashMap<String, Batch>>> = OnceLock::new();
    B.get_or_init(|| Mutex::new(HashMap::new()))
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    shell: Shell,
    crumbs: Vec<(String, String, bool)>,
    unit_name: String,
    unit_code: String,
    tabs: Vec<(String, &'static str, bool)>,
    columns: Vec<(&'static str, bool, &'static str)>,
    error: Option<(String, String)>,
}

async fn import_ctx(p: &Platform, me: &Principal, code: &str) -> AppResult<UnitCtx> {
    let u = unit_ctx(p, me, code, Permission::EditRegisters).await?;
    if u.code.level() != Level::Village {
        return Err(AppError::bad_request("registry.import_level", "花名册须导入到具体的村（社区）").at_field("unit"));
    }
    Ok(u)
}

fn import_form(site: &Site, me: &Principal, u: UnitCtx, error: Option<&AppError>) -> Response {
    let page = ImportPage {
        shell: Shell::new(site, me, &format!("{} · 导入", u.name), "/registry"),
        tabs: tabs(&u.code, "import", true),
        unit_code: u.code.to_string(),
        crumbs: u.crumbs,
        unit_name: u.name,
        columns: import::ROSTER_COLUMNS.to_vec(),
        error: error.map(|e| (e.code.to_owned(), e.human())),
    };
    let mut res = render(&page);
    if let Some(e) = error {
        *res.status_mut() = e.status;
    }
    res
}

pub async fn import_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(code): Path<String>) -> AppResult<Response> {
    let u = import_ctx(&p, &me, &code).await?;
    Ok(import_form(&site, &me, u, None))
}

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    shell: Shell,
    crumbs: Vec<(String, String, bool)>,
    unit_name: String,
    tabs: Vec<(String, &'static str, bool)>,
    file: String,
    total: usize,
    ok: usize,
    error_rows: usize,
    errors: Vec<(String, String, String, String)>,
    sample_headers: Vec<String>,
    sample: Vec<(usize, Vec<String>)>,
    batch: String,
    back: String,
}

/// Checks the uploaded file and shows what would be imported. Writes nothing.
pub async fn import_upload(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(code): Path<String>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let u = import_ctx(&p, &me, &code).await?;
    let (name, bytes) = match read_upload(&mut multipart).await {
        Ok(f) => f,
        Err(e) if e.status != StatusCode::INTERNAL_SERVER_ERROR => return Ok(import_form(&site, &me, u, Some(&e))),
        Err(e) => return Err(e),
    };
    let table = match import::read_table(&bytes, &name) {
        Ok(t) => t,
        Err(e) => return Ok(import_form(&site, &me, u, Some(&e))),
    };
    let compounds: HashMap<String, String> =
        geography::store::current_of_kind(&p.db, &u.code, &[UnitKind::Compound]).await?.into_iter().map(|c| (c.name, c.code)).collect();
    let preview = match import::check_roster(&p.db, &p.cipher, &u.code, &compounds, &table, Date::of_instant(p.now())).await {
        Ok(pv) => pv,
        Err(e) => return Ok(import_form(&site, &me, u, Some(&e))),
    };
    let error_rows = preview.total - preview.rows.len();
    let errors = preview
        .errors
        .iter()
        .take(500)
        .map(|e| (e.row.map(|r| r.to_string()).unwrap_or_default(), e.field.clone().unwrap_or_default(), e.message.clone(), e.code.to_owned()))
        .collect();
    let sample = preview
        .rows
        .iter()
        .take(20)
        .map(|r| {
            let home = [
                r.compound_code.as_deref().and_then(|c| compounds.iter().find(|(_, v)| v.as_str() == c).map(|(k, _)| k.clone())).unwrap_or_default(),
                r.address.clone(),
                r.building.clone(),
                r.room.clone(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
            (r.line, vec![r.name.clone(), r.id.masked(), r.household_no.clone().unwrap_or_default(), home, r.tags.join("、")])
        })
        .collect();
    let ok = preview.rows.len();
    let batch_id = keep_batch(&p, &me, &u.code, &name, BatchRows::Roster(preview.rows));
    let page = PreviewPage {
        shell: Shell::new(&site, &me, &format!("{} · 导入预览", u.name), "/registry"),
        tabs: tabs(&u.code, "import", true),
        crumbs: u.crumbs,
        unit_name: u.name,
        file: name,
        total: preview.total,
        ok,
        error_rows,
        errors,
        sample_headers: ["姓名", "身份证号", "户号", "住所", "标签"].map(String::from).to_vec(),
        sample,
        batch: batch_id,
        back: format!("/registry/{code}/import"),
    };
    Ok(render(&page))
}

/// Starts writing a checked batch in the background and shows its progress page.
pub async fn import_commit(State(p): State<Platform>, Auth(me): Auth, Path(batch_id): Path<String>) -> AppResult<Response> {
    let (unit, rows, file, done) = {
        let mut b = batches().lock().map_err(AppError::internal)?;
        let batch = b
            .get_mut(&batch_id)
            .filter(|x| x.owner == me.username)
            .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "import.expired", "导入预览已过期（30 分钟）或不存在，请重新上传文件"))?;
        if !me.scope(Permission::EditRegisters).contains(&batch.unit) {
            return Err(AppError::not_found());
        }
        if !matches!(batch.state, BatchState::Ready) {
            return Ok(Redirect::to(&format!("/registry/imports/{batch_id}")).into_response());
        }
        let done = Arc::new(AtomicUsize::new(0));
        let placeholder = match &batch.rows {
            BatchRows::Simple(k, _) => BatchRows::Simple(k, Vec::new()),
            BatchRows::Roster(_) => BatchRows::Roster(Vec::new()),
        };
        let rows = std::mem::replace(&mut batch.rows, placeholder);
        batch.state = BatchState::Running { done: done.clone(), total: rows.len() };
        (batch.unit.clone(), rows, batch.file.clone(), done)
    };
    let actor = me.actor();
    let id = batch_id.clone();
    tokio::spawn(async move {
        let r = match rows {
            BatchRows::Roster(rows) => import::commit_roster(&p.db, &p.cipher, p.now(), &actor, &unit, &rows, &file, &done).await,
            BatchRows::Simple(key, rows) => match crate::simple_import::spec(key) {
                Some(spec) => crate::simple_import::commit(&p.db, &p.cipher, p.now(), &actor, spec, &unit, rows, &file).await,
                None => Err(AppError::not_found()),
            },
        };
        if let Ok(mut b) = batches().lock()
            && let Some(batch) = b.get_mut(&id)
        {
            batch.state = match r {
                Ok(n) => BatchState::Done(n),
                Err(e) => BatchState::Failed(e.human()),
            };
        }
    });
    Ok(Redirect::to(&format!("/registry/imports/{batch_id}")).into_response())
}

#[derive(Template)]
#[template(path = "import_status.html")]
struct StatusPage {
    shell: Shell,
    state: &'static str,
    running: bool,
    failed: bool,
    done: usize,
    total: usize,
    message: Option<String>,
    unit_code: String,
}

/// Progress of a running import; refreshes itself every second until it is done (no JavaScript).
pub async fn import_status(State(site): State<Site>, Auth(me): Auth, Path(batch_id): Path<String>) -> AppResult<Response> {
    let shell = Shell::new(&site, &me, "导入进度", "/registry");
    let b = batches().lock().map_err(AppError::internal)?;
    let batch = b.get(&batch_id).filter(|x| x.owner == me.username).ok_or_else(AppError::not_found)?;
    let unit_code = batch.unit.to_string();
    let what = if matches!(batch.rows, BatchRows::Simple(..)) { "条记录" } else { "人" };
    let (state, done, total, message) = match &batch.state {
        BatchState::Ready => ("ready", 0, batch.rows.len(), Some("尚未确认导入。".to_owned())),
        BatchState::Running { done, total } => ("running", done.load(Ordering::Relaxed), *total, None),
        BatchState::Done(n) => ("done", *n, *n, Some(format!("已导入 {n} {what}。"))),
        BatchState::Failed(m) => ("failed", 0, 0, Some(format!("导入失败，未写入任何数据：{m}"))),
    };
    let page = StatusPage { shell, state, running: state == "running", failed: state == "failed", done, total, message, unit_code };
    Ok(render(&page))
}

// ---------------------------------------------------------------------------------------------
// Sharing lists

#[derive(Template)]
#[template(path = "sharing.html")]
struct SharingPage {
    shell: Shell,
    rules: Vec<store::SharingRule>,
    fields: Vec<(&'static str, &'static str)>,
    flash: Option<String>,
    error: Option<String>,
}

async fn sharing_view(p: &Platform, site: &Site, me: &Principal, flash: Option<String>, error: Option<&AppError>) -> AppResult<Response> {
    let scope = me.require(Permission::ManageSharing)?;
    let rules = store::sharing_rules(&p.db, None).await?.into_iter().filter(|r| UnitCode::parse(&r.unit_code).is_ok_and(|c| scope.contains(&c))).collect();
    let mut res = render(&SharingPage {
        shell: Shell::new(site, me, "数据共享清单", "/admin/sharing"),
        rules,
        fields: crate::sharing::PEOPLE_FIELDS.to_vec(),
        flash,
        error: error.map(AppError::human),
    });
    if let Some(e) = error {
        *res.status_mut() = e.status;
    }
    Ok(res)
}

pub async fn sharing_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    sharing_view(&p, &site, &me, None, None).await
}

/// The form posts `fields` once per ticked box, which `Form` cannot collect; parse by hand.
pub async fn sharing_add(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, body: String) -> AppResult<Response> {
    let scope = me.require(Permission::ManageSharing)?;
    let mut consumer = String::new();
    let mut register = String::new();
    let mut unit = String::new();
    let mut purpose = String::new();
    let mut fields = Vec::new();
    for kv in body.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = platform::web::form_decode(v);
        match k {
            "consumer" => consumer = v.trim().to_owned(),
            "register" => register = v,
            "unit" => unit = v,
            "purpose" => purpose = v,
            "fields" => fields.push(v),
            _ => {}
        }
    }
    let r: AppResult<String> = async {
        let code = UnitCode::parse(&unit).map_err(|e| AppError::bad_request("unit.bad_code", e.to_string()).at_field("unit"))?;
        if !scope.contains(&code) || geography::store::get(&p.db, code.as_str()).await?.is_none() {
            return Err(AppError::bad_request("unit.not_found", format!("单位 {code} 不存在或不在您的管辖范围内")).at_field("unit"));
        }
        let mut tx = p.db.begin().await?;
        crate::sharing::add_rule(&mut tx, p.now(), &me.actor(), &consumer, &register, &fields, &code, &purpose).await?;
        tx.commit().await?;
        Ok(format!("已为 {consumer} 添加共享规则"))
    }
    .await;
    match r {
        Ok(m) => sharing_view(&p, &site, &me, Some(m), None).await,
        Err(e) if e.status == StatusCode::BAD_REQUEST => sharing_view(&p, &site, &me, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

pub async fn sharing_delete(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    let scope = me.require(Permission::ManageSharing)?;
    let rule = store::sharing_rules(&p.db, None)
        .await?
        .into_iter()
        .find(|r| r.id == id && UnitCode::parse(&r.unit_code).is_ok_and(|c| scope.contains(&c)))
        .ok_or_else(AppError::not_found)?;
    let mut tx = p.db.begin().await?;
    crate::sharing::remove_rule(&mut tx, p.now(), &me.actor(), &rule.id).await?;
    tx.commit().await?;
    sharing_view(&p, &site, &me, Some(format!("已删除 {} 的共享规则", rule.consumer)), None).await
}

// ---------------------------------------------------------------------------------------------
// Edits on the person page

async fn editable_person(p: &Platform, me: &Principal, id: &str) -> AppResult<Person> {
    let scope = me.require(Permission::EditRegisters)?;
    store::person(&p.db, &scope, id).await?.ok_or_else(AppError::not_found)
}

#[derive(Deserialize)]
pub struct LeaveForm {
    /// 迁出, 死亡, or 迁回 (undo).
    pub kind: String,
    pub date: Option<String>,
}

/// 登记迁出/死亡, and 迁回 to undo a mistaken one. The record stays; lists hide people who left.
pub async fn leave_submit(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<LeaveForm>,
) -> AppResult<Response> {
    let person = editable_person(&p, &me, &id).await?;
    let date = f
        .date
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| Date::parse(d).ok_or_else(|| AppError::bad_request("registry.bad_date", format!("日期「{d}」格式应为 YYYY-MM-DD")).at_field("date")))
        .transpose()?
        .unwrap_or_else(|| Date::of_instant(p.now()));
    if date > Date::of_instant(p.now()) {
        return Err(AppError::bad_request("registry.future_date", "日期不能晚于今天").at_field("date"));
    }
    let d = date.to_string();
    let (out, dead, msg) = match f.kind.as_str() {
        "迁出" => (Some(d.as_str()), None, format!("已登记 {} 于 {d} 迁出", person.name)),
        "死亡" => (None, Some(d.as_str()), format!("已登记 {} 于 {d} 死亡", person.name)),
        "迁回" => (None, None, format!("已撤销 {} 的迁出/死亡登记", person.name)),
        _ => return Err(AppError::bad_request("registry.bad_kind", "类型应为 迁出、死亡 或 迁回").at_field("kind")),
    };
    let mut tx = p.db.begin().await?;
    store::set_left(&mut tx, &person.id, out, dead, p.now()).await?;
    let detail = format!("{} {d}", f.kind);
    audit::record(
        &mut tx,
        p.now(),
        &Event {
            actor: &me.actor(),
            unit: Some(person.unit_code.as_str()),
            action: "registry.person_status",
            target: &person.id,
            outcome: Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    tx.commit().await?;
    person_view_with(&p, &site, &me, &id, None, Some(msg)).await
}

/// Replaces the person's tags with the ticked ones (the form posts `tags` once per box).
pub async fn tags_submit(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>, body: String) -> AppResult<Response> {
    let person = editable_person(&p, &me, &id).await?;
    let mut tags = Vec::new();
    for kv in body.split('&') {
        if let Some(("tags", v)) = kv.split_once('=') {
            tags.push(model::check_tag(&platform::web::form_decode(v))?);
        }
    }
    tags.sort();
    tags.dedup();
    let mut tx = p.db.begin().await?;
    store::set_tags(&mut tx, &person.id, &person.unit_code, &tags).await?;
    let detail = tags.join(",");
    audit::record(
        &mut tx,
        p.now(),
        &Event {
            actor: &me.actor(),
            unit: Some(person.unit_code.as_str()),
            action: "registry.person_tags",
            target: &person.id,
            outcome: Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    tx.commit().await?;
    person_view_with(&p, &site, &me, &id, None, Some(format!("已更新 {} 的标签", person.name))).await
}

// ---------------------------------------------------------------------------------------------
// 实名认证 at the counter, and the resident's own view

#[derive(Deserialize)]
pub struct BindForm {
    pub username: String,
    /// 「已当面核验居民身份证原件」: the checkbox posts `1` when ticked.
    pub confirmed: Option<String>,
}

#[derive(Deserialize)]
pub struct RevokeForm {
    pub reason: String,
}

/// A refused binding shows the person page again with the reason, in the status of the error.
async fn identity_refused(p: &Platform, site: &Site, me: &Principal, id: &str, e: AppError) -> AppResult<Response> {
    if e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::CONFLICT {
        let mut res = person_view_full(p, site, me, id, None, None, Some(&e)).await?;
        *res.status_mut() = e.status;
        Ok(res)
    } else {
        Err(e)
    }
}

/// 绑定账户: staff who saw the resident's ID card bind her account to this record.
pub async fn identity_bind_submit(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<BindForm>,
) -> AppResult<Response> {
    let scope = me.require(Permission::EditRegisters)?;
    let result = async {
        if f.confirmed.as_deref() != Some("1") {
            // Out-of-scope people stay 404 even when the box is unticked.
            editable_person(&p, &me, &id).await?;
            return Err(AppError::bad_request("identity.not_verified", "须当面核验居民身份证原件后勾选确认，才能绑定").at_field("confirmed"));
        }
        let mut tx = p.db.begin().await?;
        crate::identity::bind_username(&mut tx, p.now(), &me.actor(), &scope, &f.username, &id).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => person_view_with(&p, &site, &me, &id, None, Some(format!("已将账户 {} 绑定到本居民（窗口核验）", f.username.trim()))).await,
        Err(e) => identity_refused(&p, &site, &me, &id, e).await,
    }
}

/// 解除绑定, with a reason; the binding stays in the history.
pub async fn identity_revoke_submit(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<RevokeForm>,
) -> AppResult<Response> {
    let scope = me.require(Permission::EditRegisters)?;
    let result = async {
        let mut tx = p.db.begin().await?;
        crate::identity::revoke(&mut tx, p.now(), &me.actor(), &scope, &id, &f.reason).await?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    match result {
        Ok(()) => person_view_with(&p, &site, &me, &id, None, Some("已解除账户绑定".to_owned())).await,
        Err(e) => identity_refused(&p, &site, &me, &id, e).await,
    }
}

#[derive(Template)]
#[template(path = "me_identity.html")]
struct MyIdentityPage {
    shell: Shell,
    /// (masked name, masked ID, community, verified date, verified by) when bound.
    bound: Option<(String, String, String, String, String)>,
}

/// `/me/identity`: whether my account is verified (实名认证), and how to get verified if not.
pub async fn my_identity(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    let bound = match (crate::identity::binding_of_account(&p.db, &me.user_id).await?, crate::identity::person_of_account(&p.db, &me.user_id).await?) {
        (Some(b), Some(person)) => {
            // The community (村/社区, 12 digits) is what residents know, not the grid cell.
            let community = &person.unit_code[..person.unit_code.len().min(12)];
            let unit = geography::store::get(&p.db, community).await?.map(|u| u.name).unwrap_or_default();
            Some((
                crate::identity::mask_name(&person.name),
                person.id_masked.clone().unwrap_or_else(|| "—".into()),
                unit,
                b.verified_date(),
                b.verified_by.clone(),
            ))
        }
        _ => None,
    };
    Ok(render(&MyIdentityPage { shell: Shell::new(&site, &me, "实名认证", "/me/identity"), bound }))
}

// ---------------------------------------------------------------------------------------------
// Imports for the other registers

async fn simple_import_ctx(p: &Platform, me: &Principal, code: &str, kind: &str) -> AppResult<(UnitCtx, &'static crate::simple_import::Spec)> {
    let spec = crate::simple_import::spec(kind).ok_or_else(AppError::not_found)?;
    let u = unit_ctx(p, me, code, Permission::EditRegisters).await?;
    if spec.key == "compounds" && u.code.level() != Level::Village {
        return Err(AppError::bad_request("registry.import_level", "小区信息须导入到具体的社区").at_field("unit"));
    }
    Ok((u, spec))
}

#[derive(Template)]
#[template(path = "simple_import.html")]
struct SimpleImportPage {
    shell: Shell,
    crumbs: Vec<(String, String, bool)>,
    unit_name: String,
    unit_code: String,
    tabs: Vec<(String, &'static str, bool)>,
    kind: &'static str,
    title: &'static str,
    columns: Vec<(&'static str, bool, &'static str)>,
    error: Option<(String, String)>,
}

fn simple_form(site: &Site, me: &Principal, u: UnitCtx, spec: &'static crate::simple_import::Spec, error: Option<&AppError>) -> Response {
    let page = SimpleImportPage {
        shell: Shell::new(site, me, &format!("{} · 导入{}", u.name, spec.title), "/registry"),
        tabs: tabs(&u.code, spec.key, true),
        unit_code: u.code.to_string(),
        crumbs: u.crumbs,
        unit_name: u.name,
        kind: spec.key,
        title: spec.title,
        columns: spec.cols.iter().map(|c| (c.header, c.required, c.note)).collect(),
        error: error.map(|e| (e.code.to_owned(), e.human())),
    };
    let mut res = render(&page);
    if let Some(e) = error {
        *res.status_mut() = e.status;
    }
    res
}

pub async fn simple_import_page(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path((code, kind)): Path<(String, String)>,
) -> AppResult<Response> {
    let (u, spec) = simple_import_ctx(&p, &me, &code, &kind).await?;
    Ok(simple_form(&site, &me, u, spec, None))
}

async fn read_upload(multipart: &mut Multipart) -> Result<(String, Vec<u8>), AppError> {
    let too_large = || {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "import.too_large",
            format!("文件过大（上限 {} MB），请拆分后分别导入", import::MAX_FILE_BYTES / 1024 / 1024),
        )
    };
    let mut file = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().unwrap_or("upload").to_owned();
                match field.bytes().await {
                    Ok(b) => file = Some((name, b.to_vec())),
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                    Err(e) => return Err(AppError::bad_request("import.upload", format!("上传中断：{e}"))),
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(AppError::bad_request("import.upload", format!("上传内容无法解析：{e}"))),
        }
    }
    file.filter(|(_, b)| !b.is_empty()).ok_or_else(|| AppError::bad_request("import.empty", "请选择要上传的文件").at_field("file"))
}

pub async fn simple_import_upload(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path((code, kind)): Path<(String, String)>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let (u, spec) = simple_import_ctx(&p, &me, &code, &kind).await?;
    let (name, bytes) = match read_upload(&mut multipart).await {
        Ok(f) => f,
        Err(e) => return Ok(simple_form(&site, &me, u, spec, Some(&e))),
    };
    let table = match import::read_table(&bytes, &name) {
        Ok(t) => t,
        Err(e) => return Ok(simple_form(&site, &me, u, spec, Some(&e))),
    };
    let compounds: HashMap<String, String> =
        geography::store::current_of_kind(&p.db, &u.code, &[UnitKind::Compound]).await?.into_iter().map(|c| (c.name, c.code)).collect();
    let pv = match crate::simple_import::check(&p.db, &p.cipher, spec, &u.code, &compounds, &table).await {
        Ok(pv) => pv,
        Err(e) => return Ok(simple_form(&site, &me, u, spec, Some(&e))),
    };
    let ok = pv.rows.len();
    let errors = pv
        .errors
        .iter()
        .take(500)
        .map(|e| (e.row.map(|r| r.to_string()).unwrap_or_default(), e.field.clone().unwrap_or_default(), e.message.clone(), e.code.to_owned()))
        .collect();
    let sample = pv.display.into_iter().take(20).collect();
    let batch_id = keep_batch(&p, &me, &u.code, &name, BatchRows::Simple(spec.key, pv.rows));
    let page = PreviewPage {
        shell: Shell::new(&site, &me, &format!("{} · 导入预览", u.name), "/registry"),
        tabs: tabs(&u.code, spec.key, true),
        crumbs: u.crumbs,
        unit_name: u.name,
        file: name,
        total: pv.total,
        ok,
        error_rows: pv.total - ok,
        errors,
        sample_headers: spec.cols.iter().map(|c| c.header.to_owned()).collect(),
        sample,
        batch: batch_id,
        back: format!("/registry/{code}/{kind}/import"),
    };
    Ok(render(&page))
}

/// `/registry/template/{kind}.csv|.xlsx`: the import template of a register.
pub async fn template(Path(file): Path<String>) -> AppResult<Response> {
    let (kind, ext) = file.rsplit_once('.').ok_or_else(AppError::not_found)?;
    if kind == "people" {
        return match ext {
            "csv" => Ok(template_csv().await),
            "xlsx" => template_xlsx().await,
            _ => Err(AppError::not_found()),
        };
    }
    let spec = crate::simple_import::spec(kind).ok_or_else(AppError::not_found)?;
    let headers: Vec<String> = spec.cols.iter().map(|c| if c.required { format!("{}*", c.header) } else { c.header.to_owned() }).collect();
    match ext {
        "csv" => Ok(download("text/csv; charset=utf-8", format!("{kind}-template.csv"), crate::simple_import::template_csv(spec).into_bytes())),
        "xlsx" => {
            let hdr: Vec<&str> = headers.iter().map(String::as_str).collect();
            Ok(download(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                format!("{kind}-template.xlsx"),
                xlsx_bytes(spec.title, &hdr, &[])?,
            ))
        }
        _ => Err(AppError::not_found()),
    }
}
