//! Every role × every route × in-scope and out-of-scope units → the status a user gets.

use axum::http::StatusCode;
use platform::auth::Role;

use crate::harness::{Browser, TestApp};

struct Case {
    role: Role,
    unit: &'static str,
    /// A unit of the same city the role must not see (or one that does not exist, for city roles).
    outside: &'static str,
    units: u16,
    accounts: u16,
    audit: u16,
}

const CASES: &[Case] = &[
    Case { role: Role::SystemAdmin, unit: "5109", outside: "510999", units: 200, accounts: 200, audit: 403 },
    Case { role: Role::SecurityAdmin, unit: "5109", outside: "510999", units: 200, accounts: 200, audit: 403 },
    Case { role: Role::AuditAdmin, unit: "5109", outside: "510999", units: 403, accounts: 403, audit: 200 },
    Case { role: Role::CityStaff, unit: "5109", outside: "510999", units: 200, accounts: 403, audit: 403 },
    Case { role: Role::CountyStaff, unit: "510903", outside: "510904", units: 200, accounts: 403, audit: 403 },
    Case { role: Role::TownshipStaff, unit: "510903001", outside: "510903002", units: 200, accounts: 403, audit: 403 },
    Case { role: Role::CommunityStaff, unit: "510903001001", outside: "510903001002", units: 200, accounts: 403, audit: 403 },
    Case { role: Role::GridWorker, unit: "510903001001501", outside: "510903001001001", units: 200, accounts: 403, audit: 403 },
    Case { role: Role::DepartmentStaff, unit: "510903", outside: "510904", units: 200, accounts: 403, audit: 403 },
    Case { role: Role::Resident, unit: "510903001001", outside: "510903001002", units: 200, accounts: 403, audit: 403 },
];

async fn status(t: &TestApp, b: &Browser, path: &str) -> u16 {
    t.get(b, path).await.status.as_u16()
}

#[tokio::test]
async fn every_role_on_every_route_in_and_out_of_scope() {
    let t = TestApp::new().await;
    let mut failures = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let name = format!("user{i}");
        let secret = t.user(&name, c.role, c.unit).await;
        let mut b = t.login(&name, secret.as_deref()).await;
        let out_of_scope = if c.units == 200 { 404 } else { c.units };
        let checks: Vec<(String, u16)> = vec![
            (format!("/units/{}", c.unit), c.units),
            (format!("/units/{}", c.outside), out_of_scope),
            (format!("/units/{}/children.csv", c.unit), c.units),
            (format!("/units/{}/children.csv", c.outside), out_of_scope),
            (format!("/api/v1/units/{}", c.unit), c.units),
            (format!("/api/v1/units/{}", c.outside), out_of_scope),
            (format!("/api/v1/units?parent={}", c.unit), c.units),
            ("/api/v1/units?parent=510904".to_string(), if c.units == 200 && c.unit == "5109" { 200 } else { out_of_scope }),
            ("/units/search?q=%E7%A4%BE%E5%8C%BA".to_string(), c.units),
            ("/admin/accounts".to_string(), c.accounts),
            ("/admin/audit".to_string(), c.audit),
            ("/admin/audit/export.csv".to_string(), c.audit),
            ("/api/v1/me".to_string(), 200),
            ("/".to_string(), 200),
        ];
        for (path, want) in checks {
            let got = status(&t, &b, &path).await;
            if got != want {
                failures.push(format!("{:?} GET {path}: want {want}, got {got}", c.role));
            }
        }
        // Writes: creating accounts is the system administrator's, granting roles the security administrator's.
        let create =
            t.post(&mut b, "/admin/accounts", &[("username", &format!("new{i}")), ("display_name", "新人"), ("home_unit", c.unit)]).await.status.as_u16();
        let want_create = if c.role == Role::SystemAdmin { 200 } else { 403 };
        if create != want_create {
            failures.push(format!("{:?} POST /admin/accounts: want {want_create}, got {create}", c.role));
        }
        let grant = t.post(&mut b, "/admin/grants", &[("username", "user0"), ("role", "resident"), ("unit", "510903001001")]).await.status.as_u16();
        let want_grant = if c.role == Role::SecurityAdmin { 200 } else { 403 };
        if grant != want_grant {
            failures.push(format!("{:?} POST /admin/grants: want {want_grant}, got {grant}", c.role));
        }
    }
    assert!(failures.is_empty(), "authorization mismatches:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_login_or_get_401() {
    let t = TestApp::new().await;
    let b = Browser::default();
    for path in ["/", "/units/5109", "/admin/accounts", "/admin/audit"] {
        let r = t.get(&b, path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r.location().starts_with("/login?next="), "{path}: {}", r.location());
    }
    for path in ["/api/v1/units", "/api/v1/units/5109", "/api/v1/me"] {
        let r = t.get(&b, path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.json()["code"], "auth.required");
    }
    for path in ["/healthz", "/metrics", "/api/v1/openapi.json", "/login", "/static/app.css"] {
        assert_eq!(t.get(&b, path).await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_county_officer_sees_the_county_and_nothing_beside_it() {
    let t = TestApp::new().await;
    t.user("county", Role::CountyStaff, "510903").await;
    let b = t.login("county", None).await;
    let page = t.get(&b, "/units/510903").await;
    assert!(page.body.contains("船山区"));
    assert!(page.body.contains("data-unit=\"510903001\""), "townships listed");
    // The city is an ancestor: named in the breadcrumbs, but not a link, and its page is 404.
    assert!(page.body.contains("<span class=\"sep\">遂宁市</span>"));
    assert_eq!(t.get(&b, "/units/5109").await.status, StatusCode::NOT_FOUND);
    // Children of the city through the API come back filtered to the county.
    let list = t.get(&b, "/api/v1/units?parent=5109").await.json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["code"], "510903");
    // Search never leaks another county's units.
    let found = t.get(&b, "/api/v1/units?q=%E8%A1%97%E9%81%93&per_page=500").await.json();
    let items = found["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|u| u["code"].as_str().unwrap().starts_with("510903")));
    // The map links only to the officer's own county.
    assert_eq!(page.body.matches("\"><path").count(), 1, "one county link on the map");
}

#[tokio::test]
async fn api_tokens_are_scoped_like_users_and_revocable() {
    let t = TestApp::new().await;
    t.user("client", Role::CountyStaff, "510903").await;
    let token = t.token("client").await;
    assert_eq!(t.get_bearer(&token, "/api/v1/units/510903").await.status, StatusCode::OK);
    assert_eq!(t.get_bearer(&token, "/api/v1/units/510904").await.status, StatusCode::NOT_FOUND);
    let me = t.get_bearer(&token, "/api/v1/me").await.json();
    assert_eq!(me["grants"][0]["role"], "county_staff");
    assert_eq!(t.get_bearer("jct_0000", "/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let tokens = platform::auth::list_tokens(&t.platform.db, Some("client")).await.unwrap();
    let mut tx = t.platform.db.begin().await.unwrap();
    platform::auth::revoke_token(&mut tx, t.platform.now(), &platform::audit::Actor::system(), &tokens[0].id).await.unwrap();
    tx.commit().await.unwrap();
    let r = t.get_bearer(&token, "/api/v1/units/510903").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], "auth.bad_token");
}
