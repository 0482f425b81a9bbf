//! HTTP plumbing shared by every slice: who is asking (session cookie or bearer token), CSRF,
//! security headers, metrics, errors rendered as pages, the page shell and the pager.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::Platform;
use crate::auth::{self, Permission, Principal, SESSION_COOKIE, SessionState, TOKEN_PREFIX};
use crate::db::{Db, DbResult};
use crate::error::{AppError, ErrorInfo};
use crate::scope::UnitCode;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the platform asks the geography slice about units without reading its tables.
pub trait UnitDirectory: Send + Sync + 'static {
    /// The unit's display name if it exists and is currently valid.
    fn name_of<'a>(&'a self, db: &'a Db, code: &'a UnitCode) -> BoxFuture<'a, DbResult<Option<String>>>;
}

/// Something another slice keeps about a record, shown on that record's page (an event about a
/// person, later a service record) without the page's slice reading the other's tables.
#[derive(Clone, Debug)]
pub struct RelatedItem {
    pub href: String,
    pub label: String,
    pub detail: String,
}

/// How a page asks other slices what they hold about a person.
pub trait RelatedDirectory: Send + Sync + 'static {
    fn about_person<'a>(&'a self, db: &'a Db, person_id: &'a str) -> BoxFuture<'a, DbResult<Vec<RelatedItem>>>;
    /// What other slices hold about a registered house (events there, devices installed).
    fn about_house<'a>(&'a self, _db: &'a Db, _house_id: &'a str) -> BoxFuture<'a, DbResult<Vec<RelatedItem>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// No other slice mounted.
pub struct NothingRelated;

impl RelatedDirectory for NothingRelated {
    fn about_person<'a>(&'a self, _db: &'a Db, _person_id: &'a str) -> BoxFuture<'a, DbResult<Vec<RelatedItem>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// One entry of the main navigation, shown to those who hold any of `permissions` somewhere
/// (everyone when empty).
#[derive(Clone, Debug)]
pub struct NavEntry {
    pub href: &'static str,
    pub label: &'static str,
    pub permissions: &'static [Permission],
}

/// What every page handler needs beside the platform: the navigation and the unit directory.
#[derive(Clone)]
pub struct Site {
    pub nav: Arc<Vec<NavEntry>>,
    pub units: Arc<dyn UnitDirectory>,
    pub related: Arc<dyn RelatedDirectory>,
}

/// The router state: the platform plus the site furniture. Handlers extract either half.
#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
    pub site: Site,
}

impl axum::extract::FromRef<AppState> for Platform {
    fn from_ref(s: &AppState) -> Platform {
        s.platform.clone()
    }
}

impl axum::extract::FromRef<AppState> for Site {
    fn from_ref(s: &AppState) -> Site {
        s.site.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Who is asking

/// Result of authentication, left in request extensions by [`authenticate`].
#[derive(Clone)]
pub struct AuthState {
    pub principal: Option<Principal>,
    pub session_expired: bool,
    /// A bearer token was sent but is unknown or revoked. Only Open311 routes get this far with
    /// one: they must answer in the Open311 error shape, which only their handlers can write.
    pub bad_token: bool,
}

/// The client address as seen by this server.
pub fn client_addr(parts_ext: &axum::http::Extensions) -> String {
    parts_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))?.trim();
    Some(t.to_owned())
}

pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/open311/")
}

/// Resolves the session cookie or bearer token once per request.
pub async fn authenticate(State(p): State<Platform>, mut req: Request, next: Next) -> Response {
    let client = client_addr(req.extensions());
    let mut state = AuthState { principal: None, session_expired: false, bad_token: false };
    let headers = req.headers().clone();
    let open311 = req.uri().path().starts_with("/open311/");
    if let Some(t) = bearer(&headers) {
        let resolved = if t.starts_with(TOKEN_PREFIX) { auth::resolve_token(&p, &t, &client).await } else { Ok(None) };
        match resolved {
            Ok(Some(pr)) => state.principal = Some(pr),
            Ok(None) if open311 => state.bad_token = true,
            Ok(None) => {
                return AppError::new(StatusCode::UNAUTHORIZED, "auth.bad_token", "API 令牌无效或已吊销").into_response();
            }
            Err(e) => return e.into_response(),
        }
    } else if let Some(t) = cookie(&headers, SESSION_COOKIE) {
        match auth::resolve_session(&p, &t, &client).await {
            Ok(SessionState::Valid(pr)) => state.principal = Some(*pr),
            Ok(SessionState::Expired) => state.session_expired = true,
            Ok(SessionState::Missing) => {}
            Err(e) => return e.into_response(),
        }
    }
    req.extensions_mut().insert(state);
    next.run(req).await
}

/// Extractor for handlers that need a signed-in principal. Pages redirect to the login form; API
/// routes answer 401 JSON.
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let st = parts.extensions.get::<AuthState>().cloned().unwrap_or(AuthState { principal: None, session_expired: false, bad_token: false });
        if let Some(p) = st.principal {
            return Ok(Auth(p));
        }
        let path = parts.uri.path();
        if is_api(path) {
            let e = if st.session_expired {
                AppError::new(StatusCode::UNAUTHORIZED, "auth.session_expired", "会话已超时，请重新登录")
            } else {
                AppError::unauthenticated()
            };
            return Err(e.into_response());
        }
        let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut to = format!("/login?next={}", urlencode(next));
        if st.session_expired {
            to.push_str("&expired=1");
        }
        Err(Redirect::to(&to).into_response())
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only local paths are followed after login, so `next` cannot send a user to another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// CSRF

/// The form field (or `X-CSRF-Token` header) that carries the session's CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
/// Cookie for the login form's double-submit token (there is no session yet).
pub const LOGIN_CSRF_COOKIE: &str = "jiceng_login_csrf";

fn csrf_error() -> Response {
    AppError::new(StatusCode::FORBIDDEN, "auth.csrf", "页面已过期或请求来源不明（CSRF 校验失败），请刷新页面后重试").into_response()
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    std::str::from_utf8(body).ok()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| form_decode(v))
    })
}

/// A form-urlencoded body (or query string) as decoded (name, value) pairs in order; repeated names
/// (check boxes) stay repeated.
pub fn form_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

pub fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                Ok(v) => {
                    out.push(v);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every state-changing request made with a session cookie must come from our own pages: the
/// `Origin` (when sent) must match the host, and the session's token must be in the form or header.
/// Bearer-token clients send no cookies and need no token. The login form uses a double-submit cookie.
pub async fn csrf(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    if let (Some(origin), Some(host)) = (headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()), headers.get(header::HOST).and_then(|v| v.to_str().ok())) {
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin != "null" && origin_host != host {
            return csrf_error();
        }
    }
    let st = req.extensions().get::<AuthState>().cloned();
    let expected = match st.as_ref().and_then(|s| s.principal.as_ref()) {
        Some(p) if p.via == auth::Via::Token => return next.run(req).await,
        Some(p) => p.csrf.clone(),
        // The login form has no session yet: it must carry the double-submit cookie.
        None if req.uri().path().starts_with("/login") => match cookie(req.headers(), LOGIN_CSRF_COOKIE) {
            Some(c) => c,
            None => return csrf_error(),
        },
        // Not signed in: the handler's `Auth` extractor answers (redirect or 401).
        None => return next.run(req).await,
    };
    if let Some(h) = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return if constant_eq(h, &expected) { next.run(req).await } else { csrf_error() };
    }
    let is_form = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let in_query = req.uri().query().and_then(|q| form_field(q.as_bytes(), CSRF_FIELD));
    if let Some(t) = in_query {
        return if constant_eq(&t, &expected) { next.run(req).await } else { csrf_error() };
    }
    if !is_form {
        return csrf_error();
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4 * 1024 * 1024).await else {
        return AppError::bad_request("request.too_large", "提交的内容过大").into_response();
    };
    match form_field(&bytes, CSRF_FIELD) {
        Some(t) if constant_eq(&t, &expected) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        _ => csrf_error(),
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0 && !b.is_empty()
}

// ---------------------------------------------------------------------------------------------
// Headers, metrics, errors

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

pub async fn track_metrics(State(p): State<Platform>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    p.metrics.observe(&method, &route, res.status().as_u16(), started.elapsed().as_secs_f64());
    res
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    shell: Shell,
    status: u16,
    code: String,
    message: String,
}

/// Page routes: errors become an HTML page in the shell, with the same status and code.
pub async fn html_errors(State(site): State<Site>, req: Request, next: Next) -> Response {
    let api = is_api(req.uri().path());
    let principal = req.extensions().get::<AuthState>().and_then(|s| s.principal.clone());
    let res = next.run(req).await;
    if api {
        return res;
    }
    let Some(ErrorInfo(e)) = res.extensions().get::<ErrorInfo>().cloned() else {
        return res;
    };
    let shell = match &principal {
        Some(p) => Shell::new(&site, p, "出错了", ""),
        None => Shell::anonymous("出错了"),
    };
    let page = ErrorPage { shell, status: e.status.as_u16(), code: e.code.to_owned(), message: e.human() };
    let mut out = render(&page);
    *out.status_mut() = e.status;
    out
}

/// axum answers malformed requests (a bad query string, a wrong body type) itself, in English plain
/// text. Turn those into our error shape so clients get a code and people a Chinese page.
pub async fn plain_rejections(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let plain = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() && plain) || res.extensions().get::<ErrorInfo>().is_some() {
        return res;
    }
    let detail = match axum::body::to_bytes(res.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let (code, msg) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("request.too_large", "提交的内容过大".to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("request.bad_content_type", "请求的内容类型不正确".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("request.bad_method", "不支持该请求方法".to_owned()),
        _ => ("request.bad_input", format!("请求参数格式错误（{}）", detail.trim())),
    };
    AppError::new(status, code, msg).into_response()
}

/// Catch-all for unknown paths.
pub async fn not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "not_found", "页面不存在")
}

// ---------------------------------------------------------------------------------------------
// Page shell

#[derive(Clone, Debug)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

/// What the layout needs on every page.
#[derive(Clone, Debug)]
pub struct Shell {
    pub title: String,
    pub user: Option<String>,
    pub roles: String,
    pub csrf: String,
    pub nav: Vec<NavLink>,
}

impl Shell {
    pub fn new(site: &Site, p: &Principal, title: &str, active: &str) -> Self {
        let nav = site
            .nav
            .iter()
            .filter(|n| n.permissions.is_empty() || n.permissions.iter().any(|perm| p.can(*perm)))
            .map(|n| NavLink { href: n.href, label: n.label, active: n.href == active })
            .collect();
        let mut roles: Vec<&str> = p.grants.iter().map(|g| g.role.label()).collect();
        roles.dedup();
        Self { title: title.to_owned(), user: Some(p.display_name.clone()), roles: roles.join("、"), csrf: p.csrf.clone(), nav }
    }
    pub fn anonymous(title: &str) -> Self {
        Self { title: title.to_owned(), user: None, roles: String::new(), csrf: String::new(), nav: Vec::new() }
    }
}

pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => AppError::internal(e).into_response(),
    }
}

/// Paging for tables: 1-based page numbers, links that keep the other query parameters.
#[derive(Clone, Debug)]
pub struct Pager {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    /// Query string without `page`, e.g. `q=%E5%B1%B1&`.
    pub base_query: String,
}

impl Pager {
    pub fn new(page: Option<i64>, per_page: i64, total: i64, base_query: String) -> Self {
        let pages = ((total + per_page - 1) / per_page).max(1);
        Self { page: page.unwrap_or(1).clamp(1, pages), per_page, total, base_query }
    }
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
    pub fn has_prev(&self) -> bool {
        self.page > 1
    }
    pub fn has_next(&self) -> bool {
        self.page < self.pages()
    }
    pub fn href(&self, page: i64) -> String {
        format!("?{}page={page}", self.base_query)
    }
    pub fn prev_href(&self) -> String {
        self.href(self.page - 1)
    }
    pub fn next_href(&self) -> String {
        self.href(self.page + 1)
    }
}

pub const APP_CSS: &str = include_str!("../static/app.css");
pub const APP_JS: &str = include_str!("../static/app.js");

pub async fn app_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], APP_CSS).into_response()
}

pub async fn app_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], APP_JS).into_response()
}

/// The client's address (from the connection; "unknown" in in-process tests).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(&parts.extensions)))
    }
}
