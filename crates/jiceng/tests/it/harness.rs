use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use platform::audit::Actor;
use platform::auth::{self, Role};
use platform::clock::ManualClock;
use platform::scope::UnitCode;
use platform::{Platform, Settings};

pub const PASSWORD: &str = "Test-passw0rd!";

pub struct TestApp {
    pub platform: Platform,
    pub clock: Arc<ManualClock>,
    pub app: Router,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }
}

/// A signed-in browser: its cookies and the CSRF token from its pages.
#[derive(Clone, Default)]
pub struct Browser {
    pub cookies: Vec<(String, String)>,
    pub csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
    fn set(&mut self, name: &str, value: String) {
        self.cookies.retain(|(k, _)| k != name);
        if !value.is_empty() {
            self.cookies.push((name.to_owned(), value));
        }
    }
}

pub fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_owned())
}

impl TestApp {
    pub async fn new() -> TestApp {
        let db = platform::testing::fresh_db().await.expect("test database");
        let clock = ManualClock::new(1_780_000_000_000); // 2026-05-28
        let settings = Settings { cheap_hashing: true, ..Settings::default() };
        let platform = Platform::new(db, clock.clone(), settings, platform::crypto::FieldCipher::from_master(&[7; 32]));
        let actor = Actor::system();
        geography::import::load_reference(&platform.db, platform.now(), &actor).await.expect("reference data");
        geography::demo::seed(&platform.db, platform.now(), &actor, geography::demo::Scale::Small).await.expect("demo data");
        events::service::seed(&platform).await.expect("event catalogue");
        let app = jiceng::app(platform.clone());
        TestApp { platform, clock, app }
    }

    /// Creates an account with one role; returns its TOTP secret when the role needs one.
    pub async fn user(&self, name: &str, role: Role, unit: &str) -> Option<String> {
        let code = UnitCode::parse(unit).expect("unit code");
        let mut tx = self.platform.db.begin().await.expect("tx");
        auth::create_account(&mut tx, self.platform.now(), &Actor::system(), name, "", &code, PASSWORD, true).await.expect("create account");
        let secret = auth::grant_role(&mut tx, self.platform.now(), &Actor::system(), name, role, &code).await.expect("grant");
        tx.commit().await.expect("commit");
        secret
    }

    pub async fn send(&self, req: Request<Body>) -> Response {
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Response { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn get(&self, b: &Browser, path: &str) -> Response {
        self.send(Request::get(path).header(header::COOKIE, b.cookie_header()).body(Body::empty()).expect("request")).await
    }

    pub async fn get_bearer(&self, token: &str, path: &str) -> Response {
        self.send(Request::get(path).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).expect("request")).await
    }

    /// Posts a form with the browser's cookies; the CSRF token is added unless `fields` has one.
    pub async fn post(&self, b: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut pairs: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if !fields.iter().any(|(k, _)| *k == "_csrf") {
            pairs.push(("_csrf".into(), b.csrf.clone()));
        }
        let body = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let req = Request::post(path)
            .header(header::COOKIE, b.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let res = self.send(req).await;
        if let Some(s) = res.cookie("jiceng_session") {
            b.set("jiceng_session", s);
        }
        if let Some(s) = res.cookie("jiceng_pending") {
            b.set("jiceng_pending", s);
        }
        res
    }

    /// Opens the login form (getting its CSRF cookie) and submits the password.
    pub async fn start_login(&self, username: &str, password: &str) -> (Browser, Response) {
        let mut b = Browser::default();
        let form = self.get(&b, "/login").await;
        assert_eq!(form.status, StatusCode::OK);
        b.set("jiceng_login_csrf", form.cookie("jiceng_login_csrf").expect("login csrf cookie"));
        b.csrf = field(&form.body, "_csrf").expect("csrf field");
        let res = self.post(&mut b, "/login", &[("username", username), ("password", password), ("next", "/")]).await;
        (b, res)
    }

    /// Signs in fully (with TOTP when given) and picks up the session's CSRF token.
    pub async fn login(&self, username: &str, totp_secret: Option<&str>) -> Browser {
        let (mut b, res) = self.start_login(username, PASSWORD).await;
        if let Some(secret) = totp_secret {
            assert_eq!(res.status, StatusCode::OK, "TOTP form expected: {}", res.body);
            assert!(res.body.contains("name=\"code\""), "TOTP form expected");
            let code = platform::totp::current_code(secret, self.platform.now()).expect("code");
            let res = self.post(&mut b, "/login/totp", &[("code", &code), ("next", "/")]).await;
            assert_eq!(res.status, StatusCode::SEE_OTHER, "TOTP accepted: {}", res.body);
        } else {
            assert_eq!(res.status, StatusCode::SEE_OTHER, "login of {username} failed: {}", res.body);
        }
        b.cookies.retain(|(k, _)| k == "jiceng_session");
        let home = self.get(&b, "/").await;
        assert_eq!(home.status, StatusCode::OK);
        b.csrf = field(&home.body, "_csrf").expect("session csrf in page");
        b
    }

    pub async fn token(&self, username: &str) -> String {
        let mut tx = self.platform.db.begin().await.expect("tx");
        let (_, token) = auth::create_token(&mut tx, self.platform.now(), &Actor::system(), username, "test").await.expect("token");
        tx.commit().await.expect("commit");
        token
    }
}

pub fn enc(s: &str) -> String {
    platform::web::urlencode(s).replace('/', "%2F")
}

impl TestApp {
    /// Adds the small synthetic registers (one community's residents).
    pub async fn with_registers(self) -> TestApp {
        registry::demo::seed(&self.platform.db, &self.platform.cipher, self.platform.now(), &Actor::system(), registry::demo::Scale::Small, |_, _| {})
            .await
            .expect("registry demo");
        self
    }

    pub async fn post_json(&self, b: &Browser, path: &str, body: serde_json::Value) -> Response {
        let req = Request::post(path)
            .header(header::COOKIE, b.cookie_header())
            .header("x-csrf-token", b.csrf.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send(req).await
    }
}

/// A valid synthetic ID number: region + birth date + sequence + MOD 11-2 check character.
pub fn make_id(region: &str, birth: &str, seq: u32) -> String {
    let mut s = format!("{region}{birth}{seq:03}");
    s.push(registry::model::check_char(s.as_bytes()));
    s
}

/// Holds the group-commit writer with a job that waits until the returned sender is used (or
/// dropped), so that the writes queued meanwhile share one transaction; the handle answers once
/// the holding job is through.
pub async fn hold_group_writer(db: &platform::Db) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<platform::AppResult<()>>) {
    let (open_gate, gate) = tokio::sync::oneshot::channel::<()>();
    let gate_db = db.clone();
    let holder = tokio::spawn(async move {
        gate_db
            .write_grouped(move |_tx: &mut platform::Tx| -> platform::web::BoxFuture<'_, platform::AppResult<()>> {
                Box::pin(async move {
                    let _ = gate.await;
                    Ok(())
                })
            })
            .await
    });
    // Let the holding job reach the writer before anything else is queued.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    (open_gate, holder)
}
