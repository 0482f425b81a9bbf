//! Indicators: definitions, live values and roll-ups recomputed independently by straight SQL,
//! 填报 with approval, snapshots, the dashboard, the portrait and assessment.

use crate::harness::TestApp;

#[tokio::test]
async fn indicator_tables_exist_after_migration() {
    let t = TestApp::new().await;
    let n = t.platform.db.scalar(platform::sql!("SELECT COUNT(*) FROM indicator_snapshots")).await.expect("snapshots table");
    assert_eq!(n, 0);
}
