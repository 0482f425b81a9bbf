//! 共享正负面清单: what each consumer (a department's or system's account, calling with its API
//! token) may read — which register, which fields, in which units, for what purpose. Anything not
//! listed is denied, and every shared read is audited with its purpose and the fields it returned.

use platform::audit::{self, Actor, Event, Outcome};
use platform::clock::Millis;
use platform::scope::UnitCode;
use platform::{AppError, AppResult, Db, Tx, sql};
use serde_json::{Map, Value};

use crate::store::{self, Person, SharingRule};

/// Registers that can be shared, with their fields: (machine name, label).
pub const PEOPLE_FIELDS: [(&str, &str); 12] = [
    ("name", "姓名"),
    ("name_masked", "姓名（脱敏）"),
    ("id_number", "身份证号（完整）"),
    ("id_masked", "身份证号（脱敏）"),
    ("sex", "性别"),
    ("birth_date", "出生日期"),
    ("phone", "联系电话（完整）"),
    ("phone_masked", "联系电话（脱敏）"),
    ("residence_kind", "人口类别"),
    ("unit_code", "所属单位代码"),
    ("tags", "特殊人群标签"),
    ("moved_in", "迁入日期"),
];

pub const REGISTERS: [(&str, &str); 1] = [("people", "实有人口")];

pub fn field_label(f: &str) -> &'static str {
    PEOPLE_FIELDS.iter().find(|(k, _)| *k == f).map(|(_, l)| *l).unwrap_or("未知字段")
}

/// Validates and stores a rule. The unit must be in the administrator's scope (checked by the caller).
pub async fn add_rule(
    tx: &mut Tx,
    now: Millis,
    actor: &Actor,
    consumer: &str,
    register: &str,
    fields: &[String],
    unit: &UnitCode,
    purpose: &str,
) -> AppResult<String> {
    if !REGISTERS.iter().any(|(r, _)| *r == register) {
        return Err(AppError::bad_request("sharing.bad_register", format!("未知的数据目录「{register}」")).at_field("register"));
    }
    if fields.is_empty() {
        return Err(AppError::bad_request("sharing.no_fields", "至少选择一个字段").at_field("fields"));
    }
    for f in fields {
        if !PEOPLE_FIELDS.iter().any(|(k, _)| k == f) {
            return Err(AppError::bad_request("sharing.bad_field", format!("未知字段「{f}」")).at_field("fields"));
        }
    }
    if purpose.trim().chars().count() < 4 {
        return Err(AppError::bad_request("sharing.no_purpose", "请写明共享用途（至少 4 个字），依《个人信息保护法》须告知用途").at_field("purpose"));
    }
    if platform::auth::find_account_tx(tx, consumer).await?.is_none() {
        return Err(AppError::bad_request("sharing.unknown_consumer", format!("账户「{consumer}」不存在（先创建部门或系统账户）")).at_field("consumer"));
    }
    let id = platform::db::new_id();
    tx.execute(sql!(
        "INSERT INTO sharing_rules (id, consumer, register, fields, unit_code, purpose, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id.as_str(),
        consumer,
        register,
        fields.join(","),
        unit.as_str(),
        purpose.trim(),
        now
    ))
    .await?;
    let detail = format!("{register} [{}] for {}", fields.join(","), purpose.trim());
    audit::record(tx, now, &Event { actor, unit: Some(unit.as_str()), action: "sharing.add", target: consumer, outcome: Outcome::Ok, detail: &detail }).await?;
    Ok(id)
}

pub async fn remove_rule(tx: &mut Tx, now: Millis, actor: &Actor, id: &str) -> AppResult<()> {
    let rule: Option<SharingRule> = tx.fetch_optional(sql!("SELECT * FROM sharing_rules WHERE id = $1", id)).await?;
    let rule = rule.ok_or_else(AppError::not_found)?;
    tx.execute(sql!("DELETE FROM sharing_rules WHERE id = $1", id)).await?;
    audit::record(
        tx,
        now,
        &Event { actor, unit: Some(rule.unit_code.as_str()), action: "sharing.remove", target: &rule.consumer, outcome: Outcome::Ok, detail: &rule.register },
    )
    .await?;
    Ok(())
}

/// The rules that let `consumer` read `register` at `unit`: those whose unit covers it.
pub async fn grants_for(db: &Db, consumer: &str, register: &str, unit: &UnitCode) -> AppResult<Vec<SharingRule>> {
    let rules = store::sharing_rules(db, Some(consumer)).await?;
    Ok(rules.into_iter().filter(|r| r.register == register && UnitCode::parse(&r.unit_code).is_ok_and(|c| c.contains(unit))).collect())
}

/// Projects a person onto the allowed fields. Full identifiers are decrypted only when listed.
pub fn project(p: &Person, tags: &[String], fields: &[&str], cipher: &platform::crypto::FieldCipher) -> Map<String, Value> {
    let mut m = Map::new();
    for f in fields {
        let v = match *f {
            "name" => Value::from(p.name.clone()),
            "name_masked" => Value::from(crate::model::mask_name(&p.name)),
            "id_number" => p.id_enc.as_deref().and_then(|e| cipher.decrypt(e).ok()).map(Value::from).unwrap_or(Value::Null),
            "id_masked" => p.id_masked.clone().map(Value::from).unwrap_or(Value::Null),
            "sex" => p.sex.clone().map(Value::from).unwrap_or(Value::Null),
            "birth_date" => p.birth_date.clone().map(Value::from).unwrap_or(Value::Null),
            "phone" => p.phone_enc.as_deref().and_then(|e| cipher.decrypt(e).ok()).map(Value::from).unwrap_or(Value::Null),
            "phone_masked" => p.phone_masked.clone().map(Value::from).unwrap_or(Value::Null),
            "residence_kind" => Value::from(p.residence_kind.clone()),
            "unit_code" => Value::from(p.unit_code.clone()),
            "tags" => Value::from(tags.to_vec()),
            "moved_in" => p.moved_in.clone().map(Value::from).unwrap_or(Value::Null),
            _ => continue,
        };
        m.insert((*f).to_owned(), v);
    }
    m
}

/// Records a shared read: who, which unit, the purpose and the field names (never values).
pub async fn audit_read(db: &Db, now: Millis, actor: &Actor, unit: &UnitCode, rules: &[SharingRule], fields: &[&str], rows: usize) -> AppResult<()> {
    let purposes: Vec<&str> = rules.iter().map(|r| r.purpose.as_str()).collect();
    let detail = format!("purpose: {}; fields: {}; rows: {rows}", purposes.join(" / "), fields.join(","));
    audit::record_alone(db, now, &Event { actor, unit: Some(unit.as_str()), action: "sharing.read", target: "people", outcome: Outcome::Ok, detail: &detail })
        .await?;
    Ok(())
}
