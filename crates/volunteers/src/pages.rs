//! HTML pages, phone-first: the volunteer's home (activities, sign-up), real-name registration, the
//! scan page a site QR code opens, the organiser's desk, the statutory record and its printable
//! proof, the time bank, and the points bank with its publication and shop.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use platform::auth::{Permission, Principal};
use platform::clock::{Date, format_beijing};
use platform::scope::UnitCode;
use platform::web::{Auth, Shell, Site, render};
use platform::{AppError, AppResult, Platform};

use crate::model::{self, AccountKind, Currency, RecordState, ScanAction, TransferKind};
use crate::service::{self, NewActivity, Registration};
use crate::store::{self, ActivityRow, RecordRow, VolunteerRow};

type Fields = Form<HashMap<String, String>>;

fn f<'a>(m: &'a HashMap<String, String>, k: &str) -> &'a str {
    m.get(k).map(String::as_str).unwrap_or("")
}

fn hm(v: i64) -> String {
    model::format_amount(v, Currency::Minutes)
}

async fn unit_name(p: &Platform, code: &str) -> String {
    geography::store::get(&p.db, code).await.ok().flatten().map(|u| u.name).unwrap_or_else(|| code.to_owned())
}

/// Flash messages by code, so a redirect carries no free text.
fn flash(ok: Option<&str>) -> Option<String> {
    Some(
        match ok? {
            "registered" => "注册成功，欢迎加入志愿者队伍",
            "signed_up" => "报名成功，活动当天请到现场扫码签到",
            "org" => "组织已创建",
            "activity" => "活动已发布",
            "confirmed" => "已确认，记录进入 3 个工作日公示期",
            "rejected" => "已处理",
            "objected" => "异议已提交，组织方将核实",
            "resolved" => "异议已处理",
            "corrected" => "已添加更正记录",
            "deposited" => "已存入时间银行",
            "redeemed" => "兑换成功",
            "relative" => "亲属已添加",
            "given" => "转赠成功",
            "donated" => "已捐入爱心池，谢谢您",
            "star" => "星级申请已提交",
            "star_decided" => "星级申请已处理",
            "star_approvers" => "星级审批层级已保存",
            "service" => "服务项目已添加",
            "config" => "时间银行规则已保存",
            "granted" => "已从爱心池发放",
            "note" => "已记入志愿服务记录",
            "manual" => "已补录，待确认后公示",
            "rules" => "细则草案已保存，须经村民（代表）会议表决通过后生效",
            "approved" => "细则已生效",
            "award" => "申报已提交，等待评议",
            "decided" => "已处理",
            "item" => "商品已上架",
            "bought" => "兑换成功，请到积分超市领取",
            "assisted" => "已代为兑换，请将物品交给居民本人",
            "redeemed_for" => "已代为兑换服务",
            _ => return None,
        }
        .to_owned(),
    )
}

#[derive(serde::Deserialize, Default)]
pub struct OkQuery {
    ok: Option<String>,
    month: Option<String>,
    unit: Option<String>,
}

fn is_staff(me: &Principal) -> bool {
    me.can(Permission::ManageVolunteers)
}

// ---------------------------------------------------------------------------------------------
// Home

struct ActivityView {
    id: String,
    title: String,
    place: String,
    when: String,
    places_left: i64,
    signed: bool,
    unit: String,
}

async fn activity_views(p: &Platform, rows: Vec<ActivityRow>, mine: &[String]) -> Vec<ActivityView> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for a in rows {
        if !names.contains_key(&a.unit_code) {
            names.insert(a.unit_code.clone(), unit_name(p, &a.unit_code).await);
        }
        out.push(ActivityView {
            signed: mine.contains(&a.id),
            unit: names.get(&a.unit_code).cloned().unwrap_or_default(),
            when: format!("{} – {}", format_beijing(a.starts_ms), &format_beijing(a.ends_ms)[11..16]),
            places_left: a.quota - a.signed_up,
            id: a.id,
            title: a.title,
            place: a.place,
        });
    }
    out
}

#[derive(Template)]
#[template(path = "vol_home.html")]
struct HomePage {
    shell: Shell,
    flash: Option<String>,
    volunteer: Option<VolunteerRow>,
    final_hours: String,
    balance: String,
    activities: Vec<ActivityView>,
    staff: bool,
    can_participate: bool,
}

pub async fn home(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<OkQuery>) -> AppResult<Response> {
    if !me.can(Permission::Participate) && !is_staff(&me) {
        return Err(AppError::forbidden());
    }
    let v = store::volunteer_of_user(&p.db, &me.user_id).await?;
    let (final_hours, balance, activities) = match &v {
        Some(v) => {
            let mine: Vec<String> = store::signups_of_volunteer(&p.db, &v.id).await?.into_iter().map(|s| s.activity_id).collect();
            let rows = store::activities(&p.db, &service::volunteer_scope(v), p.now(), 50).await?;
            let bal = store::find_account(&p.db, Currency::Minutes, AccountKind::Person, &v.person_id).await?.map(|a| a.balance).unwrap_or(0);
            (hm(store::final_minutes(&p.db, &v.id, p.now()).await?), hm(bal), activity_views(&p, rows, &mine).await)
        }
        None => {
            // Staff see what they run; a resident who has not registered yet sees what she could
            // join once she has, so the page is never empty for want of a registration.
            let scope = if is_staff(&me) { me.scope(Permission::ManageVolunteers) } else { me.scope(Permission::Participate) };
            let rows = store::activities(&p.db, &scope, p.now(), 50).await?;
            (String::new(), String::new(), activity_views(&p, rows, &[]).await)
        }
    };
    Ok(render(&HomePage {
        shell: Shell::new(&site, &me, "志愿服务", "/volunteers"),
        flash: flash(q.ok.as_deref()),
        volunteer: v,
        final_hours,
        balance,
        activities,
        staff: is_staff(&me),
        can_participate: me.can(Permission::Participate),
    }))
}

// ---------------------------------------------------------------------------------------------
// Registration

#[derive(Template)]
#[template(path = "vol_register.html")]
struct RegisterPage {
    shell: Shell,
    r: Registration,
    error: Option<(String, String)>,
    /// The person the account is bound to (实名认证): (name, masked ID); None = not verified yet.
    bound: Option<(String, String)>,
}

async fn bound_person(p: &Platform, me: &platform::auth::Principal) -> AppResult<Option<(String, String)>> {
    Ok(registry::identity::person_of_account(&p.db, &me.user_id).await?.filter(|b| b.is_current()).map(|b| (b.name, b.id_masked.unwrap_or_default())))
}

pub async fn register_form(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    me.require(Permission::Participate)?;
    if store::volunteer_of_user(&p.db, &me.user_id).await?.is_some() {
        return Ok(Redirect::to("/volunteers").into_response());
    }
    let bound = bound_person(&p, &me).await?;
    Ok(render(&RegisterPage { shell: Shell::new(&site, &me, "志愿者实名注册", "/volunteers"), r: Registration::default(), error: None, bound }))
}

pub async fn register_submit(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    // Name and ID number come from the bound person in the register, whatever the form says.
    let r = Registration {
        name: String::new(),
        id_number: String::new(),
        phone: f(&m, "phone").trim().to_owned(),
        skills: f(&m, "skills").to_owned(),
        availability: f(&m, "availability").to_owned(),
        guardian_name: f(&m, "guardian_name").to_owned(),
        guardian_consent: f(&m, "guardian_consent") == "1",
    };
    match service::register(&p, &me, &r).await {
        Ok(_) => Ok(Redirect::to("/volunteers?ok=registered").into_response()),
        Err(e) if e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::CONFLICT => {
            let bound = bound_person(&p, &me).await?;
            let mut res =
                render(&RegisterPage {
                    shell: Shell::new(&site, &me, "志愿者实名注册", "/volunteers"), r, error: Some((e.code.to_owned(), e.human())), bound
                });
            *res.status_mut() = e.status;
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Activities and scanning

#[derive(Template)]
#[template(path = "vol_activity.html")]
struct ActivityPage {
    shell: Shell,
    flash: Option<String>,
    a: ActivityRow,
    org: String,
    unit: String,
    when: String,
    places_left: i64,
    volunteer: bool,
    signed: bool,
    checked_in: bool,
    checked_out: bool,
    organiser: bool,
    /// (action label, link, svg)
    codes: Vec<(&'static str, &'static str, String, String)>,
    /// (name, volunteer no, check-in, check-out)
    signups: Vec<(String, String, String, String)>,
}

fn base_url(headers: &HeaderMap, secure: bool) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1:8080");
    format!("{}://{host}", if secure { "https" } else { "http" })
}

fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(c) => c.render::<qrcode::render::svg::Color<'_>>().min_dimensions(220, 220).quiet_zone(true).build(),
        Err(_) => String::new(),
    }
}

pub async fn activity(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<OkQuery>,
) -> AppResult<Response> {
    let a = store::activity(&p.db, &id).await?.ok_or_else(AppError::not_found)?;
    let unit = UnitCode::parse(&a.unit_code).map_err(AppError::internal)?;
    let organiser = me.scope(Permission::ManageVolunteers).contains(&unit);
    let v = store::volunteer_of_user(&p.db, &me.user_id).await?;
    let visible = organiser || v.as_ref().is_some_and(|v| service::volunteer_scope(v).contains(&unit));
    if !visible {
        return Err(AppError::not_found());
    }
    let s = match &v {
        Some(v) => store::signup(&p.db, &a.id, &v.id).await?,
        None => None,
    };
    let mut codes = Vec::new();
    let mut signups = Vec::new();
    if organiser {
        let base = base_url(&headers, p.settings.secure_cookies);
        for (action, testid) in [(ScanAction::CheckIn, "checkin-link"), (ScanAction::CheckOut, "checkout-link")] {
            let url = format!("{base}/volunteers/scan/{}", service::scan_code(&p, &a.id, action));
            codes.push((action.label(), testid, qr_svg(&url), url));
        }
        for (s, name, no) in store::signups_of_activity(&p.db, &a.id).await? {
            signups.push((
                registry::model::mask_name(&name),
                no,
                s.checkin_ms.map(format_beijing).unwrap_or_else(|| "—".into()),
                s.checkout_ms.map(format_beijing).unwrap_or_else(|| "—".into()),
            ));
        }
    }
    let org = store::org(&p.db, &a.org_id).await?.map(|o| o.name).unwrap_or_default();
    Ok(render(&ActivityPage {
        shell: Shell::new(&site, &me, &a.title, "/volunteers"),
        flash: flash(q.ok.as_deref()),
        org,
        unit: unit_name(&p, &a.unit_code).await,
        when: format!("{} – {}", format_beijing(a.starts_ms), format_beijing(a.ends_ms)),
        places_left: a.quota - a.signed_up,
        volunteer: v.is_some(),
        signed: s.is_some(),
        checked_in: s.as_ref().is_some_and(|s| s.checkin_ms.is_some()),
        checked_out: s.as_ref().is_some_and(|s| s.checkout_ms.is_some()),
        organiser,
        codes,
        signups,
        a,
    }))
}

pub async fn sign_up(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    service::sign_up(&p, &me, &id).await?;
    Ok(Redirect::to(&format!("/volunteers/activities/{id}?ok=signed_up")).into_response())
}

#[derive(Template)]
#[template(path = "vol_scan.html")]
struct ScanPage {
    shell: Shell,
    token: String,
    action: &'static str,
    title: String,
    done: Option<String>,
    error: Option<(String, String)>,
}

/// The page a site QR code opens: says what the code is for; the button does it (a GET never
/// changes anything, so link previews cannot check anyone in).
pub async fn scan_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(token): Path<String>) -> AppResult<Response> {
    let (action, title, error) = match model::QrToken::verify(&service::scan_key(&p), &token, p.now()) {
        Ok(t) => (t.action.label(), store::activity(&p.db, &t.activity_id).await?.map(|a| a.title).unwrap_or_default(), None),
        Err(e) => ("扫码", String::new(), Some((e.code.to_owned(), e.human()))),
    };
    Ok(render(&ScanPage { shell: Shell::new(&site, &me, "扫码签到", "/volunteers"), token, action, title, done: None, error }))
}

pub async fn scan_submit(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(token): Path<String>) -> AppResult<Response> {
    let shell = Shell::new(&site, &me, "扫码签到", "/volunteers");
    match service::scan(&p, &me, &token).await {
        Ok(r) => {
            let done = match r.minutes {
                Some(m) => format!("签退成功：本次服务 {}，待组织方确认后公示 3 个工作日", hm(m)),
                None => "签到成功，服务结束时请扫签退码".to_owned(),
            };
            Ok(render(&ScanPage { shell, token, action: r.action.label(), title: r.activity.title, done: Some(done), error: None }))
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let mut res = render(&ScanPage { shell, token, action: "扫码", title: String::new(), done: None, error: Some((e.code.to_owned(), e.human())) });
            *res.status_mut() = e.status;
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// The organiser's desk

struct RecordView {
    id: String,
    /// Final, a service record, not yet in the time bank.
    depositable: bool,
    volunteer: String,
    content: String,
    when: String,
    minutes: i64,
    hours: String,
    state: &'static str,
    until: String,
    objection: String,
}

async fn record_views(p: &Platform, rows: Vec<RecordRow>) -> AppResult<Vec<RecordView>> {
    let mut out = Vec::new();
    for r in rows {
        let v = store::volunteer(&p.db, &r.volunteer_id).await?;
        let depositable =
            r.kind == "service" && r.state_at(p.now()) == RecordState::Final && store::transfer_by_key(&p.db, &format!("deposit:{}", r.id)).await?.is_none();
        out.push(RecordView {
            depositable,
            volunteer: v.map(|v| format!("{} {}", registry::model::mask_name(&v.name), v.volunteer_no)).unwrap_or_default(),
            when: format!("{} – {}", format_beijing(r.started_ms), &format_beijing(r.ended_ms)[11..16]),
            hours: hm(r.minutes),
            state: r.state_at(p.now()).label(),
            until: r.publish_until_ms.map(format_beijing).unwrap_or_default(),
            objection: r.objection.clone().unwrap_or_default(),
            minutes: r.minutes,
            id: r.id,
            content: r.content,
        });
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "vol_manage.html")]
struct ManagePage {
    shell: Shell,
    flash: Option<String>,
    orgs: Vec<(String, String, String, String)>,
    units: Vec<(String, String)>,
    pending: Vec<RecordView>,
    published: Vec<RecordView>,
    objected: Vec<RecordView>,
    /// (id, volunteer, level, hours)
    stars: Vec<(String, String, i64, String)>,
    /// (unit name, T06 %, numerator, denominator, T22 %, covered, total)
    indicators: Vec<(String, String, i64, i64, String, i64, i64)>,
    config_unit: String,
    config: model::TimeBankConfig,
    presets: Vec<&'static str>,
    services: Vec<(String, String, String)>,
    pool: String,
    /// The city of the caller's grant, where she sets the star approval levels.
    city_root: Option<String>,
    star_approvers: String,
}

pub async fn manage(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<OkQuery>) -> AppResult<Response> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let mut orgs = Vec::new();
    for o in store::orgs(&p.db, &scope).await? {
        let kind = service::ORG_KINDS.iter().find(|(k, _)| *k == o.kind).map(|(_, l)| *l).unwrap_or("");
        orgs.push((o.id, o.name, kind.to_owned(), unit_name(&p, &o.unit_code).await));
    }
    let mut units = Vec::new();
    let mut indicators = Vec::new();
    for root in scope.roots() {
        units.push((root.as_str().to_owned(), unit_name(&p, root.as_str()).await));
        for u in geography::store::current_of_kind(&p.db, root, &[geography::model::UnitKind::Community, geography::model::UnitKind::Village])
            .await?
            .into_iter()
            .take(30)
        {
            if u.code != root.as_str() {
                units.push((u.code.clone(), format!("　{}", u.name)));
            }
        }
        let t06 = service::registration_rate(&p.db, root).await?;
        let t22 = service::station_coverage(&p.db, root).await?;
        indicators.push((unit_name(&p, root.as_str()).await, t06.percent(), t06.numerator, t06.denominator, t22.percent(), t22.numerator, t22.denominator));
    }
    // Only the applications this level approves (the city sets which level approves each star).
    let mut stars = Vec::new();
    for a in store::star_apps_in(&p.db, &scope, "pending").await? {
        let approvers = store::star_approvers_for(&p.db, &a.unit_code).await?;
        if !service::may_decide_star(&me, &approvers, a.level, &a.unit_code) {
            continue;
        }
        let v =
            store::volunteer(&p.db, &a.volunteer_id).await?.map(|v| format!("{} {}", registry::model::mask_name(&v.name), v.volunteer_no)).unwrap_or_default();
        stars.push((a.id, v, a.level, hm(a.minutes_at)));
    }
    let city_root = scope.roots().iter().find(|r| r.level() == platform::scope::Level::City).map(|r| r.as_str().to_owned());
    let star_approvers = match &city_root {
        Some(c) => store::star_approvers_for(&p.db, c).await?.to_config(),
        None => String::new(),
    };
    let root = scope.roots().first().cloned().ok_or_else(AppError::forbidden)?;
    let (config, _, _) = store::config_for(&p.db, root.as_str()).await?;
    let config_unit: String = root.as_str().chars().take(6).collect();
    let pool = hm(service::pool_balance(&p, &config_unit).await?);
    let services = store::services_for(&p.db, root.as_str()).await?.into_iter().map(|s| (s.id, s.name, hm(s.minutes))).collect();
    Ok(render(&ManagePage {
        shell: Shell::new(&site, &me, "志愿服务管理", "/volunteers"),
        flash: flash(q.ok.as_deref()),
        orgs,
        units,
        pending: record_views(&p, store::records_in(&p.db, &scope, "pending", 100).await?).await?,
        published: record_views(
            &p,
            store::records_in(&p.db, &scope, "published", 100).await?.into_iter().filter(|r| r.state_at(p.now()) == RecordState::Published).collect(),
        )
        .await?,
        objected: record_views(&p, store::records_in(&p.db, &scope, "objected", 100).await?).await?,
        stars,
        indicators,
        config_unit,
        config,
        presets: model::TimeBankConfig::PRESETS.to_vec(),
        pool,
        services,
        city_root,
        star_approvers,
    }))
}

pub async fn star_approvers_submit(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    service::set_star_approvers(&p, &me, f(&m, "unit"), f(&m, "star_approvers")).await?;
    Ok(Redirect::to("/volunteers/manage?ok=star_approvers").into_response())
}

pub async fn org_create(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    service::create_org(&p, &me, f(&m, "unit"), f(&m, "name"), f(&m, "kind"), Some(f(&m, "parent")), f(&m, "contact")).await?;
    Ok(Redirect::to("/volunteers/manage?ok=org").into_response())
}

/// `2026-05-30T09:00` (datetime-local, Beijing time) → UTC milliseconds.
fn parse_local(s: &str, field: &str) -> AppResult<i64> {
    let bad = || AppError::bad_request("activity.bad_time", "时间格式应为 YYYY-MM-DD HH:MM").at_field(field.to_owned());
    let s = s.trim().replace('T', " ");
    let (d, t) = s.split_once(' ').ok_or_else(bad)?;
    let date = Date::parse(d).ok_or_else(bad)?;
    let (h, mi) = t.split_once(':').ok_or_else(bad)?;
    let h: i64 = h.parse().map_err(|_| bad())?;
    let mi: i64 = mi.get(..2).unwrap_or(mi).parse().map_err(|_| bad())?;
    if !(0..24).contains(&h) || !(0..60).contains(&mi) {
        return Err(bad());
    }
    Ok(date.days() * platform::clock::DAY + (h - 8) * platform::clock::HOUR + mi * platform::clock::MINUTE)
}

pub async fn activity_create(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let a = NewActivity {
        org_id: f(&m, "org_id").into(),
        title: f(&m, "title").into(),
        description: f(&m, "description").into(),
        place: f(&m, "place").into(),
        starts_ms: parse_local(f(&m, "starts"), "starts")?,
        ends_ms: parse_local(f(&m, "ends"), "ends")?,
        quota: f(&m, "quota").trim().parse().map_err(|_| AppError::bad_request("activity.bad_quota", "招募人数须为整数").at_field("quota"))?,
    };
    let id = service::create_activity(&p, &me, &a).await?;
    Ok(Redirect::to(&format!("/volunteers/activities/{id}?ok=activity")).into_response())
}

pub async fn record_confirm(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    let accept = f(&m, "decision") != "reject";
    let minutes = match f(&m, "minutes").trim() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| AppError::bad_request("record.bad_minutes", "确认时长须为整数分钟").at_field("minutes"))?),
    };
    service::confirm(&p, &me, &id, accept, minutes, f(&m, "note")).await?;
    Ok(Redirect::to(if accept { "/volunteers/manage?ok=confirmed" } else { "/volunteers/manage?ok=rejected" }).into_response())
}

pub async fn record_object(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::object(&p, &me, &id, f(&m, "text")).await?;
    Ok(Redirect::to("/volunteers/publication?ok=objected").into_response())
}

pub async fn record_resolve(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::resolve(&p, &me, &id, f(&m, "decision") == "uphold", f(&m, "note")).await?;
    Ok(Redirect::to("/volunteers/manage?ok=resolved").into_response())
}

pub async fn record_correct(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    let delta: i64 =
        f(&m, "delta").trim().parse().map_err(|_| AppError::bad_request("record.bad_correction", "更正分钟数须为整数（减少写负数）").at_field("delta"))?;
    let r = store::record(&p.db, &id).await?.ok_or_else(AppError::not_found)?;
    service::correct(&p, &me, &id, delta, f(&m, "reason")).await?;
    Ok(Redirect::to(&format!("/volunteers/people/{}?ok=corrected", r.volunteer_id)).into_response())
}

pub async fn star_decide(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::decide_star(&p, &me, &id, f(&m, "decision") == "approve", f(&m, "note")).await?;
    Ok(Redirect::to("/volunteers/manage?ok=star_decided").into_response())
}

pub async fn config_submit(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let mut c =
        model::TimeBankConfig::preset(f(&m, "preset")).ok_or_else(|| AppError::bad_request("timebank.bad_preset", "预设方案无效").at_field("preset"))?;
    let opt_hours = |k: &str| -> AppResult<Option<i64>> {
        match f(&m, k).trim() {
            "" => Ok(None),
            s => model::parse_hours(s).map(Some).map_err(|e| e.at_field(k.to_owned())),
        }
    };
    if f(&m, "custom") == "1" {
        c.storage_cap = opt_hours("storage_cap")?;
        c.daily_cap = opt_hours("daily_cap")?;
        c.unlock_earned = opt_hours("unlock_earned")?;
        c.unlock_age = match f(&m, "unlock_age").trim() {
            "" => None,
            s => Some(s.parse().map_err(|_| AppError::bad_request("timebank.bad_age", "解锁年龄须为整数").at_field("unlock_age"))?),
        };
        c.overdraft = opt_hours("overdraft")?.unwrap_or(0);
        c.welcome = opt_hours("welcome")?.unwrap_or(0);
        c.gifts = f(&m, "gifts") == "1";
        // Off unless filled in: no authoritative expiry rule was found, so no preset sets one.
        c.expiry_days = match f(&m, "expiry_days").trim() {
            "" => None,
            s => Some(
                s.parse::<i64>()
                    .ok()
                    .filter(|d| (30..=36_500).contains(d))
                    .ok_or_else(|| AppError::bad_request("timebank.bad_expiry", "有效期须为 30–36500 天的整数，留空表示长期有效").at_field("expiry_days"))?,
            ),
        };
    }
    let stars = if f(&m, "stars").trim().is_empty() { model::StarLadder::default() } else { model::StarLadder::parse(f(&m, "stars"))? };
    service::set_config(&p, &me, f(&m, "unit"), &c, &stars).await?;
    Ok(Redirect::to("/volunteers/manage?ok=config").into_response())
}

pub async fn service_add(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let minutes = model::parse_hours(f(&m, "hours"))?;
    service::add_service(&p, &me, f(&m, "unit"), f(&m, "name"), minutes).await?;
    Ok(Redirect::to("/volunteers/manage?ok=service").into_response())
}

// ---------------------------------------------------------------------------------------------
// The statutory record and its proof

#[derive(Template)]
#[template(path = "vol_record.html")]
struct RecordPage {
    shell: Shell,
    flash: Option<String>,
    v: VolunteerRow,
    unit: String,
    own: bool,
    staff: bool,
    final_hours: String,
    star_next: Option<(i64, i64)>,
    records: Vec<RecordView>,
    /// (block label, [(date, content, issuer)])
    blocks: Vec<(&'static str, Vec<(String, String, String)>)>,
    note_blocks: Vec<(&'static str, &'static str)>,
    today: String,
    orgs: Vec<(String, String)>,
    /// For staff redeeming on the volunteer's behalf: her balance and the catalogue.
    balance: String,
    services: Vec<(String, String, String)>,
    idem: String,
}

async fn record_page(p: &Platform, site: &Site, me: &Principal, v: VolunteerRow, own: bool, ok: Option<&str>) -> AppResult<Response> {
    let now = p.now();
    let minutes = store::final_minutes(&p.db, &v.id, now).await?;
    let (_, ladder, _) = store::config_for(&p.db, &v.unit_code).await?;
    let star_next = ladder.0.get(v.stars as usize).map(|h| (v.stars + 1, *h));
    let notes = store::notes_of(&p.db, &v.id).await?;
    let balance = store::find_account(&p.db, Currency::Minutes, AccountKind::Person, &v.person_id).await?.map(|a| a.balance).unwrap_or(0);
    let services = store::services_for(&p.db, &v.unit_code).await?.into_iter().map(|s| (s.id, s.name, hm(s.minutes))).collect();
    let blocks = service::NOTE_BLOCKS
        .iter()
        .map(|(k, l)| (*l, notes.iter().filter(|n| n.block == *k).map(|n| (n.on_date.clone(), n.content.clone(), n.issuer.clone())).collect()))
        .collect();
    Ok(render(&RecordPage {
        shell: Shell::new(site, me, "志愿服务记录", "/volunteers"),
        flash: flash(ok),
        unit: unit_name(p, &v.unit_code).await,
        own,
        staff: me.scope(Permission::ManageVolunteers).contains(&UnitCode::parse(&v.unit_code).map_err(AppError::internal)?),
        final_hours: hm(minutes),
        star_next,
        records: record_views(p, store::records_of(&p.db, &v.id).await?).await?,
        blocks,
        note_blocks: service::NOTE_BLOCKS.to_vec(),
        today: Date::of_instant(now).to_string(),
        orgs: match me.require(Permission::ManageVolunteers) {
            Ok(scope) => store::orgs(&p.db, &scope).await?.into_iter().filter(|o| o.kind != "station").map(|o| (o.id, o.name)).collect(),
            Err(_) => Vec::new(),
        },
        balance: hm(balance),
        services,
        idem: platform::db::new_id(),
        v,
    }))
}

pub async fn my_record(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<OkQuery>) -> AppResult<Response> {
    let v = service::me_volunteer(&p, &me).await?;
    record_page(&p, &site, &me, v, true, q.ok.as_deref()).await
}

pub async fn person_record(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Query(q): Query<OkQuery>,
) -> AppResult<Response> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let v = store::volunteer_in(&p.db, &scope, &id).await?.ok_or_else(AppError::not_found)?;
    record_page(&p, &site, &me, v, false, q.ok.as_deref()).await
}

pub async fn note_add(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::add_note(&p, &me, &id, f(&m, "block"), f(&m, "content"), f(&m, "on_date")).await?;
    Ok(Redirect::to(&format!("/volunteers/people/{id}?ok=note")).into_response())
}

pub async fn star_apply(State(p): State<Platform>, Auth(me): Auth) -> AppResult<Response> {
    service::apply_star(&p, &me).await?;
    Ok(Redirect::to("/volunteers/me?ok=star").into_response())
}

pub async fn proof_issue(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let vid = Some(f(&m, "volunteer_id")).filter(|s| !s.is_empty());
    let no = service::issue_proof(&p, &me, vid).await?;
    Ok(Redirect::to(&format!("/volunteers/proofs/{no}")).into_response())
}

#[derive(Template)]
#[template(path = "vol_proof.html")]
struct ProofPage {
    shell: Shell,
    no: String,
    v: VolunteerRow,
    id_masked: String,
    unit: String,
    issued: String,
    hours: String,
    records: Vec<RecordView>,
    blocks: Vec<(&'static str, Vec<(String, String, String)>)>,
    stars: i64,
}

/// 志愿服务证明: printable; the volunteer's own, or a staff member's within scope.
pub async fn proof(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(no): Path<String>) -> AppResult<Response> {
    let pr = store::proof(&p.db, &no).await?.ok_or_else(AppError::not_found)?;
    let v = store::volunteer(&p.db, &pr.volunteer_id).await?.ok_or_else(AppError::not_found)?;
    let own = v.user_id.as_deref() == Some(me.user_id.as_str());
    if !own && !me.scope(Permission::ManageVolunteers).contains(&UnitCode::parse(&v.unit_code).map_err(AppError::internal)?) {
        return Err(AppError::not_found());
    }
    let finals: Vec<RecordRow> =
        store::records_of(&p.db, &v.id).await?.into_iter().filter(|r| r.state_at(pr.issued_ms) == RecordState::Final && r.created_ms <= pr.issued_ms).collect();
    let notes = store::notes_of(&p.db, &v.id).await?;
    let blocks = service::NOTE_BLOCKS
        .iter()
        .map(|(k, l)| {
            (
                *l,
                notes
                    .iter()
                    .filter(|n| n.block == *k && n.created_ms <= pr.issued_ms)
                    .map(|n| (n.on_date.clone(), n.content.clone(), n.issuer.clone()))
                    .collect(),
            )
        })
        .collect();
    let id_masked = registry::lookup::person(&p.db, &v.person_id).await?.and_then(|b| b.id_masked).unwrap_or_default();
    Ok(render(&ProofPage {
        shell: Shell::new(&site, &me, "志愿服务证明", "/volunteers"),
        no: pr.certificate_no,
        id_masked,
        unit: unit_name(&p, &v.unit_code).await,
        issued: format_beijing(pr.issued_ms),
        hours: hm(pr.minutes),
        records: record_views(&p, finals).await?,
        blocks,
        stars: v.stars,
        v,
    }))
}

/// The publication board (公示) of records in the caller's area.
#[derive(Template)]
#[template(path = "vol_publication.html")]
struct PublicationPage {
    shell: Shell,
    flash: Option<String>,
    records: Vec<RecordView>,
}

pub async fn publication(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<OkQuery>) -> AppResult<Response> {
    let scope = me.require(Permission::Participate)?;
    // Residents see their own village-level unit's board (a resident may hold a grid below it).
    let roots: Vec<UnitCode> = scope.roots().iter().map(|r| UnitCode::parse(&r.as_str()[..r.as_str().len().min(12)]).unwrap_or_else(|_| r.clone())).collect();
    let board = platform::Scope::new(roots);
    let rows: Vec<RecordRow> =
        store::records_in(&p.db, &board, "published", 200).await?.into_iter().filter(|r| r.state_at(p.now()) == RecordState::Published).collect();
    Ok(render(&PublicationPage {
        shell: Shell::new(&site, &me, "服务记录公示", "/volunteers"),
        flash: flash(q.ok.as_deref()),
        records: record_views(&p, rows).await?,
    }))
}

// ---------------------------------------------------------------------------------------------
// Time bank

#[derive(Template)]
#[template(path = "vol_timebank.html")]
struct TimebankPage {
    shell: Shell,
    flash: Option<String>,
    balance: String,
    balance_min: i64,
    rules: String,
    /// (id, content, hours)
    depositable: Vec<(String, String, String)>,
    services: Vec<(String, String, String, String)>,
    relatives: Vec<(String, String, String)>,
    /// (time, kind, amount signed, reason)
    history: Vec<(String, &'static str, String, String)>,
    idem_key: String,
}

pub async fn timebank(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<OkQuery>) -> AppResult<Response> {
    let v = service::me_volunteer(&p, &me).await?;
    let now = p.now();
    let acct = store::find_account(&p.db, Currency::Minutes, AccountKind::Person, &v.person_id).await?;
    let (cfg, _, _) = store::config_for(&p.db, &v.unit_code).await?;
    let mut depositable = Vec::new();
    for r in store::records_of(&p.db, &v.id).await? {
        if r.kind == "service" && r.state_at(now) == RecordState::Final && store::transfer_by_key(&p.db, &format!("deposit:{}", r.id)).await?.is_none() {
            depositable.push((r.id, r.content, hm(r.minutes)));
        }
    }
    let mut services = Vec::new();
    for s in store::services_for(&p.db, &v.unit_code).await? {
        services.push((s.id, s.name, hm(s.minutes), unit_name(&p, &s.unit_code).await));
    }
    let mut history = Vec::new();
    if let Some(a) = &acct {
        for t in store::history(&p.db, &a.id, 100).await? {
            let sign = if t.to_account == a.id { t.amount } else { -t.amount };
            history.push((format_beijing(t.created_ms), TransferKind::parse(&t.kind).map(|k| k.label()).unwrap_or(""), hm(sign), t.reason));
        }
    }
    let mut rules = vec![format!("方案：{}", cfg.preset)];
    if let Some(c) = cfg.storage_cap {
        rules.push(format!("存储上限 {}", hm(c)));
    }
    if let Some(c) = cfg.daily_cap {
        rules.push(format!("每日存入上限 {}", hm(c)));
    }
    match (cfg.unlock_age, cfg.unlock_earned) {
        (Some(a), Some(e)) => rules.push(format!("年满 {a} 周岁或累计服务 {} 后可兑换", hm(e))),
        (Some(a), None) => rules.push(format!("年满 {a} 周岁后可兑换")),
        (None, Some(e)) => rules.push(format!("累计服务 {} 后可兑换", hm(e))),
        (None, None) => {}
    }
    rules.push(if cfg.expiry_days.is_some() { "时长有有效期".into() } else { "时长长期有效".into() });
    Ok(render(&TimebankPage {
        shell: Shell::new(&site, &me, "时间银行", "/volunteers"),
        flash: flash(q.ok.as_deref()),
        balance_min: acct.as_ref().map(|a| a.balance).unwrap_or(0),
        balance: hm(acct.map(|a| a.balance).unwrap_or(0)),
        rules: rules.join("；"),
        depositable,
        services,
        relatives: store::relatives_of(&p.db, &v.id).await?.into_iter().map(|r| (r.id, r.name, r.relation)).collect(),
        history,
        idem_key: platform::db::new_id(),
    }))
}

pub async fn deposit(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    service::deposit(&p, &me, &id).await?;
    let r = store::record(&p.db, &id).await?.ok_or_else(AppError::not_found)?;
    let own = store::volunteer_of_user(&p.db, &me.user_id).await?.is_some_and(|v| v.id == r.volunteer_id);
    Ok(Redirect::to(&if own { "/volunteers/timebank?ok=deposited".to_owned() } else { format!("/volunteers/people/{}?ok=deposited", r.volunteer_id) })
        .into_response())
}

pub async fn redeem(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    service::redeem(&p, &me, f(&m, "service"), Some(f(&m, "idem_key"))).await?;
    Ok(Redirect::to("/volunteers/timebank?ok=redeemed").into_response())
}

/// 代兑换 of hours by staff for a volunteer at the counter.
pub async fn redeem_for(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::redeem_for(&p, &me, &id, f(&m, "service"), f(&m, "present") == "1", Some(f(&m, "idem_key"))).await?;
    Ok(Redirect::to(&format!("/volunteers/people/{id}?ok=redeemed_for")).into_response())
}

pub async fn relative_add(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    service::add_relative(&p, &me, f(&m, "name"), f(&m, "id_number"), f(&m, "relation")).await?;
    Ok(Redirect::to("/volunteers/timebank?ok=relative").into_response())
}

pub async fn give(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let minutes = model::parse_hours(f(&m, "hours"))?;
    let rel = Some(f(&m, "relative")).filter(|s| !s.is_empty() && *s != "pool");
    service::give(&p, &me, rel, minutes).await?;
    Ok(Redirect::to(if rel.is_some() { "/volunteers/timebank?ok=given" } else { "/volunteers/timebank?ok=donated" }).into_response())
}

// ---------------------------------------------------------------------------------------------
// Points bank

struct AwardView {
    id: String,
    household: String,
    item: String,
    points: i64,
    source: &'static str,
    evidence: String,
    state: String,
    by: String,
}

async fn award_views(p: &Platform, rows: Vec<store::AwardRow>) -> AppResult<Vec<AwardView>> {
    let mut out = Vec::new();
    for a in rows {
        let item = store::rule(&p.db, &a.rule_id).await?.map(|r| format!("{} {}", r.code, r.item)).unwrap_or_default();
        let mut household = registry::lookup::household(&p.db, &a.household_id).await?.map(|h| h.household_no).unwrap_or_default();
        if let Some(pid) = &a.person_id {
            let name = registry::lookup::person(&p.db, pid).await?.map(|b| b.name).unwrap_or_default();
            household.push_str(&format!(" · {name}（个人积分）"));
        }
        out.push(AwardView {
            household,
            item,
            points: a.points,
            source: model::source_label(&a.source),
            evidence: a.evidence,
            state: match a.state.as_str() {
                "submitted" => "待评议",
                "reviewed" => "待监督核查",
                "approved" => "已生效",
                "rejected" => "未通过",
                _ => "",
            }
            .into(),
            by: a.reviewed_by.unwrap_or_default(),
            id: a.id,
        });
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "vol_points.html")]
struct PointsPage {
    shell: Shell,
    flash: Option<String>,
    staff: bool,
    village: String,
    village_name: String,
    household: Option<(String, String, i64)>,
    /// The resident's own points: (name, balance).
    person: Option<(String, i64)>,
    /// May she spend the household's points (户主, or the rules let members)?
    may_household: bool,
    spend_label: &'static str,
    history: Vec<(String, String, String)>,
    items: Vec<(String, String, i64, i64)>,
    /// (id, version, state, meeting, [(code, item, points, evidence)])
    rule_sets: Vec<(String, i64, String, String, Vec<(String, String, i64, String)>)>,
    active_rules: Vec<(String, String, i64)>,
    queue: Vec<AwardView>,
    households: Vec<(String, String)>,
    /// Residents of the village for staff: (person id, "户号 姓名").
    residents: Vec<(String, String)>,
    redemptions: Vec<(String, String, String, i64, String)>,
    month: String,
}

pub async fn points(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<OkQuery>) -> AppResult<Response> {
    let staff = is_staff(&me);
    // The resident is the person her account is bound to; no volunteer registration is needed.
    let me_person = if me.can(Permission::Participate) { service::my_person(&p, &me).await.ok() } else { None };
    let household = match &me_person {
        Some(b) => match b.household_id.as_deref() {
            Some(h) => registry::lookup::household(&p.db, h).await?,
            None => None,
        },
        None => None,
    };
    let village = match (&q.unit, &household) {
        (Some(u), _) if staff => u.clone(),
        (_, Some(h)) => h.unit_code.chars().take(12).collect(),
        _ => {
            let scope = me.require(Permission::ManageVolunteers)?;
            let root = scope.roots().first().cloned().ok_or_else(AppError::forbidden)?;
            if root.level() == platform::scope::Level::Village {
                root.as_str().to_owned()
            } else {
                geography::store::current_of_kind(&p.db, &root, &[geography::model::UnitKind::Community, geography::model::UnitKind::Village])
                    .await?
                    .into_iter()
                    .next()
                    .map(|u| u.code)
                    .ok_or_else(AppError::not_found)?
            }
        }
    };
    let vcode = UnitCode::parse(&village).map_err(|_| AppError::not_found())?;
    let staff_here = me.scope(Permission::ManageVolunteers).contains(&vcode);
    let own_village = household.as_ref().is_some_and(|h| h.unit_code.starts_with(&village));
    if !staff_here && !own_village {
        return Err(AppError::not_found());
    }
    let mut hh_view = None;
    let mut history = Vec::new();
    if let Some(h) = &household {
        let acct = store::find_account(&p.db, Currency::Points, AccountKind::Household, &h.id).await?;
        if let Some(a) = &acct {
            for t in store::history(&p.db, &a.id, 50).await? {
                let sign = if t.to_account == a.id { t.amount } else { -t.amount };
                history.push((format_beijing(t.created_ms), format!("{sign:+}"), t.reason));
            }
        }
        hh_view = Some((h.id.clone(), h.household_no.clone(), acct.map(|a| a.balance).unwrap_or(0)));
    }
    let mut person_view = None;
    if let Some(b) = &me_person {
        let acct = store::find_account(&p.db, Currency::Points, AccountKind::Person, &b.id).await?;
        if let Some(a) = &acct {
            for t in store::history(&p.db, &a.id, 50).await? {
                let sign = if t.to_account == a.id { t.amount } else { -t.amount };
                history.push((format_beijing(t.created_ms), format!("{sign:+}"), format!("个人：{}", t.reason)));
            }
            history.sort_by(|a, b| b.0.cmp(&a.0));
        }
        person_view = Some((b.name.clone(), acct.map(|a| a.balance).unwrap_or(0)));
    }
    let spend = service::household_spend(&p, &village).await?;
    let may_household = me_person.as_ref().is_some_and(|b| spend.check(b.relation.as_deref()).is_ok());
    let mut rule_sets = Vec::new();
    for s in store::rule_sets(&p.db, &village).await? {
        let rules = store::rules_of(&p.db, &s.id).await?.into_iter().map(|r| (r.code, r.item, r.points, r.evidence)).collect();
        rule_sets.push((s.id, s.version, s.state, s.meeting_ref.unwrap_or_default(), rules));
    }
    let active_rules = match store::active_rule_set(&p.db, &village).await? {
        Some(s) => store::rules_of(&p.db, &s.id).await?.into_iter().map(|r| (r.code, r.item, r.points)).collect(),
        None => Vec::new(),
    };
    let mut queue = Vec::new();
    let mut households = Vec::new();
    let mut residents = Vec::new();
    let mut redemptions = Vec::new();
    if staff_here {
        let sc = platform::Scope::new(vec![vcode.clone()]);
        let mut rows = store::awards_in(&p.db, &sc, "submitted", 100).await?;
        rows.extend(store::awards_in(&p.db, &sc, "reviewed", 100).await?);
        queue = award_views(&p, rows).await?;
        households = registry::lookup::households_in(&p.db, &vcode, 300).await?.into_iter().map(|h| (h.id, h.household_no)).collect::<Vec<_>>();
        let hh_no: HashMap<&str, &str> = households.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        residents = registry::lookup::residents_in(&p.db, &vcode, 500)
            .await?
            .into_iter()
            .map(|b| {
                let no = b.household_id.as_deref().and_then(|h| hh_no.get(h).copied()).unwrap_or("无户");
                (b.id, format!("{no} {}", b.name))
            })
            .collect();
        for r in store::redemptions_in(&p.db, &village, 50).await? {
            let item = store::item(&p.db, &r.item_id).await?.map(|i| i.name).unwrap_or_default();
            let hh = registry::lookup::household(&p.db, &r.household_id).await?.map(|h| h.household_no).unwrap_or_default();
            let who = match &r.person_id {
                Some(pid) => registry::lookup::person(&p.db, pid).await?.map(|b| b.name).unwrap_or_default(),
                None => String::new(),
            };
            let mut how = if r.account_kind == "person" { format!("{who} 个人积分") } else { format!("{who} 家庭积分") };
            if let Some(s) = &r.assisted_by {
                how.push_str(&format!("，{s} 代办（本人在场）"));
            }
            redemptions.push((format_beijing(r.created_ms), hh, item, r.points, how));
        }
    }
    let items = store::items(&p.db, &village).await?.into_iter().map(|i| (i.id, i.name, i.price, i.stock)).collect();
    Ok(render(&PointsPage {
        shell: Shell::new(&site, &me, "积分银行", "/volunteers"),
        flash: flash(q.ok.as_deref()),
        staff: staff_here,
        village_name: unit_name(&p, &village).await,
        village,
        household: hh_view,
        person: person_view,
        may_household,
        spend_label: spend.label(),
        history,
        items,
        rule_sets,
        active_rules,
        queue,
        households,
        residents,
        redemptions,
        month: Date::of_instant(p.now()).to_string()[..7].to_owned(),
    }))
}

fn back_to_points(unit: &str, ok: &str) -> Response {
    Redirect::to(&format!("/volunteers/points?unit={unit}&ok={ok}")).into_response()
}

pub async fn rules_draft(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let spend = model::HouseholdSpend::parse(f(&m, "household_spend"))?;
    service::draft_rules_with(&p, &me, f(&m, "unit"), f(&m, "rules"), spend).await?;
    Ok(back_to_points(f(&m, "unit"), "rules"))
}

pub async fn rules_approve(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::approve_rules(&p, &me, &id, f(&m, "meeting")).await?;
    Ok(back_to_points(f(&m, "unit"), "approved"))
}

pub async fn award_submit(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    // A resident declares for her household or (whom=me) for herself; staff pick a household or a
    // person from the register.
    let (hh, person) = match (f(&m, "household"), f(&m, "person"), f(&m, "whom")) {
        ("", "", "me") => (String::new(), Some(service::my_person(&p, &me).await?.id)),
        ("", "", _) => (service::my_household(&p, &me).await?.id, None),
        (h, "", _) => (h.to_owned(), None),
        (_, pid, _) => (String::new(), Some(pid.to_owned())),
    };
    let source = if f(&m, "source").is_empty() { "self" } else { f(&m, "source") };
    service::submit_award(
        &p,
        &me,
        &service::Claim {
            household_id: &hh,
            person_id: person.as_deref(),
            rule_code: f(&m, "rule"),
            source,
            evidence: f(&m, "evidence"),
            idem_key: Some(f(&m, "idem_key")).filter(|s| !s.is_empty()),
            occurred_ms: p.now(),
        },
    )
    .await?;
    Ok(back_to_points(f(&m, "unit"), "award"))
}

pub async fn award_decide(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::decide_award(&p, &me, &id, f(&m, "decision") == "approve").await?;
    Ok(back_to_points(f(&m, "unit"), "decided"))
}

pub async fn award_object(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::object_award(&p, &me, &id, f(&m, "text")).await?;
    Ok(Redirect::to(&format!("/volunteers/points/publication?unit={}&ok=objected", f(&m, "unit"))).into_response())
}

pub async fn item_add(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let price: i64 = f(&m, "price").trim().parse().map_err(|_| AppError::bad_request("shop.bad_item", "积分价格须为正整数").at_field("price"))?;
    let stock: i64 = f(&m, "stock").trim().parse().map_err(|_| AppError::bad_request("shop.bad_item", "库存须为整数").at_field("stock"))?;
    service::add_item(&p, &me, f(&m, "unit"), f(&m, "name"), price, stock).await?;
    Ok(back_to_points(f(&m, "unit"), "item"))
}

pub async fn item_redeem(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    service::redeem_item(&p, &me, &id, model::Payer::parse(f(&m, "from"))?).await?;
    Ok(back_to_points(f(&m, "unit"), "bought"))
}

/// 代兑换 in the points shop: staff for a resident at the counter.
pub async fn item_redeem_for(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    service::redeem_item_for(&p, &me, f(&m, "person"), f(&m, "item"), model::Payer::parse(f(&m, "from"))?, f(&m, "present") == "1").await?;
    Ok(back_to_points(f(&m, "unit"), "assisted"))
}

#[derive(Template)]
#[template(path = "vol_points_publication.html")]
struct PointsPublicationPage {
    shell: Shell,
    flash: Option<String>,
    village: String,
    village_name: String,
    month: String,
    open: bool,
    deadline: String,
    /// (household no, total, [(award id, item, points, source)])
    rows: Vec<(String, i64, Vec<(String, String, i64, &'static str)>)>,
}

/// 月度公示: every household's points of the month with reasons, and the objection window.
pub async fn points_publication(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<OkQuery>) -> AppResult<Response> {
    let scope = me.require(Permission::Participate).or_else(|_| me.require(Permission::ManageVolunteers))?;
    let village = match &q.unit {
        Some(u) if !u.is_empty() => u.clone(),
        _ => scope.roots().first().map(|r| r.as_str().chars().take(12).collect()).unwrap_or_default(),
    };
    let vcode = UnitCode::parse(&village).map_err(|_| AppError::not_found())?;
    if !scope.contains(&vcode) && !scope.is_ancestor_of_scope(&vcode) {
        return Err(AppError::not_found());
    }
    let month = q.month.clone().unwrap_or_else(|| Date::of_instant(p.now()).to_string()[..7].to_owned());
    let (y, mo) = model::parse_month(&month)?;
    let (from, to) = model::month_range(y, mo);
    let awards = store::approved_between(&p.db, &vcode, from, to).await?;
    let mut by_hh: Vec<(String, i64, Vec<(String, String, i64, &'static str)>)> = Vec::new();
    let mut idx: HashMap<String, usize> = HashMap::new();
    for a in awards {
        let item = store::rule(&p.db, &a.rule_id).await?.map(|r| r.item).unwrap_or_default();
        // Household accounts and person accounts are listed apart: a person's line is her household
        // number with her name masked (the publication is posted in the village).
        let key = format!("{}|{}", a.household_id, a.person_id.as_deref().unwrap_or(""));
        let i = match idx.get(&key) {
            Some(i) => *i,
            None => {
                let mut label = registry::lookup::household(&p.db, &a.household_id).await?.map(|h| h.household_no).unwrap_or_default();
                if let Some(pid) = &a.person_id {
                    let name = registry::lookup::person(&p.db, pid).await?.map(|b| b.name).unwrap_or_default();
                    label.push_str(&format!(" · {}（个人）", model::mask_name(&name)));
                }
                by_hh.push((label, 0, Vec::new()));
                idx.insert(key, by_hh.len() - 1);
                by_hh.len() - 1
            }
        };
        by_hh[i].1 += a.points;
        by_hh[i].2.push((a.id, item, a.points, model::source_label(&a.source)));
    }
    by_hh.sort_by(|a, b| a.0.cmp(&b.0));
    let deadline = to + model::OBJECTION_DAYS * platform::clock::DAY;
    Ok(render(&PointsPublicationPage {
        shell: Shell::new(&site, &me, "积分月度公示", "/volunteers"),
        flash: flash(q.ok.as_deref()),
        village_name: unit_name(&p, &village).await,
        village,
        month,
        open: p.now() <= deadline,
        deadline: format_beijing(deadline),
        rows: by_hh,
    }))
}

// ---------------------------------------------------------------------------------------------
// The register of volunteers (staff)

#[derive(Template)]
#[template(path = "vol_people.html")]
struct PeoplePage {
    shell: Shell,
    q: String,
    /// (id, masked name, number, unit, stars, registered, hours)
    rows: Vec<(String, String, String, String, i64, String, String)>,
    pager: platform::web::Pager,
}

#[derive(serde::Deserialize, Default)]
pub struct PeopleQuery {
    q: Option<String>,
    page: Option<i64>,
}

pub async fn people(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<PeopleQuery>) -> AppResult<Response> {
    let scope = me.require(Permission::ManageVolunteers)?;
    let text = q.q.clone().unwrap_or_default();
    let (_, total) = store::volunteers(&p.db, &scope, &text, 0, 0).await?;
    let pager = platform::web::Pager::new(q.page, 50, total, format!("q={}&", platform::web::urlencode(&text)));
    let (list, _) = store::volunteers(&p.db, &scope, &text, 50, pager.offset()).await?;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::new();
    for v in list {
        if !names.contains_key(&v.unit_code) {
            names.insert(v.unit_code.clone(), unit_name(&p, &v.unit_code).await);
        }
        rows.push((
            v.id.clone(),
            registry::model::mask_name(&v.name),
            v.volunteer_no.clone(),
            names.get(&v.unit_code).cloned().unwrap_or_default(),
            v.stars,
            Date::of_instant(v.registered_ms).to_string(),
            hm(store::final_minutes(&p.db, &v.id, p.now()).await?),
        ));
    }
    Ok(render(&PeoplePage { shell: Shell::new(&site, &me, "志愿者名册", "/volunteers"), q: text, rows, pager }))
}

pub async fn assisted_register(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let r = Registration {
        name: f(&m, "name").trim().to_owned(),
        id_number: f(&m, "id_number").trim().to_owned(),
        phone: f(&m, "phone").trim().to_owned(),
        skills: f(&m, "skills").to_owned(),
        availability: f(&m, "availability").to_owned(),
        guardian_name: f(&m, "guardian_name").to_owned(),
        guardian_consent: f(&m, "guardian_consent") == "1",
    };
    let v = service::register_assisted(&p, &me, &r).await?;
    Ok(Redirect::to(&format!("/volunteers/people/{}?ok=registered", v.id)).into_response())
}

pub async fn manual_record(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(m): Fields) -> AppResult<Response> {
    let starts = parse_local(f(&m, "starts"), "starts")?;
    let ends = parse_local(f(&m, "ends"), "ends")?;
    service::record_manual(&p, &me, &id, f(&m, "org_id"), f(&m, "content"), starts, ends).await?;
    Ok(Redirect::to(&format!("/volunteers/people/{id}?ok=manual")).into_response())
}

pub async fn pool_grant(State(p): State<Platform>, Auth(me): Auth, Form(m): Fields) -> AppResult<Response> {
    let minutes = model::parse_hours(f(&m, "hours"))?;
    service::grant_from_pool(&p, &me, f(&m, "name"), f(&m, "id_number"), minutes, f(&m, "reason")).await?;
    Ok(Redirect::to("/volunteers/manage?ok=granted").into_response())
}
