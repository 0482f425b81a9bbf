use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use platform::auth::Role;
use platform::clock::MINUTE;

use crate::harness::{Browser, PASSWORD, TestApp, field};

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_for_thirty_minutes() {
    let t = TestApp::new().await;
    t.user("alice", Role::CountyStaff, "510903").await;
    for i in 1..=4 {
        let (_, r) = t.start_login("alice", "Wrong-passw0rd").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.body.contains("用户名或密码错误"));
    }
    let (_, r) = t.start_login("alice", "Wrong-passw0rd").await;
    assert_eq!(r.status, StatusCode::LOCKED);
    assert!(r.body.contains("auth.locked"));
    // Even the right password is refused while locked.
    let (_, r) = t.start_login("alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::LOCKED);
    t.clock.advance(29 * MINUTE);
    assert_eq!(t.start_login("alice", PASSWORD).await.1.status, StatusCode::LOCKED);
    t.clock.advance(2 * MINUTE);
    assert_eq!(t.start_login("alice", PASSWORD).await.1.status, StatusCode::SEE_OTHER);
    // The lockout and the failures are in the audit log.
    let (records, _) = platform::audit::list(
        &t.platform.db,
        &platform::audit::Filter { action: Some("auth.lockout".into()), ..Default::default() },
        &platform::Scope::nothing(),
        10,
        0,
    )
    .await
    .unwrap();
    assert_eq!(records.len(), 1);
}

#[tokio::test]
async fn unknown_users_get_the_same_answer_as_wrong_passwords() {
    let t = TestApp::new().await;
    let (_, r) = t.start_login("nobody", PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("用户名或密码错误"));
}

#[tokio::test]
async fn sessions_end_after_thirty_idle_minutes() {
    let t = TestApp::new().await;
    t.user("bob", Role::CountyStaff, "510903").await;
    let b = t.login("bob", None).await;
    t.clock.advance(20 * MINUTE);
    assert_eq!(t.get(&b, "/units/510903").await.status, StatusCode::OK, "activity keeps the session");
    t.clock.advance(29 * MINUTE);
    assert_eq!(t.get(&b, "/units/510903").await.status, StatusCode::OK, "20 + 29 minutes, but never 30 idle");
    t.clock.advance(31 * MINUTE);
    let r = t.get(&b, "/units/510903").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().contains("expired=1"), "{}", r.location());
    let login = t.get(&Browser::default(), r.location()).await;
    assert!(login.body.contains("会话已超时"));
    // The session is gone, not just refused once.
    assert_eq!(t.get(&b, "/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_calls_on_an_expired_session_say_so() {
    let t = TestApp::new().await;
    t.user("bob", Role::CountyStaff, "510903").await;
    let b = t.login("bob", None).await;
    t.clock.advance(31 * MINUTE);
    let r = t.get(&b, "/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], "auth.session_expired");
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let t = TestApp::new().await;
    t.user("carol", Role::CountyStaff, "510903").await;
    let mut b = t.login("carol", None).await;
    let r = t.post(&mut b, "/logout", &[("_csrf", "forged")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("auth.csrf"), "HTML error page names the code");
    assert!(r.body.contains("CSRF"));
    // A form from another site is refused even with the right token.
    let req = Request::post("/logout")
        .header(header::COOKIE, format!("jiceng_session={}", b.cookies[0].1))
        .header(header::ORIGIN, "http://evil.example")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("_csrf={}", b.csrf)))
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    // Still signed in; the real form signs out.
    assert_eq!(t.get(&b, "/api/v1/me").await.status, StatusCode::OK);
    let r = t.post(&mut b, "/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(t.get(&b, "/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_login_form_itself_needs_its_token() {
    let t = TestApp::new().await;
    t.user("dave", Role::CountyStaff, "510903").await;
    let mut b = Browser::default();
    let r = t.post(&mut b, "/login", &[("username", "dave"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn administrators_need_a_totp_code() {
    let t = TestApp::new().await;
    let secret = t.user("root", Role::SystemAdmin, "5109").await.expect("admins get a TOTP secret");
    let (mut b, r) = t.start_login("root", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("动态口令"));
    assert!(r.cookie("jiceng_session").is_none(), "no session before the second factor");
    let r = t.post(&mut b, "/login/totp", &[("code", "000000")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("auth.bad_totp"));
    assert!(r.cookie("jiceng_session").is_none());
    // A full login with the right code works.
    let b = t.login("root", Some(&secret)).await;
    assert_eq!(t.get(&b, "/admin/accounts").await.status, StatusCode::OK);
    // Non-admins get no secret and no second step.
    assert!(t.user("plain", Role::CityStaff, "5109").await.is_none());
}

#[tokio::test]
async fn a_disabled_account_loses_its_sessions_and_tokens() {
    let t = TestApp::new().await;
    let secret = t.user("root", Role::SystemAdmin, "5109").await;
    t.user("erin", Role::CountyStaff, "510903").await;
    let erin = t.login("erin", None).await;
    let token = t.token("erin").await;
    let mut root = t.login("root", secret.as_deref()).await;
    let r = t.post(&mut root, "/admin/accounts/erin/disable", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("已停用账户 erin"));
    assert_eq!(t.get(&erin, "/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.get_bearer(&token, "/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let (_, r) = t.start_login("erin", PASSWORD).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("已停用"));
}

#[tokio::test]
async fn a_system_admin_creates_an_account_that_can_sign_in() {
    let t = TestApp::new().await;
    let secret = t.user("root", Role::SystemAdmin, "5109").await;
    let sec = t.user("sec", Role::SecurityAdmin, "5109").await;
    let mut root = t.login("root", secret.as_deref()).await;
    let r = t.post(&mut root, "/admin/accounts", &[("username", "frank"), ("display_name", "张三"), ("home_unit", "510903001001")]).await;
    assert_eq!(r.status, StatusCode::OK);
    let pw = r.body.split("初始密码：").nth(1).and_then(|s| s.split('（').next()).expect("password shown once").to_owned();
    // Bad input: a duplicate name and a unit that does not exist.
    let dup = t.post(&mut root, "/admin/accounts", &[("username", "frank"), ("display_name", ""), ("home_unit", "510903001001")]).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert!(dup.body.contains("已存在"));
    let nowhere = t.post(&mut root, "/admin/accounts", &[("username", "gina"), ("display_name", ""), ("home_unit", "510903999999")]).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    // The security administrator grants the role (the system administrator cannot).
    let mut sec = t.login("sec", sec.as_deref()).await;
    let r = t.post(&mut sec, "/admin/grants", &[("username", "frank"), ("role", "community_staff"), ("unit", "510903001001")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let bad_level = t.post(&mut sec, "/admin/grants", &[("username", "frank"), ("role", "county_staff"), ("unit", "510903001001")]).await;
    assert_eq!(bad_level.status, StatusCode::BAD_REQUEST);
    assert!(bad_level.body.contains("不能设在"));
    let (_, r) = t.start_login("frank", &pw).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn errors_are_clear_and_never_leak_internals() {
    let t = TestApp::new().await;
    t.user("hank", Role::CountyStaff, "510903").await;
    let b = t.login("hank", None).await;
    let r = t.get(&b, "/api/v1/units/51090x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "unit.bad_code");
    assert!(r.json()["message"].as_str().unwrap().contains("数字"));
    let r = t.get(&b, "/api/v1/units/510903?as_of=2024-02-30").await;
    assert_eq!(r.json()["code"], "unit.bad_date");
    let r = t.get(&b, "/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.headers.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/html"));
    assert!(r.body.contains("页面不存在"));
    let r = t.get(&b, "/api/v1/units?page=abc").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "request.bad_input", "axum's own rejections get our shape");
    let r = t.get(&b, "/units/510903?page=abc").await;
    assert!(r.body.contains("请求参数格式错误") && r.body.contains("<html"), "and a Chinese page for people");
    let r = t.get(&b, "/api/v1/units?per_page=100000").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["field"], "per_page");
    {
        let body = &r.body;
        assert!(!body.contains("panicked") && !body.contains("sqlx") && !body.contains("src/"));
    }
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let t = TestApp::new().await;
    let r = t.get(&Browser::default(), "/login").await;
    let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(h("content-security-policy").contains("default-src 'self'"));
    assert_eq!(h("x-frame-options"), "DENY");
    let set = r.cookie("jiceng_login_csrf");
    assert!(set.is_some());
    let raw = r.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>().join("\n");
    assert!(raw.contains("HttpOnly") && raw.contains("SameSite"));
    assert!(field(&r.body, "_csrf").is_some());
}
