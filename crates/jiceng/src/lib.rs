//! The jiceng binary's library half: router assembly and start-up steps shared by `main` and the
//! integration tests. Kept thin: everything with rules lives in a slice or the platform.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;

use platform::audit::Actor;
use platform::auth::{self, Permission, Role};
use platform::scope::UnitCode;
use platform::web::{self, AppState, NavEntry, Site};
use platform::{AppResult, Platform};

pub const OPENAPI: &str = include_str!("openapi.json");

pub fn site() -> Site {
    Site {
        nav: Arc::new(vec![
            NavEntry { href: "/", label: "工作台", permissions: &[] },
            NavEntry { href: "/units", label: "治理单元", permissions: &[Permission::ViewUnits] },
            NavEntry { href: "/events", label: "事件", permissions: &[Permission::ReportEvents, Permission::WorkEvents] },
            NavEntry { href: "/registry", label: "基础台账", permissions: &[Permission::ViewRegisters] },
            NavEntry { href: "/volunteers", label: "志愿服务", permissions: &[Permission::Participate, Permission::ManageVolunteers] },
            NavEntry { href: "/consultation", label: "议事协商", permissions: &[Permission::Participate, Permission::ManageConsultation] },
            NavEntry { href: "/indicators", label: "规划指标", permissions: &[Permission::ViewUnits] },
            NavEntry { href: "/coverage", label: "服务资源", permissions: &[Permission::ViewRegisters] },
            NavEntry { href: "/admin/accounts", label: "账户与角色", permissions: &[Permission::ViewAccounts] },
            NavEntry { href: "/admin/sharing", label: "数据共享", permissions: &[Permission::ManageSharing] },
            NavEntry { href: "/admin/audit", label: "审计日志", permissions: &[Permission::ViewAudit] },
        ]),
        units: Arc::new(geography::Directory),
        related: Arc::new(events::Related),
    }
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The whole HTTP application. Layers, outermost first: security headers, authentication,
/// errors-as-pages, CSRF, then the routes (with metrics).
pub fn app(platform: Platform) -> Router {
    let site = site();
    let state = AppState { platform: platform.clone(), site: site.clone() };
    Router::new()
        .merge(platform::pages::router())
        .merge(geography::router())
        .merge(registry::router())
        .merge(events::router())
        .merge(volunteers::router())
        .merge(consultation::router())
        .merge(indicators::router())
        .merge(coverage::router())
        .route("/api/v1/openapi.json", get(openapi))
        .route_layer(from_fn_with_state(platform.clone(), web::track_metrics))
        .fallback(web::not_found)
        .layer(from_fn(web::plain_rejections))
        .layer(from_fn(web::csrf))
        .layer(from_fn_with_state(site, web::html_errors))
        .layer(from_fn_with_state(platform, web::authenticate))
        .layer(from_fn(web::security_headers))
        .with_state(state)
}

/// A demo account as printed on the console.
pub struct DemoAccount {
    pub username: &'static str,
    pub role: Role,
    pub unit: String,
    pub password: String,
    pub totp_secret: Option<String>,
}

/// The demo accounts: one per kind of user, spread over the real tree so scopes are visible.
pub fn demo_account_plan() -> Vec<(&'static str, &'static str, Role, &'static str)> {
    vec![
        ("admin", "系统管理员（演示）", Role::SystemAdmin, "5109"),
        ("security", "安全管理员（演示）", Role::SecurityAdmin, "5109"),
        ("auditor", "审计管理员（演示）", Role::AuditAdmin, "5109"),
        ("city", "市级工作人员（演示）", Role::CityStaff, "5109"),
        ("chuanshan", "船山区工作人员（演示）", Role::CountyStaff, "510903"),
        ("township", "街道工作人员（演示）", Role::TownshipStaff, "510903001"),
        ("community", "社区工作人员（演示）", Role::CommunityStaff, "510903001001"),
        ("gridworker", "网格员（演示）", Role::GridWorker, "510903001001501"),
        ("department", "部门工作人员（演示）", Role::DepartmentStaff, "510903"),
        ("resident", "居民（演示）", Role::Resident, "510903001001"),
    ]
}

/// Creates the demo accounts that do not exist yet; returns the ones created, with their passwords.
pub async fn create_demo_accounts(p: &Platform) -> AppResult<Vec<DemoAccount>> {
    let actor = Actor::system();
    let mut made = Vec::new();
    for (username, display, role, unit) in demo_account_plan() {
        if auth::find_account(&p.db, username).await?.is_some() {
            continue;
        }
        let Ok(code) = UnitCode::parse(unit) else {
            continue;
        };
        if geography::store::get(&p.db, unit).await?.is_none() {
            continue;
        }
        let password = auth::generate_password();
        let mut tx = p.db.begin().await?;
        auth::create_account(&mut tx, p.now(), &actor, username, display, &code, &password, p.settings.cheap_hashing).await?;
        let totp_secret = auth::grant_role(&mut tx, p.now(), &actor, username, role, &code).await?;
        tx.commit().await?;
        if role == Role::Resident {
            // 实名认证: the demo resident is bound to a person of her community, as if verified at the counter.
            if let Some(user) = auth::find_account(&p.db, username).await? {
                registry::identity::bind_demo(&p.db, p.now(), &actor, &user.id, &code).await?;
            }
        }
        if role == Role::DepartmentStaff {
            // The demo department account works for 船山区城管局.
            let mut tx = p.db.begin().await?;
            let dep = events::store::ensure_department(&mut tx, unit, "城管局").await?;
            events::store::add_member(&mut tx, username, &dep).await?;
            tx.commit().await?;
        }
        made.push(DemoAccount { username, role, unit: unit.to_owned(), password, totp_secret });
    }
    Ok(made)
}

/// The test clock's routes, mounted only when the server was started with `JICENG_TEST_CLOCK=1`:
/// `GET /test/clock` shows the offset, `POST /test/clock/advance` (`minutes`, JSON or form) moves
/// the clock forward and runs one escalation sweep at once, `POST /test/clock/reset` returns to the
/// wall clock. They need no sign-in: a server with a movable clock is a test server by definition.
pub fn test_clock_routes(clock: Arc<platform::clock::OffsetClock>, platform: Platform) -> Router {
    use axum::Json;
    use axum::routing::post;

    #[derive(serde::Deserialize)]
    struct Advance {
        minutes: i64,
    }

    fn state(clock: &platform::clock::OffsetClock, p: &Platform) -> serde_json::Value {
        serde_json::json!({
            "offset_minutes": clock.offset_ms() / platform::clock::MINUTE,
            "now_ms": p.now(),
            "now": platform::clock::format_beijing(p.now()),
        })
    }

    let (c1, p1) = (clock.clone(), platform.clone());
    let (c2, p2) = (clock.clone(), platform.clone());
    let (c3, p3) = (clock, platform);
    Router::new()
        .route("/test/clock", get(move || async move { Json(state(&c1, &p1)) }))
        .route(
            "/test/clock/advance",
            post(move |body: axum::body::Bytes| async move {
                // JSON `{"minutes": N}` or a form `minutes=N`.
                let parsed: Option<Advance> = serde_json::from_slice(&body).ok().or_else(|| {
                    let text = std::str::from_utf8(&body).ok()?;
                    let v = text.split('&').find_map(|kv| kv.strip_prefix("minutes="))?;
                    Some(Advance { minutes: v.trim().parse().ok()? })
                });
                let Some(a) = parsed.filter(|a| (1..=366 * 24 * 60).contains(&a.minutes)) else {
                    return platform::AppError::bad_request("test_clock.minutes", "minutes 应为 1 到 527040 之间的整数").into_response();
                };
                c2.advance(a.minutes * platform::clock::MINUTE);
                // Ballots past their closing time close at once, as the minute job would.
                if let Err(e) = consultation::service::close_due_ballots(&p2).await {
                    return e.into_response();
                }
                match events::service::sweep(&p2, events::model::WorkCalendar::official()).await {
                    Ok(rep) => {
                        let mut v = state(&c2, &p2);
                        v["sweep"] = serde_json::to_value(rep).unwrap_or_default();
                        Json(v).into_response()
                    }
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(
            "/test/clock/reset",
            post(move || async move {
                c3.reset();
                Json(state(&c3, &p3))
            }),
        )
}
