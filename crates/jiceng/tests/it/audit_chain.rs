use platform::audit::{self, Break};
use platform::db::Engine;
use platform::sql;

use crate::harness::TestApp;

/// Simulates a database administrator tampering behind the product's back: the append-only
/// triggers must be dropped first, which is itself the point.
async fn drop_guards(t: &TestApp) {
    let db = &t.platform.db;
    match db.engine() {
        Engine::Sqlite => {
            db.execute(sql!("DROP TRIGGER audit_log_no_update")).await.unwrap();
            db.execute(sql!("DROP TRIGGER audit_log_no_delete")).await.unwrap();
        }
        Engine::Postgres => {
            db.execute(sql!("DROP TRIGGER audit_log_no_update ON audit_log")).await.unwrap();
        }
    }
}

#[tokio::test]
async fn the_database_refuses_to_edit_audit_rows() {
    let t = TestApp::new().await;
    let db = &t.platform.db;
    assert!(db.execute(sql!("UPDATE audit_log SET actor = 'x' WHERE seq = 1")).await.is_err());
    assert!(db.execute(sql!("DELETE FROM audit_log WHERE seq = 1")).await.is_err());
    assert!(audit::verify(db).await.unwrap().first_break.is_none());
}

#[tokio::test]
async fn an_edited_row_breaks_the_chain_at_that_row() {
    let t = TestApp::new().await;
    t.user("u1", platform::auth::Role::CountyStaff, "510903").await;
    t.user("u2", platform::auth::Role::CountyStaff, "510904").await;
    let db = &t.platform.db;
    let v = audit::verify(db).await.unwrap();
    assert!(v.first_break.is_none());
    assert!(v.checked >= 5, "{}", v.checked);
    drop_guards(&t).await;
    db.execute(sql!("UPDATE audit_log SET target = 'someone-else' WHERE seq = 3")).await.unwrap();
    let v = audit::verify(db).await.unwrap();
    assert_eq!(v.first_break, Some(Break::Edited { seq: 3 }));
    assert_eq!(v.checked, 2);
}

#[tokio::test]
async fn a_deleted_row_breaks_the_chain_and_is_named() {
    let t = TestApp::new().await;
    t.user("u1", platform::auth::Role::CountyStaff, "510903").await;
    t.user("u2", platform::auth::Role::CountyStaff, "510904").await;
    let db = &t.platform.db;
    drop_guards(&t).await;
    db.execute(sql!("DELETE FROM audit_log WHERE seq = 4")).await.unwrap();
    assert_eq!(audit::verify(db).await.unwrap().first_break, Some(Break::Gap { expected_seq: 4, found_seq: 5 }));
}

#[tokio::test]
async fn deleting_the_newest_rows_is_caught_too() {
    let t = TestApp::new().await;
    t.user("u1", platform::auth::Role::CountyStaff, "510903").await;
    let db = &t.platform.db;
    let head = db.scalar(sql!("SELECT seq FROM audit_head WHERE id = 1")).await.unwrap();
    drop_guards(&t).await;
    db.execute(sql!("DELETE FROM audit_log WHERE seq = $1", head)).await.unwrap();
    assert_eq!(audit::verify(db).await.unwrap().first_break, Some(Break::Truncated { last_seq: head - 1, head_seq: head }));
}

/// The CLI a city IT officer runs: exit status 3 and the broken record's number.
#[tokio::test]
async fn audit_verify_command_fails_and_names_the_record() {
    let dir = std::env::temp_dir().join(format!("jiceng-cli-{}", platform::db::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_path = dir.join("j.db");
    let bin = env!("CARGO_BIN_EXE_jiceng");
    let run = |args: &[&str]| std::process::Command::new(bin).arg("--db").arg(&db_path).args(args).env_remove("JICENG_DB").output().unwrap();
    let out = run(&["import", "reference"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["audit", "verify"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("审计链完整"));
    let db = platform::Db::connect(&db_path.to_string_lossy()).await.unwrap();
    db.execute(sql!("DROP TRIGGER audit_log_no_update")).await.unwrap();
    db.execute(sql!("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 1")).await.unwrap();
    db.close().await;
    let out = run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("第 1 条审计记录被篡改"), "{err}");
}
