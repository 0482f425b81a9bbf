//! 设备告警: smoke, gas, water and fire-lane sensors (and lifts) installed in villages, compounds and
//! grids raise events by themselves, over MQTT or an HTTP webhook. Each message is signed with the
//! device's own key, so the webhook needs no account and a broker needs no trust.
//!
//! # Registering a device
//!
//! Staff with the command role of a unit (`HandleEvents`) register a device at `/events/devices`:
//! its id, name, kind (烟感/燃气/水浸/消防通道/电梯/其他), the unit it is installed in (a village or
//! community, a compound or a grid) and the event type its alarms raise (for example 90002 安全隐患,
//! 09002 占用消防通道, 01003 供水管道破漏). The page shows the device's secret **once**: 64 hex
//! characters (32 random bytes). The secret is stored encrypted with the field key. A device can be
//! switched off (停用) and on again; messages from a switched-off device are refused like those of an
//! unknown one.
//!
//! # The message
//!
//! One JSON object, UTF-8, at most 4096 bytes:
//!
//! ```json
//! {"device_id":"smoke-3-2","msg_id":"m-0001","ts":1780000000000,"level":"critical",
//!  "detail":"3栋2单元烟雾浓度超标","sig":"475260275260e2dc4a855b790f3320d5bca209acf13a126494ee1f4202731389"}
//! ```
//!
//! | field | type | rule |
//! |---|---|---|
//! | `device_id` | string | the registered id: 3–64 characters of `A–Z a–z 0–9 _ -` |
//! | `msg_id` | string | 1–64 characters of `A–Z a–z 0–9 _ - . :`; unique per device (a counter, a UUID) |
//! | `ts` | integer | when the device raised the alarm, Unix time in **milliseconds** (a JSON integer, not a string or a float) |
//! | `level` | string | `normal`, `urgent` or `critical` (the event's 一般, 紧急, 特急) |
//! | `detail` | string | what the sensor saw, at most 500 characters; may be empty |
//! | `sig` | string | 64 hex characters (either case): the signature below |
//!
//! Other fields are ignored and not signed. Repeating a field is an error.
//!
//! # The signature
//!
//! `sig = hex(HMAC-SHA256(key, device_id + "|" + msg_id + "|" + ts + "|" + level + "|" + detail))`
//!
//! - `key` is the 32 **bytes** the secret's 64 hex characters stand for, not the hex text itself.
//! - The signed text is the five values joined with `|`, in this order, as UTF-8 bytes: the field values
//!   after JSON decoding (so `"a\u00e9"` signs as `aé`), `ts` in decimal without sign, leading zeros or
//!   exponent. `device_id`, `msg_id`, `ts` and `level` cannot contain `|`; `detail` may, as it is last.
//! - Test vector: key `00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff`, text
//!   `smoke-3-2|m-0001|1780000000000|critical|3栋2单元烟雾浓度超标` →
//!   `475260275260e2dc4a855b790f3320d5bca209acf13a126494ee1f4202731389`.
//!
//! # What happens to a message
//!
//! Checked in this order; the first failure answers:
//!
//! 1. Not a JSON object with the fields above, or over 4096 bytes → `alarm.bad_payload` (400).
//! 2. Over MQTT, the topic's device id differs from `device_id` → `alarm.topic_mismatch` (400).
//! 3. No such device, or switched off → `alarm.unknown_device` (404).
//! 4. Wrong signature → `alarm.bad_signature` (401).
//! 5. A `msg_id` this device already had accepted → the event made the first time, with
//!    `duplicate: true` (not an error: devices retry freely, whatever the time).
//! 6. `ts` more than 10 minutes before or 2 minutes after the server's clock → `alarm.stale` (400).
//! 7. Otherwise a new event: the device's event type and unit, urgency from `level`, source 设备告警,
//!    title `{kind}告警：{device name}`, description `【设备告警】{device name}（{kind}）：{detail}`,
//!    reported by `device:{device_id}`. A `critical` alarm is an ordinary 特急 event: its limits run
//!    on the clock, and it rises a level whenever one runs out unanswered (四级呼叫响应).
//!
//! Every message from a registered device is recorded in `device_messages` with its outcome
//! (`accepted` or the error code); rejected messages also leave an `alarm.rejected` audit record (the
//! code and message id, never the secret or the payload). A rejected `msg_id` does not block a later,
//! correctly signed message with the same id.
//!
//! # Webhook
//!
//! `POST /api/v1/alarms` with the JSON as the body (any content type, no cookie or token: the
//! signature authenticates). Answers `202 {"event_id": "…", "event_no": "20260528-0001",
//! "duplicate": false}`; errors answer `{"code": "alarm.…", "message": "…"}` with the status above.
//!
//! # MQTT
//!
//! Devices publish to `jiceng/alarms/{device_id}` (QoS 1 recommended; no retain). The server
//! subscribes to `jiceng/alarms/+` at QoS 1 as client `jiceng-<random>` with a clean session and a
//! 30-second keep-alive, and reconnects with backoff (1 s doubling to 60 s) for as long as it runs.
//! Messages published while the server is disconnected are lost to it: devices should repeat an alarm
//! (same `msg_id`) until it is cleared, or fall back to the webhook. Plain TCP only: run the broker on
//! the same host or a private network, and set its `message_size_limit`.

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use platform::audit::{self, Actor, Event as AuditEvent, Outcome};
use platform::auth::{Permission, Principal};
use platform::clock::{MINUTE, Millis, format_beijing};
use platform::db::{Sql, new_id};
use platform::scope::{Level, Scope, UnitCode};
use platform::web::{AppState, Auth, ClientAddr, Pager, Shell, Site, render};
use platform::{AppError, AppResult, Platform, sql};

use crate::service::{self, Report};
use crate::store;

/// The MQTT client this module uses, for device simulators and tests (same version, no TLS).
pub use rumqttc;

/// Device kinds.
pub const KINDS: [&str; 6] = ["烟感", "燃气", "水浸", "消防通道", "电梯", "其他"];
/// Devices publish to this prefix followed by their id.
pub const TOPIC_PREFIX: &str = "jiceng/alarms/";
/// What the server subscribes to.
pub const TOPIC_FILTER: &str = "jiceng/alarms/+";
pub const MAX_PAYLOAD_BYTES: usize = 4096;
pub const MAX_DETAIL_CHARS: usize = 500;
/// Messages older than this (by their `ts`) are refused…
pub const MAX_AGE_MS: Millis = 10 * MINUTE;
/// …and so are messages from further in the future than this (a device clock running fast).
pub const MAX_AHEAD_MS: Millis = 2 * MINUTE;
/// The `source` of events raised by devices.
pub const SOURCE: &str = "设备告警";

type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------------------------
// Rules

/// An alarm's level and the urgency of the event it raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AlarmLevel {
    Normal,
    Urgent,
    Critical,
}

impl AlarmLevel {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(AlarmLevel::Normal),
            "urgent" => Some(AlarmLevel::Urgent),
            "critical" => Some(AlarmLevel::Critical),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmLevel::Normal => "normal",
            AlarmLevel::Urgent => "urgent",
            AlarmLevel::Critical => "critical",
        }
    }
    /// 一般 / 紧急 / 特急.
    pub fn urgency(self) -> &'static str {
        match self {
            AlarmLevel::Normal => "一般",
            AlarmLevel::Urgent => "紧急",
            AlarmLevel::Critical => "特急",
        }
    }
}

/// 3–64 characters of `A–Z a–z 0–9 _ -`.
pub fn valid_device_id(id: &str) -> bool {
    (3..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// 1–64 characters of `A–Z a–z 0–9 _ - . :`.
pub fn valid_msg_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// The text a device signs: `device_id|msg_id|ts|level|detail`.
pub fn signing_text(device_id: &str, msg_id: &str, ts: i64, level: &str, detail: &str) -> String {
    format!("{device_id}|{msg_id}|{ts}|{level}|{detail}")
}

fn mac_for(secret_hex: &str) -> Option<HmacSha256> {
    let key = hex::decode(secret_hex.trim()).ok().filter(|k| !k.is_empty())?;
    HmacSha256::new_from_slice(&key).ok()
}

/// The signature of a message, in lower-case hex; `None` when the secret is not hex.
pub fn sign(secret_hex: &str, device_id: &str, msg_id: &str, ts: i64, level: &str, detail: &str) -> Option<String> {
    let mut mac = mac_for(secret_hex)?;
    mac.update(signing_text(device_id, msg_id, ts, level, detail).as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// A complete signed message, as a device would send it (for simulators and tests).
pub fn signed_payload(secret_hex: &str, device_id: &str, msg_id: &str, ts: i64, level: &str, detail: &str) -> Option<String> {
    let sig = sign(secret_hex, device_id, msg_id, ts, level, detail)?;
    Some(serde_json::json!({"device_id": device_id, "msg_id": msg_id, "ts": ts, "level": level, "detail": detail, "sig": sig}).to_string())
}

/// Constant-time check of a hex signature.
fn verify(secret_hex: &str, m: &Message) -> bool {
    let Some(mut mac) = mac_for(secret_hex) else {
        return false;
    };
    let Ok(sig) = hex::decode(&m.sig) else {
        return false;
    };
    mac.update(signing_text(&m.device_id, &m.msg_id, m.ts, m.level.as_str(), &m.detail).as_bytes());
    mac.verify_slice(&sig).is_ok()
}

/// The event's idempotency key (at most 100 characters: long ids are hashed).
fn idem_key(device_id: &str, msg_id: &str) -> String {
    let plain = format!("device:{device_id}:{msg_id}");
    if plain.len() <= 100 { plain } else { format!("device#{}", hex::encode(Sha256::digest(format!("{device_id}:{msg_id}").as_bytes()))) }
}

// ---------------------------------------------------------------------------------------------
// Devices

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub unit_code: String,
    pub house_id: Option<String>,
    pub type_code: String,
    /// Encrypted with the field key; see [`device_secret`].
    pub secret: String,
    pub active: i64,
    pub created_ms: i64,
}

pub async fn device(p: &Platform, id: &str) -> AppResult<Option<Device>> {
    Ok(p.db.fetch_optional(sql!("SELECT * FROM devices WHERE id = $1", id)).await?)
}

/// The device's secret in hex.
fn device_secret(p: &Platform, d: &Device) -> AppResult<String> {
    p.cipher.decrypt(&d.secret).map_err(|e| AppError::internal(format!("device {} secret: {e}", d.id)))
}

/// Registers a device and returns its secret (hex), which is shown once and stored encrypted.
/// The caller checks that `actor` may work in `unit`.
pub async fn register_device(p: &Platform, actor: &Actor, id: &str, name: &str, kind: &str, unit: &str, type_code: &str) -> AppResult<String> {
    register(p, actor, id, name, kind, unit, None, type_code).await
}

/// Registers a device installed in a registered house (a smoke detector in a flat, a water-leak
/// sensor in a shop): its alarms concern that house and are listed on the house's page. The
/// caller checks that `actor` may work where the house is.
pub async fn register_device_in_house(
    p: &Platform,
    actor: &Actor,
    id: &str,
    name: &str,
    kind: &str,
    house: &registry::store::House,
    type_code: &str,
) -> AppResult<String> {
    let unit = house.compound_code.as_deref().unwrap_or(&house.unit_code);
    register(p, actor, id, name, kind, unit, Some(&house.id), type_code).await
}

#[allow(clippy::too_many_arguments)]
async fn register(p: &Platform, actor: &Actor, id: &str, name: &str, kind: &str, unit: &str, house: Option<&str>, type_code: &str) -> AppResult<String> {
    let id = id.trim();
    if !valid_device_id(id) {
        return Err(AppError::bad_request("alarm.bad_device_id", "设备编号应为 3–64 位字母、数字、下划线或连字符").at_field("id"));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(AppError::bad_request("alarm.bad_name", "设备名称不能为空，且不超过 60 字").at_field("name"));
    }
    let kind = kind.trim();
    if !KINDS.contains(&kind) {
        return Err(AppError::bad_request("alarm.bad_kind", format!("设备类型应为：{}", KINDS.join("、"))).at_field("kind"));
    }
    let code = UnitCode::parse(unit).map_err(|e| AppError::bad_request("alarm.bad_unit", e.to_string()).at_field("unit"))?;
    if code.level() < Level::Village {
        return Err(AppError::bad_request("alarm.bad_unit", "安装位置须为村（社区）、小区或网格").at_field("unit"));
    }
    if geography::store::get(&p.db, code.as_str()).await?.filter(|u| u.valid_to.is_none()).is_none() {
        return Err(AppError::bad_request("alarm.bad_unit", format!("单位 {code} 不存在或已撤销")).at_field("unit"));
    }
    let t = store::event_type(&p.db, type_code.trim())
        .await?
        .ok_or_else(|| AppError::bad_request("alarm.unknown_type", format!("未知的事件类型「{}」", type_code.trim())).at_field("type_code"))?;
    let duplicate = || AppError::conflict("alarm.duplicate_device", format!("设备编号「{id}」已登记"));
    if device(p, id).await?.is_some() {
        return Err(duplicate());
    }
    let secret = format!("{}{}", new_id(), new_id());
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let inserted = tx
        .execute(sql!(
            "INSERT INTO devices (id, name, kind, unit_code, house_id, type_code, secret, active, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)",
            id,
            name,
            kind,
            code.as_str(),
            house,
            t.code.as_str(),
            p.cipher.encrypt(&secret),
            now
        ))
        .await;
    match inserted {
        Err(e) if e.is_unique_violation() => return Err(duplicate()),
        r => r?,
    };
    let detail = format!("{name}（{kind}）→ {} {}", t.code, t.name);
    audit::record(
        &mut tx,
        now,
        &AuditEvent { actor, unit: Some(code.as_str()), action: "alarm.register_device", target: id, outcome: Outcome::Ok, detail: &detail },
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Switches a device off (its messages are then refused as unknown) or on again.
pub async fn set_device_active(p: &Platform, me: &Principal, id: &str, active: bool) -> AppResult<()> {
    let scope = me.require(Permission::HandleEvents)?;
    let d = device(p, id).await?.ok_or_else(AppError::not_found)?;
    if !UnitCode::parse(&d.unit_code).is_ok_and(|u| scope.contains(&u)) {
        return Err(AppError::not_found());
    }
    let now = p.now();
    let mut tx = p.db.begin().await?;
    tx.execute(sql!("UPDATE devices SET active = $1 WHERE id = $2", active, id)).await?;
    let action = if active { "alarm.enable_device" } else { "alarm.disable_device" };
    audit::record(
        &mut tx,
        now,
        &AuditEvent { actor: &me.actor(), unit: Some(d.unit_code.as_str()), action, target: id, outcome: Outcome::Ok, detail: &d.name },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ingest

/// What became of an accepted message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    pub event_id: String,
    pub event_no: String,
    /// True when this `msg_id` had already been accepted: the event is the one made then.
    pub duplicate: bool,
}

#[derive(Deserialize)]
struct RawMessage {
    device_id: String,
    msg_id: String,
    ts: i64,
    level: String,
    detail: String,
    sig: String,
}

struct Message {
    device_id: String,
    msg_id: String,
    ts: i64,
    level: AlarmLevel,
    detail: String,
    sig: String,
}

fn bad_payload(msg: impl Into<String>) -> AppError {
    AppError::bad_request("alarm.bad_payload", msg)
}

/// Why a message could not be read, with its device id and message id when those were readable, so
/// the rejection can be recorded against the device.
struct Unreadable {
    err: AppError,
    device_id: Option<String>,
    msg_id: Option<String>,
}

fn parse(payload: &[u8]) -> Result<Message, Box<Unreadable>> {
    let anonymous = |err: AppError| Box::new(Unreadable { err, device_id: None, msg_id: None });
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(anonymous(bad_payload(format!("告警消息超过 {MAX_PAYLOAD_BYTES} 字节"))));
    }
    let raw: RawMessage = serde_json::from_slice(payload)
        .map_err(|_| anonymous(bad_payload("告警消息应为 JSON 对象，含 device_id、msg_id、ts（毫秒整数）、level、detail、sig")))?;
    if !valid_device_id(&raw.device_id) {
        return Err(anonymous(bad_payload("device_id 应为 3–64 位字母、数字、下划线或连字符").at_field("device_id")));
    }
    let ids = |err: AppError| {
        let msg_id = valid_msg_id(&raw.msg_id).then(|| raw.msg_id.clone());
        Box::new(Unreadable { err, device_id: Some(raw.device_id.clone()), msg_id })
    };
    if !valid_msg_id(&raw.msg_id) {
        return Err(ids(bad_payload("msg_id 应为 1–64 位字母、数字或 _ - . :").at_field("msg_id")));
    }
    let level = AlarmLevel::parse(&raw.level).ok_or_else(|| ids(bad_payload("level 应为 normal、urgent 或 critical").at_field("level")))?;
    if raw.detail.chars().count() > MAX_DETAIL_CHARS {
        return Err(ids(bad_payload(format!("detail 不超过 {MAX_DETAIL_CHARS} 字")).at_field("detail")));
    }
    if raw.sig.len() != 64 || !raw.sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ids(AppError::new(StatusCode::UNAUTHORIZED, "alarm.bad_signature", "签名应为 64 位十六进制字符").at_field("sig")));
    }
    Ok(Message { device_id: raw.device_id, msg_id: raw.msg_id, ts: raw.ts, level, detail: raw.detail, sig: raw.sig })
}

/// Records a rejected message (in `device_messages` when the device exists, and in the audit log)
/// and gives the error back. Recording failures are logged, never hide the rejection.
async fn reject(p: &Platform, via: &str, device: Option<&Device>, claimed_id: Option<&str>, msg_id: Option<&str>, err: AppError) -> AppError {
    let now = p.now();
    let target = device.map(|d| d.id.as_str()).or(claimed_id).unwrap_or("-");
    tracing::warn!(code = err.code, device = target, via, "device alarm rejected");
    let result: AppResult<()> = async {
        let mut tx = p.db.begin().await?;
        if let (Some(d), Some(m)) = (device, msg_id) {
            tx.execute(sql!(
                "INSERT INTO device_messages (device_id, msg_id, received_ms, outcome, event_id) VALUES ($1, $2, $3, $4, NULL) \
                 ON CONFLICT (device_id, msg_id) DO UPDATE SET received_ms = excluded.received_ms, outcome = excluded.outcome \
                 WHERE device_messages.outcome <> 'accepted'",
                d.id.as_str(),
                m,
                now,
                err.code
            ))
            .await?;
        }
        let actor = Actor { name: format!("device:{target}"), client_addr: via.to_owned() };
        let detail = match msg_id {
            Some(m) => format!("{} msg_id={m}", err.code),
            None => err.code.to_owned(),
        };
        audit::record(
            &mut tx,
            now,
            &AuditEvent {
                actor: &actor,
                unit: device.map(|d| d.unit_code.as_str()),
                action: "alarm.rejected",
                target,
                outcome: Outcome::Denied,
                detail: &detail,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "could not record a rejected device alarm");
    }
    err
}

async fn event_no(p: &Platform, event_id: &str) -> AppResult<String> {
    let (no,): (String,) = p.db.fetch_one(sql!("SELECT event_no FROM events WHERE id = $1", event_id)).await?;
    Ok(no)
}

/// Takes one signed message (from the webhook or MQTT) and turns it into an event; see the module
/// documentation for the format and the checks. `via` is where it came from (a client address or
/// `mqtt`), recorded with the event and the audit records.
pub async fn ingest(p: &Platform, payload: &[u8], via: &str) -> Result<IngestOutcome, AppError> {
    ingest_checked(p, payload, via, None).await
}

/// [`ingest`] for a message published on `topic`, whose last level must be the payload's device id.
pub async fn ingest_mqtt(p: &Platform, topic: &str, payload: &[u8]) -> Result<IngestOutcome, AppError> {
    let topic_device = topic.strip_prefix(TOPIC_PREFIX).unwrap_or("");
    ingest_checked(p, payload, "mqtt", Some(topic_device)).await
}

async fn ingest_checked(p: &Platform, payload: &[u8], via: &str, topic_device: Option<&str>) -> Result<IngestOutcome, AppError> {
    let m = match parse(payload) {
        Ok(m) => m,
        Err(u) => {
            let d = match &u.device_id {
                Some(id) => device(p, id).await?,
                None => None,
            };
            return Err(reject(p, via, d.as_ref(), u.device_id.as_deref(), u.msg_id.as_deref(), u.err).await);
        }
    };
    let d = device(p, &m.device_id).await?;
    let (dev, msg) = (Some(m.device_id.as_str()), Some(m.msg_id.as_str()));
    if topic_device.is_some_and(|t| t != m.device_id) {
        let err = AppError::bad_request("alarm.topic_mismatch", format!("主题中的设备编号与消息中的 device_id 不一致（应发布到 {TOPIC_PREFIX}{{device_id}}）"));
        return Err(reject(p, via, d.as_ref(), dev, msg, err).await);
    }
    let d = match d {
        Some(d) if d.active != 0 => d,
        other => {
            let err = AppError::new(StatusCode::NOT_FOUND, "alarm.unknown_device", "设备未登记或已停用");
            return Err(reject(p, via, other.as_ref(), dev, msg, err).await);
        }
    };
    if !verify(&device_secret(p, &d)?, &m) {
        let err = AppError::new(StatusCode::UNAUTHORIZED, "alarm.bad_signature", "签名不正确").at_field("sig");
        return Err(reject(p, via, Some(&d), dev, msg, err).await);
    }
    // A repeat of an accepted message answers with its event, however late it comes.
    let seen: Option<(Option<String>,)> =
        p.db.fetch_optional(sql!(
            "SELECT event_id FROM device_messages WHERE device_id = $1 AND msg_id = $2 AND outcome = 'accepted'",
            d.id.as_str(),
            m.msg_id.as_str()
        ))
        .await?;
    if let Some((Some(event_id),)) = seen {
        let event_no = event_no(p, &event_id).await?;
        return Ok(IngestOutcome { event_id, event_no, duplicate: true });
    }
    let now = p.now();
    if m.ts < now - MAX_AGE_MS || m.ts > now + MAX_AHEAD_MS {
        let err = AppError::bad_request("alarm.stale", "告警时间（ts，Unix 毫秒）超出允许范围：不得早于服务器时间 10 分钟，也不得晚于 2 分钟，请校准设备时钟")
            .at_field("ts");
        return Err(reject(p, via, Some(&d), dev, msg, err).await);
    }
    let description = if m.detail.trim().is_empty() {
        format!("【设备告警】{}（{}）", d.name, d.kind)
    } else {
        format!("【设备告警】{}（{}）：{}", d.name, d.kind, m.detail.trim())
    };
    let report = Report {
        type_code: d.type_code.clone(),
        title: format!("{}告警：{}", d.kind, d.name),
        description,
        urgency: m.level.urgency().to_owned(),
        unit: d.unit_code.clone(),
        address: String::new(),
        lon: None,
        lat: None,
        crs: String::new(),
        anonymous: false,
        idem_key: Some(idem_key(&d.id, &m.msg_id)),
        source: SOURCE.to_owned(),
        subject: None,
        house: d.house_id.clone(),
    };
    let actor = Actor { name: format!("device:{}", d.id), client_addr: via.to_owned() };
    let scope = match UnitCode::parse(&d.unit_code) {
        Ok(u) => Scope::new(vec![u]),
        Err(e) => return Err(AppError::internal(format!("device {} unit: {e}", d.id))),
    };
    let (event_id, created) = match service::report_as(p, &actor, None, &scope, report, vec![]).await {
        Ok(x) => (x.id, x.created),
        // The device's unit was abolished, its event type switched off, …: the message is refused.
        Err(e) if e.status.is_client_error() => return Err(reject(p, via, Some(&d), dev, msg, e).await),
        Err(e) => return Err(e),
    };
    p.db.execute(sql!(
        "INSERT INTO device_messages (device_id, msg_id, received_ms, outcome, event_id) VALUES ($1, $2, $3, 'accepted', $4) \
         ON CONFLICT (device_id, msg_id) DO UPDATE SET received_ms = excluded.received_ms, outcome = 'accepted', event_id = excluded.event_id \
         WHERE device_messages.outcome <> 'accepted'",
        d.id.as_str(),
        m.msg_id.as_str(),
        now,
        event_id.as_str()
    ))
    .await?;
    let event_no = event_no(p, &event_id).await?;
    Ok(IngestOutcome { event_id, event_no, duplicate: !created })
}

// ---------------------------------------------------------------------------------------------
// MQTT

/// Subscribes to `jiceng/alarms/+` on the broker at `host:port` and ingests every message, for as long
/// as the task runs; reconnects with backoff (1 s doubling to 60 s). Abort the handle to stop.
pub fn spawn_mqtt(p: Platform, host: String, port: u16) -> tokio::task::JoinHandle<()> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
    tokio::spawn(async move {
        let client_id = format!("jiceng-{}", &new_id()[..12]);
        let mut opts = MqttOptions::new(client_id, host.clone(), port);
        opts.set_keep_alive(Duration::from_secs(30));
        // Larger than any valid message, so an oversized one is refused by us, not by the connection.
        opts.set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut eventloop) = AsyncClient::new(opts, 16);
        // Messages are ingested one at a time beside the network loop, which must keep polling
        // (keep-alive pings, acknowledgements) while the database works.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(256);
        let worker_p = p.clone();
        tokio::spawn(async move {
            while let Some((topic, payload)) = rx.recv().await {
                match ingest_mqtt(&worker_p, &topic, &payload).await {
                    Ok(o) => tracing::info!(event_no = %o.event_no, duplicate = o.duplicate, "device alarm received over MQTT"),
                    // `reject` has logged the refusal; the payload is never logged.
                    Err(e) if e.status.is_client_error() => {}
                    Err(e) => tracing::error!(code = e.code, "device alarm over MQTT failed"),
                }
            }
        });
        let mut backoff = Duration::from_secs(1);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = Duration::from_secs(1);
                    tracing::info!(%host, port, topic = TOPIC_FILTER, "connected to the MQTT broker");
                    // Clean session: subscribe again after every connect.
                    if let Err(e) = client.try_subscribe(TOPIC_FILTER, QoS::AtLeastOnce) {
                        tracing::error!(error = %e, "MQTT subscribe request failed");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) {
                        tracing::error!(topic = TOPIC_FILTER, "the MQTT broker refused the subscription");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(msg))) => {
                    if tx.send((msg.topic, msg.payload.to_vec())).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(%host, port, error = %e, retry_in_s = backoff.as_secs(), "MQTT connection lost or refused");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// HTTP

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alarms", post(webhook).layer(DefaultBodyLimit::max(16 * 1024)))
        .route("/events/devices", get(devices_page).post(register_submit))
        .route("/events/devices/{id}/active", post(active_submit))
}

/// `POST /api/v1/alarms`: the signature authenticates, so no session or token is needed.
pub async fn webhook(State(p): State<Platform>, ClientAddr(addr): ClientAddr, body: Bytes) -> Response {
    match ingest(&p, &body, &addr).await {
        Ok(o) => (StatusCode::ACCEPTED, Json(o)).into_response(),
        Err(e) => e.into_response(),
    }
}

struct DeviceView {
    id: String,
    name: String,
    kind: String,
    place: String,
    type_label: String,
    active: bool,
    last: String,
    rejected: i64,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    shell: Shell,
    rows: Vec<DeviceView>,
    pager: Pager,
    kinds: Vec<&'static str>,
    units: Vec<(String, String)>,
    types: Vec<(String, String)>,
    /// id, name, kind, unit, type code of the form being (re)shown.
    form: (String, String, String, String, String),
    /// (id, address) of the registered house the device goes into, when registering from its page.
    house: Option<(String, String)>,
    /// id and secret of a device just registered.
    created: Option<(String, String)>,
    flash: Option<String>,
    error: Option<(String, String)>,
    topic_prefix: &'static str,
}

#[derive(sqlx::FromRow)]
struct ListedDevice {
    id: String,
    name: String,
    kind: String,
    unit_code: String,
    type_code: String,
    active: i64,
    last_ms: Option<i64>,
    rejected: i64,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    page: Option<i64>,
    /// Registering a device in this house (from the house's page).
    house: Option<String>,
}

/// Units where the caller may install devices: their village-level units and the compounds and grids below.
async fn install_units(p: &Platform, scope: &Scope) -> AppResult<Vec<(String, String)>> {
    use geography::model::UnitKind;
    let kinds = [UnitKind::Community, UnitKind::Village, UnitKind::Compound, UnitKind::Grid];
    let mut out = Vec::new();
    for root in scope.roots() {
        for u in geography::store::current_of_kind(&p.db, root, &kinds).await?.into_iter().take(2000) {
            let label = if u.level == Level::Cell as i64 { format!("　{}（{}）", u.name, u.kind) } else { u.name.clone() };
            out.push((u.code, label));
        }
    }
    Ok(out)
}

struct PageState {
    form: (String, String, String, String, String),
    house: Option<(String, String)>,
    created: Option<(String, String)>,
    flash: Option<String>,
    error: Option<AppError>,
}

async fn devices_view(p: &Platform, site: &Site, me: &Principal, page: Option<i64>, st: PageState) -> AppResult<Response> {
    let scope = me.require(Permission::HandleEvents)?;
    let filtered = |select: &str| {
        let mut q = Sql::new(select, []);
        q.push(" WHERE ");
        scope.push_filter(&mut q, "d.unit_code");
        q
    };
    let total = p.db.scalar(filtered("SELECT COUNT(*) FROM devices d")).await?;
    let pager = Pager::new(page, 50, total, String::new());
    let mut q = filtered(
        "SELECT d.id, d.name, d.kind, d.unit_code, d.type_code, d.active, \
         (SELECT MAX(m.received_ms) FROM device_messages m WHERE m.device_id = d.id) AS last_ms, \
         (SELECT COUNT(*) FROM device_messages m WHERE m.device_id = d.id AND m.outcome <> 'accepted') AS rejected \
         FROM devices d",
    );
    q.push(" ORDER BY d.unit_code, d.id");
    q.page(pager.per_page, pager.offset());
    let listed: Vec<ListedDevice> = p.db.fetch_all(q).await?;
    let all_types = store::types(&p.db).await?;
    let type_names: HashMap<String, String> = all_types.iter().map(|t| (t.code.clone(), t.name.clone())).collect();
    let mut places: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::new();
    for d in listed {
        if !places.contains_key(&d.unit_code) {
            let name = geography::store::get(&p.db, &d.unit_code).await?.map(|u| u.name).unwrap_or_else(|| d.unit_code.clone());
            places.insert(d.unit_code.clone(), name);
        }
        rows.push(DeviceView {
            place: places.get(&d.unit_code).cloned().unwrap_or_default(),
            type_label: format!("{} {}", d.type_code, type_names.get(&d.type_code).cloned().unwrap_or_default()),
            active: d.active != 0,
            last: d.last_ms.map(format_beijing).unwrap_or_else(|| "—".into()),
            rejected: d.rejected,
            id: d.id,
            name: d.name,
            kind: d.kind,
        });
    }
    let mut form = st.form;
    if form.4.is_empty() {
        form.4 = "90002".into();
    }
    let page = DevicesPage {
        shell: Shell::new(site, me, "告警设备", "/events"),
        rows,
        pager,
        kinds: KINDS.to_vec(),
        units: install_units(p, &scope).await?,
        types: all_types.into_iter().filter(|t| t.active != 0).map(|t| (t.code.clone(), format!("{} {}", t.code, t.name))).collect(),
        form,
        house: st.house,
        created: st.created,
        flash: st.flash,
        error: st.error.as_ref().map(|e| (e.code.to_owned(), e.human())),
        topic_prefix: TOPIC_PREFIX,
    };
    let mut res = render(&page);
    if let Some(e) = &st.error {
        *res.status_mut() = e.status;
    }
    Ok(res)
}

pub async fn devices_page(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<PageQuery>) -> AppResult<Response> {
    let house = match q.house.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => Some(install_house(&p, &me, h).await?),
        None => None,
    };
    let house = house.map(|h| (h.id.clone(), h.full_address()));
    devices_view(&p, &site, &me, q.page, PageState { form: Default::default(), house, created: None, flash: None, error: None }).await
}

/// A registered house the caller may install devices in (both its registers and its events are
/// in scope); anything else is not found.
async fn install_house(p: &Platform, me: &Principal, id: &str) -> AppResult<registry::store::House> {
    let handle = me.require(Permission::HandleEvents)?;
    let house = registry::store::house(&p.db, &me.scope(Permission::ViewRegisters), id).await?.ok_or_else(AppError::not_found)?;
    if !UnitCode::parse(&house.unit_code).is_ok_and(|u| handle.contains(&u)) {
        return Err(AppError::not_found());
    }
    Ok(house)
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    type_code: String,
    #[serde(default)]
    house: String,
}

pub async fn register_submit(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Form(f): Form<RegisterForm>) -> AppResult<Response> {
    let scope = me.require(Permission::HandleEvents)?;
    let in_scope = UnitCode::parse(&f.unit).is_ok_and(|u| scope.contains(&u));
    let house = match f.house.trim() {
        "" => None,
        h => Some(install_house(&p, &me, h).await?),
    };
    let result = if let Some(h) = &house {
        register_device_in_house(&p, &me.actor(), &f.id, &f.name, &f.kind, h, &f.type_code).await
    } else if in_scope {
        register_device(&p, &me.actor(), &f.id, &f.name, &f.kind, &f.unit, &f.type_code).await
    } else {
        Err(AppError::bad_request("alarm.bad_unit", "安装位置须为您管辖范围内的村（社区）、小区或网格").at_field("unit"))
    };
    match result {
        Ok(secret) => {
            let st = PageState { form: Default::default(), house: None, created: Some((f.id.trim().to_owned(), secret)), flash: None, error: None };
            devices_view(&p, &site, &me, None, st).await
        }
        Err(e) if matches!(e.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            let house = house.map(|h| (h.id.clone(), h.full_address()));
            let st = PageState { form: (f.id, f.name, f.kind, f.unit, f.type_code), house, created: None, flash: None, error: Some(e) };
            devices_view(&p, &site, &me, None, st).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct ActiveForm {
    active: String,
}

pub async fn active_submit(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>, Form(f): Form<ActiveForm>) -> AppResult<Response> {
    set_device_active(&p, &me, &id, f.active == "1").await?;
    Ok(Redirect::to("/events/devices").into_response())
}
