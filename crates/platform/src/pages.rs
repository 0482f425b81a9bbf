//! The platform's own routes: sign-in and sign-out, account and role administration, the audit
//! viewer and export, `/api/v1/me`, `/healthz`, `/metrics` and the static assets.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};

use crate::Platform;
use crate::audit::{self, Event, Outcome};
use crate::auth::{self, Permission, Principal, Role, SESSION_COOKIE, SignIn};
use crate::clock::format_beijing;
use crate::error::{AppError, AppResult};
use crate::scope::UnitCode;
use crate::web::{AppState, Auth, ClientAddr, LOGIN_CSRF_COOKIE, Pager, Shell, Site, cookie, render, safe_next};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login_submit))
        .route("/login/totp", post(totp_submit))
        .route("/logout", post(logout))
        .route("/admin/accounts", get(accounts_page).post(account_create))
        .route("/admin/accounts/{username}/{op}", post(account_op))
        .route("/admin/grants", post(grant_submit))
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit/export.csv", get(audit_export))
        .route("/api/v1/me", get(api_me))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/static/app.css", get(crate::web::app_css))
        .route("/static/app.js", get(crate::web::app_js))
}

fn session_cookie(p: &Platform, token: &str, max_age: i64) -> String {
    let secure = if p.settings.secure_cookies { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

// ---------------------------------------------------------------------------------------------
// Sign-in

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    shell: Shell,
    csrf: String,
    next: String,
    username: String,
    totp: bool,
    notice: Option<String>,
    error: Option<(String, String)>,
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

fn login_page(
    csrf: Option<String>,
    next: String,
    username: String,
    totp: bool,
    notice: Option<String>,
    error: Option<&AppError>,
    status: StatusCode,
) -> Response {
    // The login form has no session yet, so its CSRF token is a double-submit cookie.
    let (csrf, set) = match csrf {
        Some(c) => (c, None),
        None => {
            let c = hex::encode(rand::random::<[u8; 16]>());
            (c.clone(), Some(format!("{LOGIN_CSRF_COOKIE}={c}; Path=/login; HttpOnly; SameSite=Strict")))
        }
    };
    let page =
        LoginPage { shell: Shell::anonymous("登录"), csrf, next, username, totp, notice, error: error.map(|e| (e.code.to_owned(), e.message.clone())) };
    let mut res = render(&page);
    *res.status_mut() = status;
    if let Some(c) = set.and_then(|c| c.parse().ok()) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

async fn login_form(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let notice = q.expired.map(|_| "会话已超时（30 分钟无操作），请重新登录。".to_owned());
    login_page(cookie(&headers, LOGIN_CSRF_COOKIE), safe_next(q.next.as_deref()), String::new(), false, notice, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

fn signed_in(p: &Platform, token: &str, next: &str) -> Response {
    let mut res = Redirect::to(next).into_response();
    if let Ok(v) = session_cookie(p, token, 12 * 3600).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Signs in from the form. CSRF was checked by the middleware (double-submit cookie).
async fn login_submit(State(p): State<Platform>, headers: HeaderMap, ClientAddr(client): ClientAddr, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let csrf = cookie(&headers, LOGIN_CSRF_COOKIE);
    match auth::sign_in(&p, &f.username, &f.password, &client).await {
        Ok(SignIn::Done(token)) => signed_in(&p, &token, &next),
        Ok(SignIn::NeedTotp(pending)) => {
            let mut res = login_page(csrf, next, f.username, true, None, None, StatusCode::OK);
            if let Ok(v) = format!("jiceng_pending={pending}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=300").parse() {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => {
            let status = e.status;
            login_page(csrf, next, f.username, false, None, Some(&e), status)
        }
    }
}

#[derive(Deserialize)]
struct TotpForm {
    code: String,
    next: Option<String>,
}

async fn totp_submit(State(p): State<Platform>, headers: HeaderMap, ClientAddr(client): ClientAddr, Form(f): Form<TotpForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let csrf = cookie(&headers, LOGIN_CSRF_COOKIE);
    let pending = cookie(&headers, "jiceng_pending").unwrap_or_default();
    match auth::complete_totp(&p, &pending, &f.code, &client).await {
        Ok(token) => signed_in(&p, &token, &next),
        Err(e) => {
            let status = e.status;
            login_page(csrf, next, String::new(), false, None, Some(&e), status)
        }
    }
}

async fn logout(State(p): State<Platform>, headers: HeaderMap, Auth(me): Auth) -> AppResult<Response> {
    if let Some(t) = cookie(&headers, SESSION_COOKIE) {
        auth::sign_out(&p, &t, &me.actor()).await?;
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = session_cookie(&p, "", 0).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

// ---------------------------------------------------------------------------------------------
// Accounts and roles

struct AccountRow {
    username: String,
    display_name: String,
    home_unit: String,
    /// (role label, unit code, role machine name)
    grants: Vec<(String, String, String)>,
    disabled: bool,
    locked: bool,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    shell: Shell,
    rows: Vec<AccountRow>,
    pager: Pager,
    q: String,
    can_manage: bool,
    can_grant: bool,
    roles: Vec<(&'static str, &'static str)>,
    flash: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
}

async fn accounts_view(p: &Platform, site: &Site, me: &Principal, q: ListQuery, flash: Option<String>, error: Option<String>) -> AppResult<Response> {
    let scope = me.require(Permission::ViewAccounts)?;
    let text = q.q.unwrap_or_default();
    let per_page = 50;
    let (_, total) = auth::list_accounts(&p.db, &scope, &text, 0, 0).await?;
    let pager = Pager::new(q.page, per_page, total, format!("q={}&", crate::web::urlencode(&text)));
    let (list, _) = auth::list_accounts(&p.db, &scope, &text, per_page, pager.offset()).await?;
    let now = p.now();
    let rows = list
        .into_iter()
        .map(|v| AccountRow {
            grants: v.grants.iter().map(|g| (g.role.label().to_owned(), g.unit.to_string(), g.role.name().to_owned())).collect(),
            username: v.account.username,
            display_name: v.account.display_name,
            home_unit: v.account.home_unit,
            disabled: v.account.disabled != 0,
            locked: v.account.locked_until.is_some_and(|u| u > now),
        })
        .collect();
    let page = AccountsPage {
        shell: Shell::new(site, me, "账户与角色", "/admin/accounts"),
        rows,
        pager,
        q: text,
        can_manage: me.can(Permission::ManageAccounts),
        can_grant: me.can(Permission::GrantRoles),
        roles: Role::ALL.iter().map(|r| (r.name(), r.label())).collect(),
        flash,
        error,
    };
    Ok(render(&page))
}

async fn accounts_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<ListQuery>) -> AppResult<Response> {
    accounts_view(&p, &site, &me, q, None, None).await
}

/// Renders the list with the outcome of an action: its message, or its error (in the page, with
/// the error's status) when the error is one a person can fix.
async fn after_action(p: &Platform, site: &Site, me: &Principal, r: AppResult<String>) -> AppResult<Response> {
    match r {
        Ok(msg) => accounts_view(p, site, me, ListQuery::default(), Some(msg), None).await,
        Err(e) if e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::CONFLICT => {
            let mut res = accounts_view(p, site, me, ListQuery::default(), None, Some(e.human())).await?;
            *res.status_mut() = e.status;
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

/// The unit must exist and lie within `scope`; otherwise it is "not found" (404).
async fn unit_in_scope(site: &Site, p: &Platform, code: &str, scope: &crate::Scope) -> AppResult<UnitCode> {
    let code = UnitCode::parse(code).map_err(|e| AppError::bad_request("unit.bad_code", e.to_string()).at_field("unit"))?;
    if !scope.contains(&code) || site.units.name_of(&p.db, &code).await?.is_none() {
        return Err(AppError::not_found());
    }
    Ok(code)
}

async fn account_home_in_scope(p: &Platform, username: &str, scope: &crate::Scope) -> AppResult<()> {
    match auth::find_account(&p.db, username).await? {
        Some(a) if UnitCode::parse(&a.home_unit).is_ok_and(|u| scope.contains(&u)) => Ok(()),
        _ => Err(AppError::not_found()),
    }
}

#[derive(Deserialize)]
struct NewAccount {
    username: String,
    display_name: String,
    home_unit: String,
}

async fn account_create(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Form(f): Form<NewAccount>) -> AppResult<Response> {
    let scope = me.require(Permission::ManageAccounts)?;
    let r = async {
        let unit = unit_in_scope(&site, &p, &f.home_unit, &scope).await?;
        let password = auth::generate_password();
        let mut tx = p.db.begin().await?;
        auth::create_account(&mut tx, p.now(), &me.actor(), &f.username, &f.display_name, &unit, &password, p.settings.cheap_hashing).await?;
        tx.commit().await?;
        Ok(format!("已创建账户 {}，初始密码：{password}（只显示这一次）", f.username.trim()))
    }
    .await;
    after_action(&p, &site, &me, r).await
}

async fn account_op(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path((username, op)): Path<(String, String)>,
    Form(f): Form<RevokeForm>,
) -> AppResult<Response> {
    let r = async {
        let now = p.now();
        let actor = me.actor();
        if op == "revoke" {
            let scope = me.require(Permission::GrantRoles)?;
            let role = Role::parse(&f.role.unwrap_or_default()).ok_or_else(|| AppError::bad_request("auth.bad_role", "未知角色").at_field("role"))?;
            let unit = unit_in_scope(&site, &p, &f.unit.unwrap_or_default(), &scope).await?;
            let mut tx = p.db.begin().await?;
            auth::revoke_role(&mut tx, now, &actor, &username, role, &unit).await?;
            tx.commit().await?;
            return Ok(format!("已撤销 {username} 的「{}」角色（{unit}）", role.label()));
        }
        let scope = me.require(Permission::ManageAccounts)?;
        account_home_in_scope(&p, &username, &scope).await?;
        let mut tx = p.db.begin().await?;
        let msg = match op.as_str() {
            "disable" if username == me.username => {
                return Err(AppError::bad_request("auth.self_disable", "不能停用自己的账户"));
            }
            "disable" => {
                auth::set_disabled(&mut tx, now, &actor, &username, true).await?;
                format!("已停用账户 {username}，其会话与 API 令牌已失效")
            }
            "enable" => {
                auth::set_disabled(&mut tx, now, &actor, &username, false).await?;
                format!("已启用账户 {username}")
            }
            "reset" => {
                let pw = auth::generate_password();
                auth::reset_password(&mut tx, now, &actor, &username, &pw, p.settings.cheap_hashing).await?;
                format!("已重置 {username} 的密码并解除锁定，新密码：{pw}（只显示这一次）")
            }
            _ => return Err(AppError::not_found()),
        };
        tx.commit().await?;
        Ok(msg)
    }
    .await;
    after_action(&p, &site, &me, r).await
}

#[derive(Deserialize)]
struct RevokeForm {
    role: Option<String>,
    unit: Option<String>,
}

#[derive(Deserialize)]
struct GrantForm {
    username: String,
    role: String,
    unit: String,
}

async fn grant_submit(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Form(f): Form<GrantForm>) -> AppResult<Response> {
    let scope = me.require(Permission::GrantRoles)?;
    let r = async {
        let role = Role::parse(&f.role).ok_or_else(|| AppError::bad_request("auth.bad_role", "未知角色").at_field("role"))?;
        let unit = unit_in_scope(&site, &p, &f.unit, &scope).await?;
        let username = f.username.trim();
        if username == me.username {
            return Err(AppError::bad_request("auth.self_grant", "三员分立：不能给自己授予角色"));
        }
        account_home_in_scope(&p, username, &scope).await?;
        let mut tx = p.db.begin().await?;
        let secret = auth::grant_role(&mut tx, p.now(), &me.actor(), username, role, &unit).await?;
        tx.commit().await?;
        Ok(match secret {
            Some(s) => format!("已授予 {username}「{}」（{unit}）。管理员须使用动态口令登录，密钥：{s}（只显示这一次，请录入认证器）", role.label()),
            None => format!("已授予 {username}「{}」（{unit}）", role.label()),
        })
    }
    .await;
    after_action(&p, &site, &me, r).await
}

// ---------------------------------------------------------------------------------------------
// Audit viewer

struct AuditRow {
    seq: i64,
    time: String,
    actor: String,
    unit: String,
    action: String,
    target: String,
    outcome: String,
    client: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    shell: Shell,
    rows: Vec<AuditRow>,
    pager: Pager,
    actor: String,
    action: String,
    chain: String,
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    page: Option<i64>,
}

fn outcome_label(o: &str) -> &'static str {
    match o {
        "ok" => "成功",
        "denied" => "拒绝",
        _ => "失败",
    }
}

async fn audit_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<AuditQuery>) -> AppResult<Response> {
    let scope = me.require(Permission::ViewAudit)?;
    let filter = audit::Filter { actor: q.actor.clone(), action: q.action.clone(), ..Default::default() };
    let per_page = 100;
    let (_, total) = audit::list(&p.db, &filter, &scope, 0, 0).await?;
    let actor = q.actor.unwrap_or_default();
    let action = q.action.unwrap_or_default();
    let pager = Pager::new(q.page, per_page, total, format!("actor={}&action={}&", crate::web::urlencode(&actor), crate::web::urlencode(&action)));
    let (records, _) = audit::list(&p.db, &filter, &scope, per_page, pager.offset()).await?;
    let v = audit::verify(&p.db).await?;
    let chain = match v.first_break {
        None => format!("完整（已校验 {} 条）", v.checked),
        Some(b) => format!("⚠ {b}"),
    };
    // Reading the audit log is itself audited.
    audit::record_alone(
        &p.db,
        p.now(),
        &Event { actor: &me.actor(), unit: None, action: "audit.view", target: "audit_log", outcome: Outcome::Ok, detail: &format!("page {}", pager.page) },
    )
    .await?;
    let rows = records
        .into_iter()
        .map(|r| AuditRow {
            seq: r.seq,
            time: format_beijing(r.at_ms),
            outcome: outcome_label(&r.outcome).to_owned(),
            actor: r.actor,
            unit: r.unit_code.unwrap_or_default(),
            action: r.action,
            target: r.target,
            client: r.client_addr,
            detail: r.detail,
        })
        .collect();
    Ok(render(&AuditPage { shell: Shell::new(&site, &me, "审计日志", "/admin/audit"), rows, pager, actor, action, chain }))
}

/// CSV with a UTF-8 byte-order mark so Excel on Windows opens the Chinese text correctly.
async fn audit_export(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<AuditQuery>) -> AppResult<Response> {
    let scope = me.require(Permission::ViewAudit)?;
    let filter = audit::Filter { actor: q.actor, action: q.action, ..Default::default() };
    let (records, total) = audit::list(&p.db, &filter, &scope, 100_000, 0).await?;
    let mut out = String::from("\u{feff}序号,时间,操作人,单位,操作,对象,结果,来源地址,说明,哈希\r\n");
    for r in &records {
        let cells = [
            r.seq.to_string(),
            format_beijing(r.at_ms),
            r.actor.clone(),
            r.unit_code.clone().unwrap_or_default(),
            r.action.clone(),
            r.target.clone(),
            outcome_label(&r.outcome).to_owned(),
            r.client_addr.clone(),
            r.detail.clone(),
            r.hash.clone(),
        ];
        out.push_str(&cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    audit::record_alone(
        &p.db,
        p.now(),
        &Event { actor: &me.actor(), unit: None, action: "audit.export", target: "audit_log", outcome: Outcome::Ok, detail: &format!("{total} rows") },
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"audit-log.csv\"")], out).into_response())
}

/// Quotes a CSV cell, and defuses cells that spreadsheet programs would run as formulas.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

// ---------------------------------------------------------------------------------------------
// API and operations

#[derive(Serialize)]
struct MeGrant {
    role: &'static str,
    role_label: &'static str,
    unit: String,
}

#[derive(Serialize)]
struct Me {
    username: String,
    display_name: String,
    home_unit: String,
    grants: Vec<MeGrant>,
}

/// The caller's identity and grants.
async fn api_me(Auth(me): Auth) -> Json<serde_json::Value> {
    let m = Me {
        grants: me.grants.iter().map(|g| MeGrant { role: g.role.name(), role_label: g.role.label(), unit: g.unit.to_string() }).collect(),
        username: me.username,
        display_name: me.display_name,
        home_unit: me.home_unit.to_string(),
    };
    Json(serde_json::to_value(m).unwrap_or_default())
}

async fn healthz(State(p): State<Platform>) -> Response {
    match p.db.scalar(crate::sql!("SELECT CAST(1 AS BIGINT)")).await {
        Ok(_) => Json(serde_json::json!({"status": "ok", "database": format!("{:?}", p.db.engine()).to_lowercase()})).into_response(),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "error", "code": "db.unavailable", "message": format!("数据库不可用：{e}")})))
                .into_response()
        }
    }
}

/// Aggregate counters only: no identifiers, no personal data.
async fn metrics(State(p): State<Platform>) -> Response {
    let sessions = p.db.scalar(crate::sql!("SELECT COUNT(*) FROM sessions")).await.unwrap_or(-1);
    let audit = p.db.scalar(crate::sql!("SELECT seq FROM audit_head WHERE id = 1")).await.unwrap_or(-1);
    let (group_commits, group_jobs) = p.db.group_commit_stats();
    let body = p.metrics.render(&[
        ("jiceng_sessions", "Open sessions.", sessions),
        ("jiceng_audit_records", "Records in the audit chain.", audit),
        ("jiceng_group_commits", "SQLite group commits written since start.", group_commits as i64),
        ("jiceng_group_commit_jobs", "Writes (e.g. reports) carried by those commits.", group_jobs as i64),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
