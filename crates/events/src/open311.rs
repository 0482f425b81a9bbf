//! Open311 GeoReport v2 at `/open311/v2`, on top of the event service.
//!
//! - `GET  services.{json|xml}`: one service per active event type; `GET services/{code}.{fmt}`: its
//!   (empty) definition.
//! - `POST requests.{fmt}` (form-urlencoded): reports an event with the `api_key`'s account as the
//!   reporter and `source = Open311`. Extensions: `address_id` = the 12- or 15-digit village/community,
//!   compound or grid code (default: the account's home unit when it is that low), `crs` =
//!   wgs84|gcj02|bd09 for `lat`/`long`, and `Idempotency-Key` (header) or `idempotency_key`.
//! - `GET  requests.{fmt}` and `requests/{id}.{fmt}`: the caller's visible events; `api_key` is
//!   required here too, because city data is not public. Extensions: `page`, `page_size` (≤ 500).
//! - `GET  discovery.{fmt}`.
//!
//! `service_request_id` is the event number (20261125-0001). Times are ISO 8601 in Beijing time
//! (`+08:00`). Errors are Open311 error lists with the HTTP status as `code` and the Chinese message as
//! `description`; every answer under `/open311/v2/` (unknown paths and methods included) comes from
//! here, so clients never see another error shape.
//!
//! Personal data: the account behind the `api_key` is the reporter and hears about progress. The
//! contact fields a client may send for its own user (`first_name`, `last_name`, `email`, `phone`,
//! `device_id`, `account_id`) are not stored: the client keeps its users' details, we keep the case.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Number, Value as Json};

use platform::auth::{self, Permission, Principal, TOKEN_PREFIX, Via};
use platform::clock::{DAY, Date, HOUR, MINUTE, Millis, SECOND, format_beijing};
use platform::db::Sql;
use platform::error::ErrorInfo;
use platform::scope::{Level, Scope, UnitCode};
use platform::web::{AppState, AuthState, client_addr, form_decode};
use platform::{AppError, AppResult, Platform, sql};

use crate::model::{State as EvState, WorkCalendar};
use crate::service::{self, Report};
use crate::store::{self, EventRow, TypeRow};

pub const BASE: &str = "/open311/v2";
/// What `source` an Open311 report carries.
pub const SOURCE: &str = "Open311";
const MAX_BODY: usize = 64 * 1024;
const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 500;
const MAX_IDS: usize = 500;
const MAX_IDEM_KEY: usize = 64;
const CHANGESET: &str = "2026-05-01T00:00:00+08:00";

pub fn router() -> Router<AppState> {
    Router::new().route("/open311/v2/{*path}", any(entry))
}

// ---------------------------------------------------------------------------------------------
// Documents: one value model written as JSON or as XML

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// A response value. Lists name the element of each item for XML (`<services><service>…`).
#[derive(Clone, Debug)]
enum V {
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    Null,
    List(&'static str, Vec<V>),
    Obj(Vec<(&'static str, V)>),
}

fn s(v: impl Into<String>) -> V {
    V::Str(v.into())
}

impl V {
    fn json(&self) -> Json {
        match self {
            V::Str(x) => Json::String(x.clone()),
            V::Int(n) => Json::from(*n),
            V::Num(f) => Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
            V::Bool(b) => Json::Bool(*b),
            V::Null => Json::Null,
            V::List(_, xs) => Json::Array(xs.iter().map(V::json).collect()),
            V::Obj(fs) => Json::Object(fs.iter().map(|(k, v)| ((*k).to_owned(), v.json())).collect()),
        }
    }

    fn xml(&self, tag: &str, out: &mut String) {
        let leaf = |out: &mut String, text: &str| {
            out.push('<');
            out.push_str(tag);
            out.push('>');
            out.push_str(text);
            out.push_str("</");
            out.push_str(tag);
            out.push('>');
        };
        match self {
            V::Str(x) => leaf(out, &xml_escape(x)),
            V::Int(n) => leaf(out, &n.to_string()),
            V::Num(f) => leaf(out, &f.to_string()),
            V::Bool(b) => leaf(out, if *b { "true" } else { "false" }),
            V::Null => {
                out.push('<');
                out.push_str(tag);
                out.push_str("/>");
            }
            V::List(item, xs) => {
                out.push('<');
                out.push_str(tag);
                out.push('>');
                for x in xs {
                    x.xml(item, out);
                }
                out.push_str("</");
                out.push_str(tag);
                out.push('>');
            }
            V::Obj(fs) => {
                out.push('<');
                out.push_str(tag);
                out.push('>');
                for (k, v) in fs {
                    v.xml(k, out);
                }
                out.push_str("</");
                out.push_str(tag);
                out.push('>');
            }
        }
    }
}

/// Text content for XML 1.0: the five markup characters escaped, characters XML forbids dropped.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn document(fmt: Format, status: StatusCode, root: &str, body: &V) -> Response {
    let (content_type, text) = match fmt {
        Format::Json => ("application/json; charset=utf-8", body.json().to_string()),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            body.xml(root, &mut out);
            out.push('\n');
            ("text/xml; charset=utf-8", out)
        }
    };
    (status, [(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// `[{"code": 400, "description": "…"}]`, or `<errors><error>…</error></errors>`.
fn error_response(fmt: Format, e: &AppError) -> Response {
    let body = V::List("error", vec![V::Obj(vec![("code", V::Int(i64::from(e.status.as_u16()))), ("description", s(e.human()))])]);
    let mut res = document(fmt, e.status, "errors", &body);
    res.extensions_mut().insert(ErrorInfo(e.clone()));
    res
}

// ---------------------------------------------------------------------------------------------
// Routing

enum Route {
    Discovery,
    Services,
    Service(String),
    Requests,
    Request(String),
}

fn unknown_resource() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "open311.not_found", "没有这个 Open311 资源（可用：discovery、services、services/{代码}、requests、requests/{编号}）")
}

/// `services.json` → (`services`, Json); `requests/20261125-0001.xml` → (`requests`, id, Xml).
fn parse_path(path: &str) -> Result<(Route, Format), (Format, AppError)> {
    let rest = path.strip_prefix(BASE).and_then(|r| r.strip_prefix('/')).unwrap_or("");
    let (dir, file) = match rest.split_once('/') {
        None => (None, rest),
        Some((d, f)) if !f.contains('/') => (Some(d), f),
        Some(_) => return Err((Format::Json, unknown_resource())),
    };
    let file = form_decode(file);
    let Some((stem, ext)) = file.rsplit_once('.') else {
        return Err((Format::Json, AppError::new(StatusCode::NOT_FOUND, "open311.format", "请在地址末尾注明格式：.json 或 .xml")));
    };
    let fmt = match ext.to_ascii_lowercase().as_str() {
        "json" => Format::Json,
        "xml" => Format::Xml,
        _ => return Err((Format::Json, AppError::new(StatusCode::NOT_FOUND, "open311.format", "格式应为 .json 或 .xml"))),
    };
    let route = match (dir, stem) {
        (None, "discovery") => Route::Discovery,
        (None, "services") => Route::Services,
        (None, "requests") => Route::Requests,
        (Some("services"), code) if !code.is_empty() => Route::Service(code.to_owned()),
        (Some("requests"), id) if !id.is_empty() => Route::Request(id.to_owned()),
        _ => return Err((fmt, unknown_resource())),
    };
    Ok((route, fmt))
}

async fn entry(State(p): State<Platform>, req: Request) -> Response {
    let (route, fmt) = match parse_path(req.uri().path()) {
        Ok(x) => x,
        Err((fmt, e)) => return error_response(fmt, &e),
    };
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let allowed: &[Method] = match route {
        Route::Requests => &[Method::GET, Method::HEAD, Method::POST],
        _ => &[Method::GET, Method::HEAD],
    };
    if !allowed.contains(&method) {
        let e = AppError::new(StatusCode::METHOD_NOT_ALLOWED, "open311.bad_method", format!("此地址不支持 {method} 请求"));
        let mut res = error_response(fmt, &e);
        let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        if let Ok(v) = HeaderValue::from_str(&allow) {
            res.headers_mut().insert(header::ALLOW, v);
        }
        return res;
    }
    let out = match route {
        Route::Discovery => Ok(("discovery", discovery(&p, &parts.headers))),
        Route::Services => services(&p).await.map(|v| ("services", v)),
        Route::Service(code) => definition(&p, &code).await.map(|v| ("service_definition", v)),
        Route::Requests if method == Method::POST => create(&p, parts, body).await.map(|v| ("service_requests", v)),
        Route::Requests => list(&p, &parts).await.map(|v| ("service_requests", v)),
        Route::Request(id) => one(&p, &parts, &id).await.map(|v| ("service_requests", v)),
    };
    match out {
        Ok((root, v)) => document(fmt, StatusCode::OK, root, &v),
        Err(e) => error_response(fmt, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters and the caller

/// Query or form parameters in order. An empty value counts as absent (as the spec says).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(text: &str) -> Self {
        Params(platform::web::form_pairs(text))
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim())
    }
    /// Every value of a parameter that may be repeated or comma-separated.
    fn list(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).flat_map(|(_, v)| v.split(',')).map(str::trim).filter(|x| !x.is_empty()).collect()
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::bad_request(code, message)
}

/// Shortens what a client sent before quoting it back.
fn quote(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// The account behind `api_key` (or a bearer token: the platform has already checked it).
async fn principal(p: &Platform, params: &Params, ext: &Extensions) -> AppResult<Principal> {
    if let Some(key) = params.get("api_key") {
        if key.starts_with(TOKEN_PREFIX)
            && let Some(me) = auth::resolve_token(p, key, &client_addr(ext)).await?
        {
            return Ok(me);
        }
        return Err(AppError::new(StatusCode::UNAUTHORIZED, "open311.bad_api_key", "api_key 无效或已吊销"));
    }
    let st = ext.get::<AuthState>();
    if st.is_some_and(|st| st.bad_token) {
        return Err(AppError::new(StatusCode::UNAUTHORIZED, "open311.bad_api_key", "Authorization 中的 API 令牌无效或已吊销"));
    }
    if let Some(me) = st.and_then(|st| st.principal.clone()).filter(|me| me.via == Via::Token) {
        return Ok(me);
    }
    Err(AppError::new(StatusCode::UNAUTHORIZED, "open311.api_key_required", "缺少 api_key：请使用系统管理员发放的 API 令牌（以 jct_ 开头）"))
}

// ---------------------------------------------------------------------------------------------
// Time and numbers

fn calendar() -> &'static WorkCalendar {
    static CAL: OnceLock<WorkCalendar> = OnceLock::new();
    CAL.get_or_init(|| WorkCalendar::official().clone())
}

/// ISO 8601 in Beijing time: `2026-11-25T14:03:09+08:00`.
pub fn iso(ms: Millis) -> String {
    format!("{}+08:00", format_beijing(ms).replacen(' ', "T", 1))
}

fn two_digits(b: &[u8], i: usize) -> Option<i64> {
    match (b.get(i), b.get(i + 1)) {
        (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => Some(i64::from(x - b'0') * 10 + i64::from(y - b'0')),
        _ => None,
    }
}

/// Parses an ISO 8601 date or date-time: `2026-05-01`, `2026-05-01T08:30`, `2026-05-01T08:30:00.000Z`,
/// `…+08:00`, `…+0800`. Without a zone the time is Beijing time. A `+` left unescaped in a query
/// string arrives as a space and is read as `+`.
pub fn parse_iso(text: &str) -> Option<Millis> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || !t.is_char_boundary(10) {
        return None;
    }
    let date = Date::parse(&t[..10])?;
    let mut at = date.days() * DAY;
    let mut offset = 8 * HOUR;
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(at - offset);
    }
    if !matches!(rest[0], b'T' | b't' | b' ') {
        return None;
    }
    let r = &rest[1..];
    let (h, m) = (two_digits(r, 0)?, two_digits(r, 3)?);
    if r.get(2) != Some(&b':') || h > 23 || m > 59 {
        return None;
    }
    at += h * HOUR + m * MINUTE;
    let mut i = 5;
    if r.get(i) == Some(&b':') {
        let sec = two_digits(r, i + 1)?;
        if sec > 59 {
            return None;
        }
        at += sec * SECOND;
        i += 3;
        if r.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            let mut frac = 0i64;
            while let Some(d @ b'0'..=b'9') = r.get(i) {
                if i - start < 3 {
                    frac = frac * 10 + i64::from(d - b'0');
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..3 {
                frac *= 10;
            }
            at += frac;
        }
    }
    let zone = &r[i..];
    match zone {
        [] => {}
        [b'Z' | b'z'] => offset = 0,
        [sign @ (b'+' | b'-' | b' '), z @ ..] => {
            let zh = two_digits(z, 0)?;
            let zm = match &z[2..] {
                [] => 0,
                [b':', _, _] => two_digits(z, 3)?,
                [_, _] => two_digits(z, 2)?,
                _ => return None,
            };
            if zh > 14 || zm > 59 {
                return None;
            }
            offset = (zh * 60 + zm) * MINUTE * if *sign == b'-' { -1 } else { 1 };
        }
        _ => return None,
    }
    Some(at - offset)
}

/// Micro-degrees as a number: 105592700 → 105.5927.
fn degrees(e6: i64) -> V {
    let sign = if e6 < 0 { "-" } else { "" };
    let a = e6.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000).parse::<f64>().map(V::Num).unwrap_or(V::Null)
}

// ---------------------------------------------------------------------------------------------
// Discovery and services

fn discovery(p: &Platform, headers: &HeaderMap) -> V {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']')))
        .unwrap_or("localhost");
    let scheme = if p.settings.secure_cookies { "https" } else { "http" };
    V::Obj(vec![
        ("changeset", s(CHANGESET)),
        ("contact", s("遂宁市基层治理平台 Open311 接口；接入与令牌申请请联系系统管理员")),
        ("key_service", s("API 令牌（api_key，以 jct_ 开头）由系统管理员为接入单位的账户创建；提交和查询服务请求均需令牌")),
        (
            "endpoints",
            V::List(
                "endpoint",
                vec![V::Obj(vec![
                    ("specification", s("http://wiki.open311.org/GeoReport_v2")),
                    ("url", s(format!("{scheme}://{host}{BASE}"))),
                    ("changeset", s(CHANGESET)),
                    ("type", s("production")),
                    ("formats", V::List("format", vec![s("text/xml"), s("application/json")])),
                ])],
            ),
        ),
    ])
}

fn service_obj(t: &TypeRow) -> V {
    V::Obj(vec![
        ("service_code", s(t.code.as_str())),
        ("service_name", s(t.name.as_str())),
        ("description", s(format!("{}（处置时限 {}）", t.name, t.limit().label()))),
        ("metadata", V::Bool(false)),
        ("type", s("realtime")),
        ("keywords", s("")),
        ("group", s(t.family.as_str())),
    ])
}

async fn services(p: &Platform) -> AppResult<V> {
    let types = store::types(&p.db).await?;
    Ok(V::List("service", types.iter().filter(|t| t.active != 0).map(service_obj).collect()))
}

async fn definition(p: &Platform, code: &str) -> AppResult<V> {
    let t = store::event_type(&p.db, code)
        .await?
        .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "open311.unknown_service", format!("没有服务代码为「{}」的服务", quote(code))))?;
    Ok(V::Obj(vec![("service_code", s(t.code)), ("attributes", V::List("attribute", Vec::new()))]))
}

// ---------------------------------------------------------------------------------------------
// Creating a request

fn coordinate(params: &Params, name: &str) -> AppResult<Option<f64>> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(bad("open311.bad_location", format!("{name}「{}」不是数字", quote(v))).at_field(name)),
        },
    }
}

const ADDRESS_ID_HINT: &str = "address_id 须为事发地所在村（社区）的 12 位代码，或其下小区、网格的 15 位代码";

async fn create(p: &Platform, parts: Parts, body: Body) -> AppResult<V> {
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(AppError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "open311.content_type", "请以 application/x-www-form-urlencoded 格式提交"));
        }
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "open311.too_large", "提交的内容过大（上限 64 KB）"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("open311.encoding", "提交的内容须为 UTF-8 编码"))?;
    let mut params = Params::parse(text);
    params.0.extend(Params::parse(parts.uri.query().unwrap_or("")).0);

    let me = principal(p, &params, &parts.extensions).await?;
    if !me.can(Permission::ReportEvents) {
        return Err(AppError::new(StatusCode::FORBIDDEN, "auth.forbidden", "该 API 令牌所属账户无权上报事件"));
    }
    let code = params.get("service_code").ok_or_else(|| bad("open311.service_code_required", "缺少 service_code").at_field("service_code"))?;
    let t = store::event_type(&p.db, code)
        .await?
        .ok_or_else(|| bad("open311.unknown_service", format!("未知的 service_code「{}」", quote(code))).at_field("service_code"))?;
    let lat = coordinate(&params, "lat")?;
    let lon = coordinate(&params, "long")?;
    let unit = match params.get("address_id") {
        Some(a) => {
            let u =
                UnitCode::parse(a).map_err(|_| bad("open311.bad_address_id", format!("{ADDRESS_ID_HINT}（收到「{}」）", quote(a))).at_field("address_id"))?;
            if u.level() < Level::Village {
                return Err(bad("open311.bad_address_id", format!("{ADDRESS_ID_HINT}（「{u}」是{}单位）", u.level().label())).at_field("address_id"));
            }
            u
        }
        None if me.home_unit.level() >= Level::Village => me.home_unit.clone(),
        None => {
            return Err(bad(
                "open311.address_id_required",
                format!("缺少 address_id：{ADDRESS_ID_HINT}（令牌所属账户属于{}单位，无法代为确定）", me.home_unit.level().label()),
            )
            .at_field("address_id"));
        }
    };
    let idem = match parts.headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| bad("open311.bad_idempotency_key", "Idempotency-Key 只能包含可见 ASCII 字符"))?.trim().to_owned()),
        None => params.get("idempotency_key").map(str::to_owned),
    }
    .filter(|k| !k.is_empty());
    if let Some(k) = &idem
        && (k.chars().count() > MAX_IDEM_KEY || k.chars().any(char::is_control))
    {
        return Err(bad("open311.bad_idempotency_key", format!("幂等键不超过 {MAX_IDEM_KEY} 个字符，且不含控制字符")).at_field("idempotency_key"));
    }
    let mut description = params.get("description").unwrap_or("").to_owned();
    if let Some(url) = params.get("media_url") {
        let ok = (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 500 && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(bad("open311.bad_media_url", "media_url 应为不超过 500 字符的 http(s) 链接").at_field("media_url"));
        }
        if !description.is_empty() {
            description.push('\n');
        }
        description.push_str(&format!("图片链接：{url}"));
    }
    if description.chars().count() > 2000 {
        return Err(bad("event.too_long", "description（含 media_url）不超过 2000 字").at_field("description"));
    }
    let report = Report {
        type_code: t.code.clone(),
        title: String::new(),
        description,
        urgency: "一般".into(),
        unit: unit.to_string(),
        address: params.get("address_string").unwrap_or("").to_owned(),
        lon,
        lat,
        crs: params.get("crs").unwrap_or("wgs84").to_owned(),
        anonymous: false,
        // Keys are the client's: two clients using the same key must not meet.
        idem_key: idem.map(|k| format!("open311:{}:{k}", me.username)),
        source: SOURCE.into(),
        subject: None,
        house: None,
    };
    let done = service::report(p, &me, report, Vec::new()).await?;
    let e: EventRow = match done.row {
        Some(row) => row,
        None => {
            p.db.fetch_optional(sql!("SELECT * FROM events WHERE id = $1", done.id.as_str()))
                .await?
                .ok_or_else(|| AppError::internal("reported event not found"))?
        }
    };
    let notice = format!("已登记为事件 {}。{}", e.event_no, notice(&e, Some(&t)));
    Ok(V::List("request", vec![V::Obj(vec![("service_request_id", s(e.event_no)), ("service_notice", s(notice)), ("account_id", V::Null)])]))
}

// ---------------------------------------------------------------------------------------------
// Reading requests

/// What `GET requests` asks for. `ids` overrides every other filter, as the spec says.
#[derive(Debug, Default)]
struct Filter {
    ids: Vec<String>,
    codes: Vec<String>,
    from: Option<Millis>,
    to: Option<Millis>,
    open: Option<bool>,
    limit: i64,
    offset: i64,
}

fn positive(params: &Params, name: &str) -> AppResult<Option<i64>> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(bad("open311.bad_page", format!("{name} 应为正整数（收到「{}」）", quote(v))).at_field(name)),
        },
    }
}

fn date_param(params: &Params, name: &str) -> AppResult<Option<Millis>> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => parse_iso(v)
            .map(Some)
            .ok_or_else(|| bad("open311.bad_date", format!("{name} 应为 ISO 8601 时间，如 2026-05-01T00:00:00+08:00（收到「{}」）", quote(v))).at_field(name)),
    }
}

fn parse_filter(params: &Params, types: &HashMap<String, TypeRow>) -> AppResult<Filter> {
    let mut f = Filter { ids: params.list("service_request_id").into_iter().map(str::to_owned).collect(), ..Filter::default() };
    if f.ids.len() > MAX_IDS {
        return Err(bad("open311.too_many_ids", format!("service_request_id 一次最多 {MAX_IDS} 个")).at_field("service_request_id"));
    }
    for c in params.list("service_code") {
        if !types.contains_key(c) {
            return Err(bad("open311.unknown_service", format!("未知的 service_code「{}」", quote(c))).at_field("service_code"));
        }
        f.codes.push(c.to_owned());
    }
    f.from = date_param(params, "start_date")?;
    f.to = date_param(params, "end_date")?;
    if let (Some(a), Some(b)) = (f.from, f.to)
        && b < a
    {
        return Err(bad("open311.bad_date", "end_date 不能早于 start_date").at_field("end_date"));
    }
    let (mut open, mut closed) = (false, false);
    for v in params.list("status") {
        match v.to_ascii_lowercase().as_str() {
            "open" => open = true,
            "closed" => closed = true,
            _ => return Err(bad("open311.bad_status", format!("status 应为 open 或 closed（收到「{}」）", quote(v))).at_field("status")),
        }
    }
    f.open = if open == closed { None } else { Some(open) };
    let page = positive(params, "page")?.unwrap_or(1);
    f.limit = positive(params, "page_size")?.unwrap_or(DEFAULT_PAGE_SIZE).min(MAX_PAGE_SIZE);
    f.offset = (page - 1).checked_mul(f.limit).filter(|o| *o <= 100_000_000).ok_or_else(|| bad("open311.bad_page", "page 过大").at_field("page"))?;
    Ok(f)
}

fn push_in(q: &mut Sql, values: &[String]) {
    q.push_list(values.iter().map(String::as_str));
}

/// The visible events matching the filter, newest first. The same visibility rule as the event
/// pages ([`store::push_visibility`]); status and several service codes need their own SQL.
async fn fetch(p: &Platform, scope: &Scope, departments: &[String], f: &Filter) -> AppResult<Vec<EventRow>> {
    let mut q = Sql::new("SELECT e.* FROM events e WHERE ", []);
    store::push_visibility(&mut q, scope, departments);
    let (limit, offset) = if f.ids.is_empty() { (f.limit, f.offset) } else { (f.ids.len() as i64, 0) };
    if !f.ids.is_empty() {
        q.push(" AND e.event_no IN ");
        push_in(&mut q, &f.ids);
    } else {
        if !f.codes.is_empty() {
            q.push(" AND e.type_code IN ");
            push_in(&mut q, &f.codes);
        }
        if let Some(t) = f.from {
            q.push(" AND e.created_ms >= ").bind(t);
        }
        if let Some(t) = f.to {
            q.push(" AND e.created_ms <= ").bind(t);
        }
        if let Some(open) = f.open {
            let states: Vec<String> = EvState::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str().to_owned()).collect();
            q.push(if open { " AND e.state IN " } else { " AND e.state NOT IN " });
            push_in(&mut q, &states);
        }
    }
    q.push(" ORDER BY e.created_ms DESC, e.id");
    q.page(limit, offset);
    Ok(p.db.fetch_all(q).await?)
}

/// What to expect: the type's handling limit and, while the clock runs, the current stage's deadline.
fn notice(e: &EventRow, t: Option<&TypeRow>) -> String {
    let mut out = t.map(|t| format!("{}处置时限 {}", t.name, t.limit().label())).unwrap_or_default();
    let st = e.state();
    let tail = if st.is_timed() {
        let l = e.stage_limit();
        format!("当前环节「{}」时限 {}，应于 {} 前完成", st.label(), l.label(), format_beijing(l.deadline(calendar(), e.stage_started_ms)))
    } else if st == EvState::Suspended {
        "已挂起，计时暂停".to_owned()
    } else {
        "已办结".to_owned()
    };
    if !out.is_empty() {
        out.push('；');
    }
    out.push_str(&tail);
    out
}

async fn records(p: &Platform, rows: Vec<EventRow>) -> AppResult<V> {
    let types: HashMap<String, TypeRow> = store::types(&p.db).await?.into_iter().map(|t| (t.code.clone(), t)).collect();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for e in rows {
        if !names.contains_key(&e.handling_unit) {
            let name = geography::store::get(&p.db, &e.handling_unit).await?.map(|u| u.name).unwrap_or_else(|| e.handling_unit.clone());
            names.insert(e.handling_unit.clone(), name);
        }
        let t = types.get(&e.type_code);
        let st = e.state();
        let mut status_notes = st.label().to_owned();
        if let Some(r) = e.closed_reason.as_deref().filter(|r| !r.is_empty() && !st.is_open()) {
            status_notes.push_str(&format!("（{r}）"));
        }
        let expected = if st.is_timed() { s(iso(e.stage_limit().deadline(calendar(), e.stage_started_ms))) } else { V::Null };
        out.push(V::Obj(vec![
            ("service_request_id", s(e.event_no.as_str())),
            ("status", s(if st.is_open() { "open" } else { "closed" })),
            ("status_notes", s(status_notes)),
            ("service_name", t.map(|t| s(t.name.as_str())).unwrap_or(V::Null)),
            ("service_code", s(e.type_code.as_str())),
            ("description", s(e.description.as_str())),
            ("agency_responsible", s(names.get(&e.handling_unit).cloned().unwrap_or_default())),
            ("service_notice", s(notice(&e, t))),
            ("requested_datetime", s(iso(e.created_ms))),
            ("updated_datetime", s(iso(e.updated_ms))),
            ("expected_datetime", expected),
            ("address", s(e.address.as_str())),
            ("address_id", s(e.unit_code.as_str())),
            ("lat", e.lat_e6.map(degrees).unwrap_or(V::Null)),
            ("long", e.lon_e6.map(degrees).unwrap_or(V::Null)),
            ("media_url", s("")),
        ]));
    }
    Ok(V::List("request", out))
}

async fn list(p: &Platform, parts: &Parts) -> AppResult<V> {
    let params = Params::parse(parts.uri.query().unwrap_or(""));
    let me = principal(p, &params, &parts.extensions).await?;
    let (scope, departments) = service::visibility(p, &me).await?;
    let types: HashMap<String, TypeRow> = store::types(&p.db).await?.into_iter().map(|t| (t.code.clone(), t)).collect();
    let f = parse_filter(&params, &types)?;
    let rows = fetch(p, &scope, &departments, &f).await?;
    records(p, rows).await
}

async fn one(p: &Platform, parts: &Parts, id: &str) -> AppResult<V> {
    let params = Params::parse(parts.uri.query().unwrap_or(""));
    let me = principal(p, &params, &parts.extensions).await?;
    let (scope, departments) = service::visibility(p, &me).await?;
    let f = Filter { ids: vec![id.to_owned()], ..Filter::default() };
    let rows = fetch(p, &scope, &departments, &f).await?;
    if rows.is_empty() {
        return Err(AppError::new(StatusCode::NOT_FOUND, "not_found", format!("没有编号为「{}」的服务请求，或您无权查看", quote(id))));
    }
    records(p, rows).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_parse_with_and_without_zones() {
        let base = parse_iso("2026-05-01T00:00:00Z").expect("utc");
        assert_eq!(parse_iso("2026-05-01T08:00:00+08:00"), Some(base));
        assert_eq!(parse_iso("2026-05-01T08:00:00 08:00"), Some(base), "an unescaped + in a query string");
        assert_eq!(parse_iso("2026-05-01T08:00+0800"), Some(base));
        assert_eq!(parse_iso("2026-05-01T08:00:00"), Some(base), "no zone: Beijing time");
        assert_eq!(parse_iso("2026-05-01T00:00:00.250Z"), Some(base + 250));
        assert_eq!(parse_iso("2026-04-30T20:00:00-04:00"), Some(base));
        assert_eq!(parse_iso("2026-05-01"), Some(base - 8 * HOUR));
        for bad in ["", "2026-5-1", "2026-02-30", "2026-05-01T25:00", "2026-05-01T08:00:00+8", "yesterday", "2026-05-01T08:00:00.Z"] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
        assert_eq!(iso(base), "2026-05-01T08:00:00+08:00");
    }

    #[test]
    fn xml_text_is_escaped_and_cleaned() {
        assert_eq!(xml_escape("A & B <c> \"d\" 'e'\u{1}"), "A &amp; B &lt;c&gt; &quot;d&quot; &apos;e&apos;");
        let mut out = String::new();
        V::List("request", vec![V::Obj(vec![("id", s("1")), ("lat", V::Null), ("n", V::Int(3))])]).xml("service_requests", &mut out);
        assert_eq!(out, "<service_requests><request><id>1</id><lat/><n>3</n></request></service_requests>");
    }

    #[test]
    fn coordinates_print_as_short_decimals() {
        assert_eq!(degrees(105_592_700).json().to_string(), "105.5927");
        assert_eq!(degrees(-1_500_000).json().to_string(), "-1.5");
    }
}
