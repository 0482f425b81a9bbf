//! `jiceng`: one binary for the whole platform. Subcommands serve the web application, load the
//! reference and demo data, administer accounts and tokens, reform units, verify the audit chain and
//! take backups. Configuration: flags > `JICENG_*` environment > TOML file (`--config`, default
//! `./jiceng.toml` when present) > defaults.

/// The allocator: the server allocates and frees small buffers on every request across threads,
/// where glibc malloc spends a measurable share of intake CPU (see BENCHMARKS.md). With the crate's
/// `override` feature it also stands in for `malloc` itself, which SQLite's C code calls for every
/// page it caches: in WAL mode a connection drops its whole cache whenever another one has
/// committed, so under a stream of reports pages are freed and allocated again on every read.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use geography::demo::Scale;
use geography::model::{NewUnit, UnitKind};
use platform::audit::{self, Actor};
use platform::auth::{self, Role};
use platform::clock::{Date, OffsetClock, SystemClock};
use platform::crypto::FieldCipher;
use platform::scope::UnitCode;
use platform::{AppError, Db, Platform, Settings};

#[derive(Parser)]
#[command(name = "jiceng", version, about = "遂宁社区云 · 基层治理平台 (jiceng)")]
struct Cli {
    /// Database: a SQLite file path (default ./jiceng-data/jiceng.db) or postgres://user@host/db.
    #[arg(long, global = true, env = "JICENG_DB")]
    db: Option<String>,
    /// TOML configuration file (default ./jiceng.toml if it exists).
    #[arg(long, global = true, env = "JICENG_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the web application.
    Serve(ServeArgs),
    /// Migrate, load the real Suining tree and demo data, create demo accounts (printed once), serve.
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// small (fast, for tests) or city (compounds and grids in every urban community).
        #[arg(long, default_value = "small", env = "JICENG_DEMO_SCALE")]
        scale: String,
        /// Load the data and accounts, then exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Apply database migrations.
    Migrate,
    /// Import data.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Accounts and roles.
    #[command(subcommand)]
    User(UserCmd),
    /// Bearer API tokens for machine clients.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Reform units (撤并/拆分).
    #[command(subcommand)]
    Unit(UnitCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Departments (职能部门) and their members, for dispatch and 吹哨报到.
    #[command(subcommand)]
    Department(DepartmentCmd),
    /// Analyses (服务资源一幅地图: life-circle coverage on a road network).
    #[command(subcommand)]
    Analyze(AnalyzeCmd),
    /// Run one pass of the event sweep (lights, escalation, late sign-ins) and deliver notifications now.
    Sweep,
    /// Write a consistent copy of the database (SQLite: VACUUM INTO; PostgreSQL: pg_dump).
    Backup {
        /// Destination file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "JICENG_LISTEN")]
    listen: Option<String>,
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Units from a CSV file (columns 代码/code, 名称/name, 上级代码/parent_code, 类型/kind or 层级/level, 生效日期/valid_from, 产业园区社区/industrial_park 是/否). UTF-8 or GBK.
    Units { file: PathBuf },
    /// The shipped reference data: Suining's division codes and county boundaries.
    Reference,
    /// A resident roster (CSV or XLSX, Chinese headers; see the template on the import page) into one
    /// village or community. Checks every row first; with errors nothing is written unless
    /// --skip-invalid, which writes the good rows (in one transaction).
    People {
        file: PathBuf,
        #[arg(long)]
        unit: String,
        #[arg(long)]
        skip_invalid: bool,
        /// Check only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum AnalyzeCmd {
    /// Network distance from every residential building to the nearest facility of each category,
    /// rolled up per unit for every life-circle rule of the profile; replaces that profile's results.
    Coverage {
        /// An OpenStreetMap extract (.osm.pbf), read streaming.
        #[arg(long)]
        osm: PathBuf,
        /// walk (步行) or bicycle (骑行).
        #[arg(long, default_value = "walk")]
        profile: String,
        /// Buildings and facilities farther than this (metres) from every usable road are reported
        /// (buildings as unreachable, facilities as outside the network), never silently dropped.
        #[arg(long, default_value_t = 200.0)]
        max_snap_m: f64,
        /// Label the results 「合成路网（演示）」.
        #[arg(long)]
        synthetic: bool,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create an account with a role at a unit. The password is read from standard input.
    Add {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        unit: String,
        /// Display name (defaults to the username).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Grant a role at a unit.
    Grant {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        unit: String,
    },
    /// Revoke a role at a unit.
    Revoke {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        unit: String,
    },
    /// Set a new password (read from standard input) and clear a lockout.
    ResetPassword { name: String },
    /// Disable an account: its sessions end and its API tokens are revoked.
    Disable { name: String },
    /// Enable a disabled account.
    Enable { name: String },
    /// Make a new TOTP secret (lost phone) and print it.
    Totp { name: String },
    /// List accounts and their roles.
    List,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a bearer token for an account and print it (shown once).
    Create {
        name: String,
        #[arg(long, default_value = "api")]
        label: String,
    },
    /// Revoke a token by id.
    Revoke { id: String },
    /// List tokens (never the secrets).
    List { name: Option<String> },
}

#[derive(Subcommand)]
enum UnitCmd {
    /// Merge units into a new one; their subordinate units move under it with new codes.
    Merge {
        /// Codes of the units to merge.
        #[arg(required = true, num_args = 2..)]
        from: Vec<String>,
        /// Code of the new unit.
        #[arg(long)]
        into: String,
        #[arg(long)]
        name: String,
        /// Kind (街道/镇/乡/社区/村/…); defaults to the kind of the first merged unit.
        #[arg(long)]
        kind: Option<String>,
        /// Effective date YYYY-MM-DD.
        #[arg(long)]
        effective: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Split a unit (without subordinate units) into new ones: --new CODE=NAME (repeat).
    Split {
        from: String,
        #[arg(long = "new", required = true, num_args = 1..)]
        new: Vec<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        effective: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Subcommand)]
enum DepartmentCmd {
    /// Put an account in a department of a county or the city (the department is created if new).
    AddMember {
        user: String,
        #[arg(long)]
        department: String,
        #[arg(long)]
        unit: String,
    },
    /// List the departments of a unit (its county and the city).
    List { unit: String },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Recompute the hash chain and report the first broken link.
    Verify,
}

/// The TOML file's keys.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<String>,
    listen: Option<String>,
    secure_cookies: Option<bool>,
    idle_timeout_minutes: Option<i64>,
    field_key_file: Option<PathBuf>,
    mqtt: Option<String>,
    webhook: Option<String>,
}

struct Config {
    db: String,
    listen: String,
    settings: Settings,
    /// `JICENG_FIELD_KEY` (hex), else this key file (created on first use).
    field_key_hex: Option<String>,
    field_key_file: PathBuf,
    /// MQTT broker for device alarms, `host:port` (`JICENG_MQTT` or `mqtt` in the file).
    mqtt: Option<String>,
    /// Outgoing webhook for event notifications (`JICENG_WEBHOOK` or `webhook` in the file).
    webhook: Option<String>,
    /// `JICENG_TEST_CLOCK=1`: a clock the browser tests can move forward (never from the file).
    test_clock: Option<Arc<OffsetClock>>,
}

fn load_config(cli: &Cli, listen_flag: Option<&str>) -> Result<Config> {
    let path = cli.config.clone().or_else(|| Some(PathBuf::from("jiceng.toml")).filter(|p| p.exists()));
    let file: FileConfig = match &path {
        Some(p) => toml::from_str(&std::fs::read_to_string(p).with_context(|| format!("读取配置文件 {} 失败", p.display()))?)
            .with_context(|| format!("配置文件 {} 格式错误", p.display()))?,
        None => FileConfig::default(),
    };
    let mut settings = Settings::default();
    if let Some(s) = file.secure_cookies.or_else(|| std::env::var("JICENG_SECURE_COOKIES").ok().map(|v| v == "1" || v == "true")) {
        settings.secure_cookies = s;
    }
    if let Some(m) = file.idle_timeout_minutes.filter(|m| (1..=30).contains(m)) {
        settings.idle_timeout_ms = m * platform::clock::MINUTE;
    }
    Ok(Config {
        db: cli.db.clone().or(file.db).unwrap_or_else(|| "jiceng-data/jiceng.db".into()),
        listen: listen_flag.map(str::to_owned).or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into()),
        settings,
        mqtt: std::env::var("JICENG_MQTT").ok().filter(|m| !m.trim().is_empty()).or(file.mqtt),
        webhook: std::env::var("JICENG_WEBHOOK").ok().filter(|m| !m.trim().is_empty()).or(file.webhook),
        field_key_hex: std::env::var("JICENG_FIELD_KEY").ok().filter(|k| !k.trim().is_empty()),
        field_key_file: std::env::var_os("JICENG_FIELD_KEY_FILE")
            .map(PathBuf::from)
            .or(file.field_key_file)
            .unwrap_or_else(|| PathBuf::from("jiceng-data/field.key")),
        test_clock: std::env::var("JICENG_TEST_CLOCK").ok().filter(|v| v == "1").map(|_| OffsetClock::new()),
    })
}

async fn open(cfg: &Config) -> Result<Platform> {
    let db = Db::connect(&cfg.db).await.with_context(|| format!("无法打开数据库 {}", redact(&cfg.db)))?;
    db.migrate().await.context("数据库迁移失败")?;
    let cipher = match &cfg.field_key_hex {
        Some(hex) => FieldCipher::from_hex(hex).context("JICENG_FIELD_KEY 无效")?,
        None => {
            let (c, created) = FieldCipher::from_key_file(&cfg.field_key_file)?;
            if created {
                eprintln!("已生成字段加密密钥 {}：请备份到数据库之外的安全位置，丢失后身份证号与电话无法解密。", cfg.field_key_file.display());
            }
            c
        }
    };
    let clock: platform::SharedClock = match &cfg.test_clock {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    Ok(Platform::new(db, clock, cfg.settings.clone(), cipher))
}

/// Hides a password in a database address before printing it.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("无法从标准输入读取密码")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.is_empty() {
        bail!("标准输入中没有密码：请用管道传入，例如 printf '%s\\n' \"$PASSWORD\" | jiceng user add …");
    }
    Ok(pw)
}

/// Pads `s` to `width` terminal columns, counting CJK and full-width characters as two, so the
/// account table lines up in a terminal (`{:<n}` counts characters).
fn pad(s: &str, width: usize) -> String {
    let cols: usize = s
        .chars()
        .map(|c| {
            if ('\u{1100}'..='\u{115f}').contains(&c)
                || ('\u{2e80}'..='\u{a4cf}').contains(&c)
                || ('\u{ac00}'..='\u{d7a3}').contains(&c)
                || ('\u{f900}'..='\u{faff}').contains(&c)
                || ('\u{fe30}'..='\u{fe4f}').contains(&c)
                || ('\u{ff00}'..='\u{ff60}').contains(&c)
                || ('\u{ffe0}'..='\u{ffe6}').contains(&c)
            {
                2
            } else {
                1
            }
        })
        .sum();
    format!("{s}{} ", " ".repeat(width.saturating_sub(cols)))
}

fn app_err(e: AppError) -> anyhow::Error {
    anyhow!("{} [{}]", e.human(), e.code)
}

fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| anyhow!("未知角色「{s}」；可用：{}", Role::ALL.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")))
}

async fn existing_unit(p: &Platform, s: &str) -> Result<UnitCode> {
    let code = UnitCode::parse(s).map_err(|e| anyhow!("{e}"))?;
    match geography::store::get(&p.db, code.as_str()).await? {
        Some(u) if u.valid_to.is_none() => Ok(code),
        Some(_) => bail!("单位 {code} 已撤销"),
        None => bail!("单位 {code} 不存在（先运行 jiceng import reference 或 jiceng demo）"),
    }
}

fn parse_mqtt(addr: &str) -> Result<(String, u16)> {
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| anyhow!("MQTT 地址「{addr}」应形如 127.0.0.1:1883"))?;
    Ok((host.to_owned(), port.parse().map_err(|_| anyhow!("MQTT 端口「{port}」无效"))?))
}

async fn serve(p: Platform, listen: &str, mqtt: Option<&str>, webhook: Option<&str>, test_clock: Option<Arc<OffsetClock>>) -> Result<()> {
    let webhook = webhook.map(events::service::WebhookNotifier::parse).transpose().map_err(|e| anyhow!(e))?;
    let addr: SocketAddr = listen.parse().with_context(|| format!("监听地址「{listen}」无效，应形如 127.0.0.1:8080"))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("无法监听 {addr}（端口被占用？可用 --listen 更换）"))?;
    println!("jiceng 已启动：http://{addr}  （Ctrl-C 停止）");
    let app = match test_clock {
        Some(c) => {
            eprintln!("警告：测试时钟已启用（JICENG_TEST_CLOCK=1），任何人可通过 /test/clock 拨快时间。仅用于测试，切勿用于生产。");
            jiceng::app(p.clone()).merge(jiceng::test_clock_routes(c, p.clone()))
        }
        None => jiceng::app(p.clone()),
    };
    // Lights, escalation and notifications run beside the web server.
    let jobs = events::spawn_jobs(p.clone(), webhook);
    let indicator_jobs = indicators::spawn_jobs(p.clone());
    // 村务公开: missed publication deadlines are flagged to the township.
    let publication_jobs = consultation::spawn_jobs(p.clone());
    // Time-bank expiry (off unless a county or the city sets a validity).
    let volunteer_jobs = volunteers::spawn_jobs(p.clone());
    let alarms = match mqtt {
        Some(addr) => {
            let (host, port) = parse_mqtt(addr)?;
            println!("设备告警：订阅 MQTT {host}:{port} 主题 jiceng/alarms/+");
            Some(events::alarms::spawn_mqtt(p.clone(), host, port))
        }
        None => None,
    };
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
                tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            }
            #[cfg(not(unix))]
            let _ = ctrl_c.await;
        })
        .await?;
    jobs.abort();
    indicator_jobs.abort();
    publication_jobs.abort();
    volunteer_jobs.abort();
    if let Some(a) = alarms {
        a.abort();
    }
    p.db.close().await;
    Ok(())
}

/// Reads the network (a spinner while walknet streams the file), runs the analysis and prints a
/// summary with counts.
async fn analyze_coverage(
    p: &Platform,
    actor: &Actor,
    osm: &std::path::Path,
    mode: coverage::model::Mode,
    max_snap_m: f64,
    synthetic: bool,
) -> Result<coverage::service::Report> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar.set_message(format!("读取路网 {}（{}）", osm.display(), mode.label()));
    let path = osm.to_path_buf();
    let profile = mode.profile();
    let net = tokio::task::spawn_blocking(move || walknet::Network::from_pbf_path(&path, profile)).await?;
    let net = match net {
        Ok(n) => n,
        Err(e) => {
            bar.finish_and_clear();
            bail!("{e}（{}）", e.code());
        }
    };
    bar.set_message(format!("计算覆盖：{} 个节点、{} 条边", net.node_count(), net.edge_count()));
    let name = osm.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let rep = coverage::service::analyze(p, actor, &net, &name, synthetic, coverage::service::Options { max_snap_m }).await.map_err(app_err);
    bar.finish_and_clear();
    let rep = rep?;
    println!(
        "覆盖分析完成（{}{}）：路网 {} 个节点、{} 条边；{} 条生活圈规则；住宅楼 {} 栋，其中 {} 栋距道路超过 {:.0} 米记为不可达；设施 {} 处，其中 {} 处在路网范围外、{} 处无坐标。",
        mode.label(),
        if synthetic { "，合成路网（演示）" } else { "" },
        rep.nodes,
        rep.edges,
        rep.rules,
        rep.buildings,
        rep.unreachable,
        max_snap_m,
        rep.facilities,
        rep.facilities_outside,
        rep.facilities_without_position
    );
    for w in &rep.warnings {
        println!("警告：{w}");
    }
    Ok(rep)
}

/// The coverage demo: a synthetic street network file next to the database (or the key file on
/// PostgreSQL), buildings, and one analysis per profile.
async fn coverage_demo(p: &Platform, cfg: &Config) -> Result<()> {
    let db_path = cfg.db.strip_prefix("sqlite://").or_else(|| cfg.db.strip_prefix("sqlite:")).unwrap_or(&cfg.db);
    let dir =
        if cfg.db.contains("postgres") { cfg.field_key_file.parent().map(PathBuf::from) } else { std::path::Path::new(db_path).parent().map(PathBuf::from) };
    let dir = dir.filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| PathBuf::from("."));
    if coverage::demo::seed(p, &dir).await.map_err(app_err)? {
        println!(
            "已生成服务资源演示：合成路网（演示）{}，按村（社区）生成的演示住宅楼，并完成步行与骑行覆盖分析。",
            dir.join(coverage::demo::NETWORK_FILE).display()
        );
    }
    Ok(())
}

async fn demo(p: &Platform, cfg: &Config, scale: Scale) -> Result<()> {
    let actor = Actor::system();
    if geography::import::load_reference(&p.db, p.now(), &actor).await.map_err(app_err)? {
        println!("已载入遂宁市真实区划：1 市、5 区县、95 乡镇（街道）、1,445 村（社区），及 5 个区县边界。");
    }
    if geography::demo::seed(&p.db, p.now(), &actor, scale).await.map_err(app_err)? {
        println!("已生成演示数据（{scale:?}）：小区、网格与各村（社区）户数人口（约 280 万人），页面中标注为「演示数据」。");
    }
    let reg_scale = if scale == Scale::City { registry::demo::Scale::City } else { registry::demo::Scale::Small };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("生成台账 {bar:40} {pos}/{len} 个村（社区） {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let seeded = registry::demo::seed(&p.db, &p.cipher, p.now(), &actor, reg_scale, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await
    .map_err(app_err)?;
    bar.finish_and_clear();
    if seeded {
        let people = p.db.scalar(platform::sql!("SELECT COUNT(*) FROM people")).await?;
        let households = p.db.scalar(platform::sql!("SELECT COUNT(*) FROM households")).await?;
        println!("已生成演示台账：{people} 人、{households} 户（身份证号为符合校验规则的虚构号码，已加密存储）。");
    }
    if events::service::seed(p).await.map_err(app_err)? {
        println!("已载入事件目录（{} 类，含时限与责任部门）和各区县职能部门。", events::model::default_catalogue().len());
    }
    let demo_events = events::service::seed_demo(p).await.map_err(app_err)?;
    if demo_events > 0 {
        println!("已生成 {demo_events} 个演示事件（来源标注为「演示数据」）。");
    }
    if volunteers::demo::seed(p).await.map_err(app_err)? {
        println!("已生成演示志愿服务数据：志愿者、活动、服务记录、时间银行与积分银行（标注为「演示数据」）。");
    }
    if consultation::demo::seed(p).await.map_err(app_err)? {
        println!("已生成演示议事协商数据：议题、会议、业主表决与村务公开（标注为「演示数据」）。");
    }
    // Before the indicators' snapshot (coverage feeds T10, T17 …) and before the account table,
    // which is the last thing a new user should read.
    coverage_demo(p, cfg).await?;
    if indicators::seed_demo(p).await.map_err(app_err)? {
        println!("已生成规划指标月度快照与演示填报数据（标注为「演示数据」）。");
    }
    let made = jiceng::create_demo_accounts(p).await.map_err(app_err)?;
    if made.is_empty() {
        println!("演示账户已存在（密码只在首次运行时显示；可用 jiceng user reset-password NAME 重置）。");
    } else {
        println!("\n演示账户（仅显示这一次，请妥善保存）：");
        println!("{}{}{}{}{}TOTP 密钥（管理员登录时需要动态口令）", pad("用户名", 12), pad("角色", 18), pad("说明", 22), pad("单位", 17), pad("密码", 18));
        for a in &made {
            println!(
                "{}{}{}{}{}{}",
                pad(a.username, 12),
                pad(a.role.name(), 18),
                pad(a.role.label(), 22),
                pad(&a.unit, 17),
                pad(&a.password, 18),
                a.totp_secret.as_deref().unwrap_or("-")
            );
        }
        println!();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("JICENG_LOG").unwrap_or_else(|_| "warn,sqlx=error".into()))
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误：{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let listen_flag = match &cli.cmd {
        Cmd::Serve(s) | Cmd::Demo { serve: s, .. } => s.listen.clone(),
        _ => None,
    };
    let cfg = load_config(&cli, listen_flag.as_deref())?;
    let p = open(&cfg).await?;
    let now = p.now();
    let cli_actor = Actor::cli();
    let cheap = p.settings.cheap_hashing;
    match cli.cmd {
        Cmd::Serve(_) => serve(p, &cfg.listen, cfg.mqtt.as_deref(), cfg.webhook.as_deref(), cfg.test_clock.clone()).await?,
        Cmd::Demo { scale, no_serve, .. } => {
            let scale = Scale::parse(&scale).ok_or_else(|| anyhow!("--scale 只能是 small 或 city"))?;
            demo(&p, &cfg, scale).await?;
            if !no_serve {
                // The demo listens for device alarms on the local broker unless told otherwise.
                let mqtt = cfg.mqtt.clone().unwrap_or_else(|| "127.0.0.1:1883".into());
                serve(p, &cfg.listen, Some(&mqtt), cfg.webhook.as_deref(), cfg.test_clock.clone()).await?;
            }
        }
        Cmd::Migrate => println!("数据库已迁移到最新版本：{}", redact(&cfg.db)),
        Cmd::Import(ImportCmd::Reference) => {
            let loaded = geography::import::load_reference(&p.db, now, &cli_actor).await.map_err(app_err)?;
            println!("{}", if loaded { "已载入遂宁市区划与区县边界" } else { "区划已存在，未重复载入" });
        }
        Cmd::Import(ImportCmd::People { file, unit, skip_invalid, dry_run }) => {
            return import_people(&p, &cli_actor, &file, &unit, skip_invalid, dry_run).await;
        }
        Cmd::Import(ImportCmd::Units { file }) => {
            let bytes = std::fs::read(&file).with_context(|| format!("无法读取 {}", file.display()))?;
            let text = geography::import::decode_text(&bytes);
            match geography::import::import_units(&p.db, now, &cli_actor, &text, &file.display().to_string()).await {
                Ok(n) => println!("已导入 {n} 个单位"),
                Err(errors) => {
                    eprintln!("导入失败，未写入任何数据。共发现 {} 个问题：", errors.len());
                    for e in &errors {
                        eprintln!("  {} [{}]", e.human(), e.code);
                    }
                    return Ok(std::process::ExitCode::from(2));
                }
            }
        }
        Cmd::User(cmd) => user_cmd(&p, &cli_actor, cmd, cheap).await?,
        Cmd::Token(cmd) => match cmd {
            TokenCmd::Create { name, label } => {
                let mut tx = p.db.begin().await?;
                let (id, token) = auth::create_token(&mut tx, now, &cli_actor, &name, &label).await.map_err(app_err)?;
                tx.commit().await?;
                eprintln!("令牌 {id} 已创建（只显示这一次）：");
                println!("{token}");
            }
            TokenCmd::Revoke { id } => {
                let mut tx = p.db.begin().await?;
                auth::revoke_token(&mut tx, now, &cli_actor, &id).await.map_err(app_err)?;
                tx.commit().await?;
                println!("令牌 {id} 已吊销");
            }
            TokenCmd::List { name } => {
                for t in auth::list_tokens(&p.db, name.as_deref()).await? {
                    let state = if t.revoked_ms.is_some() { "已吊销" } else { "有效" };
                    println!("{}  {:<14} {:<12} {}  {}", t.id, t.username, t.label, platform::clock::format_beijing(t.created_ms), state);
                }
            }
        },
        Cmd::Unit(cmd) => unit_cmd(&p, &cli_actor, cmd).await?,
        Cmd::Department(DepartmentCmd::AddMember { user, department, unit }) => {
            let code = existing_unit(&p, &unit).await?;
            if !matches!(code.level(), platform::scope::Level::City | platform::scope::Level::County) {
                bail!("职能部门设在市或区县：{code} 不是市或区县");
            }
            if auth::find_account(&p.db, &user).await?.is_none() {
                bail!("账户 {user} 不存在");
            }
            let mut tx = p.db.begin().await?;
            let id = events::store::ensure_department(&mut tx, code.as_str(), department.trim()).await?;
            events::store::add_member(&mut tx, &user, &id).await?;
            let detail = format!("{} {}", code, department.trim());
            audit::record(
                &mut tx,
                now,
                &audit::Event {
                    actor: &cli_actor,
                    unit: Some(code.as_str()),
                    action: "department.add_member",
                    target: &user,
                    outcome: audit::Outcome::Ok,
                    detail: &detail,
                },
            )
            .await?;
            tx.commit().await?;
            println!("已将 {user} 加入 {code} {}", department.trim());
        }
        Cmd::Department(DepartmentCmd::List { unit }) => {
            for d in events::store::departments_in(&p.db, &unit).await? {
                println!("{}  {}  {}", d.id, d.unit_code, d.name);
            }
        }
        Cmd::Analyze(AnalyzeCmd::Coverage { osm, profile, max_snap_m, synthetic }) => {
            let mode = coverage::model::Mode::parse(&profile).ok_or_else(|| anyhow!("--profile 只能是 walk 或 bicycle"))?;
            if !(1.0..=5000.0).contains(&max_snap_m) {
                bail!("--max-snap-m 应在 1–5000 米之间");
            }
            let rep = analyze_coverage(&p, &cli_actor, &osm, mode, max_snap_m, synthetic).await?;
            if rep.buildings == 0 {
                println!("提示：没有住宅楼数据（coverage_buildings 为空），结果为空。");
            }
        }
        Cmd::Sweep => {
            let started = std::time::Instant::now();
            let rep = events::service::sweep(&p, events::model::WorkCalendar::official()).await.map_err(app_err)?;
            let swept = started.elapsed();
            let sent = events::service::deliver(&p, &events::service::LogNotifier).await.map_err(app_err)?;
            println!(
                "已检查 {} 个未办结事件（{:.2} 秒）：黄灯 {}，红灯 {}，自动上报 {}，报到超时部门 {}；发送通知 {} 条",
                rep.checked,
                swept.as_secs_f64(),
                rep.yellow,
                rep.red,
                rep.escalated,
                rep.late_departments,
                sent
            );
        }
        Cmd::Audit(AuditCmd::Verify) => {
            let v = audit::verify(&p.db).await?;
            match v.first_break {
                None => println!("审计链完整：已校验 {} 条记录", v.checked),
                Some(b) => {
                    eprintln!("审计链已断开：{b}（此前 {} 条完好）", v.checked);
                    return Ok(std::process::ExitCode::from(3));
                }
            }
        }
        Cmd::Backup { out } => {
            if out.exists() {
                bail!("{} 已存在，请换一个文件名", out.display());
            }
            match &p.db {
                Db::Sqlite(_) => {
                    p.db.backup_sqlite(&out.to_string_lossy()).await?;
                    audit::record_alone(
                        &p.db,
                        now,
                        &audit::Event {
                            actor: &cli_actor,
                            unit: None,
                            action: "system.backup",
                            target: &out.display().to_string(),
                            outcome: audit::Outcome::Ok,
                            detail: "",
                        },
                    )
                    .await?;
                    println!("已备份到 {}", out.display());
                }
                Db::Postgres(_) => {
                    let status = std::process::Command::new("pg_dump")
                        .args(["--format=custom", "--file"])
                        .arg(&out)
                        .arg(&cfg.db)
                        .status()
                        .context("无法运行 pg_dump（请安装 PostgreSQL 客户端）")?;
                    if !status.success() {
                        bail!("pg_dump 失败：{status}");
                    }
                    println!("已备份到 {}（pg_restore 可恢复）", out.display());
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn user_cmd(p: &Platform, actor: &Actor, cmd: UserCmd, cheap: bool) -> Result<()> {
    let now = p.now();
    let mut tx = p.db.begin().await?;
    match cmd {
        UserCmd::Add { name, role, unit, display_name } => {
            let role = parse_role(&role)?;
            let code = existing_unit(p, &unit).await?;
            let password = read_password()?;
            auth::create_account(&mut tx, now, actor, &name, display_name.as_deref().unwrap_or(""), &code, &password, cheap).await.map_err(app_err)?;
            let secret = auth::grant_role(&mut tx, now, actor, &name, role, &code).await.map_err(app_err)?;
            tx.commit().await?;
            println!("已创建账户 {name}（{} @ {code}）", role.label());
            if let Some(s) = secret {
                println!("TOTP 密钥：{s}\n{}", platform::totp::provisioning_uri(&s, &name));
            }
        }
        UserCmd::Grant { name, role, unit } => {
            let role = parse_role(&role)?;
            let code = existing_unit(p, &unit).await?;
            let secret = auth::grant_role(&mut tx, now, actor, &name, role, &code).await.map_err(app_err)?;
            tx.commit().await?;
            println!("已授予 {name}「{}」@ {code}", role.label());
            if let Some(s) = secret {
                println!("TOTP 密钥：{s}\n{}", platform::totp::provisioning_uri(&s, &name));
            }
        }
        UserCmd::Revoke { name, role, unit } => {
            let role = parse_role(&role)?;
            let code = UnitCode::parse(&unit).map_err(|e| anyhow!("{e}"))?;
            auth::revoke_role(&mut tx, now, actor, &name, role, &code).await.map_err(app_err)?;
            tx.commit().await?;
            println!("已撤销 {name}「{}」@ {code}", role.label());
        }
        UserCmd::ResetPassword { name } => {
            let pw = read_password()?;
            auth::reset_password(&mut tx, now, actor, &name, &pw, cheap).await.map_err(app_err)?;
            tx.commit().await?;
            println!("已重置 {name} 的密码并解除锁定");
        }
        UserCmd::Disable { name } => {
            auth::set_disabled(&mut tx, now, actor, &name, true).await.map_err(app_err)?;
            tx.commit().await?;
            println!("已停用 {name}");
        }
        UserCmd::Enable { name } => {
            auth::set_disabled(&mut tx, now, actor, &name, false).await.map_err(app_err)?;
            tx.commit().await?;
            println!("已启用 {name}");
        }
        UserCmd::Totp { name } => {
            let s = auth::reset_totp(&mut tx, now, actor, &name).await.map_err(app_err)?;
            tx.commit().await?;
            println!("{name} 的新 TOTP 密钥：{s}\n{}", platform::totp::provisioning_uri(&s, &name));
        }
        UserCmd::List => {
            drop(tx);
            let (list, _) = auth::list_accounts(&p.db, &platform::Scope::new(vec![UnitCode::parse("51").map_err(|e| anyhow!("{e}"))?]), "", 10_000, 0).await?;
            for v in list {
                let grants: Vec<String> = v.grants.iter().map(|g| format!("{}@{}", g.role.name(), g.unit)).collect();
                let state = if v.account.disabled != 0 { " [停用]" } else { "" };
                println!("{:<16} {:<20} {}{state}", v.account.username, v.account.display_name, grants.join(" "));
            }
        }
    }
    Ok(())
}

fn parse_date(s: &str) -> Result<Date> {
    Date::parse(s).ok_or_else(|| anyhow!("日期「{s}」格式应为 YYYY-MM-DD"))
}

async fn unit_cmd(p: &Platform, actor: &Actor, cmd: UnitCmd) -> Result<()> {
    let now = p.now();
    match cmd {
        UnitCmd::Merge { from, into, name, kind, effective, note } => {
            let from: Vec<UnitCode> = from.iter().map(|c| UnitCode::parse(c).map_err(|e| anyhow!("{e}"))).collect::<Result<_>>()?;
            let first = geography::store::get(&p.db, from[0].as_str()).await?.ok_or_else(|| anyhow!("单位 {} 不存在", from[0]))?;
            let kind = match kind {
                Some(k) => UnitKind::parse(&k).ok_or_else(|| anyhow!("未知单位类型「{k}」"))?,
                None => first.kind().ok_or_else(|| anyhow!("单位 {} 类型未知", from[0]))?,
            };
            let code = UnitCode::parse(&into).map_err(|e| anyhow!("{e}"))?;
            let parent = first.parent_code.as_deref().map(UnitCode::parse).transpose().map_err(|e| anyhow!("{e}"))?;
            geography::model::check_placement(&code, kind, parent.as_ref()).map_err(app_err)?;
            let new = NewUnit { code, name, kind, parent, valid_from: None, synthetic: false };
            let mut tx = p.db.begin().await?;
            let r = geography::store::merge(&mut tx, now, actor, &from, &new, parse_date(&effective)?, &note).await.map_err(app_err)?;
            tx.commit().await?;
            println!("撤并完成：{} → {}，{} 个下级单位已重新编码", r.retired.join("、"), r.created.join("、"), r.recoded);
        }
        UnitCmd::Split { from, new, kind, effective, note } => {
            let from = UnitCode::parse(&from).map_err(|e| anyhow!("{e}"))?;
            let old = geography::store::get(&p.db, from.as_str()).await?.ok_or_else(|| anyhow!("单位 {from} 不存在"))?;
            let kind = match kind {
                Some(k) => UnitKind::parse(&k).ok_or_else(|| anyhow!("未知单位类型「{k}」"))?,
                None => old.kind().ok_or_else(|| anyhow!("单位 {from} 类型未知"))?,
            };
            let parent = old.parent_code.as_deref().map(UnitCode::parse).transpose().map_err(|e| anyhow!("{e}"))?;
            let mut units = Vec::new();
            for n in &new {
                let (c, name) = n.split_once('=').ok_or_else(|| anyhow!("--new 应形如 代码=名称：{n}"))?;
                let code = UnitCode::parse(c).map_err(|e| anyhow!("{e}"))?;
                geography::model::check_placement(&code, kind, parent.as_ref()).map_err(app_err)?;
                units.push(NewUnit { code, name: name.to_owned(), kind, parent: parent.clone(), valid_from: None, synthetic: false });
            }
            let mut tx = p.db.begin().await?;
            let r = geography::store::split(&mut tx, now, actor, &from, &units, parse_date(&effective)?, &note).await.map_err(app_err)?;
            tx.commit().await?;
            println!("拆分完成：{} → {}", r.retired.join("、"), r.created.join("、"));
        }
    }
    Ok(())
}

async fn import_people(p: &Platform, actor: &Actor, file: &std::path::Path, unit: &str, skip_invalid: bool, dry_run: bool) -> Result<std::process::ExitCode> {
    let code = existing_unit(p, unit).await?;
    if code.level() != platform::scope::Level::Village {
        bail!("花名册须导入到具体的村（社区），{code} 不是村（社区）级单位");
    }
    let bytes = std::fs::read(file).with_context(|| format!("无法读取 {}", file.display()))?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Local files are not uploads: a whole county's roster is fine here.
    let table = registry::import::read_table_limited(&bytes, &name, 2 * 1024 * 1024 * 1024).map_err(app_err)?;
    let compounds: std::collections::HashMap<String, String> =
        geography::store::current_of_kind(&p.db, &code, &[UnitKind::Compound]).await?.into_iter().map(|c| (c.name, c.code)).collect();
    let preview = registry::import::check_roster(&p.db, &p.cipher, &code, &compounds, &table, Date::of_instant(p.now())).await.map_err(app_err)?;
    eprintln!("检查完成：{} 行，可导入 {} 行，有问题 {} 行。", preview.total, preview.rows.len(), preview.total - preview.rows.len());
    for e in preview.errors.iter().take(200) {
        eprintln!("  {} [{}]", e.human(), e.code);
    }
    if preview.errors.len() > 200 {
        eprintln!("  ……另有 {} 个问题未列出", preview.errors.len() - 200);
    }
    if dry_run {
        return Ok(std::process::ExitCode::from(if preview.errors.is_empty() { 0 } else { 2 }));
    }
    if !preview.errors.is_empty() && !skip_invalid {
        eprintln!("未写入任何数据。修改后重新导入，或加 --skip-invalid 只导入无误的行。");
        return Ok(std::process::ExitCode::from(2));
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bar = indicatif::ProgressBar::new(preview.rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("写入 {bar:40} {pos}/{len} 人 {elapsed}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let ticker = {
        let (bar, done) = (bar.clone(), done.clone());
        tokio::spawn(async move {
            loop {
                bar.set_position(done.load(std::sync::atomic::Ordering::Relaxed) as u64);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    };
    let r = registry::import::commit_roster(&p.db, &p.cipher, p.now(), actor, &code, &preview.rows, &file.display().to_string(), &done).await;
    ticker.abort();
    bar.finish_and_clear();
    let n = r.map_err(app_err)?;
    println!("已导入 {n} 人到 {code}");
    Ok(std::process::ExitCode::SUCCESS)
}
