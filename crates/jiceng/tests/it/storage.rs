use geography::model::UnitKind;
use geography::store;
use platform::db::{Db, Engine};
use platform::sql;

use crate::harness::TestApp;

#[tokio::test]
async fn the_real_suining_tree_loads_exactly() {
    let t = TestApp::new().await;
    let db = &t.platform.db;
    let n = |k| store::count_kind(db, k);
    assert_eq!(n(UnitKind::City).await.unwrap(), 1);
    assert_eq!(n(UnitKind::District).await.unwrap() + n(UnitKind::County).await.unwrap() + n(UnitKind::CountyCity).await.unwrap(), 5);
    assert_eq!((n(UnitKind::District).await.unwrap(), n(UnitKind::County).await.unwrap(), n(UnitKind::CountyCity).await.unwrap()), (2, 2, 1));
    assert_eq!(n(UnitKind::Street).await.unwrap(), 20);
    assert_eq!(n(UnitKind::Town).await.unwrap(), 72);
    assert_eq!(n(UnitKind::Township).await.unwrap(), 3);
    assert_eq!(n(UnitKind::Community).await.unwrap(), 336);
    assert_eq!(n(UnitKind::Village).await.unwrap(), 1109);
    let city = store::get(db, "5109").await.unwrap().expect("city");
    assert_eq!((city.name.as_str(), city.parent_code.as_deref()), ("遂宁市", None));
    let v = store::get(db, "510903001001").await.unwrap().expect("village-level unit");
    assert_eq!(v.parent_code.as_deref(), Some("510903001"));
    // Loading twice does not duplicate.
    assert!(!geography::import::load_reference(db, t.platform.now(), &platform::audit::Actor::system()).await.unwrap());
}

#[tokio::test]
async fn county_boundaries_are_stored_in_wgs84() {
    let t = TestApp::new().await;
    let rows = store::boundaries_at(&t.platform.db, platform::scope::Level::County).await.unwrap();
    assert_eq!(rows.len(), 5);
    // The raw file is GCJ-02; the stored first vertex must be the converted one, not the raw one.
    let raw: serde_json::Value = serde_json::from_str(geography::import::COUNTIES_GEOJSON).unwrap();
    let feature = raw["features"].as_array().unwrap().iter().find(|f| f["id"] == "510903").unwrap();
    let gcj = geography::geo::parse_geometry(&feature["geometry"]).unwrap()[0][0][0];
    let stored: serde_json::Value = serde_json::from_str(&rows.iter().find(|r| r.code == "510903").unwrap().geometry).unwrap();
    let wgs = geography::geo::parse_geometry(&stored).unwrap()[0][0][0];
    let expect = geography::geo::gcj02_to_wgs84(gcj.0, gcj.1);
    assert!((wgs.0 - expect.0).abs() < 2e-6 && (wgs.1 - expect.1).abs() < 2e-6);
    assert!((wgs.0 - gcj.0).abs() > 1e-3, "coordinates were converted");
}

#[tokio::test]
async fn demo_layer_is_city_sized_and_marked_synthetic() {
    let t = TestApp::new().await;
    let db = &t.platform.db;
    let total = db.scalar(sql!("SELECT CAST(SUM(residents) AS BIGINT) FROM unit_population")).await.unwrap();
    assert!((2_750_000..=2_850_000).contains(&total), "{total}");
    assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM unit_population")).await.unwrap(), 1445);
    let cells = db.scalar(sql!("SELECT COUNT(*) FROM units WHERE level = 6")).await.unwrap();
    let synthetic_cells = db.scalar(sql!("SELECT COUNT(*) FROM units WHERE level = 6 AND synthetic = 1")).await.unwrap();
    assert!(cells > 0 && cells == synthetic_cells);
    assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM units WHERE level < 6 AND synthetic = 1")).await.unwrap(), 0);
    let grid = store::get(db, "510903001001501").await.unwrap().expect("a grid in the demo community");
    assert_eq!((grid.kind.as_str(), grid.code.len()), ("网格", 15));
}

#[test]
fn migration_trees_have_the_same_versions() {
    let s = Db::migration_versions(Engine::Sqlite);
    let p = Db::migration_versions(Engine::Postgres);
    assert!(!s.is_empty());
    assert_eq!(s, p);
    let names = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("{}/../../migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
}

#[tokio::test]
async fn sqlite_runs_with_wal_full_sync_and_foreign_keys() {
    let t = TestApp::new().await;
    let db = &t.platform.db;
    if db.engine() != Engine::Sqlite {
        return;
    }
    assert_eq!(db.scalar(sql!("PRAGMA synchronous")).await.unwrap(), 2);
    assert_eq!(db.scalar(sql!("PRAGMA foreign_keys")).await.unwrap(), 1);
    let (mode,): (String,) = db.fetch_one(sql!("PRAGMA journal_mode")).await.unwrap();
    assert_eq!(mode, "wal");
    // Foreign keys bite: a unit under a parent that does not exist is refused by the database itself.
    let r = db.execute(sql!("INSERT INTO units (code, name, kind, level, parent_code, synthetic) VALUES ('510999001', 'x', '镇', 4, '510999', 0)")).await;
    assert!(r.is_err());
}

#[tokio::test]
async fn demo_compound_names_are_unique_within_each_community() {
    let t = TestApp::new().await;
    let dupes = t
        .platform
        .db
        .scalar(sql!("SELECT COUNT(*) FROM (SELECT parent_code, name FROM units WHERE kind = '小区' GROUP BY parent_code, name HAVING COUNT(*) > 1) d"))
        .await
        .unwrap();
    assert_eq!(dupes, 0);
}

/// Group commit: many writers at once each get their own answer; a job that fails leaves none of
/// its writes behind and does not take the others in its transaction down with it, whether it fails
/// on its first statement, a later one, or before reaching the database.
#[tokio::test]
async fn grouped_writes_commit_together_but_fail_alone() {
    let db = platform::testing::fresh_db().await.expect("db");
    db.execute(sql!("CREATE TABLE grouped_probe (id TEXT PRIMARY KEY, note TEXT NOT NULL)")).await.expect("table");
    db.execute(sql!("INSERT INTO grouped_probe (id, note) VALUES ('taken', 'first')")).await.expect("seed");
    // A first job holds the writer until the forty have queued, so that they share one
    // transaction and each kind of failure meets jobs before and after it in the same batch.
    let (open_gate, gatekeeper) = crate::harness::hold_group_writer(&db).await;
    let mut jobs = Vec::new();
    for i in 0..40 {
        let db = db.clone();
        jobs.push(tokio::spawn(async move {
            db.write_grouped(move |tx: &mut platform::Tx| -> platform::web::BoxFuture<'_, platform::AppResult<i64>> {
                Box::pin(async move {
                    match i % 5 {
                        // Its very first statement hits the taken key (the statement that opens its savepoint).
                        1 => {
                            tx.execute(sql!("INSERT INTO grouped_probe (id, note) VALUES ('taken', 'again')")).await?;
                        }
                        // Refused before anything reaches the database: the job before (which succeeds) must keep its writes.
                        3 => return Err(platform::AppError::bad_request("probe.refused", "不予写入")),
                        _ => {}
                    }
                    // Every other job writes its own row and audit record; every fifth then hits the taken key.
                    tx.execute(sql!("INSERT INTO grouped_probe (id, note) VALUES ($1, 'mine')", format!("job-{i}"))).await?;
                    let target = format!("job-{i}");
                    let e = platform::audit::Event {
                        actor: &platform::audit::Actor::system(),
                        unit: None,
                        action: "probe.write",
                        target: &target,
                        outcome: platform::audit::Outcome::Ok,
                        detail: "",
                    };
                    platform::audit::record(tx, 0, &e).await?;
                    if i % 5 == 0 {
                        tx.execute(sql!("INSERT INTO grouped_probe (id, note) VALUES ('taken', 'again')")).await?;
                    }
                    Ok(i)
                })
            })
            .await
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    open_gate.send(()).expect("gate");
    gatekeeper.await.expect("join").expect("the gate job");
    let mut ok = Vec::new();
    for (i, j) in jobs.into_iter().enumerate() {
        match j.await.expect("join") {
            Ok(v) => {
                assert_eq!(v as usize, i, "each caller gets its own job's answer");
                ok.push(i);
            }
            Err(e) => assert!(matches!(i % 5, 0 | 1 | 3), "job {i} failed: {e:?}"),
        }
    }
    assert_eq!(ok.len(), 16, "the jobs without a conflict all succeed");
    let rows: Vec<(String,)> = db.fetch_all(sql!("SELECT id FROM grouped_probe WHERE note = 'mine' ORDER BY id")).await.expect("rows");
    let mut expect: Vec<String> = ok.iter().map(|i| format!("job-{i}")).collect();
    expect.sort();
    assert_eq!(rows.into_iter().map(|r| r.0).collect::<Vec<_>>(), expect, "a failed job's first row is rolled back with it");
    assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM grouped_probe WHERE id = 'taken' AND note = 'first'")).await.expect("n"), 1);
    // The failed jobs' audit records went with them, and the chain the others appended is unbroken
    // (a transaction keeps the chain's head in memory between appends and writes it at commit).
    assert_eq!(db.scalar(sql!("SELECT COUNT(*) FROM audit_log WHERE action = 'probe.write'")).await.expect("n"), 16);
    let v = platform::audit::verify(&db).await.expect("verify");
    assert!(v.first_break.is_none(), "{:?}", v.first_break);
    let (head_seq, last_seq): (i64, i64) =
        db.fetch_one(sql!("SELECT (SELECT seq FROM audit_head WHERE id = 1), (SELECT MAX(seq) FROM audit_log)")).await.expect("head");
    assert_eq!(head_seq, last_seq, "the head row was brought up to the last record");
    // A job alone in its transaction that fails after writing leaves nothing behind, and the
    // writer's connection goes back clean: the next grouped write and a plain transaction work.
    let lone = db
        .write_grouped(|tx: &mut platform::Tx| -> platform::web::BoxFuture<'_, platform::AppResult<()>> {
            Box::pin(async move {
                tx.execute(sql!("INSERT INTO grouped_probe (id, note) VALUES ('lone', 'mine')")).await?;
                Err(platform::AppError::bad_request("probe.refused", "不予写入"))
            })
        })
        .await;
    assert!(lone.is_err());
    db.write_grouped(|tx: &mut platform::Tx| -> platform::web::BoxFuture<'_, platform::AppResult<()>> {
        Box::pin(async move {
            tx.execute(sql!("INSERT INTO grouped_probe (id, note) VALUES ('after', 'mine')")).await?;
            Ok(())
        })
    })
    .await
    .expect("the next grouped write");
    let mut plain = db.begin().await.expect("a plain transaction after the failed one");
    plain.execute(sql!("INSERT INTO grouped_probe (id, note) VALUES ('plain', 'mine')")).await.expect("insert");
    plain.commit().await.expect("commit");
    let after: Vec<(String,)> = db.fetch_all(sql!("SELECT id FROM grouped_probe WHERE id IN ('lone', 'after', 'plain') ORDER BY id")).await.expect("rows");
    assert_eq!(after.into_iter().map(|r| r.0).collect::<Vec<_>>(), ["after", "plain"]);
    if db.engine() == Engine::Sqlite {
        let (commits, jobs) = db.group_commit_stats();
        assert_eq!(jobs, 43, "every job went through the group writer");
        assert!(commits >= 1 && commits < jobs, "jobs waiting together share commits: {commits} commits for {jobs} jobs");
    }
}
