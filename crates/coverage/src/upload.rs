//! 路网上传: a city account uploads an OSM PBF file; it is streamed to disk (size-checked while it
//! arrives, never held in memory), then read and analysed in a background task, with a page that
//! refreshes itself until the run is done. Job states live in this process only: a restart
//! forgets a running upload (the file is removed), and the stored results are unaffected.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

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
use crate::service;

/// The largest network file accepted (a province extract is a few hundred MB).
pub const MAX_NETWORK_BYTES: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Clone, Debug)]
pub enum Job {
    Reading { name: String, bytes: u64 },
    Analysing { name: String, nodes: usize },
    Done { name: String, report: Box<service::Report> },
    Failed { name: String, message: String },
}

fn jobs() -> &'static Mutex<HashMap<String, Job>> {
    static JOBS: OnceLock<Mutex<HashMap<String, Job>>> = OnceLock::new();
    JOBS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn set(id: &str, j: Job) {
    if let Ok(mut m) = jobs().lock() {
        m.insert(id.to_owned(), j);
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
    set(&id, Job::Reading { name: name.clone(), bytes: written });
    let actor = me.actor();
    let job = id.clone();
    tokio::spawn(async move {
        let file = path.clone();
        let built = tokio::task::spawn_blocking(move || walknet::Network::from_pbf_path(&file, mode.profile())).await;
        let _ = tokio::fs::remove_file(&path).await;
        let net = match built {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return set(&job, Job::Failed { name, message: format!("{e}（{}）", e.code()) }),
            Err(e) => return set(&job, Job::Failed { name, message: format!("读取路网失败：{e}") }),
        };
        set(&job, Job::Analysing { name: name.clone(), nodes: net.node_count() });
        match service::analyze(&p, &actor, &net, &name, false, service::Options::default()).await {
            Ok(r) => set(&job, Job::Done { name, report: Box::new(r) }),
            Err(e) => set(&job, Job::Failed { name, message: e.to_string() }),
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

pub async fn status(State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    if !may_upload(&me) {
        return Err(AppError::forbidden());
    }
    let job = jobs().lock().ok().and_then(|m| m.get(&id).cloned()).ok_or_else(AppError::not_found)?;
    let (running, failed, state, warnings) = match job {
        Job::Reading { name, bytes } => (true, false, format!("正在读取路网 {name}（{:.1} MB）……", bytes as f64 / 1_048_576.0), Vec::new()),
        Job::Analysing { name, nodes } => (true, false, format!("正在计算 {name} 的覆盖（{nodes} 个节点）……"), Vec::new()),
        Job::Done { name, report: r } => (
            false,
            false,
            format!(
                "{name} 分析完成（{}）：{} 个节点；住宅楼 {} 栋，其中 {} 栋不可达；设施 {} 处，其中 {} 处在路网范围外、{} 处无坐标。",
                r.profile.label(),
                r.nodes,
                r.buildings,
                r.unreachable,
                r.facilities,
                r.facilities_outside,
                r.facilities_without_position
            ),
            r.warnings.clone(),
        ),
        Job::Failed { name, message } => (false, true, format!("{name} 未能分析：{message}"), Vec::new()),
    };
    Ok(render(&JobPage { shell: Shell::new(&site, &me, "路网分析", "/coverage"), running, state, failed, warnings }))
}
