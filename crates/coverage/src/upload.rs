//! 路网上传: a city account uploads an OSM PBF file; it is streamed to disk (size-checked while it
//! arrives, never held in memory), then read and analysed in a background task, with a page that
//! refreshes itself until the run is done. Job states are stored (`coverage_jobs`), so the status
//! page survives a restart; a job that was running when the server stopped is shown as failed
//! (「服务重启，分析已中断，请重新上传」) — its file is gone with the temp folder's cleanup and the
//! stored results of earlier runs are unaffected.

use std::sync::OnceLock;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use platform::auth::{Permission, Principal};
use platform::db::new_id;
use platform::web::{Auth, Shell, Site, render};
use platform::{AppError, AppResult, Platform};

use crate::model::Mode;
use crate::{service, store};

/// The largest network file accepted (a province extract is a few hundred MB).
pub const MAX_NETWORK_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Shown for a job that was running when the server stopped.
pub const INTERRUPTED: &str = "服务重启，分析已中断，请重新上传";

/// This server process: jobs record it, and a running job of another process was interrupted.
pub fn boot_id() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(new_id)
}

/// Stores a job's progress; a failure to write is logged (the analysis itself goes on).
async fn set(p: &Platform, id: &str, state: &str, progress: &str, result: Option<&str>, error: Option<&str>) {
    if let Err(e) = store::update_job(&p.db, id, state, progress, result, error, p.now()).await {
        tracing::warn!(error = %e, job = id, "could not store the upload job's state");
    }
}

/// City staff (the registers at city scope) or a city system admin.
fn may_upload(me: &Principal) -> bool {
    service::city().is_ok_and(|c| me.scope(Permission::ViewRegisters).contains(&c) || me.scope(Permission::ManageUnits).contains(&c))
}

#[derive(Template)]
#[template(path = "network.html")]
struct NetworkPage {
    shell: Shell,
    max_mb: u64,
}

pub async fn form(State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    if !may_upload(&me) {
        return Err(AppError::forbidden());
    }
    Ok(render(&NetworkPage { shell: Shell::new(&site, &me, "上传路网", "/coverage"), max_mb: MAX_NETWORK_BYTES / 1024 / 1024 }))
}

#[derive(Deserialize, Default)]
pub struct UploadQuery {
    profile: Option<String>,
}

pub async fn submit(State(p): State<Platform>, Auth(me): Auth, Query(q): Query<UploadQuery>, mut m: Multipart) -> AppResult<Response> {
    if !may_upload(&me) {
        return Err(AppError::forbidden());
    }
    let mut mode = q.profile.as_deref().and_then(Mode::parse).unwrap_or(Mode::Walk);
    let id = new_id();
    let path = std::env::temp_dir().join(format!("jiceng-network-{id}.osm.pbf"));
    let mut name = String::new();
    let mut written: u64 = 0;
    let upload_err = |msg: &str| AppError::bad_request("coverage.upload", msg.to_owned()).at_field("file");
    while let Some(mut field) = m.next_field().await.map_err(|_| upload_err("上传中断，请重试"))? {
        match field.name() {
            Some("profile") => {
                let v = field.text().await.unwrap_or_default();
                mode = Mode::parse(&v).ok_or_else(|| AppError::bad_request("coverage.profile", "出行方式只能是步行或骑行").at_field("profile"))?;
            }
            Some("file") => {
                name = field.file_name().unwrap_or("network.osm.pbf").chars().filter(|c| !c.is_control() && *c != '/' && *c != '\\').take(80).collect();
                let mut out = tokio::fs::File::create(&path).await.map_err(AppError::internal)?;
                loop {
                    let chunk = match field.chunk().await {
                        Ok(Some(c)) => c,
                        Ok(None) => break,
                        Err(_) => {
                            let _ = tokio::fs::remove_file(&path).await;
                            return Err(upload_err("上传中断或文件过大，请重试"));
                        }
                    };
                    written += chunk.len() as u64;
                    if written > MAX_NETWORK_BYTES {
                        drop(out);
                        let _ = tokio::fs::remove_file(&path).await;
                        return Err(
                            AppError::bad_request("coverage.too_large", format!("路网文件超过 {} MB 上限", MAX_NETWORK_BYTES / 1024 / 1024)).at_field("file")
                        );
                    }
                    out.write_all(&chunk).await.map_err(AppError::internal)?;
                }
                out.flush().await.map_err(AppError::internal)?;
            }
            _ => {}
        }
    }
    if written == 0 {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(upload_err("请选择要上传的路网文件（.osm.pbf）"));
    }
    let actor = me.actor();
    let now = p.now();
    store::insert_job(
        &p.db,
        &store::JobRow {
            id: id.clone(),
            boot: boot_id().to_owned(),
            file_name: name.clone(),
            profile: mode.as_str().to_owned(),
            state: "running".into(),
            progress: format!("正在读取路网 {name}（{:.1} MB）……", written as f64 / 1_048_576.0),
            result: None,
            error: None,
            actor: actor.name.clone(),
            started_ms: now,
            updated_ms: now,
        },
    )
    .await?;
    let job = id.clone();
    tokio::spawn(async move {
        let file = path.clone();
        let built = tokio::task::spawn_blocking(move || walknet::Network::from_pbf_path(&file, mode.profile())).await;
        let _ = tokio::fs::remove_file(&path).await;
        let net = match built {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return set(&p, &job, "failed", "", None, Some(&format!("{e}（{}）", e.code()))).await,
            Err(e) => return set(&p, &job, "failed", "", None, Some(&format!("读取路网失败：{e}"))).await,
        };
        set(&p, &job, "running", &format!("正在计算 {name} 的覆盖（{} 个节点）……", net.node_count()), None, None).await;
        match service::analyze(&p, &actor, &net, &name, false, service::Options::default()).await {
            Ok(r) => {
                let summary = format!(
                    "{name} 分析完成（{}）：{} 个节点；住宅楼 {} 栋，其中 {} 栋不可达；设施 {} 处，其中 {} 处在路网范围外、{} 处无坐标。",
                    r.profile.label(),
                    r.nodes,
                    r.buildings,
                    r.unreachable,
                    r.facilities,
                    r.facilities_outside,
                    r.facilities_without_position
                );
                let result = serde_json::json!({"summary": summary, "warnings": r.warnings, "run_id": r.run_id}).to_string();
                set(&p, &job, "done", "", Some(&result), None).await
            }
            Err(e) => set(&p, &job, "failed", "", None, Some(&e.to_string())).await,
        }
    });
    Ok(Redirect::to(&format!("/coverage/network/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "network_job.html")]
struct JobPage {
    shell: Shell,
    running: bool,
    state: String,
    failed: bool,
    warnings: Vec<String>,
}

pub async fn status(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    if !may_upload(&me) {
        return Err(AppError::forbidden());
    }
    // A job another (earlier) server process was running can no longer finish.
    store::fail_interrupted_jobs(&p.db, boot_id(), INTERRUPTED, p.now()).await?;
    let job = store::job(&p.db, &id).await?.ok_or_else(AppError::not_found)?;
    let name = &job.file_name;
    let (running, failed, state, warnings) = match job.state.as_str() {
        "running" => (true, false, job.progress.clone(), Vec::new()),
        "done" => {
            let v: serde_json::Value = job.result.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default();
            let summary = v.get("summary").and_then(|s| s.as_str()).map(str::to_owned).unwrap_or_else(|| format!("{name} 分析完成。"));
            let warnings =
                v.get("warnings").and_then(|w| w.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default();
            (false, false, summary, warnings)
        }
        _ => (false, true, format!("{name} 未能分析：{}", job.error.as_deref().unwrap_or("原因不明")), Vec::new()),
    };
    Ok(render(&JobPage { shell: Shell::new(&site, &me, "路网分析", "/coverage"), running, state, failed, warnings }))
}
