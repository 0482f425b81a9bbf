//! JSON API: a closed ballot's archived result with its full counts and the rule applied, for
//! export to other systems (e.g. the provincial owners' e-voting system). Choices of individual
//! voters are never part of it.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use platform::web::Auth;
use platform::{AppError, AppResult, Platform};

use crate::model::{self, Weight};
use crate::{service, store};

fn weight(w: &Weight, by_area: bool) -> Value {
    if by_area { json!({"heads": w.heads, "area_dm2": w.area_dm2, "area_m2": model::area_m2(w.area_dm2)}) } else { json!({"heads": w.heads}) }
}

pub async fn result(State(p): State<Platform>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Json<Value>> {
    let b = service::ballot(&p, &me, &id).await?;
    let archived = store::result(&p.db, &id).await?.ok_or_else(|| AppError::conflict("ballot.not_closed", "表决尚未结束，没有结果"))?;
    let mut tx = p.db.begin().await?;
    let qs = store::questions_tx(&mut tx, &id).await?;
    let part = store::participation_tx(&mut tx, &id).await?;
    let tallies = store::tallies_tx(&mut tx, &id).await?;
    tx.commit().await?;
    let r = service::compute(&b, qs, &part, &tallies);
    let rule = b.rule();
    let t = |th: model::Threshold| json!({"cmp": th.cmp_str(), "num": th.num, "den": th.den, "label": th.label()});
    Ok(Json(json!({
        "id": b.id, "unit_code": b.unit_code, "title": b.title, "organiser": b.organiser,
        "electorate": b.electorate, "secret": b.secret != 0,
        "rule": {"preset": rule.preset.as_str(), "quorum": t(rule.quorum), "by_area": rule.by_area, "ordinary": t(rule.ordinary), "special": t(rule.special), "abstain_follows_majority": rule.abstain_follows_majority, "local_rule": rule.local_rule},
        "roll": weight(&r.roll, rule.by_area), "roll_sha256": b.roll_hash,
        "took_part": weight(&r.took_part, rule.by_area),
        "by_channel": r.by_channel.iter().map(|(c, n)| json!({"channel": c, "heads": n})).collect::<Vec<_>>(),
        "questions": r.questions.iter().map(|q| json!({
            "seq": q.question.seq, "text": q.question.text, "category": q.question.category, "matter": q.question.matter,
            "yes": weight(&q.tally.yes, rule.by_area), "no": weight(&q.tally.no, rule.by_area), "abstain": weight(&q.tally.abstain, rule.by_area),
            "outcome": q.decision.outcome.as_str(), "lines": q.decision.lines, "warnings": q.decision.warnings,
        })).collect::<Vec<_>>(),
        "opened_ms": b.opened_ms, "closed_ms": b.closed_ms, "archived_ms": archived.archived_ms,
        "document": archived.document, "document_sha256": archived.hash,
    })))
}
