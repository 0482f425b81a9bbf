//! SQL of the consultation slice. Callers run every write in one transaction with its audit record.

use platform::clock::Millis;
use platform::db::{DbResult, Sql, new_id};
use platform::scope::Scope;
use platform::{Db, Tx, sql};
use serde::Serialize;

use crate::model::{Category, Cmp, Electorate, Preset, RollEntry, Rule, Threshold};

// ---------------------------------------------------------------------------------------------
// Ballots

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct BallotRow {
    pub id: String,
    pub unit_code: String,
    pub title: String,
    pub description: String,
    pub organiser: String,
    pub electorate: String,
    pub preset: String,
    pub quorum_cmp: String,
    pub quorum_num: i64,
    pub quorum_den: i64,
    pub by_area: i64,
    pub ordinary_cmp: String,
    pub ordinary_num: i64,
    pub ordinary_den: i64,
    pub special_cmp: String,
    pub special_num: i64,
    pub special_den: i64,
    pub herd: i64,
    pub local_rule: String,
    pub secret: i64,
    pub state: String,
    pub roll_heads: i64,
    pub roll_area: i64,
    pub roll_hash: Option<String>,
    pub opened_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    pub synthetic: i64,
    pub created_by: String,
    pub created_ms: i64,
    /// The voting window (UTC ms), when the organiser set one.
    pub opens_ms: Option<i64>,
    pub closes_ms: Option<i64>,
    /// When the periodic job counts it: the close plus the paper-entry period.
    pub count_at_ms: Option<i64>,
}

fn threshold(cmp: &str, num: i64, den: i64) -> Threshold {
    Threshold { cmp: if cmp == "at_least" { Cmp::AtLeast } else { Cmp::MoreThan }, num, den }
}

impl BallotRow {
    pub fn rule(&self) -> Rule {
        Rule {
            preset: Preset::parse(&self.preset).unwrap_or(Preset::Custom),
            quorum: threshold(&self.quorum_cmp, self.quorum_num, self.quorum_den),
            by_area: self.by_area != 0,
            ordinary: threshold(&self.ordinary_cmp, self.ordinary_num, self.ordinary_den),
            special: threshold(&self.special_cmp, self.special_num, self.special_den),
            abstain_follows_majority: self.herd != 0,
            local_rule: self.local_rule.clone(),
        }
    }
    pub fn electorate(&self) -> Electorate {
        Electorate::parse(&self.electorate).unwrap_or(Electorate::Persons)
    }
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct QuestionRow {
    pub id: String,
    pub ballot_id: String,
    pub seq: i64,
    pub text: String,
    pub category: String,
    pub matter: Option<i64>,
}

impl QuestionRow {
    pub fn category(&self) -> Category {
        Category::parse(&self.category).unwrap_or(Category::Ordinary)
    }
}

pub struct NewBallot<'a> {
    pub unit_code: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub organiser: &'a str,
    pub electorate: Electorate,
    pub rule: &'a Rule,
    pub secret: bool,
    pub synthetic: bool,
    pub created_by: &'a str,
    pub opens_ms: Option<Millis>,
    pub closes_ms: Option<Millis>,
    pub count_at_ms: Option<Millis>,
}

pub async fn insert_ballot(tx: &mut Tx, now: Millis, b: &NewBallot<'_>, questions: &[(String, Category, Option<i64>)]) -> DbResult<String> {
    let id = new_id();
    let r = b.rule;
    tx.execute(sql!(
        "INSERT INTO ballots (id, unit_code, title, description, organiser, electorate, preset, quorum_cmp, quorum_num, quorum_den, by_area, ordinary_cmp, ordinary_num, ordinary_den, special_cmp, special_num, special_den, herd, local_rule, secret, state, synthetic, created_by, created_ms, opens_ms, closes_ms, count_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 'draft', $21, $22, $23, $24, $25, $26)",
        id.as_str(),
        b.unit_code,
        b.title,
        b.description,
        b.organiser,
        b.electorate.as_str(),
        r.preset.as_str(),
        r.quorum.cmp_str(),
        r.quorum.num,
        r.quorum.den,
        r.by_area,
        r.ordinary.cmp_str(),
        r.ordinary.num,
        r.ordinary.den,
        r.special.cmp_str(),
        r.special.num,
        r.special.den,
        r.abstain_follows_majority,
        r.local_rule.as_str(),
        b.secret,
        b.synthetic,
        b.created_by,
        now,
        b.opens_ms,
        b.closes_ms,
        b.count_at_ms
    ))
    .await?;
    for (i, (text, cat, matter)) in questions.iter().enumerate() {
        let qid = new_id();
        tx.execute(sql!(
            "INSERT INTO ballot_questions (id, ballot_id, seq, text, category, matter) VALUES ($1, $2, $3, $4, $5, $6)",
            qid.as_str(),
            id.as_str(),
            i as i64 + 1,
            text.as_str(),
            cat.as_str(),
            *matter
        ))
        .await?;
        for c in ["yes", "no", "abstain"] {
            tx.execute(sql!("INSERT INTO ballot_tallies (question_id, choice, heads, area_dm2) VALUES ($1, $2, 0, 0)", qid.as_str(), c)).await?;
        }
    }
    Ok(id)
}

pub async fn ballots(db: &Db, scope: &Scope, limit: i64, offset: i64) -> DbResult<(Vec<BallotRow>, i64)> {
    let mut c = Sql::new("SELECT COUNT(*) FROM ballots WHERE ", []);
    scope.push_filter(&mut c, "unit_code");
    let total = db.scalar(c).await?;
    let mut q = Sql::new("SELECT * FROM ballots WHERE ", []);
    scope.push_filter(&mut q, "unit_code");
    q.push(" ORDER BY created_ms DESC, id");
    q.page(limit, offset);
    Ok((db.fetch_all(q).await?, total))
}

pub async fn ballot(db: &Db, scope: &Scope, id: &str) -> DbResult<Option<BallotRow>> {
    let mut q = Sql::new("SELECT * FROM ballots WHERE id = ", []);
    q.bind(id).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    db.fetch_optional(q).await
}

/// The ballot row inside a transaction, for state changes (re-read so a stale page cannot act).
pub async fn ballot_tx(tx: &mut Tx, id: &str) -> DbResult<Option<BallotRow>> {
    tx.fetch_optional(sql!("SELECT * FROM ballots WHERE id = $1", id)).await
}

pub async fn questions(db: &Db, ballot_id: &str) -> DbResult<Vec<QuestionRow>> {
    db.fetch_all(sql!("SELECT * FROM ballot_questions WHERE ballot_id = $1 ORDER BY seq", ballot_id)).await
}

pub async fn questions_tx(tx: &mut Tx, ballot_id: &str) -> DbResult<Vec<QuestionRow>> {
    tx.fetch_all(sql!("SELECT * FROM ballot_questions WHERE ballot_id = $1 ORDER BY seq", ballot_id)).await
}

/// Freezes the roll: written once, in the same transaction that opens the ballot.
pub async fn freeze_roll(tx: &mut Tx, ballot_id: &str, roll: &[(RollEntry, Option<String>)], hash: &str, now: Millis) -> DbResult<u64> {
    for (i, (e, id_index)) in roll.iter().enumerate() {
        tx.execute(sql!(
            "INSERT INTO ballot_roll (ballot_id, voter_key, seq, name, person_id, id_index, area_dm2, units, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            ballot_id,
            e.voter_key.as_str(),
            i as i64 + 1,
            e.name.as_str(),
            e.person_id.as_deref(),
            id_index.as_deref(),
            e.area_dm2,
            e.units,
            e.detail.as_str()
        ))
        .await?;
    }
    let heads = roll.len() as i64;
    let area: i64 = roll.iter().map(|(e, _)| e.area_dm2).sum();
    tx.execute(sql!(
        "UPDATE ballots SET state = 'open', roll_heads = $1, roll_area = $2, roll_hash = $3, opened_ms = $4 WHERE id = $5 AND state = 'draft'",
        heads,
        area,
        hash,
        now,
        ballot_id
    ))
    .await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct RollRow {
    pub voter_key: String,
    pub seq: i64,
    pub name: String,
    #[serde(skip)]
    pub person_id: Option<String>,
    #[serde(skip)]
    pub id_index: Option<String>,
    pub area_dm2: i64,
    pub units: i64,
    pub detail: String,
    /// The channel the voter used, when they took part (never their choices).
    pub channel: Option<String>,
}

pub async fn roll(db: &Db, ballot_id: &str, limit: i64, offset: i64) -> DbResult<Vec<RollRow>> {
    let mut q = Sql::new(
        "SELECT r.voter_key, r.seq, r.name, r.person_id, r.id_index, r.area_dm2, r.units, r.detail, v.channel FROM ballot_roll r LEFT JOIN ballot_voters v ON v.ballot_id = r.ballot_id AND v.voter_key = r.voter_key WHERE r.ballot_id = ",
        [],
    );
    q.bind(ballot_id).push(" ORDER BY r.seq");
    q.page(limit, offset);
    db.fetch_all(q).await
}

pub async fn roll_entry_by_index(tx: &mut Tx, ballot_id: &str, id_index: &str) -> DbResult<Option<RollRow>> {
    tx.fetch_optional(sql!(
        "SELECT r.voter_key, r.seq, r.name, r.person_id, r.id_index, r.area_dm2, r.units, r.detail, v.channel FROM ballot_roll r LEFT JOIN ballot_voters v ON v.ballot_id = r.ballot_id AND v.voter_key = r.voter_key WHERE r.ballot_id = $1 AND r.id_index = $2",
        ballot_id,
        id_index
    ))
    .await
}

/// The roll entry of a registered person: by person id, or by the blind index for entries frozen
/// from an ID number (representatives, owners recorded by number).
pub async fn roll_entry_by_person(tx: &mut Tx, ballot_id: &str, person_id: &str, id_index: Option<&str>) -> DbResult<Option<RollRow>> {
    tx.fetch_optional(sql!(
        "SELECT r.voter_key, r.seq, r.name, r.person_id, r.id_index, r.area_dm2, r.units, r.detail, v.channel FROM ballot_roll r LEFT JOIN ballot_voters v ON v.ballot_id = r.ballot_id AND v.voter_key = r.voter_key WHERE r.ballot_id = $1 AND (r.person_id = $2 OR r.id_index = $3) ORDER BY r.seq LIMIT 1",
        ballot_id,
        person_id,
        id_index
    ))
    .await
}

pub async fn roll_entry_by_seq(tx: &mut Tx, ballot_id: &str, seq: i64) -> DbResult<Option<RollRow>> {
    tx.fetch_optional(sql!(
        "SELECT r.voter_key, r.seq, r.name, r.person_id, r.id_index, r.area_dm2, r.units, r.detail, v.channel FROM ballot_roll r LEFT JOIN ballot_voters v ON v.ballot_id = r.ballot_id AND v.voter_key = r.voter_key WHERE r.ballot_id = $1 AND r.seq = $2",
        ballot_id,
        seq
    ))
    .await
}

/// Records that a voter took part. The primary key refuses a second vote by any channel, even
/// when two arrive at once.
pub async fn insert_voter(tx: &mut Tx, ballot_id: &str, voter_key: &str, channel: &str, entered_by: &str, evidence: &str, now: Millis) -> DbResult<u64> {
    tx.execute(sql!(
        "INSERT INTO ballot_voters (ballot_id, voter_key, channel, entered_by, evidence, at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        ballot_id,
        voter_key,
        channel,
        entered_by,
        evidence,
        now
    ))
    .await
}

pub async fn add_to_tally(tx: &mut Tx, question_id: &str, choice: &str, heads: i64, area: i64) -> DbResult<u64> {
    tx.execute(sql!(
        "UPDATE ballot_tallies SET heads = heads + $1, area_dm2 = area_dm2 + $2 WHERE question_id = $3 AND choice = $4",
        heads,
        area,
        question_id,
        choice
    ))
    .await
}

pub async fn insert_receipt(tx: &mut Tx, hash: &str, ballot_id: &str, choices: &str) -> DbResult<u64> {
    tx.execute(sql!("INSERT INTO ballot_receipts (receipt_hash, ballot_id, choices) VALUES ($1, $2, $3)", hash, ballot_id, choices)).await
}

pub async fn insert_named_choice(tx: &mut Tx, ballot_id: &str, voter_key: &str, question_id: &str, choice: &str) -> DbResult<u64> {
    tx.execute(sql!(
        "INSERT INTO ballot_named_choices (ballot_id, voter_key, question_id, choice) VALUES ($1, $2, $3, $4)",
        ballot_id,
        voter_key,
        question_id,
        choice
    ))
    .await
}

/// Named ballots: roll number, name and the choices in question order.
pub async fn named_choices(db: &Db, ballot_id: &str) -> DbResult<Vec<(i64, String, String)>> {
    let rows: Vec<(i64, String, i64, String)> = db
        .fetch_all(sql!(
            "SELECT r.seq, r.name, q.seq, c.choice FROM ballot_named_choices c JOIN ballot_roll r ON r.ballot_id = c.ballot_id AND r.voter_key = c.voter_key JOIN ballot_questions q ON q.id = c.question_id WHERE c.ballot_id = $1 ORDER BY r.seq, q.seq",
            ballot_id
        ))
        .await?;
    let mut out: Vec<(i64, String, String)> = Vec::new();
    for (seq, name, qseq, choice) in rows {
        let label = format!("第{qseq}项{}", crate::model::Choice::parse(&choice).map(|c| c.label()).unwrap_or(""));
        match out.last_mut() {
            Some(last) if last.0 == seq => {
                last.2.push('；');
                last.2.push_str(&label);
            }
            _ => out.push((seq, name, label)),
        }
    }
    Ok(out)
}

pub async fn receipt(db: &Db, ballot_id: &str, hash: &str) -> DbResult<Option<String>> {
    let r: Option<(String,)> =
        db.fetch_optional(sql!("SELECT choices FROM ballot_receipts WHERE ballot_id = $1 AND receipt_hash = $2", ballot_id, hash)).await?;
    Ok(r.map(|(c,)| c))
}

/// All receipt hashes of a ballot, sorted, for the published bulletin.
pub async fn receipt_hashes(db: &Db, ballot_id: &str) -> DbResult<Vec<String>> {
    let r: Vec<(String,)> = db.fetch_all(sql!("SELECT receipt_hash FROM ballot_receipts WHERE ballot_id = $1 ORDER BY receipt_hash", ballot_id)).await?;
    Ok(r.into_iter().map(|(h,)| h).collect())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TallyRow {
    pub question_id: String,
    pub choice: String,
    pub heads: i64,
    pub area_dm2: i64,
}

pub async fn tallies_tx(tx: &mut Tx, ballot_id: &str) -> DbResult<Vec<TallyRow>> {
    tx.fetch_all(sql!(
        "SELECT t.question_id, t.choice, t.heads, t.area_dm2 FROM ballot_tallies t JOIN ballot_questions q ON q.id = t.question_id WHERE q.ballot_id = $1",
        ballot_id
    ))
    .await
}

/// Heads and area of those who took part, and how many by each channel.
pub async fn participation_tx(tx: &mut Tx, ballot_id: &str) -> DbResult<Vec<(String, i64, i64)>> {
    tx.fetch_all(sql!(
        "SELECT v.channel, CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(r.area_dm2), 0) AS BIGINT) FROM ballot_voters v JOIN ballot_roll r ON r.ballot_id = v.ballot_id AND r.voter_key = v.voter_key WHERE v.ballot_id = $1 GROUP BY v.channel ORDER BY v.channel",
        ballot_id
    ))
    .await
}

pub async fn participation(db: &Db, ballot_id: &str) -> DbResult<Vec<(String, i64, i64)>> {
    db.fetch_all(sql!(
        "SELECT v.channel, CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(r.area_dm2), 0) AS BIGINT) FROM ballot_voters v JOIN ballot_roll r ON r.ballot_id = v.ballot_id AND r.voter_key = v.voter_key WHERE v.ballot_id = $1 GROUP BY v.channel ORDER BY v.channel",
        ballot_id
    ))
    .await
}

pub async fn close_ballot(tx: &mut Tx, ballot_id: &str, document: &str, hash: &str, now: Millis) -> DbResult<u64> {
    tx.execute(sql!("INSERT INTO ballot_results (ballot_id, document, hash, archived_ms) VALUES ($1, $2, $3, $4)", ballot_id, document, hash, now)).await?;
    tx.execute(sql!("UPDATE ballots SET state = 'closed', closed_ms = $1 WHERE id = $2 AND state = 'open'", now, ballot_id)).await
}

/// Takes the ballot's row lock while it is open, as the first statement of a vote or a close, so the
/// two serialise: a vote either lands before the result is computed or is refused, never after it.
pub async fn lock_open_ballot(tx: &mut Tx, id: &str) -> DbResult<u64> {
    tx.execute(sql!("UPDATE ballots SET state = 'open' WHERE id = $1 AND state = 'open'", id)).await
}

/// Open ballots whose counting time (the close plus the paper-entry period) has passed, for the
/// periodic close.
pub async fn due_for_closing(db: &Db, now: Millis) -> DbResult<Vec<String>> {
    let r: Vec<(String,)> = db
        .fetch_all(sql!("SELECT id FROM ballots WHERE state = 'open' AND count_at_ms IS NOT NULL AND count_at_ms <= $1 ORDER BY count_at_ms, id", now))
        .await?;
    Ok(r.into_iter().map(|(i,)| i).collect())
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct ResultRow {
    pub ballot_id: String,
    pub document: String,
    pub hash: String,
    pub archived_ms: i64,
}

pub async fn result(db: &Db, ballot_id: &str) -> DbResult<Option<ResultRow>> {
    db.fetch_optional(sql!("SELECT * FROM ballot_results WHERE ballot_id = $1", ballot_id)).await
}

// ---------------------------------------------------------------------------------------------
// Consultations

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct ConsultationRow {
    pub id: String,
    pub unit_code: String,
    pub title: String,
    pub body: String,
    pub source: String,
    pub raised_by: String,
    pub template: String,
    pub state: String,
    pub published_ms: Option<i64>,
    pub synthetic: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_consultation(
    tx: &mut Tx,
    now: Millis,
    unit: &str,
    title: &str,
    body: &str,
    source: &str,
    raised_by: &str,
    template: &str,
    steps: &[&str],
    synthetic: bool,
) -> DbResult<String> {
    let id = new_id();
    tx.execute(sql!(
        "INSERT INTO consultations (id, unit_code, title, body, source, raised_by, template, state, synthetic, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $9)",
        id.as_str(),
        unit,
        title,
        body,
        source,
        raised_by,
        template,
        synthetic,
        now
    ))
    .await?;
    for (i, s) in steps.iter().enumerate() {
        tx.execute(sql!("INSERT INTO consultation_steps (consultation_id, seq, name) VALUES ($1, $2, $3)", id.as_str(), i as i64 + 1, *s)).await?;
    }
    Ok(id)
}

pub async fn consultations(db: &Db, scope: &Scope, limit: i64) -> DbResult<Vec<ConsultationRow>> {
    let mut q = Sql::new("SELECT * FROM consultations WHERE ", []);
    scope.push_filter(&mut q, "unit_code");
    q.push(" ORDER BY created_ms DESC, id");
    q.page(limit, 0);
    db.fetch_all(q).await
}

pub async fn consultation(db: &Db, scope: &Scope, id: &str) -> DbResult<Option<ConsultationRow>> {
    let mut q = Sql::new("SELECT * FROM consultations WHERE id = ", []);
    q.bind(id).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    db.fetch_optional(q).await
}

pub async fn published_consultations(db: &Db, unit: &str) -> DbResult<Vec<ConsultationRow>> {
    db.fetch_all(sql!(
        "SELECT * FROM consultations WHERE unit_code >= $1 AND unit_code < $2 AND published_ms IS NOT NULL ORDER BY published_ms DESC LIMIT 50",
        unit,
        format!("{unit}~")
    ))
    .await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct StepRow {
    pub consultation_id: String,
    pub seq: i64,
    pub name: String,
    pub done_ms: Option<i64>,
    pub done_by: Option<String>,
    pub note: String,
}

pub async fn steps(db: &Db, id: &str) -> DbResult<Vec<StepRow>> {
    db.fetch_all(sql!("SELECT * FROM consultation_steps WHERE consultation_id = $1 ORDER BY seq", id)).await
}

pub async fn steps_tx(tx: &mut Tx, id: &str) -> DbResult<Vec<StepRow>> {
    tx.fetch_all(sql!("SELECT * FROM consultation_steps WHERE consultation_id = $1 ORDER BY seq", id)).await
}

pub async fn complete_step(tx: &mut Tx, id: &str, seq: i64, by: &str, note: &str, now: Millis) -> DbResult<u64> {
    tx.execute(sql!(
        "UPDATE consultation_steps SET done_ms = $1, done_by = $2, note = $3 WHERE consultation_id = $4 AND seq = $5 AND done_ms IS NULL",
        now,
        by,
        note,
        id,
        seq
    ))
    .await?;
    tx.execute(sql!("UPDATE consultations SET updated_ms = $1 WHERE id = $2", now, id)).await
}

pub async fn set_consultation_state(tx: &mut Tx, id: &str, state: &str, published: Option<Millis>, now: Millis) -> DbResult<u64> {
    tx.execute(sql!("UPDATE consultations SET state = $1, published_ms = COALESCE(published_ms, $2), updated_ms = $3 WHERE id = $4", state, published, now, id))
        .await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct PostRow {
    pub id: String,
    pub consultation_id: String,
    pub kind: String,
    pub author: String,
    pub body: String,
    pub created_ms: i64,
}

pub async fn insert_post(tx: &mut Tx, id: &str, kind: &str, author: &str, body: &str, now: Millis) -> DbResult<String> {
    let pid = new_id();
    tx.execute(sql!(
        "INSERT INTO consultation_posts (id, consultation_id, kind, author, body, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        pid.as_str(),
        id,
        kind,
        author,
        body,
        now
    ))
    .await?;
    tx.execute(sql!("UPDATE consultations SET updated_ms = $1 WHERE id = $2", now, id)).await?;
    Ok(pid)
}

pub async fn posts(db: &Db, id: &str) -> DbResult<Vec<PostRow>> {
    db.fetch_all(sql!("SELECT * FROM consultation_posts WHERE consultation_id = $1 ORDER BY created_ms, id", id)).await
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct MeetingRow {
    pub id: String,
    pub consultation_id: String,
    pub title: String,
    pub held_on: String,
    pub due: i64,
    pub present: i64,
    pub quorum_cmp: String,
    pub quorum_num: i64,
    pub quorum_den: i64,
    pub minutes: String,
    pub decision: String,
    pub created_by: String,
    pub created_ms: i64,
}

impl MeetingRow {
    pub fn quorum(&self) -> Threshold {
        threshold(&self.quorum_cmp, self.quorum_num, self.quorum_den)
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_meeting(
    tx: &mut Tx,
    now: Millis,
    id: &str,
    title: &str,
    held_on: &str,
    due: i64,
    present: i64,
    q: Threshold,
    minutes: &str,
    decision: &str,
    by: &str,
) -> DbResult<String> {
    let mid = new_id();
    tx.execute(sql!(
        "INSERT INTO meetings (id, consultation_id, title, held_on, due, present, quorum_cmp, quorum_num, quorum_den, minutes, decision, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        mid.as_str(),
        id,
        title,
        held_on,
        due,
        present,
        q.cmp_str(),
        q.num,
        q.den,
        minutes,
        decision,
        by,
        now
    ))
    .await?;
    Ok(mid)
}

pub async fn update_meeting(tx: &mut Tx, mid: &str, present: i64, minutes: &str, decision: &str) -> DbResult<u64> {
    tx.execute(sql!("UPDATE meetings SET present = $1, minutes = $2, decision = $3 WHERE id = $4", present, minutes, decision, mid)).await
}

pub async fn meetings(db: &Db, id: &str) -> DbResult<Vec<MeetingRow>> {
    db.fetch_all(sql!("SELECT * FROM meetings WHERE consultation_id = $1 ORDER BY held_on, created_ms", id)).await
}

pub async fn meeting_tx(tx: &mut Tx, mid: &str) -> DbResult<Option<MeetingRow>> {
    tx.fetch_optional(sql!("SELECT * FROM meetings WHERE id = $1", mid)).await
}

pub async fn meeting(db: &Db, mid: &str) -> DbResult<Option<MeetingRow>> {
    db.fetch_optional(sql!("SELECT * FROM meetings WHERE id = $1", mid)).await
}

/// One more person signed in at the door: an increment in the database, so two desks counting at
/// once both count; never past the number due.
pub async fn meeting_arrive(tx: &mut Tx, mid: &str) -> DbResult<u64> {
    tx.execute(sql!("UPDATE meetings SET present = present + 1 WHERE id = $1 AND present < due", mid)).await
}

// ---------------------------------------------------------------------------------------------
// 村务公开

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct AffairRow {
    pub id: String,
    pub unit_code: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub period_start: String,
    pub due_date: String,
    pub published_ms: Option<i64>,
    pub published_by: Option<String>,
    pub escalated_ms: Option<i64>,
    pub escalated_to: Option<String>,
    pub synthetic: i64,
    pub created_by: String,
    pub created_ms: i64,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_affair(
    tx: &mut Tx,
    now: Millis,
    unit: &str,
    kind: &str,
    title: &str,
    body: &str,
    period_start: &str,
    due: &str,
    by: &str,
    synthetic: bool,
) -> DbResult<Option<String>> {
    let id = new_id();
    let n = tx
        .execute(sql!(
            "INSERT INTO affairs (id, unit_code, kind, title, body, period_start, due_date, synthetic, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (unit_code, kind, period_start, title) DO NOTHING",
            id.as_str(),
            unit,
            kind,
            title,
            body,
            period_start,
            due,
            synthetic,
            by,
            now
        ))
        .await?;
    Ok((n > 0).then_some(id))
}

pub async fn affairs(db: &Db, scope: &Scope, unit: &str, limit: i64) -> DbResult<Vec<AffairRow>> {
    let mut q = Sql::new("SELECT * FROM affairs WHERE unit_code >= ", []);
    q.bind(unit).push(" AND unit_code < ").bind(format!("{unit}~").as_str()).push(" AND ");
    scope.push_filter(&mut q, "unit_code");
    q.push(" ORDER BY due_date DESC, kind, id");
    q.page(limit, 0);
    db.fetch_all(q).await
}

pub async fn affair_tx(tx: &mut Tx, id: &str) -> DbResult<Option<AffairRow>> {
    tx.fetch_optional(sql!("SELECT * FROM affairs WHERE id = $1", id)).await
}

pub async fn publish_affair(tx: &mut Tx, id: &str, body: &str, by: &str, now: Millis) -> DbResult<u64> {
    tx.execute(sql!("UPDATE affairs SET body = $1, published_ms = $2, published_by = $3 WHERE id = $4 AND published_ms IS NULL", body, now, by, id)).await
}

pub async fn published_affairs(db: &Db, unit: &str) -> DbResult<Vec<AffairRow>> {
    db.fetch_all(sql!("SELECT * FROM affairs WHERE unit_code = $1 AND published_ms IS NOT NULL ORDER BY published_ms DESC LIMIT 200", unit)).await
}

/// Unpublished items past their last day that have not been escalated yet.
pub async fn overdue_unescalated(tx: &mut Tx, today: &str) -> DbResult<Vec<AffairRow>> {
    tx.fetch_all(sql!("SELECT * FROM affairs WHERE published_ms IS NULL AND escalated_ms IS NULL AND due_date < $1 ORDER BY unit_code, due_date", today)).await
}

pub async fn mark_escalated(tx: &mut Tx, id: &str, to: &str, now: Millis) -> DbResult<u64> {
    tx.execute(sql!("UPDATE affairs SET escalated_ms = $1, escalated_to = $2 WHERE id = $3 AND escalated_ms IS NULL", now, to, id)).await
}

/// Missed publications escalated to a township in scope.
pub async fn escalated(db: &Db, scope: &Scope) -> DbResult<Vec<AffairRow>> {
    let mut q = Sql::new("SELECT * FROM affairs WHERE escalated_to IS NOT NULL AND published_ms IS NULL AND ", []);
    scope.push_filter(&mut q, "escalated_to");
    q.push(" ORDER BY due_date, unit_code");
    q.page(500, 0);
    db.fetch_all(q).await
}

/// Villages that keep a publication calendar (have any item), for the recurring schedule.
pub async fn publishing_units(tx: &mut Tx) -> DbResult<Vec<String>> {
    let r: Vec<(String,)> = tx.fetch_all(sql!("SELECT DISTINCT unit_code FROM affairs ORDER BY unit_code")).await?;
    Ok(r.into_iter().map(|(u,)| u).collect())
}

// ---------------------------------------------------------------------------------------------
// 小微权力清单

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct PowerItemRow {
    pub id: String,
    pub unit_code: String,
    pub seq: i64,
    pub version: i64,
    pub category: String,
    pub name: String,
    pub basis: String,
    pub steps: String,
    pub responsible: String,
    pub retired_ms: Option<i64>,
    pub updated_by: String,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow, Serialize)]
pub struct PowerVersionRow {
    pub item_id: String,
    pub version: i64,
    pub category: String,
    pub name: String,
    pub basis: String,
    pub steps: String,
    pub responsible: String,
    pub retired: i64,
    pub changed_by: String,
    pub changed_ms: i64,
}

/// Every item a village has ever had, current and retired, in list order.
pub async fn power_items(db: &Db, unit: &str) -> DbResult<Vec<PowerItemRow>> {
    db.fetch_all(sql!("SELECT * FROM power_items WHERE unit_code = $1 ORDER BY seq, id", unit)).await
}

pub async fn power_items_tx(tx: &mut Tx, unit: &str) -> DbResult<Vec<PowerItemRow>> {
    tx.fetch_all(sql!("SELECT * FROM power_items WHERE unit_code = $1 ORDER BY seq, id", unit)).await
}

pub async fn power_versions(db: &Db, unit: &str) -> DbResult<Vec<PowerVersionRow>> {
    db.fetch_all(sql!(
        "SELECT v.* FROM power_item_versions v JOIN power_items i ON i.id = v.item_id WHERE i.unit_code = $1 ORDER BY v.item_id, v.version DESC",
        unit
    ))
    .await
}

async fn power_version(tx: &mut Tx, item_id: &str, version: i64, i: &crate::model::PowerItemInput, retired: bool, by: &str, now: Millis) -> DbResult<u64> {
    tx.execute(sql!(
        "INSERT INTO power_item_versions (item_id, version, category, name, basis, steps, responsible, retired, changed_by, changed_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        item_id,
        version,
        i.category.as_str(),
        i.name.as_str(),
        i.basis.as_str(),
        i.steps.as_str(),
        i.responsible.as_str(),
        retired,
        by,
        now
    ))
    .await
}

/// Adds an item at the end of the village's list, with its first version.
pub async fn insert_power_item(tx: &mut Tx, unit: &str, seq: i64, i: &crate::model::PowerItemInput, by: &str, now: Millis) -> DbResult<String> {
    let id = new_id();
    tx.execute(sql!(
        "INSERT INTO power_items (id, unit_code, seq, version, category, name, basis, steps, responsible, updated_by, updated_ms) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10)",
        id.as_str(),
        unit,
        seq,
        i.category.as_str(),
        i.name.as_str(),
        i.basis.as_str(),
        i.steps.as_str(),
        i.responsible.as_str(),
        by,
        now
    ))
    .await?;
    power_version(tx, &id, 1, i, false, by, now).await?;
    Ok(id)
}

/// Writes a new version of a current item (an edit, or its retirement), guarded by the version the
/// editor saw so two staff editing at once cannot silently overwrite each other.
pub async fn update_power_item(tx: &mut Tx, item: &PowerItemRow, i: &crate::model::PowerItemInput, retire: bool, by: &str, now: Millis) -> DbResult<u64> {
    let v = item.version + 1;
    let n = tx
        .execute(sql!(
            "UPDATE power_items SET version = $1, category = $2, name = $3, basis = $4, steps = $5, responsible = $6, retired_ms = $7, updated_by = $8, updated_ms = $9 WHERE id = $10 AND version = $11 AND retired_ms IS NULL",
            v,
            i.category.as_str(),
            i.name.as_str(),
            i.basis.as_str(),
            i.steps.as_str(),
            i.responsible.as_str(),
            retire.then_some(now),
            by,
            now,
            item.id.as_str(),
            item.version
        ))
        .await?;
    if n == 1 {
        power_version(tx, &item.id, v, i, retire, by, now).await?;
    }
    Ok(n)
}
