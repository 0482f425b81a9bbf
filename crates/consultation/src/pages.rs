//! HTML pages: the consultation hub, ballots from roll to result (phone vote, paper entry, booth,
//! printable result, receipt check), consultations with meetings, and 村务公开 with its public page.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use platform::auth::{Permission, Principal};
use platform::clock::{Date, format_beijing};
use platform::scope::UnitCode;
use platform::web::{Auth, Shell, Site, form_pairs, render};
use platform::{AppError, AppResult, Platform};

use crate::model::{self, AffairKind, Category, Channel, Choice, Electorate, Preset, Threshold};
use crate::service::{self, CreateBallot, CustomRule, MeetingInput, QuestionInput, VoteInput, VoterRef};
use crate::store;

async fn unit_name(p: &Platform, code: &str) -> String {
    geography::store::get(&p.db, code).await.ok().flatten().map(|u| u.name).unwrap_or_else(|| code.to_owned())
}

/// The value of field `k` of a form read as pairs (forms here repeat fields and have one per
/// question), or "" when it is missing.
fn get<'a>(f: &'a [(String, String)], k: &str) -> &'a str {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// Bad input and conflicts are shown on the page they came from, with their status code.
fn user_error(e: &AppError) -> bool {
    matches!(e.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT)
}

fn with_status(status: StatusCode, r: Response) -> Response {
    (status, r).into_response()
}

// ---------------------------------------------------------------------------------------------
// Hub

struct BallotItem {
    id: String,
    title: String,
    unit: String,
    electorate: &'static str,
    state: String,
    state_label: &'static str,
}

struct TopicItem {
    id: String,
    title: String,
    unit: String,
    source: &'static str,
    state: String,
    created: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    shell: Shell,
    ballots: Vec<BallotItem>,
    topics: Vec<TopicItem>,
    can_manage: bool,
    home_unit: String,
    /// Where a resident's topic goes: residents are not asked for a unit code they do not know.
    home_unit_name: String,
    error: Option<(String, String)>,
}

async fn home_view(p: &Platform, site: &Site, me: &Principal, error: Option<&AppError>) -> AppResult<Response> {
    let scope = me.require(Permission::Participate)?;
    let manage = me.scope(Permission::ManageConsultation);
    let (rows, _) = store::ballots(&p.db, &scope, 100, 0).await?;
    let mut ballots = Vec::new();
    for b in rows {
        // Drafts are the organisers' working copies.
        if b.state == "draft" && !service::can_manage(me, &b) {
            continue;
        }
        ballots.push(BallotItem {
            unit: unit_name(p, &b.unit_code).await,
            electorate: b.electorate().label(),
            state_label: model::state_label(&b.state),
            state: b.state,
            id: b.id,
            title: b.title,
        });
    }
    let mut topics = Vec::new();
    for c in store::consultations(&p.db, &scope, 100).await? {
        topics.push(TopicItem {
            unit: unit_name(p, &c.unit_code).await,
            source: if c.source == "staff" { "工作人员提出" } else { "居民提出" },
            created: format_beijing(c.created_ms),
            state: c.state,
            id: c.id,
            title: c.title,
        });
    }
    let page = render(&HomePage {
        shell: Shell::new(site, me, "议事协商", "/consultation"),
        ballots,
        topics,
        can_manage: !manage.is_empty(),
        home_unit: me.home_unit.as_str().to_owned(),
        home_unit_name: unit_name(p, me.home_unit.as_str()).await,
        error: error.map(|e| (e.code.to_owned(), e.human())),
    });
    Ok(match error {
        Some(e) => with_status(e.status, page),
        None => page,
    })
}

pub async fn home(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    home_view(&p, &site, &me, None).await
}

// ---------------------------------------------------------------------------------------------
// Ballots

#[derive(Template)]
#[template(path = "ballot_new.html")]
struct NewBallotPage {
    shell: Shell,
    error: Option<(String, String)>,
    form: Vec<(String, String)>,
    electorates: Vec<(&'static str, &'static str)>,
    presets: Vec<(&'static str, &'static str)>,
    matters: Vec<(usize, &'static str, &'static str)>,
    rows: Vec<usize>,
    home_unit: String,
}

impl NewBallotPage {
    fn v(&self, k: &str) -> String {
        get(&self.form, k).to_owned()
    }
    fn sel(&self, k: &str, val: &str) -> bool {
        get(&self.form, k) == val
    }
    fn matter_sel(&self, row: &usize, m: &usize) -> bool {
        get(&self.form, &format!("matter{row}")) == m.to_string()
    }
}

fn new_ballot_page(site: &Site, me: &Principal, form: Vec<(String, String)>, error: Option<&AppError>) -> Response {
    let page = render(&NewBallotPage {
        shell: Shell::new(site, me, "新建表决", "/consultation"),
        error: error.map(|e| (e.code.to_owned(), e.human())),
        form,
        electorates: Electorate::ALL.iter().map(|e| (e.as_str(), e.label())).collect(),
        presets: Preset::ALL.iter().map(|e| (e.as_str(), e.label())).collect(),
        matters: model::ART_278_MATTERS
            .iter()
            .enumerate()
            .map(|(i, m)| (i + 1, *m, model::art_278_category(i as i64 + 1).unwrap_or(Category::Ordinary).label()))
            .collect(),
        rows: (1..=5).collect(),
        home_unit: me.home_unit.as_str().to_owned(),
    });
    match error {
        Some(e) => with_status(e.status, page),
        None => page,
    }
}

pub async fn ballot_new(State(site): State<Site>, Auth(me): Auth) -> AppResult<Response> {
    me.require(Permission::ManageConsultation)?;
    Ok(new_ballot_page(&site, &me, vec![("secret".into(), "1".into()), ("electorate".into(), "owners".into())], None))
}

fn parse_create(f: &[(String, String)]) -> AppResult<CreateBallot> {
    let electorate =
        Electorate::parse(get(f, "electorate")).ok_or_else(|| AppError::bad_request("ballot.bad_electorate", "请选择选民类型").at_field("选民类型"))?;
    let preset = Preset::parse(get(f, "preset")).ok_or_else(|| AppError::bad_request("ballot.bad_preset", "请选择表决规则").at_field("表决规则"))?;
    let custom = if preset == Preset::Custom {
        Some(CustomRule {
            quorum: Threshold::parse(get(f, "quorum_cmp"), get(f, "quorum_frac"))?,
            ordinary: Threshold::parse(get(f, "ordinary_cmp"), get(f, "ordinary_frac"))?,
            special: Threshold::parse(get(f, "special_cmp"), get(f, "special_frac"))?,
            by_area: get(f, "by_area") == "1",
        })
    } else {
        None
    };
    let mut questions = Vec::new();
    for i in 1..=5 {
        questions.push(QuestionInput {
            text: get(f, &format!("q{i}")).to_owned(),
            matter: get(f, &format!("matter{i}")).parse().ok(),
            category: Category::parse(get(f, &format!("cat{i}"))),
        });
    }
    Ok(CreateBallot {
        unit: get(f, "unit").to_owned(),
        title: get(f, "title").to_owned(),
        description: get(f, "description").to_owned(),
        organiser: get(f, "organiser").to_owned(),
        electorate,
        preset,
        custom,
        secret: get(f, "secret") == "1",
        herd: get(f, "herd") == "1",
        local_rule: get(f, "local_rule").to_owned(),
        questions,
        synthetic: false,
        opens_ms: model::parse_beijing(get(f, "opens_at"), "开始时间")?,
        closes_ms: model::parse_beijing(get(f, "closes_at"), "截止时间")?,
        paper_hours: match get(f, "paper_hours").trim() {
            "" => 0,
            h => h.parse().map_err(|_| AppError::bad_request("ballot.bad_paper_hours", "纸质票录入期应为 0 到 168 小时").at_field("纸质票录入期"))?,
        },
    })
}

pub async fn ballot_create(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, body: String) -> AppResult<Response> {
    me.require(Permission::ManageConsultation)?;
    let f = form_pairs(&body);
    let r = match parse_create(&f) {
        Ok(c) => service::create_ballot(&p, &me, c).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(id) => Ok(Redirect::to(&format!("/consultation/ballots/{id}")).into_response()),
        Err(e) if user_error(&e) => Ok(new_ballot_page(&site, &me, f, Some(&e))),
        Err(e) => Err(e),
    }
}

struct RollLine {
    seq: i64,
    name: String,
    /// The owner's page in the people register, for staff who may read it.
    person: Option<String>,
    area: String,
    units: i64,
    detail: String,
    voted: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "ballot.html")]
struct BallotPage {
    shell: Shell,
    b: store::BallotRow,
    unit: String,
    state_label: &'static str,
    electorate: &'static str,
    rule_label: &'static str,
    rule_lines: Vec<String>,
    questions: Vec<(String, i64, String, &'static str, String)>,
    manage: bool,
    by_area: bool,
    roll: Vec<RollLine>,
    roll_error: Option<String>,
    roll_heads: i64,
    roll_area: String,
    took_heads: i64,
    took_area: String,
    quorum_lines: Vec<String>,
    quorum_ok: bool,
    channels: Vec<(&'static str, i64)>,
    flash: Option<String>,
    receipt: Option<String>,
    error: Option<(String, String)>,
    channel_options: Vec<(&'static str, &'static str)>,
    unowned: Vec<(String, String)>,
    representatives: bool,
    /// 实名认证: who the signed-in account votes as in the app, (name, masked ID); None = unbound.
    app_voter: Option<(String, String)>,
    /// The voting window in Beijing time ("" = no limit), and where now stands in it.
    opens_at: String,
    closes_at: String,
    /// When the automatic count happens, if later than the close (the paper-entry period).
    count_at: String,
    window_state: &'static str,
}

async fn ballot_view(
    p: &Platform,
    site: &Site,
    me: &Principal,
    id: &str,
    flash: Option<String>,
    receipt: Option<String>,
    error: Option<&AppError>,
) -> AppResult<Response> {
    let b = service::ballot(p, me, id).await?;
    let now = p.now();
    let manage = service::can_manage(me, &b);
    let rule = b.rule();
    let by_area = rule.by_area;
    let questions = store::questions(&p.db, id)
        .await?
        .into_iter()
        .map(|q| {
            let matter = q.matter.and_then(|m| model::ART_278_MATTERS.get((m - 1) as usize)).map(|s| s.to_string()).unwrap_or_default();
            let cat = q.category().label();
            (q.id, q.seq, q.text, cat, matter)
        })
        .collect();
    let (mut roll, mut roll_error, mut roll_heads, mut roll_area) = (Vec::new(), None, b.roll_heads, b.roll_area);
    let registers = me.can(Permission::ViewRegisters);
    if b.state == "draft" {
        if manage {
            match service::build_roll(p, &b).await {
                Ok(r) => {
                    roll_heads = r.len() as i64;
                    roll_area = r.iter().map(|(e, _)| e.area_dm2).sum();
                    roll = r
                        .into_iter()
                        .take(300)
                        .enumerate()
                        .map(|(i, (e, _))| RollLine {
                            seq: i as i64 + 1,
                            person: e.person_id.filter(|_| registers),
                            name: e.name,
                            area: model::area_m2(e.area_dm2),
                            units: e.units,
                            detail: e.detail,
                            voted: None,
                        })
                        .collect();
                }
                Err(e) if user_error(&e) => roll_error = Some(e.human()),
                Err(e) => return Err(e),
            }
        }
    } else if manage {
        roll = store::roll(&p.db, id, 300, 0)
            .await?
            .into_iter()
            .map(|r| RollLine {
                person: r.person_id.filter(|_| registers),
                seq: r.seq,
                name: r.name,
                area: model::area_m2(r.area_dm2),
                units: r.units,
                detail: r.detail,
                voted: r.channel.as_deref().and_then(Channel::parse).map(|c| c.label()),
            })
            .collect();
    }
    let (took, chans) = service::live(p, &b).await?;
    let took_w = model::Weight { heads: took.heads, area_dm2: if by_area { took.area_dm2 } else { 0 } };
    let (quorum_ok, quorum_lines) = model::quorum(&rule, model::Weight { heads: roll_heads, area_dm2: if by_area { roll_area } else { 0 } }, took_w);
    let page = render(&BallotPage {
        shell: Shell::new(site, me, &b.title, "/consultation"),
        unit: unit_name(p, &b.unit_code).await,
        state_label: model::state_label(&b.state),
        electorate: b.electorate().label(),
        rule_label: rule.preset.label(),
        rule_lines: vec![
            format!("参与表决：{}{}", if by_area { "专有部分面积和人数均达" } else { "人数达应参与人数的" }, rule.quorum.label()),
            format!("一般事项：经参与表决者{}同意{}", rule.ordinary.label(), if by_area { "（面积和人数）" } else { "" }),
            format!("特别事项：经参与表决者{}同意{}", rule.special.label(), if by_area { "（面积和人数）" } else { "" }),
            if rule.abstain_follows_majority {
                format!("弃权随多数（依据：{}）——存在争议，请慎用", rule.local_rule)
            } else {
                "弃权单独计算，不计入任何一方".to_owned()
            },
        ],
        questions,
        manage,
        by_area,
        roll,
        roll_error,
        roll_heads,
        roll_area: model::area_m2(roll_area),
        took_heads: took.heads,
        took_area: model::area_m2(took.area_dm2),
        quorum_lines,
        quorum_ok,
        channels: chans.into_iter().map(|(c, n)| (Channel::parse(&c).map(|c| c.label()).unwrap_or("其他"), n)).collect(),
        flash,
        receipt,
        error: error.map(|e| (e.code.to_owned(), e.human())),
        channel_options: vec![("paper", Channel::Paper.label()), ("booth", Channel::Booth.label())],
        unowned: if manage && b.state == "draft" { service::unowned_units(p, &b).await? } else { Vec::new() },
        representatives: manage && b.state == "draft" && b.electorate() == Electorate::Representatives,
        app_voter: registry::identity::person_of_account(&p.db, &me.user_id)
            .await?
            .filter(|v| v.is_current())
            .map(|v| (v.name, v.id_masked.unwrap_or_default())),
        opens_at: b.opens_ms.map(format_beijing).unwrap_or_default(),
        closes_at: b.closes_ms.map(format_beijing).unwrap_or_default(),
        count_at: match (b.closes_ms, b.count_at_ms) {
            (Some(c), Some(n)) if n > c => format_beijing(n),
            _ => String::new(),
        },
        window_state: match (b.state.as_str(), b.opens_ms, b.closes_ms) {
            ("open", Some(o), _) if now < o => "not_open_yet",
            ("open", _, Some(c)) if now >= c => "past_closing",
            _ => "",
        },
        b,
    });
    Ok(match error {
        Some(e) => with_status(e.status, page),
        None => page,
    })
}

pub async fn ballot_show(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    ballot_view(&p, &site, &me, &id, None, None, None).await
}

pub async fn ballot_open(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    match service::open_ballot(&p, &me, &id).await {
        Ok((n, _)) => ballot_view(&p, &site, &me, &id, Some(format!("投票已开始，名册已冻结（{n} 人）")), None, None).await,
        Err(e) if user_error(&e) => ballot_view(&p, &site, &me, &id, None, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

pub async fn ballot_vote(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>, body: String) -> AppResult<Response> {
    let f = form_pairs(&body);
    let channel = Channel::parse(get(&f, "channel")).unwrap_or(Channel::App);
    // An app vote is cast as the account's bound person (实名认证), never a typed ID number.
    let voter = match channel {
        Channel::Paper => VoterRef::RollNo(get(&f, "roll_no").trim().parse().unwrap_or(-1)),
        Channel::Booth => VoterRef::IdNumber(get(&f, "id_number").to_owned()),
        Channel::App => VoterRef::Account,
    };
    let choices = f.iter().filter_map(|(k, v)| Some((k.strip_prefix("q_")?.to_owned(), Choice::parse(v)?))).collect();
    let input = VoteInput { channel, voter, evidence: get(&f, "evidence").to_owned(), choices };
    match service::vote(&p, &me, &id, input).await {
        Ok(r) => {
            let msg = format!("{}的选票已记录（{}）。", r.voter_name, channel.label());
            ballot_view(&p, &site, &me, &id, Some(msg), Some(r.code), None).await
        }
        Err(e) if user_error(&e) => ballot_view(&p, &site, &me, &id, None, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct OwnerForm {
    house_id: String,
    id_number: Option<String>,
    developer: Option<String>,
}

pub async fn ballot_owner(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<OwnerForm>,
) -> AppResult<Response> {
    match service::register_owner(&p, &me, &id, &f.house_id, f.id_number.as_deref().unwrap_or(""), f.developer.as_deref().unwrap_or("")).await {
        Ok(name) => ballot_view(&p, &site, &me, &id, Some(format!("已登记产权人：{name}")), None, None).await,
        Err(e) if user_error(&e) => ballot_view(&p, &site, &me, &id, None, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct RepresentativeForm {
    id_number: String,
}

pub async fn ballot_representative(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<RepresentativeForm>,
) -> AppResult<Response> {
    match service::add_representative(&p, &me, &id, &f.id_number).await {
        Ok(name) => ballot_view(&p, &site, &me, &id, Some(format!("已登记村民代表：{name}")), None, None).await,
        Err(e) if user_error(&e) => ballot_view(&p, &site, &me, &id, None, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

pub async fn ballot_close(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    match service::close_ballot(&p, &me, &id).await {
        Ok(_) => Ok(Redirect::to(&format!("/consultation/ballots/{id}/result")).into_response()),
        Err(e) if user_error(&e) => ballot_view(&p, &site, &me, &id, None, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "result.html")]
struct ResultPage {
    shell: Shell,
    b: store::BallotRow,
    document: String,
    hash: String,
    archived: String,
    outcomes: Vec<(i64, String, &'static str, &'static str)>,
    receipts: Vec<String>,
    named: Vec<(i64, String, String)>,
}

pub async fn ballot_result(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    let b = service::ballot(&p, &me, &id).await?;
    let r = store::result(&p.db, &id).await?.ok_or_else(AppError::not_found)?;
    // The outcome badges are recomputed from the same totals; the archived text is what counts.
    let mut tx = p.db.begin().await?;
    let qs = store::questions_tx(&mut tx, &id).await?;
    let part = store::participation_tx(&mut tx, &id).await?;
    let tallies = store::tallies_tx(&mut tx, &id).await?;
    tx.commit().await?;
    let computed = service::compute(&b, qs, &part, &tallies);
    Ok(render(&ResultPage {
        shell: Shell::new(&site, &me, &format!("表决结果：{}", b.title), "/consultation"),
        outcomes: computed.questions.into_iter().map(|q| (q.question.seq, q.question.text, q.decision.outcome.as_str(), q.decision.outcome.label())).collect(),
        receipts: store::receipt_hashes(&p.db, &id).await?,
        named: service::named_choices(&p, &b).await?,
        document: r.document,
        hash: r.hash,
        archived: format_beijing(r.archived_ms),
        b,
    }))
}

/// The result document's print stylesheet (served from the binary, so CSP `style-src 'self'` holds).
pub async fn print_css() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"), (axum::http::header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../static/print.css"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct ReceiptQuery {
    code: Option<String>,
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    shell: Shell,
    b: store::BallotRow,
    code: String,
    found: Option<String>,
}

pub async fn ballot_receipt(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> AppResult<Response> {
    let b = service::ballot(&p, &me, &id).await?;
    let code = q.code.unwrap_or_default();
    let found = service::check_receipt(&p, &me, &id, &code).await?;
    Ok(render(&ReceiptPage { shell: Shell::new(&site, &me, "核对投票回执", "/consultation"), b, code, found }))
}

// ---------------------------------------------------------------------------------------------
// Consultations

pub async fn topic_create(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, body: String) -> AppResult<Response> {
    let f = form_pairs(&body);
    match service::raise_topic(&p, &me, get(&f, "unit"), get(&f, "title"), get(&f, "body"), get(&f, "template"), false).await {
        Ok(id) => Ok(Redirect::to(&format!("/consultation/topics/{id}")).into_response()),
        Err(e) if user_error(&e) => home_view(&p, &site, &me, Some(&e)).await,
        Err(e) => Err(e),
    }
}

struct MeetingView {
    m: store::MeetingRow,
    quorum_ok: bool,
    quorum_line: String,
}

#[derive(Template)]
#[template(path = "topic.html")]
struct TopicPage {
    shell: Shell,
    c: store::ConsultationRow,
    unit: String,
    steps: Vec<(i64, String, Option<String>, String, bool)>,
    posts: Vec<(String, String, String, bool)>,
    meetings: Vec<MeetingView>,
    manage: bool,
    today: String,
    error: Option<(String, String)>,
}

async fn topic_view(p: &Platform, site: &Site, me: &Principal, id: &str, error: Option<&AppError>) -> AppResult<Response> {
    let c = service::topic(p, me, id).await?;
    let steps = store::steps(&p.db, id).await?;
    let next = steps.iter().find(|s| s.done_ms.is_none()).map(|s| s.seq);
    let page = render(&TopicPage {
        shell: Shell::new(site, me, &c.title, "/consultation"),
        unit: unit_name(p, &c.unit_code).await,
        steps: steps.into_iter().map(|s| (s.seq, s.name, s.done_ms.map(format_beijing), s.note, Some(s.seq) == next)).collect(),
        posts: store::posts(&p.db, id).await?.into_iter().map(|x| (x.author, format_beijing(x.created_ms), x.body, x.kind == "followup")).collect(),
        meetings: store::meetings(&p.db, id)
            .await?
            .into_iter()
            .map(|m| {
                let (quorum_ok, quorum_line) = model::meeting_quorum(m.due, m.present, m.quorum());
                MeetingView { m, quorum_ok, quorum_line }
            })
            .collect(),
        manage: service::can_manage_topic(me, &c),
        today: Date::of_instant(p.now()).to_string(),
        error: error.map(|e| (e.code.to_owned(), e.human())),
        c,
    });
    Ok(match error {
        Some(e) => with_status(e.status, page),
        None => page,
    })
}

pub async fn topic_show(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(id): Path<String>) -> AppResult<Response> {
    topic_view(&p, &site, &me, &id, None).await
}

async fn topic_after(p: &Platform, site: &Site, me: &Principal, id: &str, r: AppResult<()>) -> AppResult<Response> {
    match r {
        Ok(()) => Ok(Redirect::to(&format!("/consultation/topics/{id}")).into_response()),
        Err(e) if user_error(&e) => topic_view(p, site, me, id, Some(&e)).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct PostForm {
    kind: Option<String>,
    body: String,
}

pub async fn topic_post(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<PostForm>,
) -> AppResult<Response> {
    let r = service::post(&p, &me, &id, f.kind.as_deref().unwrap_or("comment"), &f.body).await;
    topic_after(&p, &site, &me, &id, r).await
}

#[derive(Deserialize)]
pub struct StepForm {
    seq: i64,
    note: Option<String>,
}

pub async fn topic_step(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<StepForm>,
) -> AppResult<Response> {
    let r = service::complete_step(&p, &me, &id, f.seq, f.note.as_deref().unwrap_or("")).await;
    topic_after(&p, &site, &me, &id, r).await
}

#[derive(Deserialize)]
pub struct MeetingForm {
    title: Option<String>,
    held_on: Option<String>,
    due: Option<String>,
    present: Option<String>,
    minutes: Option<String>,
    decision: Option<String>,
}

fn num(s: &Option<String>) -> i64 {
    s.as_deref().and_then(|v| v.trim().parse().ok()).unwrap_or(-1)
}

pub async fn meeting_create(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<MeetingForm>,
) -> AppResult<Response> {
    let m = MeetingInput {
        title: f.title.clone().unwrap_or_default(),
        held_on: f.held_on.clone().unwrap_or_default(),
        due: num(&f.due),
        present: num(&f.present),
        minutes: f.minutes.clone().unwrap_or_default(),
        decision: f.decision.clone().unwrap_or_default(),
    };
    let r = service::add_meeting(&p, &me, &id, m).await.map(|_| ());
    topic_after(&p, &site, &me, &id, r).await
}

pub async fn meeting_update(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path((id, mid)): Path<(String, String)>,
    Form(f): Form<MeetingForm>,
) -> AppResult<Response> {
    let r = service::update_meeting(&p, &me, &id, &mid, num(&f.present), f.minutes.as_deref().unwrap_or(""), f.decision.as_deref().unwrap_or("")).await;
    topic_after(&p, &site, &me, &id, r).await
}

/// Attendance as JSON for the meeting page's script, which polls it so every screen in the hall
/// shows the same count (the page itself works without it, on reload).
pub async fn meeting_attendance(State(p): State<Platform>, Auth(me): Auth, Path((id, mid)): Path<(String, String)>) -> AppResult<Response> {
    let (due, present, ok, line) = service::attendance(&p, &me, &id, &mid).await?;
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], axum::Json(serde_json::json!({ "due": due, "present": present, "quorum_ok": ok, "line": line })))
        .into_response())
}

pub async fn meeting_arrive(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path((id, mid)): Path<(String, String)>,
) -> AppResult<Response> {
    let r = service::meeting_arrive(&p, &me, &id, &mid).await;
    topic_after(&p, &site, &me, &id, r).await
}

/// The meeting page's script, served by the slice (CSP `script-src 'self'`).
pub async fn meeting_js() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (axum::http::header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../static/meeting.js"),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// 村务公开

struct AffairView {
    a: store::AffairRow,
    kind: &'static str,
    state: &'static str,
    state_class: &'static str,
    published: String,
}

fn affair_view(a: store::AffairRow, today: &str) -> AffairView {
    let (state, state_class) = match (a.published_ms, a.escalated_ms) {
        (Some(_), _) => ("已公开", "ok"),
        (None, Some(_)) => ("逾期未公开，已报乡镇（街道）", "bad"),
        (None, None) if a.due_date.as_str() < today => ("逾期未公开", "bad"),
        (None, None) => ("待公开", "warn"),
    };
    AffairView {
        kind: AffairKind::parse(&a.kind).map(|k| k.label()).unwrap_or(""),
        state,
        state_class,
        published: a.published_ms.map(format_beijing).unwrap_or_default(),
        a,
    }
}

#[derive(Template)]
#[template(path = "affairs.html")]
struct AffairsPage {
    shell: Shell,
    unit: String,
    unit_name: String,
    items: Vec<AffairView>,
    escalated: Vec<(AffairView, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    power: Vec<model::PowerItemInput>,
    flash: Option<String>,
    error: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct AffairsQuery {
    unit: Option<String>,
}

async fn affairs_view(p: &Platform, site: &Site, me: &Principal, unit: Option<String>, flash: Option<String>, error: Option<&AppError>) -> AppResult<Response> {
    let scope = me.require(Permission::ManageConsultation)?;
    let unit = unit.filter(|u| !u.trim().is_empty()).unwrap_or_else(|| me.home_unit.as_str().to_owned());
    let code = UnitCode::parse(unit.trim()).map_err(|_| AppError::bad_request("input.bad_unit", "单位代码无效"))?;
    if !scope.contains(&code) && !scope.is_ancestor_of_scope(&code) {
        return Err(AppError::not_found());
    }
    let today = Date::of_instant(p.now()).to_string();
    let items = store::affairs(&p.db, &scope, code.as_str(), 300).await?.into_iter().map(|a| affair_view(a, &today)).collect();
    let mut escalated = Vec::new();
    for a in store::escalated(&p.db, &scope).await? {
        let n = unit_name(p, &a.unit_code).await;
        escalated.push((affair_view(a, &today), n));
    }
    let page = render(&AffairsPage {
        shell: Shell::new(site, me, "村务公开", "/consultation"),
        unit_name: unit_name(p, code.as_str()).await,
        unit: code.as_str().to_owned(),
        items,
        escalated,
        kinds: AffairKind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
        power: service::power_list(p, code.as_str()).await?,
        flash,
        error: error.map(|e| (e.code.to_owned(), e.human())),
    });
    Ok(match error {
        Some(e) => with_status(e.status, page),
        None => page,
    })
}

pub async fn affairs(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Query(q): Query<AffairsQuery>) -> AppResult<Response> {
    affairs_view(&p, &site, &me, q.unit, None, None).await
}

#[derive(Deserialize)]
pub struct AffairForm {
    unit: String,
    kind: String,
    title: String,
    body: Option<String>,
    period: Option<String>,
}

pub async fn affair_create(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Form(f): Form<AffairForm>) -> AppResult<Response> {
    let r = match AffairKind::parse(&f.kind) {
        Some(kind) => {
            let period = f
                .period
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Date::parse(s).ok_or_else(|| AppError::bad_request("affair.bad_date", "日期应为 YYYY-MM-DD").at_field("期间")));
            match period.transpose() {
                Ok(period) => service::add_affair(&p, &me, &f.unit, kind, &f.title, f.body.as_deref().unwrap_or(""), period, false).await,
                Err(e) => Err(e),
            }
        }
        None => Err(AppError::bad_request("affair.bad_kind", "请选择公开类别").at_field("类别")),
    };
    match r {
        Ok(_) => affairs_view(&p, &site, &me, Some(f.unit), Some("已登记公开事项".into()), None).await,
        Err(e) if user_error(&e) => affairs_view(&p, &site, &me, Some(f.unit), None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct PublishForm {
    body: String,
    unit: Option<String>,
}

pub async fn affair_publish(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Form(f): Form<PublishForm>,
) -> AppResult<Response> {
    match service::publish_affair(&p, &me, &id, &f.body).await {
        Ok(()) => affairs_view(&p, &site, &me, f.unit, Some("已公开".into()), None).await,
        Err(e) if user_error(&e) => affairs_view(&p, &site, &me, f.unit, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct CheckForm {
    unit: Option<String>,
}

/// Runs the deadline check now (it also runs hourly beside the server).
pub async fn affairs_check(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Form(f): Form<CheckForm>) -> AppResult<Response> {
    me.require(Permission::ManageConsultation)?;
    let r = service::check_deadlines(&p).await?;
    affairs_view(&p, &site, &me, f.unit, Some(format!("检查完成：新排期 {} 项，逾期上报乡镇（街道）{} 项", r.scheduled, r.escalated)), None).await
}

#[derive(Template)]
#[template(path = "public.html")]
struct PublicPage {
    shell: Shell,
    unit_name: String,
    items: Vec<AffairView>,
    decisions: Vec<(String, String, String)>,
    power: Vec<model::PowerItemInput>,
}

/// The public page of a village: what it has published, its published decisions and its power
/// list. No sign-in: 村务公开 is for everyone.
pub async fn public_affairs(State(p): State<Platform>, Path(unit): Path<String>) -> AppResult<Response> {
    let code = UnitCode::parse(&unit).map_err(|_| AppError::not_found())?;
    if code.level() != platform::scope::Level::Village {
        return Err(AppError::not_found());
    }
    let u = geography::store::get(&p.db, code.as_str()).await?.ok_or_else(AppError::not_found)?;
    let today = Date::of_instant(p.now()).to_string();
    Ok(render(&PublicPage {
        shell: Shell::anonymous(&format!("{} 村务公开", u.name)),
        items: store::published_affairs(&p.db, code.as_str()).await?.into_iter().map(|a| affair_view(a, &today)).collect(),
        decisions: store::published_consultations(&p.db, code.as_str())
            .await?
            .into_iter()
            .map(|c| (c.title, c.body, c.published_ms.map(format_beijing).unwrap_or_default()))
            .collect(),
        power: service::power_list(&p, code.as_str()).await?,
        unit_name: u.name,
    }))
}

// ---------------------------------------------------------------------------------------------
// 小微权力清单

struct PowerLine {
    item: store::PowerItemRow,
    steps_lines: String,
    updated: String,
    history: Vec<(i64, String, String, String, bool)>,
}

#[derive(Template)]
#[template(path = "power.html")]
struct PowerPage {
    shell: Shell,
    unit: String,
    unit_name: String,
    /// The village still follows the template (nothing changed yet).
    template: Vec<model::PowerItemInput>,
    items: Vec<PowerLine>,
    flash: Option<String>,
    error: Option<(String, String)>,
}

async fn power_view(p: &Platform, site: &Site, me: &Principal, unit: &str, flash: Option<String>, error: Option<&AppError>) -> AppResult<Response> {
    let (code, items, versions) = service::power_items(p, me, unit).await?;
    let items = items
        .into_iter()
        .map(|item| PowerLine {
            steps_lines: item.steps.split(" → ").collect::<Vec<_>>().join("\n"),
            updated: format_beijing(item.updated_ms),
            history: versions
                .iter()
                .filter(|v| v.item_id == item.id)
                .map(|v| {
                    (
                        v.version,
                        format_beijing(v.changed_ms),
                        v.changed_by.clone(),
                        format!("{}｜{}｜{}｜{}", v.name, v.basis, v.steps, v.responsible),
                        v.retired != 0,
                    )
                })
                .collect(),
            item,
        })
        .collect::<Vec<_>>();
    let page = render(&PowerPage {
        shell: Shell::new(site, me, "小微权力清单", "/consultation"),
        unit_name: unit_name(p, code.as_str()).await,
        unit: code.as_str().to_owned(),
        template: if items.is_empty() { model::power_template() } else { Vec::new() },
        items,
        flash,
        error: error.map(|e| (e.code.to_owned(), e.human())),
    });
    Ok(match error {
        Some(e) => with_status(e.status, page),
        None => page,
    })
}

pub async fn power(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(unit): Path<String>) -> AppResult<Response> {
    power_view(&p, &site, &me, &unit, None, None).await
}

#[derive(Deserialize)]
pub struct PowerForm {
    category: Option<String>,
    name: Option<String>,
    basis: Option<String>,
    steps: Option<String>,
    responsible: Option<String>,
    version: Option<i64>,
    action: Option<String>,
}

impl PowerForm {
    fn input(&self) -> AppResult<model::PowerItemInput> {
        let g = |v: &Option<String>| v.clone().unwrap_or_default();
        model::PowerItemInput::parse(&g(&self.category), &g(&self.name), &g(&self.basis), &g(&self.steps), &g(&self.responsible))
    }
}

async fn power_after(p: &Platform, site: &Site, me: &Principal, unit: &str, r: AppResult<String>, done: &str) -> AppResult<Response> {
    match r {
        Ok(_) => power_view(p, site, me, unit, Some(done.to_owned()), None).await,
        Err(e) if user_error(&e) => power_view(p, site, me, unit, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

pub async fn power_add(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(unit): Path<String>,
    Form(f): Form<PowerForm>,
) -> AppResult<Response> {
    if f.action.as_deref() == Some("adopt") {
        let r = service::change_power_item(&p, &me, &unit, service::PowerChange::Adopt).await;
        return power_after(&p, &site, &me, &unit, r, "已按模板建立本村清单，可逐项修改").await;
    }
    let r = match f.input() {
        Ok(i) => service::change_power_item(&p, &me, &unit, service::PowerChange::Add(i)).await,
        Err(e) => Err(e),
    };
    power_after(&p, &site, &me, &unit, r, "已新增事项").await
}

pub async fn power_change(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path((unit, item)): Path<(String, String)>,
    Form(f): Form<PowerForm>,
) -> AppResult<Response> {
    let seen = f.version.unwrap_or(-1);
    let (r, done) = if f.action.as_deref() == Some("retire") {
        (service::change_power_item(&p, &me, &unit, service::PowerChange::Retire(item, seen)).await, "已停用该事项（历史版本保留）")
    } else {
        let r = match f.input() {
            Ok(i) => service::change_power_item(&p, &me, &unit, service::PowerChange::Edit(item, seen, i)).await,
            Err(e) => Err(e),
        };
        (r, "已保存新版本")
    };
    power_after(&p, &site, &me, &unit, r, done).await
}

// ---------------------------------------------------------------------------------------------
// 村民代表

#[derive(Template)]
#[template(path = "representatives.html")]
struct RepresentativesPage {
    shell: Shell,
    unit: String,
    unit_name: String,
    current: Vec<registry::roll::Representative>,
    retired: Vec<(registry::roll::Representative, String)>,
    since: Vec<String>,
    flash: Option<String>,
    error: Option<(String, String)>,
}

async fn representatives_view(p: &Platform, site: &Site, me: &Principal, unit: &str, flash: Option<String>, error: Option<&AppError>) -> AppResult<Response> {
    let (code, all) = service::representatives(p, me, unit).await?;
    let (current, retired): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.retired_ms.is_none());
    let page = render(&RepresentativesPage {
        shell: Shell::new(site, me, "村民代表", "/consultation"),
        unit_name: unit_name(p, code.as_str()).await,
        unit: code.as_str().to_owned(),
        since: current.iter().map(|r| format_beijing(r.created_ms)).collect(),
        current,
        retired: retired
            .into_iter()
            .map(|r| {
                let d = r.retired_ms.map(format_beijing).unwrap_or_default();
                (r, d)
            })
            .collect(),
        flash,
        error: error.map(|e| (e.code.to_owned(), e.human())),
    });
    Ok(match error {
        Some(e) => with_status(e.status, page),
        None => page,
    })
}

pub async fn representatives(State(p): State<Platform>, State(site): State<Site>, Auth(me): Auth, Path(unit): Path<String>) -> AppResult<Response> {
    representatives_view(&p, &site, &me, &unit, None, None).await
}

#[derive(Deserialize)]
pub struct RepAddForm {
    id_number: String,
    household_group: Option<String>,
}

pub async fn representative_add(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path(unit): Path<String>,
    Form(f): Form<RepAddForm>,
) -> AppResult<Response> {
    match service::add_village_representative(&p, &me, &unit, &f.id_number, f.household_group.as_deref().unwrap_or("")).await {
        Ok(name) => representatives_view(&p, &site, &me, &unit, Some(format!("已登记村民代表：{name}")), None).await,
        Err(e) if user_error(&e) => representatives_view(&p, &site, &me, &unit, None, Some(&e)).await,
        Err(e) => Err(e),
    }
}

pub async fn representative_retire(
    State(p): State<Platform>,
    State(site): State<Site>,
    Auth(me): Auth,
    Path((unit, person)): Path<(String, String)>,
) -> AppResult<Response> {
    service::retire_village_representative(&p, &me, &unit, &person).await?;
    representatives_view(&p, &site, &me, &unit, Some("已卸任；此前冻结的表决名册不受影响".into()), None).await
}
