//! HTML pages of the event loop: the list with lights, the phone-friendly report form (photos,
//! idempotency key), the event page with the actions the caller may take, whistles, the catalogue and
//! the metrics.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use platform::auth::{Permission, Principal, Role};
use platform::clock::{Date, format_beijing};
use platform::scope::{Level, UnitCode};
use platform::web::{Auth, Pager, Shell, Site, render};
use platform::{AppError, AppResult, Platform};

use crate::model::{self, Action, Light, LimitUnit, State as EvState, WorkCalendar};
use crate::service::{self, ActInput, Report};
use crate::store::{self, Attachment, EventFilter, EventRow};

/// Photos: JPEG or PNG by their first bytes, at most 5 MB each, three per report.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

async fn unit_name(p: &Platform, code: &str) -> String {
    geography::store::get(&p.db, code).await.ok().flatten().map(|u| u.name).unwrap_or_else(|| code.to_owned())
}

struct Row {
    id: String,
    no: String,
    title: String,
    urgency: String,
    type_name: String,
    state: &'static str,
    light: String,
    light_label: &'static str,
    handling: String,
    created: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct ListPage {
    shell: Shell,
    map_svg: String,
    map_count: usize,
    rows: Vec<Row>,
    pager: Pager,
    q: String,
    light: String,
    open_only: bool,
    states: Vec<(&'static str, &'static str, bool)>,
    can_report: bool,
    can_handle: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    state: Option<String>,
    light: Option<String>,
    open: Option<String>,
    page: Option<i64>,
}

pub async fn list(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<ListQuery>) -> AppResult<Response> {
    let (scope, deps) = service::visibility(&p, &me).await?;
    let f = EventFilter { state: q.state.clone(), light: q.light.clone(), open_only: q.open.is_some(), q: q.q.clone(), ..Default::default() };
    let (_, total) = store::list(&p.db, &scope, &deps, &f, 0, 0).await?;
    let enc = platform::web::urlencode;
    let pager = Pager::new(
        q.page,
        50,
        total,
        format!(
            "q={}&state={}&light={}&{}",
            enc(q.q.as_deref().unwrap_or("")),
            enc(q.state.as_deref().unwrap_or("")),
            enc(q.light.as_deref().unwrap_or("")),
            if f.open_only { "open=1&" } else { "" }
        ),
    );
    let (events, _) = store::list(&p.db, &scope, &deps, &f, 50, pager.offset()).await?;
    let types: HashMap<String, String> = store::types(&p.db).await?.into_iter().map(|t| (t.code, t.name)).collect();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::new();
    for e in events {
        if !names.contains_key(&e.handling_unit) {
            names.insert(e.handling_unit.clone(), unit_name(&p, &e.handling_unit).await);
        }
        rows.push(Row {
            type_name: types.get(&e.type_code).cloned().unwrap_or_default(),
            state: e.state().label(),
            light_label: if e.state().is_timed() { Light::parse(&e.light).label() } else { "—" },
            light: if e.state().is_timed() { e.light.clone() } else { String::new() },
            handling: names.get(&e.handling_unit).cloned().unwrap_or_default(),
            created: format_beijing(e.created_ms),
            id: e.id,
            no: e.event_no,
            title: e.title,
            urgency: e.urgency,
        });
    }
    // The map of open events with coordinates, on the county outlines.
    let open = EventFilter { open_only: true, ..Default::default() };
    let (open_events, _) = store::list(&p.db, &scope, &deps, &open, 2000, 0).await?;
    let points: Vec<geography::geo::MapPoint> = open_events
        .iter()
        .filter_map(|e| {
            let (x, y) = e.lon_e6.zip(e.lat_e6)?;
            Some(geography::geo::MapPoint {
                lon: x as f64 / 1e6,
                lat: y as f64 / 1e6,
                class: e.light.clone(),
                title: format!("{} {}（{}）", e.event_no, e.title, Light::parse(&e.light).label()),
                href: Some(format!("/events/{}", e.id)),
            })
        })
        .collect();
    let map_svg = if points.is_empty() {
        String::new()
    } else {
        let mut shapes = Vec::new();
        // Only the counties with events, so a community's dots are not lost on the whole city.
        let counties: std::collections::HashSet<String> =
            open_events.iter().filter(|e| e.lon_e6.is_some()).map(|e| e.unit_code.chars().take(6).collect()).collect();
        for b in geography::store::boundaries_at(&p.db, Level::County).await?.into_iter().filter(|b| counties.contains(&b.code)) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&b.geometry)
                && let Ok(g) = geography::geo::parse_geometry(&v)
            {
                shapes.push(geography::geo::MapShape { code: b.code, name: b.name, geometry: g, href: None, highlight: false });
            }
        }
        geography::geo::render_svg_with_points(&shapes, &points, "未办结事件分布")
    };
    Ok(render(&ListPage {
        map_svg,
        map_count: points.len(),
        shell: Shell::new(&site, &me, "事件", "/events"),
        rows,
        pager,
        q: q.q.unwrap_or_default(),
        light: q.light.unwrap_or_default(),
        open_only: f.open_only,
        states: EvState::ALL.iter().map(|s| (s.as_str(), s.label(), q.state.as_deref() == Some(s.as_str()))).collect(),
        can_report: me.can(Permission::ReportEvents),
        can_handle: me.can(Permission::HandleEvents),
    }))
}

#[derive(Template)]
#[template(path = "new.html")]
struct NewPage {
    shell: Shell,
    types: Vec<(String, String)>,
    units: Vec<(String, String)>,
    idem_key: String,
    type_code: String,
    unit: String,
    title: String,
    description: String,
    address: String,
    urgency: String,
    subject: String,
    /// (id, address) of the registered house the report concerns (from the house's page).
    house: Option<(String, String)>,
    lon: String,
    lat: String,
    crs: String,
    resident: bool,
    error: Option<(String, String)>,
}

/// Units the caller may report from: their village-level units and the compounds and grids below.
async fn report_units(p: &Platform, me: &Principal) -> AppResult<Vec<(String, String)>> {
    let scope = me.require(Permission::ReportEvents)?;
    let mut out = Vec::new();
    for root in scope.roots() {
        let kinds = [
            geography::model::UnitKind::Community,
            geography::model::UnitKind::Village,
            geography::model::UnitKind::Compound,
            geography::model::UnitKind::Grid,
        ];
        for u in geography::store::current_of_kind(&p.db, root, &kinds).await?.into_iter().take(2000) {
            let label = if u.level == Level::Cell as i64 { format!("　{}（{}）", u.name, u.kind) } else { u.name.clone() };
            out.push((u.code, label));
        }
    }
    Ok(out)
}

async fn new_page(p: &Platform, site: &Site, me: &Principal, r: Option<&Report>, error: Option<&AppError>) -> AppResult<Response> {
    let house = match r.and_then(|r| r.house.as_deref()).filter(|h| !h.is_empty()) {
        Some(h) => registry::store::house(&p.db, &me.scope(Permission::ViewRegisters), h).await?.map(|h| (h.id.clone(), h.full_address())),
        None => None,
    };
    let types = store::types(&p.db)
        .await?
        .into_iter()
        .filter(|t| t.active != 0)
        .map(|t| (t.code.clone(), format!("{} {}（{}）", t.code, t.name, t.limit().label())))
        .collect();
    let page = NewPage {
        shell: Shell::new(site, me, "上报事件", "/events"),
        types,
        units: report_units(p, me).await?,
        // A fresh key per form: a retry of the same form is the same report.
        idem_key: r.and_then(|r| r.idem_key.clone()).unwrap_or_else(platform::db::new_id),
        type_code: r.map(|r| r.type_code.clone()).unwrap_or_default(),
        unit: r.map(|r| r.unit.clone()).unwrap_or_default(),
        title: r.map(|r| r.title.clone()).unwrap_or_default(),
        description: r.map(|r| r.description.clone()).unwrap_or_default(),
        address: r.map(|r| r.address.clone()).unwrap_or_default(),
        urgency: r.map(|r| r.urgency.clone()).unwrap_or_else(|| "一般".into()),
        subject: r.and_then(|r| r.subject.clone()).unwrap_or_default(),
        house,
        lon: r.and_then(|r| r.lon).map(|x| x.to_string()).unwrap_or_default(),
        lat: r.and_then(|r| r.lat).map(|x| x.to_string()).unwrap_or_default(),
        crs: r.map(|r| r.crs.clone()).unwrap_or_default(),
        resident: me.grants.iter().all(|g| g.role == Role::Resident),
        error: error.map(|e| (e.code.to_owned(), e.human())),
    };
    let mut res = render(&page);
    if let Some(e) = error {
        *res.status_mut() = e.status;
    }
    Ok(res)
}

#[derive(Deserialize)]
pub struct NewQuery {
    /// Reporting about this registered house (from the house's page): the form starts in its unit.
    house: Option<String>,
}

pub async fn new_form(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<NewQuery>) -> AppResult<Response> {
    me.require(Permission::ReportEvents)?;
    let start = match q.house.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => {
            let house = registry::store::house(&p.db, &me.scope(Permission::ViewRegisters), h).await?.ok_or_else(AppError::not_found)?;
            Some(Report {
                unit: house.compound_code.clone().unwrap_or_else(|| house.unit_code.clone()),
                address: house.full_address(),
                urgency: "一般".into(),
                house: Some(house.id),
                ..Report::default()
            })
        }
        None => None,
    };
    new_page(&p, &site, &me, start.as_ref(), None).await
}

fn parse_coord(s: &str, field: &str) -> AppResult<Option<f64>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<f64>().map(Some).map_err(|_| AppError::bad_request("event.bad_location", format!("{field}「{s}」不是数字")).at_field("location"))
}

/// Reads the multipart report form: fields and up to three photos, each checked by content.
async fn read_report(mut m: Multipart, source: &str) -> AppResult<(Report, Vec<Attachment>, Option<AppError>)> {
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut photos = Vec::new();
    // A bad photo or coordinate is reported with the rest of the form kept, so nothing typed is lost.
    let mut problem: Option<AppError> = None;
    while let Some(field) = m.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "event.photo_too_large", "照片过大，每张不超过 5 MB")
        } else {
            AppError::bad_request("event.upload", format!("上传中断：{e}"))
        }
    })? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "photo" {
            let filename = field.file_name().unwrap_or("photo").to_owned();
            let bytes = field.bytes().await.map_err(|_| AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "event.photo_too_large", "照片过大，每张不超过 5 MB"))?;
            if bytes.is_empty() {
                continue;
            }
            if bytes.len() > MAX_PHOTO_BYTES {
                problem.get_or_insert(
                    AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "event.photo_too_large", format!("照片「{filename}」超过 5 MB")).at_field("photo"),
                );
                continue;
            }
            let Some(ct) = image_type(&bytes) else {
                problem.get_or_insert(AppError::bad_request("event.not_an_image", format!("「{filename}」不是 JPEG 或 PNG 图片")).at_field("photo"));
                continue;
            };
            if photos.len() == 3 {
                problem.get_or_insert(AppError::bad_request("event.too_many_photos", "最多上传 3 张照片").at_field("photo"));
                continue;
            }
            photos.push(Attachment { filename, content_type: ct.to_owned(), size: bytes.len() as i64, data_b64: platform::crypto::base64_encode(&bytes) });
        } else {
            let v = field.text().await.unwrap_or_default();
            fields.insert(name, v);
        }
    }
    let g = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let r = Report {
        type_code: g("type_code"),
        title: g("title"),
        description: g("description"),
        urgency: if g("urgency").is_empty() { "一般".into() } else { g("urgency") },
        unit: g("unit"),
        address: g("address"),
        lon: parse_coord(&g("lon"), "经度").unwrap_or_else(|e| {
            problem.get_or_insert(e);
            None
        }),
        lat: parse_coord(&g("lat"), "纬度").unwrap_or_else(|e| {
            problem.get_or_insert(e);
            None
        }),
        crs: g("crs"),
        anonymous: g("anonymous") == "1",
        idem_key: Some(g("idem_key")).filter(|k| !k.is_empty()),
        source: source.to_owned(),
        subject: Some(g("subject")).filter(|s| !s.trim().is_empty()),
        house: Some(g("house")).filter(|s| !s.trim().is_empty()),
    };
    Ok((r, photos, problem))
}

pub async fn new_submit(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, m: Multipart) -> AppResult<Response> {
    me.require(Permission::ReportEvents)?;
    let source = if me.grants.iter().all(|g| g.role == Role::Resident) {
        "居民上报"
    } else if me.grants.iter().any(|g| g.role == Role::GridWorker) {
        "网格员上报"
    } else {
        "工作人员上报"
    };
    let (r, photos, problem) = match read_report(m, source).await {
        Ok(x) => x,
        Err(e) => return new_page(&p, &site, &me, None, Some(&e)).await,
    };
    if let Some(e) = problem {
        return new_page(&p, &site, &me, Some(&r), Some(&e)).await;
    }
    let keep = Report {
        type_code: r.type_code.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
        urgency: r.urgency.clone(),
        unit: r.unit.clone(),
        address: r.address.clone(),
        lon: r.lon,
        lat: r.lat,
        crs: r.crs.clone(),
        anonymous: r.anonymous,
        idem_key: r.idem_key.clone(),
        source: r.source.clone(),
        subject: r.subject.clone(),
        house: r.house.clone(),
    };
    match service::report(&p, &me, r, photos).await {
        Ok(done) => Ok(Redirect::to(&format!("/events/{}?reported=1", done.id)).into_response()),
        Err(e) if e.status == StatusCode::BAD_REQUEST => new_page(&p, &site, &me, Some(&keep), Some(&e)).await,
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    shell: Shell,
    e: EventRow,
    state_label: &'static str,
    timed: bool,
    light_label: &'static str,
    limit_label: String,
    deadline: String,
    type_name: String,
    place: String,
    location: Option<String>,
    handling: String,
    department: Option<String>,
    /// (person id, masked name) of the registered person the event concerns.
    person: Option<(String, String)>,
    /// (house id, full address) of the registered house the event concerns, if the viewer may see it.
    house: Option<(String, String)>,
    attachments: Vec<(String, String)>,
    actions: Vec<(&'static str, &'static str)>,
    departments: Vec<(String, String, bool)>,
    reasons: Vec<&'static str>,
    satisfaction: Vec<&'static str>,
    can_whistle: bool,
    whistle_kinds: Vec<&'static str>,
    /// (kind, raised by, deadline, [(whistle id, department name, signed time, late, can report in, department id)])
    whistles: Vec<(String, String, String, Vec<(String, String, Option<String>, bool, bool, String)>)>,
    steps: Vec<(String, String, String, String, String)>,
    flash: Option<String>,
    error: Option<(String, String)>,
    /// (id, event number, title, state label)
    similar: Vec<(String, String, String, &'static str)>,
}

fn action_label(a: &str) -> String {
    match Action::parse(a) {
        Some(x) => x.label().to_owned(),
        None => match a {
            "report" => "上报".into(),
            "auto_escalate" => "超时自动上报".into(),
            "whistle" => "吹哨".into(),
            "report_in" => "部门报到".into(),
            "demo" => "演示流转".into(),
            other => other.to_owned(),
        },
    }
}

async fn event_view(p: &Platform, site: &Site, me: &Principal, id: &str, flash: Option<String>, error: Option<&AppError>) -> AppResult<Response> {
    let (scope, deps) = service::visibility(p, me).await?;
    let e = store::get(&p.db, &scope, &deps, id).await?.ok_or_else(AppError::not_found)?;
    let t = store::event_type(&p.db, &e.type_code).await?;
    let steps = store::steps(&p.db, &e.id).await?;
    let actions = service::available(me, &e, &deps, &steps).into_iter().map(|a| (a.as_str(), a.label())).collect();
    let cal = WorkCalendar::official();
    let limit = e.stage_limit();
    let mut departments = Vec::new();
    for d in store::departments_in(&p.db, &e.unit_code).await? {
        let label = format!("{}{}", if d.unit_code.len() == 4 { "市" } else { "" }, d.name);
        departments.push((d.id.clone(), label, e.department_id.as_deref() == Some(d.id.as_str())));
    }
    let my_deps = store::departments_of(&p.db, &me.username).await?;
    let mut whistles = Vec::new();
    for (w, ps) in store::whistles(&p.db, &e.id).await? {
        let parts = ps
            .into_iter()
            .map(|x| (x.whistle_id, x.name, x.signed_ms.map(format_beijing), x.late != 0, my_deps.contains(&x.department_id), x.department_id))
            .collect();
        whistles.push((w.kind, w.raised_by, format_beijing(w.deadline_ms), parts));
    }
    let department = match &e.department_id {
        Some(d) => store::department(&p.db, d).await?.map(|d| d.name),
        None => None,
    };
    let handling_scope = me.scope(Permission::Whistle);
    let can_whistle = e.state().is_open() && UnitCode::parse(&e.handling_unit).is_ok_and(|h| handling_scope.contains(&h))
        || UnitCode::parse(&e.unit_code).is_ok_and(|u| handling_scope.contains(&u) && e.state().is_open());
    let similar = if e.state().is_open() { service::similar(p, &scope, &deps, &e).await? } else { Vec::new() };
    let similar = similar.into_iter().map(|x| (x.id.clone(), x.event_no.clone(), x.title.clone(), x.state().label())).collect();
    // Through the registers' own function and the viewer's register scope: no register access, no name.
    let person = match &e.person_id {
        Some(pid) => registry::store::person(&p.db, &me.scope(Permission::ViewRegisters), pid).await?.map(|x| (x.id, registry::model::mask_name(&x.name))),
        None => None,
    };
    let house = match &e.house_id {
        Some(h) => registry::store::house(&p.db, &me.scope(Permission::ViewRegisters), h).await?.map(|h| (h.id.clone(), h.full_address())),
        None => None,
    };
    let page = EventPage {
        person,
        house,
        similar,
        shell: Shell::new(site, me, &e.title, "/events"),
        state_label: e.state().label(),
        timed: e.state().is_timed(),
        light_label: if e.state().is_timed() { Light::parse(&e.light).label() } else { "—" },
        limit_label: limit.label(),
        deadline: format_beijing(limit.deadline(cal, e.stage_started_ms)),
        type_name: t.map(|t| t.name).unwrap_or_default(),
        place: unit_name(p, &e.unit_code).await,
        location: e.lon_e6.zip(e.lat_e6).map(|(x, y)| format!("{:.6}, {:.6}", x as f64 / 1e6, y as f64 / 1e6)),
        handling: unit_name(p, &e.handling_unit).await,
        department,
        attachments: store::attachments(&p.db, &e.id).await?.into_iter().map(|(id, name, _)| (id, name)).collect(),
        actions,
        departments,
        reasons: model::CLOSE_REASONS.to_vec(),
        satisfaction: model::SATISFACTION.to_vec(),
        can_whistle,
        whistle_kinds: model::WHISTLE_KINDS.to_vec(),
        whistles,
        steps: steps
            .into_iter()
            .map(|s| {
                (format_beijing(s.at_ms), action_label(&s.action), s.actor, EvState::parse(&s.to_state).map(|x| x.label()).unwrap_or("").to_owned(), s.note)
            })
            .collect(),
        flash,
        error: error.map(|e| (e.code.to_owned(), e.human())),
        e,
    };
    let mut res = render(&page);
    if let Some(err) = error {
        *res.status_mut() = err.status;
    }
    Ok(res)
}

#[derive(Deserialize)]
pub struct ShowQuery {
    reported: Option<String>,
}

pub async fn show(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> AppResult<Response> {
    let flash = q.reported.map(|_| "已上报。事件编号见标题，处理进展会在此页更新。".to_owned());
    event_view(&p, &site, &me, &id, flash, None).await
}

#[derive(Deserialize)]
pub struct ActForm {
    action: String,
    version: Option<String>,
    note: Option<String>,
    department: Option<String>,
    reason: Option<String>,
    satisfaction: Option<String>,
    extension_days: Option<String>,
    merge_into: Option<String>,
}

pub async fn act(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>, Form(f): Form<ActForm>) -> AppResult<Response> {
    let action = Action::parse(&f.action).ok_or_else(|| AppError::bad_request("event.bad_action", "未知操作").at_field("action"))?;
    let version =
        f.version.as_deref().and_then(|v| v.trim().parse::<i64>().ok()).ok_or_else(|| AppError::conflict("event.stale", "页面内容已过期，请刷新后重试"))?;
    let input = ActInput {
        note: f.note.unwrap_or_default(),
        department: f.department,
        reason: f.reason,
        satisfaction: f.satisfaction,
        extension_days: f.extension_days.and_then(|d| d.trim().parse().ok()),
        merge_into: f.merge_into,
        lon: None,
        lat: None,
    };
    match service::act(&p, &me, &id, action, version, input).await {
        Ok(_) => event_view(&p, &site, &me, &id, Some(format!("已{}", action.label())), None).await,
        Err(e) if matches!(e.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => event_view(&p, &site, &me, &id, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

pub async fn whistle(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>, body: String) -> AppResult<Response> {
    let (mut kind, mut minutes, mut note, mut deps) = (String::new(), 30i64, String::new(), Vec::new());
    for kv in body.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = platform::web::form_decode(v);
        match k {
            "kind" => kind = v,
            "minutes" => minutes = v.trim().parse().unwrap_or(-1),
            "note" => note = v,
            "departments" => deps.push(v),
            _ => {}
        }
    }
    match service::whistle(&p, &me, &id, &kind, &deps, minutes, &note).await {
        Ok(_) => event_view(&p, &site, &me, &id, Some(format!("已吹「{kind}」，{} 个部门须在 {minutes} 分钟内报到", deps.len())), None).await,
        Err(e) if matches!(e.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => event_view(&p, &site, &me, &id, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct ReportInForm {
    department: String,
}

pub async fn report_in(State(p): State<Platform>, Auth(me): Auth, Path(whistle_id): Path<String>, Form(f): Form<ReportInForm>) -> AppResult<Response> {
    service::report_in(&p, &me, &whistle_id, &f.department).await?;
    let ev: Option<(String,)> = p.db.fetch_optional(platform::sql!("SELECT event_id FROM whistles WHERE id = $1", whistle_id.as_str())).await?;
    Ok(Redirect::to(&format!("/events/{}", ev.map(|e| e.0).unwrap_or_default())).into_response())
}

pub async fn attachment(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    let (scope, deps) = service::visibility(&p, &me).await?;
    let a = store::attachment(&p.db, &id).await?.ok_or_else(AppError::not_found)?;
    store::get(&p.db, &scope, &deps, &a.event_id).await?.ok_or_else(AppError::not_found)?;
    Ok((
        [(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, "private, max-age=86400".to_owned())],
        platform::crypto::base64_decode(&a.data_b64).ok_or_else(|| AppError::internal("attachment is not base64"))?,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CataloguePage {
    shell: Shell,
    /// (id, type, area, department label)
    rules: Vec<(String, String, String, String)>,
    all_departments: Vec<(String, String)>,
    error: Option<String>,
    types: Vec<(String, String, String, String, String, i64, String)>,
    units: Vec<(&'static str, &'static str)>,
    can_edit: bool,
    flash: Option<String>,
}

async fn catalogue_view(p: &Platform, site: &Site, me: &Principal, flash: Option<String>) -> AppResult<Response> {
    catalogue_view_with(p, site, me, flash, None).await
}

async fn catalogue_view_with(p: &Platform, site: &Site, me: &Principal, flash: Option<String>, error: Option<&AppError>) -> AppResult<Response> {
    let types = store::types(&p.db)
        .await?
        .into_iter()
        .map(|t| (t.code.clone(), t.name.clone(), t.family.clone(), t.limit().label(), t.department.clone(), t.limit_amount, t.limit_unit.clone()))
        .collect();
    let city = UnitCode::parse("5109").map_err(AppError::internal)?;
    let mut rules = Vec::new();
    for r in store::routing_rules(&p.db).await? {
        let area = unit_name(p, &r.area_code).await;
        let dep_unit = unit_name(p, &r.department_unit).await;
        rules.push((r.id, r.type_code, format!("{area}（{}）", r.area_code), format!("{dep_unit}{}", r.department)));
    }
    let mut all_departments = Vec::new();
    for d in store::departments_in(&p.db, "").await? {
        let u = unit_name(p, &d.unit_code).await;
        all_departments.push((d.id, format!("{u}{}", d.name)));
    }
    let mut res = render(&CataloguePage {
        rules,
        all_departments,
        error: error.map(AppError::human),
        shell: Shell::new(site, me, "事件目录", "/events"),
        types,
        units: [LimitUnit::Minutes, LimitUnit::Hours, LimitUnit::WorkingHours, LimitUnit::WorkingDays].iter().map(|u| (u.as_str(), u.label())).collect(),
        can_edit: me.scope(Permission::ManageUnits).contains(&city),
        flash,
    });
    if let Some(e) = error {
        *res.status_mut() = e.status;
    }
    Ok(res)
}

pub async fn catalogue(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    catalogue_view(&p, &site, &me, None).await
}

#[derive(Deserialize)]
pub struct TypeForm {
    amount: String,
    unit: String,
    department: String,
}

/// City system administrators adjust limits and departments; the change is audited.
pub async fn catalogue_update(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(code): Path<String>,
    Form(f): Form<TypeForm>,
) -> AppResult<Response> {
    let city = UnitCode::parse("5109").map_err(AppError::internal)?;
    if !me.scope(Permission::ManageUnits).contains(&city) {
        return Err(AppError::forbidden());
    }
    let amount: i64 = f
        .amount
        .trim()
        .parse()
        .ok()
        .filter(|a| (1..=365).contains(a))
        .ok_or_else(|| AppError::bad_request("event.bad_limit", "时限应为 1–365 的整数").at_field("amount"))?;
    let unit = LimitUnit::parse(&f.unit).ok_or_else(|| AppError::bad_request("event.bad_limit", "时限单位无效").at_field("unit"))?;
    let dep = f.department.trim();
    if dep.is_empty() || dep.chars().count() > 20 {
        return Err(AppError::bad_request("event.bad_department", "部门名称不能为空，且不超过 20 字").at_field("department"));
    }
    let mut tx = p.db.begin().await?;
    if store::update_type_limit(&mut tx, &code, model::Limit { amount, unit }, dep, p.now()).await? == 0 {
        return Err(AppError::not_found());
    }
    let detail = format!("{code}: {amount} {} / {dep}", unit.as_str());
    platform::audit::record(
        &mut tx,
        p.now(),
        &platform::audit::Event {
            actor: &me.actor(),
            unit: None,
            action: "event.catalogue_update",
            target: &code,
            outcome: platform::audit::Outcome::Ok,
            detail: &detail,
        },
    )
    .await?;
    tx.commit().await?;
    catalogue_view(&p, &site, &me, Some(format!("已更新 {code}"))).await
}

#[derive(Template)]
#[template(path = "metrics.html")]
struct MetricsPage {
    shell: Shell,
    by: String,
    first_header: &'static str,
    from: String,
    to: String,
    weights: String,
    presets: Vec<&'static str>,
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

#[derive(Deserialize, Default)]
pub struct MetricsQuery {
    from: Option<String>,
    to: Option<String>,
    weights: Option<String>,
    /// unit (default), department or person.
    by: Option<String>,
}

const METRIC_HEADERS: [&str; 12] =
    ["处置单位", "事件数", "已办结", "按时签收", "返工", "超期", "已评价", "响应率", "解决率", "满意率", "按期结案率", "综合得分"];

/// Per handling unit over a period: counts and the three rates with the chosen weights.
pub async fn metrics_rows(p: &Platform, me: &Principal, q: &MetricsQuery) -> AppResult<(String, String, String, Vec<Vec<String>>)> {
    let (scope, deps) = service::visibility(p, me).await?;
    let today = Date::of_instant(p.now());
    let to = q.to.as_deref().and_then(Date::parse).unwrap_or(today);
    let from = q.from.as_deref().and_then(Date::parse).unwrap_or(Date::from_days(to.days() - 30));
    let weights_name = q.weights.clone().filter(|w| model::WEIGHT_PRESETS.iter().any(|(n, _)| n == w)).unwrap_or_else(|| model::WEIGHT_PRESETS[0].0.to_owned());
    let w = model::WEIGHT_PRESETS.iter().find(|(n, _)| *n == weights_name).map(|(_, w)| *w).unwrap_or(model::WEIGHT_PRESETS[0].1);
    let f = EventFilter {
        from_ms: Some(from.days() * platform::clock::DAY - 8 * platform::clock::HOUR),
        to_ms: Some((to.days() + 1) * platform::clock::DAY - 8 * platform::clock::HOUR),
        ..Default::default()
    };
    let (events, _) = store::list(&p.db, &scope, &deps, &f, 100_000, 0).await?;
    #[derive(Default)]
    struct Acc {
        n: i64,
        closed: i64,
        responded: i64,
        reworks: i64,
        overdue: i64,
        evaluated: i64,
        solved: i64,
        satisfied: i64,
        basic: i64,
        on_time: i64,
    }
    let group = q.by.clone().unwrap_or_default();
    // Who signed for each event (per-person figures count the handler).
    let mut handler: HashMap<String, String> = HashMap::new();
    if group == "person" {
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        for chunk in ids.chunks(500) {
            let mut sq = platform::Sql::new("SELECT event_id, actor FROM event_steps WHERE action = 'sign_in' AND event_id IN ", []);
            sq.push_list(chunk.iter().map(|id| id.as_str()));
            sq.push(" ORDER BY at_ms");
            let rows: Vec<(String, String)> = p.db.fetch_all(sq).await?;
            handler.extend(rows);
        }
    }
    let mut dep_names: HashMap<String, String> = HashMap::new();
    let mut by: std::collections::BTreeMap<String, Acc> = std::collections::BTreeMap::new();
    for e in &events {
        let key = match group.as_str() {
            "department" => match &e.department_id {
                Some(d) => {
                    if !dep_names.contains_key(d) {
                        let name = match store::department(&p.db, d).await? {
                            Some(x) => format!("{} {}", unit_name(p, &x.unit_code).await, x.name),
                            None => String::new(),
                        };
                        dep_names.insert(d.clone(), name);
                    }
                    dep_names.get(d).cloned().unwrap_or_default()
                }
                None => "属地处置（未派部门）".to_owned(),
            },
            "person" => handler.get(&e.id).cloned().unwrap_or_else(|| "（未签收）".to_owned()),
            // Grids are the 15-digit cells numbered 501–999 under a community.
            "grid" => {
                if e.unit_code.len() == 15 && e.unit_code[12..].parse::<u32>().is_ok_and(|n| n >= 500) {
                    e.unit_code.clone()
                } else {
                    "（未定位到网格）".to_owned()
                }
            }
            _ => e.handling_unit.clone(),
        };
        let a = by.entry(key).or_default();
        a.n += 1;
        if e.closed_ms.is_some() {
            a.closed += 1;
            if e.overdue == 0 {
                a.on_time += 1;
            }
        }
        if e.signed_ms.is_some() && e.overdue == 0 {
            a.responded += 1;
        }
        a.reworks += e.reworks;
        a.overdue += e.overdue;
        if let Some(s) = &e.satisfaction {
            a.evaluated += 1;
            match s.as_str() {
                "满意" => a.satisfied += 1,
                "基本满意" => a.basic += 1,
                _ => {}
            }
        }
        if e.closed_reason.as_deref() == Some("已解决") {
            a.solved += 1;
        }
    }
    let mut rows = Vec::new();
    for (unit, a) in by {
        let r = model::rates(a.n, a.responded, a.solved, 0, 0, w);
        let sat = model::rates(a.evaluated, 0, 0, a.satisfied, a.basic, w);
        let composite = w.response * r.response + w.solved * r.solved + w.satisfied * sat.satisfied;
        let pct = |x: f64| format!("{x:.1}%");
        let on_time = if a.closed > 0 { 100.0 * a.on_time as f64 / a.closed as f64 } else { 0.0 };
        let label = match group.as_str() {
            "department" | "person" => unit.clone(),
            "grid" if unit.starts_with('（') => unit.clone(),
            "grid" => format!("{}（{unit}）", unit_name(p, &unit).await),
            _ => unit_name(p, &unit).await,
        };
        rows.push(vec![
            label,
            a.n.to_string(),
            a.closed.to_string(),
            a.responded.to_string(),
            a.reworks.to_string(),
            a.overdue.to_string(),
            a.evaluated.to_string(),
            pct(r.response),
            pct(r.solved),
            if a.evaluated > 0 { pct(sat.satisfied) } else { "—".into() },
            pct(on_time),
            format!("{composite:.1}"),
        ]);
    }
    Ok((from.to_string(), to.to_string(), weights_name, rows))
}

pub async fn metrics(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<MetricsQuery>) -> AppResult<Response> {
    let (from, to, weights, rows) = metrics_rows(&p, &me, &q).await?;
    let by = q.by.clone().unwrap_or_default();
    let first_header = match by.as_str() {
        "department" => "部门",
        "person" => "办理人",
        "grid" => "网格",
        _ => "处置单位",
    };
    Ok(render(&MetricsPage {
        by,
        first_header,
        shell: Shell::new(&site, &me, "考核统计", "/events"),
        from,
        to,
        weights,
        presets: model::WEIGHT_PRESETS.iter().map(|(n, _)| *n).collect(),
        headers: METRIC_HEADERS.to_vec(),
        rows,
    }))
}

pub async fn metrics_csv(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<MetricsQuery>) -> AppResult<Response> {
    let (from, to, _, rows) = metrics_rows(&p, &me, &q).await?;
    let mut out = String::from("\u{feff}");
    out.push_str(&METRIC_HEADERS.join(","));
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|c| platform::pages::csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    let disposition = format!("attachment; filename=\"event-metrics-{from}-{to}.csv\"");
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], out).into_response())
}

#[derive(Deserialize)]
pub struct RuleForm {
    type_code: String,
    area: String,
    department: String,
}

fn require_city_admin(me: &Principal) -> AppResult<()> {
    let city = UnitCode::parse("5109").map_err(AppError::internal)?;
    if me.scope(Permission::ManageUnits).contains(&city) { Ok(()) } else { Err(AppError::forbidden()) }
}

/// 派单目录: adds a rule sending a type in an area to a department.
pub async fn rule_add(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Form(f): Form<RuleForm>) -> AppResult<Response> {
    require_city_admin(&me)?;
    let r: AppResult<String> = async {
        let t = store::event_type(&p.db, f.type_code.trim())
            .await?
            .ok_or_else(|| AppError::bad_request("event.unknown_type", "未知的事件类型").at_field("type_code"))?;
        let area = UnitCode::parse(&f.area).map_err(|e| AppError::bad_request("unit.bad_code", e.to_string()).at_field("area"))?;
        if geography::store::get(&p.db, area.as_str()).await?.is_none() {
            return Err(AppError::bad_request("unit.not_found", format!("单位 {area} 不存在")).at_field("area"));
        }
        let dep =
            store::department(&p.db, &f.department).await?.ok_or_else(|| AppError::bad_request("event.bad_department", "部门不存在").at_field("department"))?;
        let mut tx = p.db.begin().await?;
        store::add_rule(&mut tx, &t.code, &area, &dep.id).await?;
        let detail = format!("{} @ {area} -> {}", t.code, dep.name);
        platform::audit::record(
            &mut tx,
            p.now(),
            &platform::audit::Event {
                actor: &me.actor(),
                unit: Some(area.as_str()),
                action: "event.routing_add",
                target: &t.code,
                outcome: platform::audit::Outcome::Ok,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(format!("已添加派单规则：{} 在 {area} 派往 {}", t.name, dep.name))
    }
    .await;
    match r {
        Ok(m) => catalogue_view(&p, &site, &me, Some(m)).await,
        Err(e) if e.status == StatusCode::BAD_REQUEST => catalogue_view_with(&p, &site, &me, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

pub async fn rule_delete(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    require_city_admin(&me)?;
    let mut tx = p.db.begin().await?;
    if store::remove_rule(&mut tx, &id).await? == 0 {
        return Err(AppError::not_found());
    }
    platform::audit::record(
        &mut tx,
        p.now(),
        &platform::audit::Event {
            actor: &me.actor(),
            unit: None,
            action: "event.routing_remove",
            target: &id,
            outcome: platform::audit::Outcome::Ok,
            detail: "",
        },
    )
    .await?;
    tx.commit().await?;
    catalogue_view(&p, &site, &me, Some("已删除派单规则".into())).await
}

pub async fn metrics_xlsx(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<MetricsQuery>) -> AppResult<Response> {
    let (from, to, weights, rows) = metrics_rows(&p, &me, &q).await?;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("考核统计").map_err(AppError::internal)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    ws.write_string(0, 0, format!("统计时段 {from} 至 {to}，权重 {weights}")).map_err(AppError::internal)?;
    for (c, h) in METRIC_HEADERS.iter().enumerate() {
        ws.write_string_with_format(1, c as u16, *h, &bold).map_err(AppError::internal)?;
        ws.set_column_width(c as u16, if c == 0 { 28 } else { 11 }).map_err(AppError::internal)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            // Numbers stay numbers so people can sort and sum in Excel; rates keep their % text.
            match v.parse::<f64>() {
                Ok(n) if c > 0 => ws.write_number(r as u32 + 2, c as u16, n).map(|_| ()),
                _ => ws.write_string(r as u32 + 2, c as u16, v).map(|_| ()),
            }
            .map_err(AppError::internal)?;
        }
    }
    let bytes = wb.save_to_buffer().map_err(AppError::internal)?;
    let disposition = format!("attachment; filename=\"event-metrics-{from}-{to}.xlsx\"");
    Ok((
        [(header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}
