//! 服务资源一幅地图 end to end: a hand-made road network written as PBF and read back through the
//! real reader, facilities in the register, buildings with residents; the analysis's stored
//! distances, roll-ups, unreachable buildings and candidate sites; the map, table, CSV and rules
//! pages; the plan indicators fed from the stored results; the Helsinki extract when present.

use axum::http::StatusCode;
use platform::audit::Actor;
use platform::auth::Role;
use platform::scope::UnitCode;
use platform::sql;
use walknet::{Network, Profile, Site, SnapOptions, pbf};

use crate::harness::TestApp;

const COMMUNITY: &str = "510903001001";
const COMMUNITY2: &str = "510903001002";
const TOWNSHIP: &str = "510903001";
const VILLAGE: &str = "510904100214";
const LON0: f64 = 105.59;
const LAT0: f64 = 30.53;

fn m_lon(m: f64) -> f64 {
    m / 111_195.0 / LAT0.to_radians().cos()
}
fn m_lat(m: f64) -> f64 {
    m / 111_195.0
}

/// A 1.5 km footway east from (LON0, LAT0), a node every 100 m, as PBF bytes.
fn line_pbf() -> Vec<u8> {
    let nodes: Vec<(i64, f64, f64)> = (0..16).map(|i| (i + 1, LAT0, LON0 + m_lon(i as f64 * 100.0))).collect();
    let way = pbf::OwnedWay { id: 1, refs: (1..=16).collect(), tags: vec![("highway".into(), "footway".into())] };
    let mut out = Vec::new();
    pbf::write(&mut out, &nodes, &[way], true).expect("write pbf");
    out
}

async fn add_facility(t: &TestApp, unit: &str, name: &str, category: &str, lon: f64, lat: f64) {
    t.platform
        .db
        .execute(sql!(
            "INSERT INTO facilities (id, unit_code, name, category, lon_e6, lat_e6, floor_area_dm2, capacity, friendly_renovated, synthetic, created_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, 0, 0, 0)",
            platform::db::new_id(), unit, name, category, (lon * 1e6).round() as i64, (lat * 1e6).round() as i64
        ))
        .await
        .expect("facility");
}

async fn add_buildings(t: &TestApp, rows: &[(&str, &str, f64, f64, i64)]) {
    let rows: Vec<coverage::store::NewBuilding> = rows
        .iter()
        .map(|(unit, name, lon, lat, residents)| coverage::store::NewBuilding {
            unit_code: (*unit).into(),
            name: (*name).into(),
            lon_e6: (lon * 1e6).round() as i64,
            lat_e6: (lat * 1e6).round() as i64,
            households: residents / 3,
            residents: *residents,
            source: "import",
        })
        .collect();
    let mut tx = t.platform.db.begin().await.expect("tx");
    coverage::store::insert_buildings(&mut tx, &rows, t.platform.now()).await.expect("buildings");
    tx.commit().await.expect("commit");
}

/// The line network, a 文化活动 facility 10 m north of its west end and one 10 km away, and
/// buildings: A 300 m east (10 m north), B 1200 m east, C 1 km north of the line (too far to snap),
/// D in the second community 400 m east.
async fn scenario(t: &TestApp) -> Network {
    add_facility(t, COMMUNITY, "电江路文化活动室", "文化活动", LON0, LAT0 + m_lat(10.0)).await;
    add_facility(t, COMMUNITY, "远处文化站", "文化活动", LON0 + m_lon(10_000.0), LAT0 + m_lat(10_000.0)).await;
    add_buildings(
        t,
        &[
            (COMMUNITY, "A 栋", LON0 + m_lon(300.0), LAT0 + m_lat(10.0), 100),
            (COMMUNITY, "B 栋", LON0 + m_lon(1200.0), LAT0 - m_lat(5.0), 50),
            (COMMUNITY, "C 栋", LON0 + m_lon(500.0), LAT0 + m_lat(1000.0), 30),
            (COMMUNITY2, "D 栋", LON0 + m_lon(400.0), LAT0 - m_lat(10.0), 90),
        ],
    )
    .await;
    Network::from_pbf(std::io::Cursor::new(line_pbf()), Profile::Walk).expect("network")
}

async fn distance(t: &TestApp, building: &str, category: &str) -> Option<i64> {
    #[derive(sqlx::FromRow)]
    struct D {
        distance_m: Option<i64>,
    }
    let d: D = t
        .platform
        .db
        .fetch_one(sql!(
            "SELECT d.distance_m FROM coverage_distances d JOIN coverage_buildings b ON b.id = d.building_id WHERE b.name = $1 AND d.category = $2 AND d.profile = 'walk'",
            building, category
        ))
        .await
        .expect("distance row");
    d.distance_m
}

#[tokio::test]
async fn analysis_stores_network_distances_rollups_gaps_and_candidates() {
    let t = TestApp::new().await;
    let net = scenario(&t).await;
    let opts = coverage::service::Options { max_snap_m: 200.0 };
    let r = coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, opts).await.expect("analysis");
    assert_eq!((r.buildings, r.unreachable, r.facilities, r.facilities_outside), (4, 1, 2, 1), "{r:?}");
    assert!(r.warnings.iter().any(|w| w.contains("1 栋住宅楼距道路超过 200 米")), "{:?}", r.warnings);
    assert!(r.warnings.iter().any(|w| w.contains("1 处设施不在路网范围内")), "{:?}", r.warnings);

    // Independent reference: walknet's single-source search from the facility's snap.
    let snap_opts = SnapOptions { max_m: 200.0, min_component: 1 };
    let fac = net.snap_one([LON0, LAT0 + m_lat(10.0)], &snap_opts).expect("facility snaps");
    let reach = net.within(&Site::Snap(fac), 5000.0);
    let node3 = reach.iter().find(|(n, _)| (net.lonlat(*n)[0] - (LON0 + m_lon(300.0))).abs() < 1e-7).expect("node at 300 m").1;
    let a = distance(&t, "A 栋", "文化活动").await.expect("A within bound");
    assert!((a as f32 - (node3 + 10.0)).abs() <= 1.0, "A: stored {a}, reference {}", node3 + 10.0);
    assert!((a - 320).abs() <= 1, "10 m access + 300 m + 10 m access, got {a}");
    let b = distance(&t, "B 栋", "文化活动").await.expect("B within the 5 km bound of 十里文化圈");
    assert!((b - 1215).abs() <= 1, "got {b}");
    assert_eq!(distance(&t, "C 栋", "文化活动").await, None, "C could not be snapped");

    // 15-minute culture circle (1000 m, units at 90 %): A covered, B a gap, C unreachable.
    let rows = coverage::store::rollups(&t.platform.db, "CULTURE15", &UnitCode::parse(COMMUNITY).unwrap()).await.expect("rollups");
    assert_eq!(rows.len(), 1);
    let tl = rows[0].tally();
    assert_eq!((tl.buildings, tl.buildings_covered, tl.unreachable, tl.residents, tl.residents_covered), (3, 1, 1, 180, 100));
    // 十里文化圈: B is inside 5 km.
    let ten = coverage::store::rollups(&t.platform.db, "TENLI", &UnitCode::parse(COMMUNITY).unwrap()).await.expect("rollups")[0].tally();
    assert_eq!(ten.residents_covered, 150);

    // The best new site for the culture circle is near B and adds B's residents (D is covered).
    let c = coverage::store::candidates(&t.platform.db, "CULTURE15").await.expect("candidates");
    assert_eq!(c.first().map(|c| c.residents_gain), Some(50), "{c:?}");
    let d = distance(&t, "D 栋", "文化活动").await.expect("D");
    assert!((d - 420).abs() <= 1);

    // Running again replaces the profile's results instead of adding to them.
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, opts).await.expect("again");
    let n = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM coverage_building_results WHERE profile = 'walk'")).await.expect("count");
    assert_eq!(n, 4);
    let runs = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM coverage_runs")).await.expect("runs");
    assert_eq!(runs, 2);
    let audited = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'coverage.analyze'")).await.expect("audit");
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn indicators_read_the_stored_coverage_at_two_levels() {
    let t = TestApp::new().await;
    let net = scenario(&t).await;
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, Default::default()).await.expect("analysis");
    let community = UnitCode::parse(COMMUNITY).unwrap();
    let township = UnitCode::parse(TOWNSHIP).unwrap();
    // T27 counts communities whose residents are ≥ 90 % inside 1000 m: COMMUNITY has 100 of 180,
    // COMMUNITY2 has 90 of 90.
    assert_eq!(coverage::service::indicator(&t.platform.db, "T27", &community).await.expect("T27"), Some((0, 1)));
    assert_eq!(coverage::service::indicator(&t.platform.db, "T27", &township).await.expect("T27"), Some((1, 2)));
    // T28 applies to villages only: none of these buildings count.
    assert_eq!(coverage::service::indicator(&t.platform.db, "T28", &township).await.expect("T28"), Some((0, 0)));
    // Through the indicators slice, the same numbers.
    for (code, want) in [(&community, (0, Some(1))), (&township, (1, Some(2)))] {
        let f = indicators::service::external(&t.platform, indicators::model::External::Coverage("T27"), code).await.expect("external");
        assert_eq!((f.num, f.den), want, "T27 at {}", code.as_str());
    }
}

#[tokio::test]
async fn village_residents_count_for_the_rural_bicycle_circle() {
    let t = TestApp::new().await;
    add_facility(&t, VILLAGE, "红岩嘴村党群服务中心", "党群服务中心", LON0, LAT0).await;
    add_facility(&t, VILLAGE, "红岩嘴村卫生室", "卫生服务站", LON0 + m_lon(1400.0), LAT0).await;
    add_buildings(&t, &[(VILLAGE, "一组", LON0 + m_lon(700.0), LAT0, 40), (VILLAGE, "二组", LON0 + m_lon(1500.0), LAT0 + m_lat(2000.0), 60)]).await;
    let net = Network::from_pbf(std::io::Cursor::new(line_pbf()), Profile::Bicycle);
    // A footway is not rideable: the bicycle network is empty and the error says so.
    let err = net.expect_err("footway only");
    assert_eq!(err.code(), "walknet.no_routable_ways");
    assert!(err.to_string().contains("骑行"), "{err}");
    // The same line as a residential street is rideable.
    let nodes: Vec<(i64, f64, f64)> = (0..16).map(|i| (i + 1, LAT0, LON0 + m_lon(i as f64 * 100.0))).collect();
    let way = pbf::OwnedWay { id: 1, refs: (1..=16).collect(), tags: vec![("highway".into(), "residential".into())] };
    let mut file = Vec::new();
    pbf::write(&mut file, &nodes, &[way], true).expect("pbf");
    let net = Network::from_pbf(std::io::Cursor::new(file), Profile::Bicycle).expect("bicycle network");
    let r = coverage::service::analyze(&t.platform, &Actor::cli(), &net, "street.osm.pbf", false, Default::default()).await.expect("analysis");
    assert_eq!((r.buildings, r.unreachable), (2, 1));
    let v = UnitCode::parse(VILLAGE).unwrap();
    // 一组 is within 3000 m of both: 40 of 100 residents (二组 is 2 km off the road).
    assert_eq!(coverage::service::indicator(&t.platform.db, "T17", &v).await.expect("T17"), Some((40, 100)));
    // The walk results are untouched (none yet) and T27 has nothing to count.
    assert_eq!(coverage::service::indicator(&t.platform.db, "T27", &v).await.expect("T27"), Some((0, 0)));
}

#[tokio::test]
async fn map_table_csv_and_rules_pages() {
    let t = TestApp::new().await;
    let net = scenario(&t).await;
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, Default::default()).await.expect("analysis");
    t.user("cityop", Role::CityStaff, "5109").await;
    t.user("comm2", Role::CommunityStaff, COMMUNITY2).await;
    let secret = t.user("admin", Role::SystemAdmin, "5109").await;
    let b = t.login("cityop", None).await;
    let page = t.get(&b, &format!("/coverage?unit={COMMUNITY}&rule=CULTURE15")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("服务资源一幅地图"));
    assert!(page.body.contains("住宅楼 3 栋：已覆盖 1，未覆盖 1，不可达 1"), "{}", page.body);
    assert!(page.body.contains("100/180 人"), "residents share shown");
    assert!(page.body.contains("class=\"bld gap\"") && page.body.contains("class=\"bld covered\""), "buildings coloured");
    assert!(page.body.contains("class=\"net\""), "the network is drawn");
    assert!(page.body.contains("class=\"cand\""), "candidate sites drawn");
    assert!(page.body.contains("50 人"), "candidate gain listed");
    assert!(!page.body.contains("合成路网（演示）"), "a real network is not labelled synthetic");

    let table = t.get(&b, &format!("/coverage/table?unit={TOWNSHIP}")).await;
    assert_eq!(table.status, StatusCode::OK);
    assert!(table.body.contains("城市社区15分钟文化圈"));
    assert!(table.body.contains("55.6%（100/180 人"), "{}", table.body);
    assert!(table.body.contains("100.0%（90/90 人"));
    let csv = t.get(&b, &format!("/coverage/table.csv?unit={TOWNSHIP}")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.contains("510903001001") && csv.body.contains("55.6%"));
    let xlsx = t.get(&b, &format!("/coverage/table.xlsx?unit={TOWNSHIP}")).await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert!(xlsx.headers[axum::http::header::CONTENT_TYPE].to_str().unwrap().contains("spreadsheetml"));

    // Out of scope: a community's staff cannot see another community's map.
    let c2 = t.login("comm2", None).await;
    assert_eq!(t.get(&c2, &format!("/coverage?unit={COMMUNITY}")).await.status, StatusCode::NOT_FOUND);
    let own = t.get(&c2, "/coverage?rule=CULTURE15").await;
    assert!(own.body.contains("住宅楼 1 栋：已覆盖 1"), "{}", own.body);

    // Rules: staff see them, only a city system admin edits, and the edit is audited.
    let mut c2 = c2;
    let denied = t.post(&mut c2, "/coverage/rules/CULTURE15", &[("name", "x")]).await;
    assert_ne!(denied.status, StatusCode::SEE_OTHER);
    let mut a = t.login("admin", secret.as_deref()).await;
    let form = [
        ("name", "城市社区15分钟文化圈"),
        ("profile", "walk"),
        ("metres", "1300"),
        ("categories", "文化活动"),
        ("match_mode", "any"),
        ("applies_to", "communities"),
        ("indicator", "T27"),
        ("counts", "units"),
        ("unit_share_pct", "90"),
        ("note", ""),
    ];
    let ok = t.post(&mut a, "/coverage/rules/CULTURE15", &form).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let mut bad = form;
    bad[2] = ("metres", "abc");
    let r = t.post(&mut a, "/coverage/rules/CULTURE15", &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("距离（米）"), "{}", r.body);
    let audited = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'coverage.rule_update'")).await.expect("audit");
    assert_eq!(audited, 1);
    // After re-running, B (1215 m) is inside the widened circle.
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, Default::default()).await.expect("analysis");
    let page = t.get(&b, &format!("/coverage?unit={COMMUNITY}&rule=CULTURE15")).await;
    assert!(page.body.contains("已覆盖 2，未覆盖 0，不可达 1"), "{}", page.body);
}

#[tokio::test]
async fn helsinki_extract_distances_match_a_single_source_search() {
    let dir = std::env::var("WALKNET_OSM_DIR").unwrap_or_else(|_| "/work/osmdata".into());
    let path = std::path::PathBuf::from(dir).join("Helsinki.osm.pbf");
    if !path.exists() {
        eprintln!("SKIPPED: {} not found; run bench/fetch_osm.sh (or set WALKNET_OSM_DIR)", path.display());
        return;
    }
    let t = TestApp::new().await;
    let net = Network::from_pbf_path(&path, Profile::Walk).expect("helsinki");
    // Facilities and buildings on network nodes of the largest component, spread by index.
    let nodes = net.largest_component();
    assert!(nodes.len() > 1000);
    let pick = |k: usize| net.lonlat(nodes[(k * 7919) % nodes.len()]);
    for k in 0..5 {
        let [lon, lat] = pick(k);
        add_facility(&t, COMMUNITY, &format!("文化站{k}"), "文化活动", lon, lat).await;
    }
    let mut rows = Vec::new();
    let names: Vec<String> = (0..40).map(|k| format!("H{k}")).collect();
    for (k, name) in names.iter().enumerate() {
        let [lon, lat] = pick(100 + k * 13);
        rows.push((COMMUNITY, name.as_str(), lon, lat, 10));
    }
    add_buildings(&t, &rows).await;
    let r = coverage::service::analyze(&t.platform, &Actor::cli(), &net, "helsinki.osm.pbf", false, Default::default()).await.expect("analysis");
    assert_eq!(r.unreachable, 0);
    // Reference: for each facility a single-source search; a building's distance is the minimum.
    let opts = SnapOptions::default();
    let fac_snaps: Vec<_> = (0..5).map(|k| net.snap_one(pick(k), &opts).expect("snap")).collect();
    let fields: Vec<Vec<(u32, f32)>> = fac_snaps.iter().map(|s| net.within(&Site::Snap(*s), 5000.0)).collect();
    for (k, name) in names.iter().enumerate().take(10) {
        let node = nodes[((100 + k * 13) * 7919) % nodes.len()];
        let want = fields.iter().filter_map(|f| f.iter().find(|(n, _)| *n == node).map(|x| x.1)).fold(f32::INFINITY, f32::min);
        let got = distance(&t, name, "文化活动").await;
        match got {
            Some(g) => assert!((g as f32 - want).abs() <= 1.5, "{name}: stored {g}, reference {want}"),
            None => assert!(want.is_infinite() || want > 5000.0, "{name}: none stored, reference {want}"),
        }
    }
}

fn jiceng(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .current_dir(dir)
        .args(args)
        .env_remove("JICENG_DB")
        .env_remove("JICENG_CONFIG")
        .output()
        .expect("run jiceng");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn cli_analyses_the_demo_network_and_refuses_bad_files_with_clear_messages() {
    let dir = std::env::temp_dir().join(format!("jiceng-cov-{}", platform::db::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("a.db");
    let db = db.to_str().unwrap();
    let (ok, out) = jiceng(&dir, &["--db", db, "demo", "--no-serve"]);
    assert!(ok, "{out}");
    assert!(out.contains("合成路网（演示）"), "{out}");
    let file = dir.join(coverage::demo::NETWORK_FILE);
    assert!(file.exists(), "the demo network is written next to the database");
    let f = file.to_str().unwrap();
    let (ok, out) = jiceng(&dir, &["--db", db, "analyze", "coverage", "--osm", f, "--synthetic", "--max-snap-m", "200"]);
    assert!(ok, "{out}");
    assert!(out.contains("覆盖分析完成（步行，合成路网（演示））"), "{out}");
    assert!(out.contains("其中 2 栋距道路超过 200 米记为不可达"), "the two far buildings are reported: {out}");
    let (ok, out) = jiceng(&dir, &["--db", db, "analyze", "coverage", "--osm", f, "--profile", "bicycle"]);
    assert!(ok && out.contains("覆盖分析完成（骑行"), "{out}");

    // A truncated file, a file that is not PBF, an extract without walkable ways, a bad profile.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.osm.pbf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, out) = jiceng(&dir, &["--db", db, "analyze", "coverage", "--osm", cut.to_str().unwrap()]);
    assert!(!ok && out.contains("不是有效的 OSM PBF 路网文件") && out.contains("walknet.not_pbf"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    let text = dir.join("notes.osm.pbf");
    std::fs::write(&text, "这不是路网文件").unwrap();
    let (ok, out) = jiceng(&dir, &["--db", db, "analyze", "coverage", "--osm", text.to_str().unwrap()]);
    assert!(!ok && out.contains("walknet.not_pbf"), "{out}");
    let nodes: Vec<(i64, f64, f64)> = (0..4).map(|i| (i + 1, LAT0, LON0 + m_lon(i as f64 * 50.0))).collect();
    let river = pbf::OwnedWay { id: 1, refs: vec![1, 2, 3, 4], tags: vec![("waterway".into(), "river".into())] };
    let mut buf = Vec::new();
    pbf::write(&mut buf, &nodes, &[river], true).unwrap();
    let noroads = dir.join("river.osm.pbf");
    std::fs::write(&noroads, buf).unwrap();
    let (ok, out) = jiceng(&dir, &["--db", db, "analyze", "coverage", "--osm", noroads.to_str().unwrap()]);
    assert!(!ok && out.contains("没有步行可用的道路") && out.contains("walknet.no_routable_ways"), "{out}");
    let (ok, out) = jiceng(&dir, &["--db", db, "analyze", "coverage", "--osm", f, "--profile", "car"]);
    assert!(!ok && out.contains("--profile 只能是 walk 或 bicycle"), "{out}");
    let (ok, out) = jiceng(&dir, &["--db", db, "analyze", "coverage", "--osm", dir.join("missing.pbf").to_str().unwrap()]);
    assert!(!ok && out.contains("walknet.io"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

async fn add_sized_facility(t: &TestApp, unit: &str, category: &str, area_dm2: i64, capacity: Option<i64>) {
    t.platform
        .db
        .execute(sql!(
            "INSERT INTO facilities (id, unit_code, name, category, lon_e6, lat_e6, floor_area_dm2, capacity, friendly_renovated, synthetic, created_ms) VALUES ($1, $2, $3, $4, NULL, NULL, $5, $6, 0, 0, 0)",
            platform::db::new_id(), unit, format!("测试{category}"), category, area_dm2, capacity
        ))
        .await
        .expect("facility");
}

#[tokio::test]
async fn compliance_page_judges_each_standard_with_the_numbers_and_agrees_with_the_indicators() {
    let t = TestApp::new().await;
    let pop = geography::store::population(&t.platform.db, COMMUNITY).await.expect("db").expect("demo population");
    // Exactly 30 m² per 100 households in service area, a 300 m² centre, and one place short of
    // 3 childcare places per 1,000 residents.
    let area = 30 * pop.households;
    add_sized_facility(&t, COMMUNITY, "党群服务中心", 30_000, None).await;
    add_sized_facility(&t, COMMUNITY, "便民服务", area - 30_000 - 100, None).await;
    let places = (3 * pop.residents + 999) / 1000 - 1;
    add_sized_facility(&t, COMMUNITY, "托育", 100, Some(places)).await;
    add_sized_facility(&t, COMMUNITY, "超市", 99_999, None).await; // not a service facility
    let (rows, _) = coverage::service::facility_compliance(&t.platform.db, &UnitCode::parse(COMMUNITY).unwrap()).await.expect("compliance");
    assert_eq!(rows.len(), 1);
    let checks = &rows[0].2;
    assert_eq!((checks[0].target, checks[0].pass), ("T11", Some(true)), "{:?}", checks[0]);
    assert_eq!((checks[1].target, checks[1].pass), ("T47", Some(true)));
    assert_eq!((checks[2].target, checks[2].pass), ("T42", Some(false)), "{:?}", checks[2]);
    assert_eq!(checks[3].pass, None, "T43 has no data and says so");
    // The indicators slice's T11 for the same community is the same 30 m² per 100 households.
    let city = UnitCode::parse(TOWNSHIP).unwrap();
    let c = indicators::service::compute(&t.platform, &city, 2026, indicators::service::Reach::All).await.expect("indicators");
    let f = c.values["T11"][COMMUNITY];
    assert_eq!((f.num, f.den), (area, Some(pop.households)), "same inputs as the indicators");

    t.user("street", Role::TownshipStaff, TOWNSHIP).await;
    let b = t.login("street", None).await;
    let page = t.get(&b, &format!("/coverage/compliance?unit={TOWNSHIP}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let row = page.body.split(&format!("data-unit=\"{COMMUNITY}\"")).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("30.0 平方米/百户"), "{row}");
    assert!(row.contains("未达标") && row.contains(&format!("{places} 个 ÷ {} 人", pop.residents)), "{row}");
    assert_eq!(t.get(&b, "/coverage/compliance?unit=510904").await.status, StatusCode::NOT_FOUND, "another county is out of scope");
}

async fn upload(t: &TestApp, b: &crate::harness::Browser, path: &str, name: &str, bytes: &[u8]) -> crate::harness::Response {
    use axum::body::Body;
    use axum::http::{Request, header};
    let boundary = "COVBOUNDARY";
    let mut body: Vec<u8> = Vec::new();
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = Request::post(format!("{path}?_csrf={}", crate::harness::enc(&b.csrf)))
        .header(header::COOKIE, b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
        .unwrap();
    t.send(req).await
}

#[tokio::test]
async fn building_import_checks_every_row_writes_all_or_nothing_and_replaces_on_reimport() {
    let t = TestApp::new().await;
    t.user("comm", Role::CommunityStaff, COMMUNITY).await;
    let b = t.login("comm", None).await;
    let tpl = t.get(&b, "/coverage/buildings/template.csv").await;
    assert_eq!(tpl.status, StatusCode::OK);
    let header = "村（社区）代码,名称或地址,经度,纬度,户数,人口,坐标系\n";
    // One bad coordinate and one unit outside the worker's community: nothing is written.
    let bad = format!("{header}{COMMUNITY},1栋,105.59,30.53,30,90,\n{COMMUNITY},2栋,205.59,30.53,30,90,\n{COMMUNITY2},3栋,105.59,30.53,30,90,\n");
    let r = upload(&t, &b, "/coverage/buildings", "b.csv", bad.as_bytes()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("2 处错误，未写入任何数据"), "{}", r.body);
    assert!(r.body.contains("应为中国境内的经度") && r.body.contains("不是您管辖范围内现有的村（社区）"), "{}", r.body);
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM coverage_buildings")).await.unwrap(), 0);
    let good = format!("{header}{COMMUNITY},1栋,105.59,30.53,30,90,\n{COMMUNITY},2栋,105.591,30.531,20,60,gcj02\n");
    let r = upload(&t, &b, "/coverage/buildings", "b.csv", good.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("已导入 2 栋住宅楼"), "{}", r.body);
    // Importing again replaces the community's imported buildings.
    let r = upload(&t, &b, "/coverage/buildings", "b.csv", good.as_bytes()).await;
    assert!(r.body.contains("替换原导入的 2 栋"), "{}", r.body);
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM coverage_buildings")).await.unwrap(), 2);
    let audited = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'coverage.buildings_import'")).await.unwrap();
    assert_eq!(audited, 2);
    // A file that is neither CSV nor XLSX, and one without the required columns.
    let r = upload(&t, &b, "/coverage/buildings", "b.csv", "名称\n1栋\n".as_bytes()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("缺少列"), "{}", r.body);
}

async fn wait_for_job(t: &TestApp, b: &crate::harness::Browser, location: &str) -> String {
    for _ in 0..200 {
        let page = t.get(b, location).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        if !page.body.contains("http-equiv=\"refresh\"") {
            return page.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the background analysis did not finish");
}

#[tokio::test]
async fn network_upload_is_analysed_in_the_background_and_bad_files_are_reported() {
    let t = TestApp::new().await;
    scenario(&t).await;
    t.user("cityop", Role::CityStaff, "5109").await;
    t.user("comm", Role::CommunityStaff, COMMUNITY).await;
    let c = t.login("comm", None).await;
    assert_eq!(t.get(&c, "/coverage/network").await.status, StatusCode::FORBIDDEN, "only the city uploads networks");
    let b = t.login("cityop", None).await;
    assert_eq!(t.get(&b, "/coverage/network").await.status, StatusCode::OK);
    let r = upload(&t, &b, "/coverage/network", "line.osm.pbf", &line_pbf()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let body = wait_for_job(&t, &b, r.location()).await;
    assert!(body.contains("line.osm.pbf 分析完成（步行）") && body.contains("住宅楼 4 栋，其中 1 栋不可达"), "{body}");
    assert!(body.contains("1 处在路网范围外"), "{body}");
    let runs = t.platform.db.scalar(sql!("SELECT COUNT(*) FROM coverage_runs WHERE network_name = 'line.osm.pbf' AND actor = 'cityop'")).await.unwrap();
    assert_eq!(runs, 1);
    // A truncated file: the job fails with walknet's message, the stored results stay.
    let bytes = line_pbf();
    let r = upload(&t, &b, "/coverage/network", "cut.osm.pbf", &bytes[..bytes.len() - 10]).await;
    let body = wait_for_job(&t, &b, r.location()).await;
    assert!(body.contains("cut.osm.pbf 未能分析") && body.contains("walknet.not_pbf"), "{body}");
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM coverage_building_results")).await.unwrap(), 4);
    let r = upload(&t, &b, "/coverage/network", "empty.osm.pbf", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(t.get(&b, "/coverage/network/nosuchjob").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_summary_gives_each_rule_per_subtree() {
    let t = TestApp::new().await;
    let net = scenario(&t).await;
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, Default::default()).await.expect("analysis");
    t.user("cityop", Role::CityStaff, "5109").await;
    let token = t.token("cityop").await;
    let r = t.get_bearer(&token, &format!("/api/v1/coverage?unit={TOWNSHIP}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let d = r.json();
    let rule = d["rules"].as_array().unwrap().iter().find(|r| r["id"] == "CULTURE15").unwrap().clone();
    assert_eq!((rule["residents"].as_i64(), rule["residents_covered"].as_i64()), (Some(270), Some(190)), "{rule}");
    assert_eq!((rule["units"].as_i64(), rule["units_covered"].as_i64()), (Some(2), Some(1)));
    assert_eq!(d["runs"][0]["synthetic"], false);
    assert_eq!(t.get_bearer(&token, "/api/v1/coverage?unit=99").await.status, StatusCode::NOT_FOUND);
}

/// Bounding box of the network's nodes, [min lon, min lat, max lon, max lat].
fn extent(net: &Network) -> [f64; 4] {
    let mut e = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for n in 0..net.node_count() as u32 {
        let [lon, lat] = net.lonlat(n);
        e = [e[0].min(lon), e[1].min(lat), e[2].max(lon), e[3].max(lat)];
    }
    e
}

#[tokio::test]
async fn isochrones_are_stored_per_facility_and_tier_and_drawn_on_the_map_when_chosen() {
    let t = TestApp::new().await;
    let net = scenario(&t).await;
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, Default::default()).await.expect("analysis");
    let city = UnitCode::parse("5109").unwrap();
    // 文化活动 is named by rules at 500, 1000 and 5000 m on foot: three tiers for the facility on
    // the network (the one 10 km away is outside it and has none).
    let tiers = coverage::store::isochrone_tiers(&t.platform.db, "walk", &city).await.expect("tiers");
    assert_eq!(tiers, vec![("文化活动".to_owned(), 500), ("文化活动".to_owned(), 1000), ("文化活动".to_owned(), 5000)]);
    let e = extent(&net);
    let facility = [LON0, LAT0 + m_lat(10.0)];
    for (_, metres) in &tiers {
        let rows = coverage::store::isochrones(&t.platform.db, "walk", &city, "文化活动", *metres).await.expect("isochrones");
        assert_eq!(rows.len(), 1, "one facility on the network at {metres} m");
        assert!(rows[0].vertices as usize <= coverage::model::ISOCHRONE_MAX_VERTICES);
        let polys = coverage::model::parse_multipolygon(&rows[0].geometry).expect("GeoJSON MultiPolygon");
        assert!(coverage::model::polygons_contain(&polys, facility), "{metres} m: the facility is inside its own isochrone");
        // Within the network's extent, give or take the buffer drawn around the streets.
        let margin = 250.0;
        for q in polys.iter().flatten().flatten() {
            assert!(q[0] >= e[0] - m_lon(margin) && q[0] <= e[2] + m_lon(margin), "{metres} m: lon {} outside the network", q[0]);
            assert!(q[1] >= e[1] - m_lat(margin) && q[1] <= e[3] + m_lat(margin), "{metres} m: lat {} outside the network", q[1]);
        }
        // The 500 m circle stops along the line: a point 900 m east on it is outside.
        if *metres == 500 {
            assert!(coverage::model::polygons_contain(&polys, [LON0 + m_lon(400.0), LAT0]));
            assert!(!coverage::model::polygons_contain(&polys, [LON0 + m_lon(900.0), LAT0]), "500 m reaches no further than about 500 m");
        }
    }
    // A second run replaces them.
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, Default::default()).await.expect("again");
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM coverage_isochrones")).await.unwrap(), 3);

    // The map offers the tiers of the facilities shown and draws only the ones ticked.
    t.user("cityop", Role::CityStaff, "5109").await;
    let b = t.login("cityop", None).await;
    let page = t.get(&b, &format!("/coverage?unit={TOWNSHIP}&rule=CULTURE15")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"文化活动:1000\"") && page.body.contains("文化活动 1000 米（约 17 分钟）"), "{}", page.body);
    assert!(!page.body.contains("class=\"iso "), "nothing drawn until chosen");
    let page = t
        .get(&b, &format!("/coverage?unit={TOWNSHIP}&rule=CULTURE15&iso={}&iso={}", crate::harness::enc("文化活动:500"), crate::harness::enc("文化活动:1000")))
        .await;
    assert_eq!(page.body.matches("class=\"iso iso").count(), 2, "{}", page.body);
    assert!(page.body.contains("data-tier=\"文化活动:500\"") && page.body.contains("等时圈：文化活动 500 米"));
    assert!(page.body.contains("所选等时圈（2 个）"));
}

#[tokio::test]
async fn t18_is_the_largest_network_distance_to_a_community_complex_with_unreachable_buildings_apart() {
    let t = TestApp::new().await;
    let net = scenario(&t).await;
    add_facility(&t, COMMUNITY, "电江路社区党群服务中心", "党群服务中心", LON0, LAT0 + m_lat(10.0)).await;
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, Default::default()).await.expect("analysis");
    let community = UnitCode::parse(COMMUNITY).unwrap();
    let community2 = UnitCode::parse(COMMUNITY2).unwrap();
    let township = UnitCode::parse(TOWNSHIP).unwrap();
    // By hand: A = 10 m access + 300 m + 10 m = 320 m, B = 10 + 1200 + 5 = 1215 m; C is 1 km off
    // the road (unreachable, counted apart); D in the second community = 10 + 400 + 10 = 420 m.
    let t18 = |code: &UnitCode| {
        let db = t.platform.db.clone();
        let code = code.clone();
        async move { coverage::service::indicator(&db, "T18", &code).await.expect("T18").expect("applies") }
    };
    let (m, k) = t18(&community).await;
    assert_eq!(k, 1000);
    assert!((m - 1215).abs() <= 1, "community: {m} m");
    let (m2, _) = t18(&community2).await;
    assert!((m2 - 420).abs() <= 1, "community 2: {m2} m");
    // The street's radius is the maximum of its communities'.
    assert_eq!(t18(&township).await, (m, 1000));
    let rows = coverage::store::rollups(&t.platform.db, "COMPLEX15", &community).await.expect("rollups");
    let tl = rows[0].tally();
    assert_eq!((tl.buildings, tl.unreachable, tl.beyond, tl.max_distance_m), (3, 1, 0, Some(m)));
    // The indicators slice shows it in km against the 1.5 km target (≤), and the table names the
    // unreachable building.
    let f = indicators::service::external(&t.platform, indicators::model::External::Coverage("T18"), &township).await.expect("external");
    let ind = indicators::model::find("T18").expect("T18");
    let v = indicators::model::value_of(&ind.formula, f).expect("a value");
    assert!((v - 1.215).abs() < 0.0015, "{v}");
    assert_eq!(indicators::model::status(ind.direction, ind.target_2025, Some(v)), indicators::model::Status::Green);
    t.user("cityop", Role::CityStaff, "5109").await;
    let b = t.login("cityop", None).await;
    let table = t.get(&b, &format!("/coverage/table?unit={TOWNSHIP}")).await;
    assert!(table.body.contains("1.22 千米（最远楼栋到最近设施；不可达 1 栋，6.0 千米内无设施 0 栋）"), "{}", table.body);
    let dash = t.get(&b, &format!("/indicators?unit={TOWNSHIP}")).await;
    let row = dash.body.split("<tr data-id=\"T18\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains(">1.22<") || row.contains(">1.21<"), "{row}");
}

#[tokio::test]
async fn t45_counts_only_communities_marked_as_industrial_parks() {
    let t = TestApp::new().await;
    let net = scenario(&t).await;
    add_facility(&t, COMMUNITY, "园区托育点", "托育", LON0, LAT0 + m_lat(10.0)).await;
    coverage::service::analyze(&t.platform, &Actor::cli(), &net, "line.osm.pbf", false, Default::default()).await.expect("analysis");
    let township = UnitCode::parse(TOWNSHIP).unwrap();
    // No community marked: no units to count, said as such (not 0, not 100).
    assert_eq!(coverage::service::indicator(&t.platform.db, "T45", &township).await.expect("T45"), None);
    let f = indicators::service::external(&t.platform, indicators::model::External::Coverage("T45"), &township).await.expect("external");
    let ind = indicators::model::find("T45").expect("T45");
    assert_eq!(indicators::model::value_text(&ind.formula, Some(f), indicators::model::value_of(&ind.formula, f)), "暂无园区社区");
    t.user("cityop", Role::CityStaff, "5109").await;
    let cb = t.login("cityop", None).await;
    let dash = t.get(&cb, &format!("/indicators?unit={TOWNSHIP}")).await;
    let row = dash.body.split("<tr data-id=\"T45\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("暂无园区社区"), "{row}");

    // A system admin marks the second community on its unit page; staff cannot.
    let secret = t.user("admin", Role::SystemAdmin, "5109").await;
    let page = t.get(&cb, &format!("/units/{COMMUNITY2}")).await;
    assert!(page.body.contains("产业园区社区") && !page.body.contains("标记为产业园区社区</button>"), "staff see the mark, no button");
    let mut cb = cb;
    let denied = t.post(&mut cb, &format!("/units/{COMMUNITY2}/industrial-park"), &[("park", "1")]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let mut a = t.login("admin", secret.as_deref()).await;
    let r = t.post(&mut a, &format!("/units/{COMMUNITY2}/industrial-park"), &[("park", "1")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = t.get(&a, &format!("/units/{COMMUNITY2}")).await;
    assert!(page.body.contains("取消标记"), "{}", page.body);
    let r = t.post(&mut a, &format!("/units/{TOWNSHIP}/industrial-park"), &[("park", "1")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "only communities carry the mark");
    assert_eq!(t.platform.db.scalar(sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'unit.industrial_park'")).await.unwrap(), 1);

    // Now T45 counts D only (420 m from the childcare point, 90 residents), not the first
    // community's A, B and C.
    assert_eq!(coverage::service::indicator(&t.platform.db, "T45", &township).await.expect("T45"), Some((90, 90)));
    let first = UnitCode::parse(COMMUNITY).unwrap();
    assert_eq!(coverage::service::indicator(&t.platform.db, "T45", &first).await.expect("T45"), None, "the unmarked community has no park");
    let dash = t.get(&cb, &format!("/indicators?unit={TOWNSHIP}")).await;
    let row = dash.body.split("<tr data-id=\"T45\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains(">100<") && !row.contains("暂无园区社区"), "{row}");
    // Unmarking brings the notice back.
    let r = t.post(&mut a, &format!("/units/{COMMUNITY2}/industrial-park"), &[("park", "0")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(coverage::service::indicator(&t.platform.db, "T45", &township).await.expect("T45"), None);
}

#[tokio::test]
async fn upload_jobs_are_stored_and_a_job_cut_off_by_a_restart_shows_as_failed() {
    let t = TestApp::new().await;
    scenario(&t).await;
    t.user("cityop", Role::CityStaff, "5109").await;
    let b = t.login("cityop", None).await;
    let r = upload(&t, &b, "/coverage/network", "line.osm.pbf", &line_pbf()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.location().to_owned();
    let body = wait_for_job(&t, &b, &location).await;
    assert!(body.contains("line.osm.pbf 分析完成（步行）"), "{body}");
    let id = location.rsplit('/').next().unwrap();
    let job = coverage::store::job(&t.platform.db, id).await.unwrap().expect("stored job");
    assert_eq!((job.state.as_str(), job.actor.as_str()), ("done", "cityop"));
    // The result is read from the table: the page says the same after the job is done.
    assert!(t.get(&b, &location).await.body.contains("住宅楼 4 栋，其中 1 栋不可达"));

    // A job an earlier server process was running when it stopped.
    let now = t.platform.now();
    coverage::store::insert_job(
        &t.platform.db,
        &coverage::store::JobRow {
            id: "cutoff".into(),
            boot: "an-earlier-process".into(),
            file_name: "city.osm.pbf".into(),
            profile: "walk".into(),
            state: "running".into(),
            progress: "正在计算 city.osm.pbf 的覆盖（100 个节点）……".into(),
            result: None,
            error: None,
            actor: "cityop".into(),
            started_ms: now,
            updated_ms: now,
        },
    )
    .await
    .unwrap();
    let page = t.get(&b, "/coverage/network/cutoff").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("city.osm.pbf 未能分析：服务重启，分析已中断，请重新上传"), "{}", page.body);
    assert!(!page.body.contains("http-equiv=\"refresh\""), "no longer refreshing");
    assert_eq!(coverage::store::job(&t.platform.db, "cutoff").await.unwrap().expect("job").state, "failed");
}
