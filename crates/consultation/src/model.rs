//! The rules of consultation and voting, pure and exact.
//!
//! Legal thresholds are compared by integer cross-multiplication in `i128` — `part / whole ≥ n / d`
//! becomes `part · d ≥ n · whole` — so a boundary such as exactly two thirds can never be lost to
//! floating-point rounding. 以上 means "at least" (≥: 民法典 Art. 1259, 以上 includes the number);
//! 过半数 means "strictly more than half" (>).
//!
//! Sources (see ../shared/research/participation.md): 民法典 Art. 278 (owners' decisions),
//! 村民委员会组织法 Arts. 22 and 26 (村民会议, 村民代表会议 quorum and majority), Art. 30 (村务公开).

use platform::AppError;
use platform::clock::{DAY, Date, HOUR, MINUTE, Millis, format_beijing};
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Exact thresholds

/// How a share is compared with its fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Cmp {
    /// 以上: at least (≥).
    AtLeast,
    /// 过半数 / 超过: strictly more than (>).
    MoreThan,
}

/// "part of whole reaches num/den", compared exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Threshold {
    pub cmp: Cmp,
    pub num: i64,
    pub den: i64,
}

impl Threshold {
    pub const fn at_least(num: i64, den: i64) -> Self {
        Self { cmp: Cmp::AtLeast, num, den }
    }
    pub const fn more_than(num: i64, den: i64) -> Self {
        Self { cmp: Cmp::MoreThan, num, den }
    }
    /// Whether `part / whole` meets the threshold. An empty whole meets nothing: no one can
    /// decide for an electorate of nobody.
    pub fn met(&self, part: i64, whole: i64) -> bool {
        if whole <= 0 || part < 0 {
            return false;
        }
        let lhs = part as i128 * self.den as i128;
        let rhs = self.num as i128 * whole as i128;
        match self.cmp {
            Cmp::AtLeast => lhs >= rhs,
            Cmp::MoreThan => lhs > rhs,
        }
    }
    /// "三分之二以上", "过半数" — how the rule reads in a result document.
    pub fn label(&self) -> String {
        let frac = match (self.num, self.den) {
            (1, 2) => "二分之一".to_owned(),
            (2, 3) => "三分之二".to_owned(),
            (3, 4) => "四分之三".to_owned(),
            (4, 5) => "五分之四".to_owned(),
            (1, 5) => "五分之一".to_owned(),
            (1, 10) => "十分之一".to_owned(),
            (n, d) => format!("{n}/{d}"),
        };
        match (self.cmp, self.num, self.den) {
            (Cmp::MoreThan, 1, 2) => "过半数".to_owned(),
            (Cmp::MoreThan, _, _) => format!("超过{frac}"),
            (Cmp::AtLeast, _, _) => format!("{frac}以上（含本数）"),
        }
    }
    /// Parses "2/3" with a comparison, for custom rules.
    pub fn parse(cmp: &str, frac: &str) -> Result<Self, AppError> {
        let bad = || AppError::bad_request("ballot.bad_threshold", format!("比例“{frac}”无效，应写成 2/3 这样的分数，且不大于 1")).at_field("比例");
        let (n, d) = frac.trim().split_once('/').ok_or_else(bad)?;
        let (num, den): (i64, i64) = (n.trim().parse().map_err(|_| bad())?, d.trim().parse().map_err(|_| bad())?);
        if num <= 0 || den <= 0 || num > den || den > 1000 {
            return Err(bad());
        }
        let cmp = match cmp {
            "at_least" => Cmp::AtLeast,
            "more_than" => Cmp::MoreThan,
            _ => return Err(AppError::bad_request("ballot.bad_threshold", "比较方式应为“以上”或“超过”").at_field("比较方式")),
        };
        Ok(Self { cmp, num, den })
    }
    pub fn cmp_str(&self) -> &'static str {
        match self.cmp {
            Cmp::AtLeast => "at_least",
            Cmp::MoreThan => "more_than",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Electorates, presets, categories

/// Who is on the roll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Electorate {
    /// 业主: one vote per owner however many units, weighted by exclusive area as well.
    Owners,
    /// 年满十八周岁的村民 / 居民.
    Persons,
    /// 户代表: one vote per household.
    Households,
    /// 村民代表 (people tagged 村民代表 in the register).
    Representatives,
}

impl Electorate {
    pub const ALL: [Electorate; 4] = [Electorate::Owners, Electorate::Persons, Electorate::Households, Electorate::Representatives];
    pub fn as_str(self) -> &'static str {
        match self {
            Electorate::Owners => "owners",
            Electorate::Persons => "persons",
            Electorate::Households => "households",
            Electorate::Representatives => "representatives",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Electorate::Owners => "业主（专有部分面积与人数双重计算）",
            Electorate::Persons => "年满十八周岁的村（居）民",
            Electorate::Households => "户代表（每户一票）",
            Electorate::Representatives => "村（居）民代表",
        }
    }
}

/// The legal rule a ballot applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Preset {
    /// 民法典第二百七十八条: 业主共同决定事项.
    CivilCode278,
    /// 村民委员会组织法第二十二条: 村民会议.
    VillagersMeeting,
    /// 村民委员会组织法第二十六条: 村民代表会议.
    RepresentativesMeeting,
    /// 自定义规则 (e.g. a residents' council's own rules of procedure).
    Custom,
}

impl Preset {
    pub const ALL: [Preset; 4] = [Preset::CivilCode278, Preset::VillagersMeeting, Preset::RepresentativesMeeting, Preset::Custom];
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::CivilCode278 => "civil_code_278",
            Preset::VillagersMeeting => "villagers_meeting",
            Preset::RepresentativesMeeting => "representatives_meeting",
            Preset::Custom => "custom",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Preset::CivilCode278 => "业主共同决定（民法典第二百七十八条）",
            Preset::VillagersMeeting => "村民会议（村民委员会组织法第二十二条）",
            Preset::RepresentativesMeeting => "村民代表会议（村民委员会组织法第二十六条）",
            Preset::Custom => "自定义规则",
        }
    }
    /// The electorates a preset can be applied to.
    pub fn allows(self, e: Electorate) -> bool {
        match self {
            Preset::CivilCode278 => e == Electorate::Owners,
            Preset::VillagersMeeting => matches!(e, Electorate::Persons | Electorate::Households),
            Preset::RepresentativesMeeting => e == Electorate::Representatives,
            Preset::Custom => true,
        }
    }
}

/// 民法典第二百七十八条第一款: the nine matters owners decide together. Items (六)–(八) are
/// special matters (3/4); *using* the maintenance fund (五) is ordinary, *raising* it (六) is special.
pub const ART_278_MATTERS: [&str; 9] = [
    "（一）制定和修改业主大会议事规则",
    "（二）制定和修改管理规约",
    "（三）选举业主委员会或者更换业主委员会成员",
    "（四）选聘和解聘物业服务企业或者其他管理人",
    "（五）使用建筑物及其附属设施的维修资金",
    "（六）筹集建筑物及其附属设施的维修资金",
    "（七）改建、重建建筑物及其附属设施",
    "（八）改变共有部分的用途或者利用共有部分从事经营活动",
    "（九）有关共有和共同管理权利的其他重大事项",
];

/// A question's legal category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Category {
    Ordinary,
    Special,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Ordinary => "ordinary",
            Category::Special => "special",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ordinary" => Some(Category::Ordinary),
            "special" => Some(Category::Special),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Category::Ordinary => "一般事项",
            Category::Special => "特别事项",
        }
    }
}

/// The category of an Art. 278 matter (1-based item number).
pub fn art_278_category(item: i64) -> Option<Category> {
    match item {
        6..=8 => Some(Category::Special),
        1..=5 | 9 => Some(Category::Ordinary),
        _ => None,
    }
}

/// The thresholds a ballot applies, frozen into the ballot when it is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub preset: Preset,
    /// Participation needed, counted in heads.
    pub quorum: Threshold,
    /// Participation must also reach the quorum by area (owners only).
    pub by_area: bool,
    /// Approval needed for ordinary matters, of those who took part.
    pub ordinary: Threshold,
    /// Approval needed for special matters, of those who took part.
    pub special: Threshold,
    /// 从众: abstentions counted with the majority. Off unless a local rule says so.
    pub abstain_follows_majority: bool,
    /// The local rule that enables 从众, quoted in the result.
    pub local_rule: String,
}

impl Rule {
    /// The preset for an electorate. 村民会议's quorum depends on who is counted: more than half of
    /// the adults, or at least two thirds of the household representatives (Art. 22).
    pub fn preset(preset: Preset, electorate: Electorate) -> Result<Rule, AppError> {
        if !preset.allows(electorate) {
            return Err(
                AppError::bad_request("ballot.preset_electorate", format!("“{}”不适用于选民类型“{}”", preset.label(), electorate.label())).at_field("选民类型")
            );
        }
        let half = Threshold::more_than(1, 2);
        let base = Rule { preset, quorum: half, by_area: false, ordinary: half, special: half, abstain_follows_majority: false, local_rule: String::new() };
        Ok(match preset {
            Preset::CivilCode278 => Rule { quorum: Threshold::at_least(2, 3), by_area: true, special: Threshold::at_least(3, 4), ..base },
            Preset::VillagersMeeting if electorate == Electorate::Households => Rule { quorum: Threshold::at_least(2, 3), ..base },
            Preset::VillagersMeeting => base,
            Preset::RepresentativesMeeting => Rule { quorum: Threshold::at_least(2, 3), ..base },
            Preset::Custom => base,
        })
    }

    pub fn threshold(&self, c: Category) -> Threshold {
        match c {
            Category::Ordinary => self.ordinary,
            Category::Special => self.special,
        }
    }

    /// 从众 only with a named local rule: the law counts expressed votes.
    pub fn check(&self) -> Result<(), AppError> {
        if self.abstain_follows_majority && self.local_rule.trim().is_empty() {
            return Err(
                AppError::bad_request("ballot.herd_needs_rule", "“弃权随多数”计票须注明依据的本地议事规则（条款名称），否则不得启用").at_field("本地规则")
            );
        }
        if self.abstain_follows_majority && self.preset != Preset::Custom {
            return Err(
                AppError::bad_request("ballot.herd_not_in_preset", "法定规则不允许“弃权随多数”计票；如本地规则确有规定，请选择自定义规则").at_field("本地规则")
            );
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Rolls

/// Who owns a unit, as the house register says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A registered person (the people register's id).
    Person { id: String, name: String },
    /// 建设单位 (developer): its unsold units count as one owner together.
    Developer { name: String },
}

/// One unit (专有部分) on the way into an owner roll.
#[derive(Clone, Debug)]
pub struct OwnedUnit {
    pub house_id: String,
    pub label: String,
    pub area_dm2: Option<i64>,
    pub holder: Holder,
}

/// One voter on a frozen roll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollEntry {
    /// The uniqueness key: one vote per key per ballot, whatever the channel.
    pub voter_key: String,
    pub name: String,
    pub person_id: Option<String>,
    /// Exclusive area in dm² (owners), 0 for other electorates.
    pub area_dm2: i64,
    pub units: i64,
    pub detail: String,
}

/// 业主名册: one entry per owner (area summed over their units, one head however many units), and
/// the developer's unsold units together as one entry (最高人民法院建筑物区分所有权纠纷司法解释). Units without a recorded area are refused,
/// because Art. 278 counts area and a guessed area would decide a vote.
pub fn owner_roll(units: &[OwnedUnit]) -> Result<Vec<RollEntry>, AppError> {
    let missing: Vec<&str> = units.iter().filter(|u| u.area_dm2.is_none_or(|a| a <= 0)).map(|u| u.label.as_str()).collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).copied().collect();
        return Err(AppError::bad_request(
            "roll.missing_area",
            format!("{} 套房屋缺少专有部分面积（{}{}），请先在房屋台账补录", missing.len(), shown.join("、"), if missing.len() > 5 { "等" } else { "" }),
        ));
    }
    let mut out: Vec<RollEntry> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for u in units {
        let (key, name, person) = match &u.holder {
            Holder::Person { id, name } => (format!("person:{id}"), name.clone(), Some(id.clone())),
            Holder::Developer { name } => ("developer".to_owned(), format!("{name}（建设单位未售出房屋）"), None),
        };
        let area = u.area_dm2.unwrap_or(0);
        match index.get(&key) {
            Some(&i) => {
                out[i].area_dm2 += area;
                out[i].units += 1;
                out[i].detail.push('、');
                out[i].detail.push_str(&u.label);
            }
            None => {
                index.insert(key.clone(), out.len());
                out.push(RollEntry { voter_key: key, name, person_id: person, area_dm2: area, units: 1, detail: u.label.clone() });
            }
        }
    }
    Ok(out)
}

/// Heads and area of a set of voters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Weight {
    pub heads: i64,
    pub area_dm2: i64,
}

impl Weight {
    pub fn of(e: &RollEntry) -> Self {
        Self { heads: 1, area_dm2: e.area_dm2 }
    }
    pub fn add(&mut self, o: Weight) {
        self.heads += o.heads;
        self.area_dm2 += o.area_dm2;
    }
}

/// A voter's answer to one question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Choice {
    Yes,
    No,
    Abstain,
}

impl Choice {
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Yes => "yes",
            Choice::No => "no",
            Choice::Abstain => "abstain",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "yes" => Some(Choice::Yes),
            "no" => Some(Choice::No),
            "abstain" => Some(Choice::Abstain),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Choice::Yes => "同意",
            Choice::No => "反对",
            Choice::Abstain => "弃权",
        }
    }
}

/// The counts of one question.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub yes: Weight,
    pub no: Weight,
    pub abstain: Weight,
}

impl Tally {
    pub fn add(&mut self, c: Choice, w: Weight) {
        match c {
            Choice::Yes => self.yes.add(w),
            Choice::No => self.no.add(w),
            Choice::Abstain => self.abstain.add(w),
        }
    }
}

/// The three outcomes the law distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// 参与人数（面积）不足，表决无效 — nothing was decided.
    InvalidQuorum,
    /// 未通过.
    Rejected,
    /// 通过.
    Passed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InvalidQuorum => "invalid_quorum",
            Outcome::Rejected => "rejected",
            Outcome::Passed => "passed",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Outcome::InvalidQuorum => "无效：参与表决未达法定人数",
            Outcome::Rejected => "未通过",
            Outcome::Passed => "通过",
        }
    }
}

/// Whether enough of the roll took part, with the arithmetic spelled out.
pub fn quorum(rule: &Rule, roll: Weight, took_part: Weight) -> (bool, Vec<String>) {
    let q = rule.quorum;
    let heads = q.met(took_part.heads, roll.heads);
    let mut lines = vec![format!("参与表决人数 {} / 应参与 {}，要求{}：{}", took_part.heads, roll.heads, q.label(), if heads { "达到" } else { "未达到" })];
    let mut ok = heads;
    if rule.by_area {
        let area = q.met(took_part.area_dm2, roll.area_dm2);
        lines.push(format!(
            "参与表决专有部分面积 {} / 总面积 {} 平方米，要求{}：{}",
            area_m2(took_part.area_dm2),
            area_m2(roll.area_dm2),
            q.label(),
            if area { "达到" } else { "未达到" }
        ));
        ok = ok && area;
    }
    (ok, lines)
}

/// The decision on one question: quorum first, then approval of those who took part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// The arithmetic, line by line, as printed in the result document.
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
    /// The counts after any 从众 transfer (equal to the raw tally otherwise).
    pub counted: Tally,
}

pub fn decide(rule: &Rule, category: Category, roll: Weight, took_part: Weight, tally: &Tally) -> Decision {
    let (q_ok, mut lines) = quorum(rule, roll, took_part);
    let mut counted = *tally;
    let mut warnings = Vec::new();
    if rule.abstain_follows_majority {
        // Each dimension on its own: abstentions join the larger side; a tie moves nothing.
        if counted.yes.heads > counted.no.heads {
            counted.yes.heads += counted.abstain.heads;
        } else if counted.no.heads > counted.yes.heads {
            counted.no.heads += counted.abstain.heads;
        }
        if counted.yes.area_dm2 > counted.no.area_dm2 {
            counted.yes.area_dm2 += counted.abstain.area_dm2;
        } else if counted.no.area_dm2 > counted.yes.area_dm2 {
            counted.no.area_dm2 += counted.abstain.area_dm2;
        }
        warnings.push(format!("注意：本次按本地规则“{}”将弃权计入多数一方（从众计票）。该做法存在争议，法律未作规定，结果可能被诉请撤销。", rule.local_rule));
    }
    if !q_ok {
        return Decision { outcome: Outcome::InvalidQuorum, lines, warnings, counted };
    }
    let t = rule.threshold(category);
    let heads = t.met(counted.yes.heads, took_part.heads);
    lines.push(format!("同意人数 {} / 参与表决人数 {}，要求{}：{}", counted.yes.heads, took_part.heads, t.label(), if heads { "达到" } else { "未达到" }));
    let mut ok = heads;
    if rule.by_area {
        let area = t.met(counted.yes.area_dm2, took_part.area_dm2);
        lines.push(format!(
            "同意面积 {} / 参与表决面积 {} 平方米，要求{}：{}",
            area_m2(counted.yes.area_dm2),
            area_m2(took_part.area_dm2),
            t.label(),
            if area { "达到" } else { "未达到" }
        ));
        ok = ok && area;
    }
    Decision { outcome: if ok { Outcome::Passed } else { Outcome::Rejected }, lines, warnings, counted }
}

/// dm² as square metres with two decimals, exactly (no floating point).
pub fn area_m2(dm2: i64) -> String {
    let sign = if dm2 < 0 { "-" } else { "" };
    let a = dm2.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Parses "89.5" square metres into dm².
pub fn parse_area_m2(s: &str) -> Option<i64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: i64 = int.parse().ok()?;
    let f: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    i.checked_mul(100)?.checked_add(f)
}

// ---------------------------------------------------------------------------------------------
// Ballot states and channels

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Channel {
    /// 手机投票 by the voter.
    App,
    /// 纸质票录入 by staff, with evidence.
    Paper,
    /// 现场辅助投票 at a booth, staff beside the voter.
    Booth,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::App => "app",
            Channel::Paper => "paper",
            Channel::Booth => "booth",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "app" => Some(Channel::App),
            "paper" => Some(Channel::Paper),
            "booth" => Some(Channel::Booth),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Channel::App => "手机投票",
            Channel::Paper => "纸质票录入",
            Channel::Booth => "现场辅助投票",
        }
    }
}

pub fn state_label(s: &str) -> &'static str {
    match s {
        "draft" => "草稿（名册未冻结）",
        "open" => "投票中（名册已冻结）",
        "closed" => "已结束（结果已归档）",
        _ => "未知",
    }
}

/// A 小微权力清单 item as staff enter it: 名称, 依据, 流程 (one step per line, or joined by →) and
/// the 责任主体. Validated here so the page and the service agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerItemInput {
    pub category: String,
    pub name: String,
    pub basis: String,
    /// Steps joined by " → ", as the template writes them.
    pub steps: String,
    pub responsible: String,
}

impl PowerItemInput {
    pub fn parse(category: &str, name: &str, basis: &str, steps: &str, responsible: &str) -> Result<Self, AppError> {
        fn field(v: &str, f: &'static str, max: usize) -> Result<String, AppError> {
            let v = v.trim();
            if v.is_empty() {
                return Err(AppError::bad_request("input.required", "此项必填").at_field(f));
            }
            if v.chars().count() > max {
                return Err(AppError::bad_request("input.too_long", format!("不能超过 {max} 个字")).at_field(f));
            }
            Ok(v.to_owned())
        }
        let list: Vec<&str> = steps.split(['\n', '→']).map(str::trim).filter(|s| !s.is_empty()).collect();
        if list.len() < 2 {
            return Err(AppError::bad_request("power.steps", "流程至少两个步骤（每行一步，或用 → 分隔）").at_field("流程"));
        }
        Ok(Self {
            category: field(category, "类别", 20)?,
            name: field(name, "事项", 60)?,
            basis: field(basis, "依据", 300)?,
            steps: field(&list.join(" → "), "流程", 600)?,
            responsible: field(responsible, "责任主体", 60)?,
        })
    }
}

/// The template item `i` with its basis and responsible body, as a village starts from.
pub fn power_template() -> Vec<PowerItemInput> {
    POWER_LIST
        .iter()
        .map(|(category, name, steps)| PowerItemInput {
            category: (*category).to_owned(),
            name: (*name).to_owned(),
            basis: match *category {
                "党务管理" => "《中国共产党发展党员工作细则》".to_owned(),
                "财务管理" | "集体资产" => "《村民委员会组织法》第二十四条；农村集体“三资”管理规定".to_owned(),
                _ => "《村民委员会组织法》第二十四条".to_owned(),
            },
            steps: (*steps).to_owned(),
            responsible: match *category {
                "党务管理" => "村党组织".to_owned(),
                "财务管理" => "村民委员会、村务监督委员会".to_owned(),
                "印章管理" => "村民委员会".to_owned(),
                _ => "村党组织、村民委员会".to_owned(),
            },
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Voting window

/// Parses a Beijing wall-clock time as the draft form gives it (`YYYY-MM-DDTHH:MM` from a
/// `datetime-local` input, or with a space) into a UTC instant. Empty means no limit.
pub fn parse_beijing(s: &str, field: &'static str) -> Result<Option<Millis>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || AppError::bad_request("ballot.bad_time", "时间应为 YYYY-MM-DD HH:MM（北京时间）").at_field(field);
    let (d, t) = s.split_once(['T', ' ']).ok_or_else(bad)?;
    let date = Date::parse(d).ok_or_else(bad)?;
    let (h, m) = t.split_once(':').ok_or_else(bad)?;
    let m = m.get(..2).unwrap_or(m);
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(Some(date.days() * DAY - 8 * HOUR + h * HOUR + m * MINUTE))
}

/// Checks a draft's window: the closing time must come after the opening time.
pub fn check_window(opens: Option<Millis>, closes: Option<Millis>) -> Result<(), AppError> {
    match (opens, closes) {
        (Some(o), Some(c)) if c <= o => Err(AppError::bad_request("ballot.bad_window", "截止时间应晚于开始时间").at_field("截止时间")),
        _ => Ok(()),
    }
}

/// Whether a vote may be taken now. `late_paper` is staff entering a paper ballot: paper collected
/// at the box during the window is often entered after it shuts, so until the result is computed
/// (the ballot is still `open`) it is accepted after the closing time — with the evidence note,
/// which the caller requires for every paper entry and which is what ties the paper to the window.
pub fn window_allows(opens: Option<Millis>, closes: Option<Millis>, now: Millis, late_paper: bool) -> Result<(), AppError> {
    if let Some(o) = opens.filter(|o| now < *o) {
        return Err(AppError::conflict("ballot.not_open_yet", format!("投票尚未开始：开始时间为 {}（北京时间）", format_beijing(o))));
    }
    if let Some(c) = closes.filter(|c| now >= *c && !late_paper) {
        return Err(AppError::conflict("ballot.closed", format!("投票已于 {}（北京时间）截止，不能再投票", format_beijing(c))));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Consultations (议事协商)

/// 四议两公开: the six steps of a village decision, in order.
pub const FOUR_TWO_STEPS: [&str; 6] = ["党组织提议", "两委会议商议", "党员大会审议", "村民（代表）会议决议", "决议公开", "实施结果公开"];

/// The steps of an ordinary residents' council consultation.
pub const GENERAL_STEPS: [&str; 5] = ["议题征集", "讨论协商", "议事会议", "形成决议并公开", "落实反馈"];

pub fn template_steps(template: &str) -> &'static [&'static str] {
    if template == "four_two" { &FOUR_TWO_STEPS } else { &GENERAL_STEPS }
}

/// A meeting's live quorum: due and actual attendance against the rule (default: two thirds, as for
/// the party members' meeting in 四议两公开 and for 村民代表会议).
pub fn meeting_quorum(due: i64, present: i64, rule: Threshold) -> (bool, String) {
    let ok = rule.met(present, due);
    (ok, format!("应到 {due} 人，实到 {present} 人，要求{}：{}", rule.label(), if ok { "已达到法定人数" } else { "未达到法定人数" }))
}

// ---------------------------------------------------------------------------------------------
// 村务公开

/// What is published, and how often (村民委员会组织法第三十条).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AffairKind {
    /// 一般事项: at least once a quarter.
    Ordinary,
    /// 财务: every month.
    Finance,
    /// 重大事项: at once (by the end of the day after it was decided).
    Major,
}

impl AffairKind {
    pub const ALL: [AffairKind; 3] = [AffairKind::Ordinary, AffairKind::Finance, AffairKind::Major];
    pub fn as_str(self) -> &'static str {
        match self {
            AffairKind::Ordinary => "ordinary",
            AffairKind::Finance => "finance",
            AffairKind::Major => "major",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            AffairKind::Ordinary => "一般村务（每季度至少公开一次）",
            AffairKind::Finance => "财务收支（每月公开）",
            AffairKind::Major => "重大事项（随时公开）",
        }
    }
}

/// The last day a publication for `period_start` may appear: the quarter's or month's last day;
/// a major matter the day after it was decided ("随时公开").
pub fn publication_due(kind: AffairKind, period_start: Date) -> Date {
    let (y, m, _) = platform::clock::civil_from_days(period_start.days());
    let next_month_first = |y: i64, m: u32| if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    match kind {
        AffairKind::Major => Date::from_days(period_start.days() + 1),
        AffairKind::Finance => {
            let (ny, nm) = next_month_first(y, m);
            Date::from_days(platform::clock::days_from_civil(ny, nm, 1) - 1)
        }
        AffairKind::Ordinary => {
            let q_end = ((m - 1) / 3) * 3 + 3;
            let (ny, nm) = next_month_first(y, q_end);
            Date::from_days(platform::clock::days_from_civil(ny, nm, 1) - 1)
        }
    }
}

/// The period a recurring item covers on a day: the month's first day (finance) or the quarter's.
pub fn period_start(kind: AffairKind, day: Date) -> Date {
    let (y, m, d) = platform::clock::civil_from_days(day.days());
    match kind {
        AffairKind::Finance => Date::from_days(platform::clock::days_from_civil(y, m, 1)),
        AffairKind::Ordinary => Date::from_days(platform::clock::days_from_civil(y, ((m - 1) / 3) * 3 + 1, 1)),
        AffairKind::Major => Date::from_days(platform::clock::days_from_civil(y, m, d)),
    }
}

pub fn period_label(kind: AffairKind, start: Date) -> String {
    let (y, m, d) = platform::clock::civil_from_days(start.days());
    match kind {
        AffairKind::Finance => format!("{y}年{m}月"),
        AffairKind::Ordinary => format!("{y}年第{}季度", (m - 1) / 3 + 1),
        AffairKind::Major => format!("{y}年{m}月{d}日"),
    }
}

/// 小微权力清单: a template after 宁海's 36 items (11 areas); each village adopts and adapts it.
pub const POWER_LIST: [(&str, &str, &str); 12] = [
    ("重大决策", "村级重大事项决策", "党组织提议 → 两委商议 → 党员大会审议 → 村民（代表）会议决议 → 决议公开 → 结果公开"),
    ("重大决策", "村级工程项目建设", "立项决议 → 公开招标或比选 → 合同签订 → 施工监督 → 验收 → 结算公开"),
    ("集体资产", "集体资产资源处置", "提出方案 → 民主决策 → 评估 → 公开交易 → 合同备案 → 结果公开"),
    ("集体资产", "集体资产租赁发包", "拟定方案 → 村民代表会议表决 → 公开竞价 → 签订合同 → 公开"),
    ("财务管理", "村级财务收支审批", "经办人说明 → 村监委会审核 → 村主任审批 → 入账 → 每月公开"),
    ("财务管理", "误工补贴发放", "村民代表会议确定标准 → 考勤登记 → 审核 → 发放 → 公开"),
    ("便民服务", "宅基地申请", "农户申请 → 村民小组讨论 → 村公示 → 乡镇审核审批 → 公开"),
    ("便民服务", "低保、特困等救助申请初审", "申请 → 入户调查 → 民主评议 → 公示 7 天 → 报乡镇审核"),
    ("便民服务", "各类证明出具", "申请 → 核实 → 村委会出具 → 登记存档"),
    ("便民服务", "征地补偿费分配", "方案拟定 → 村民会议讨论决定 → 公示 → 发放 → 结果公开"),
    ("印章管理", "村级印章使用", "申请登记 → 审批 → 使用登记 → 存档"),
    ("党务管理", "发展党员", "入党申请 → 积极分子培养 → 发展对象公示 → 支部大会讨论 → 上级审批"),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn person(id: &str) -> Holder {
        Holder::Person { id: id.into(), name: id.into() }
    }
    fn unit(h: &str, area: i64, holder: Holder) -> OwnedUnit {
        OwnedUnit { house_id: h.into(), label: h.into(), area_dm2: Some(area), holder }
    }

    #[test]
    fn exact_boundaries() {
        let two_thirds = Threshold::at_least(2, 3);
        assert!(two_thirds.met(2, 3), "exactly 2/3 is 三分之二以上");
        assert!(!two_thirds.met(199, 300));
        assert!(two_thirds.met(200, 300));
        let half = Threshold::more_than(1, 2);
        assert!(!half.met(1, 2), "exactly half is not 过半数");
        assert!(half.met(51, 100));
        assert!(!half.met(0, 0), "an empty electorate decides nothing");
        let three_q = Threshold::at_least(3, 4);
        assert!(three_q.met(75, 100));
        assert!(!three_q.met(74, 100));
        // Big areas do not overflow.
        assert!(half.met(i64::MAX / 2 + 1, i64::MAX));
    }

    #[test]
    fn owner_roll_counts_multi_unit_owners_and_developer_once() {
        let roll = owner_roll(&[
            unit("1-101", 9000, person("a")),
            unit("1-102", 12000, person("a")),
            unit("1-201", 8000, person("b")),
            unit("2-101", 10000, Holder::Developer { name: "开发商".into() }),
            unit("2-102", 10000, Holder::Developer { name: "开发商".into() }),
        ])
        .unwrap();
        assert_eq!(roll.len(), 3);
        assert_eq!(roll[0].area_dm2, 21000);
        assert_eq!(roll[0].units, 2);
        assert_eq!(roll[2].voter_key, "developer");
        assert_eq!(roll[2].area_dm2, 20000);
        let missing = owner_roll(&[OwnedUnit { house_id: "x".into(), label: "3-301".into(), area_dm2: None, holder: person("c") }]).unwrap_err();
        assert_eq!(missing.code, "roll.missing_area");
        assert!(missing.message.contains("3-301"));
    }

    #[test]
    fn civil_code_preset_and_categories() {
        let r = Rule::preset(Preset::CivilCode278, Electorate::Owners).unwrap();
        assert_eq!(r.quorum, Threshold::at_least(2, 3));
        assert!(r.by_area);
        assert_eq!(art_278_category(5), Some(Category::Ordinary), "using the fund is ordinary");
        assert_eq!(art_278_category(6), Some(Category::Special), "raising the fund is special");
        assert_eq!(art_278_category(4), Some(Category::Ordinary));
        assert_eq!(art_278_category(10), None);
        assert!(Rule::preset(Preset::CivilCode278, Electorate::Persons).is_err());
        let h = Rule::preset(Preset::VillagersMeeting, Electorate::Households).unwrap();
        assert_eq!(h.quorum, Threshold::at_least(2, 3));
        let p = Rule::preset(Preset::VillagersMeeting, Electorate::Persons).unwrap();
        assert_eq!(p.quorum, Threshold::more_than(1, 2));
    }

    #[test]
    fn quorum_missed_is_invalid_not_rejected() {
        let r = Rule::preset(Preset::CivilCode278, Electorate::Owners).unwrap();
        let roll = Weight { heads: 3, area_dm2: 300 };
        let mut t = Tally::default();
        t.add(Choice::Yes, Weight { heads: 1, area_dm2: 100 });
        let d = decide(&r, Category::Ordinary, roll, Weight { heads: 1, area_dm2: 100 }, &t);
        assert_eq!(d.outcome, Outcome::InvalidQuorum);
        // Heads reach 2/3 but area does not: still invalid.
        let d = decide(&r, Category::Ordinary, Weight { heads: 3, area_dm2: 400 }, Weight { heads: 2, area_dm2: 200 }, &t);
        assert_eq!(d.outcome, Outcome::InvalidQuorum);
    }

    #[test]
    fn abstentions_follow_majority_only_by_custom_local_rule() {
        let mut r = Rule::preset(Preset::CivilCode278, Electorate::Owners).unwrap();
        r.abstain_follows_majority = true;
        r.local_rule = "某小区议事规则第 12 条".into();
        assert_eq!(r.check().unwrap_err().code, "ballot.herd_not_in_preset");
        let mut c = Rule::preset(Preset::Custom, Electorate::Persons).unwrap();
        c.abstain_follows_majority = true;
        assert_eq!(c.check().unwrap_err().code, "ballot.herd_needs_rule");
        c.local_rule = "村规民约第 5 条".into();
        c.check().unwrap();
        let mut t = Tally::default();
        t.add(Choice::Yes, Weight { heads: 4, area_dm2: 0 });
        t.add(Choice::No, Weight { heads: 3, area_dm2: 0 });
        t.add(Choice::Abstain, Weight { heads: 3, area_dm2: 0 });
        let took = Weight { heads: 10, area_dm2: 0 };
        let plain = decide(&Rule::preset(Preset::Custom, Electorate::Persons).unwrap(), Category::Ordinary, took, took, &t);
        assert_eq!(plain.outcome, Outcome::Rejected, "4 of 10 is not more than half");
        let herd = decide(&c, Category::Ordinary, took, took, &t);
        assert_eq!(herd.outcome, Outcome::Passed);
        assert!(herd.warnings[0].contains("从众"));
    }

    #[test]
    fn publication_schedule() {
        let d = |s: &str| Date::parse(s).unwrap();
        assert_eq!(publication_due(AffairKind::Finance, d("2026-02-01")), d("2026-02-28"));
        assert_eq!(publication_due(AffairKind::Finance, d("2026-12-01")), d("2026-12-31"));
        assert_eq!(publication_due(AffairKind::Ordinary, d("2026-04-01")), d("2026-06-30"));
        assert_eq!(publication_due(AffairKind::Ordinary, d("2026-10-01")), d("2026-12-31"));
        assert_eq!(publication_due(AffairKind::Major, d("2026-05-28")), d("2026-05-29"));
        assert_eq!(period_start(AffairKind::Ordinary, d("2026-05-28")), d("2026-04-01"));
        assert_eq!(period_start(AffairKind::Finance, d("2026-05-28")), d("2026-05-01"));
        assert_eq!(period_label(AffairKind::Ordinary, d("2026-04-01")), "2026年第2季度");
    }

    #[test]
    fn areas_print_exactly() {
        assert_eq!(area_m2(895), "8.95");
        assert_eq!(area_m2(12000), "120.00");
        assert_eq!(parse_area_m2("89.5"), Some(8950));
        assert_eq!(parse_area_m2("89"), Some(8900));
        assert_eq!(parse_area_m2("8.955"), None);
        assert_eq!(parse_area_m2("-1"), None);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// A roll of owners, some with several units, plus the developer's unsold units.
        fn rolls() -> impl Strategy<Value = Vec<OwnedUnit>> {
            prop::collection::vec((0u8..12, 1i64..30_000), 3..40).prop_map(|units| {
                units
                    .into_iter()
                    .enumerate()
                    .map(|(i, (owner, area))| OwnedUnit {
                        house_id: format!("h{i}"),
                        label: format!("{i}"),
                        area_dm2: Some(area),
                        // Owner 0 is the developer; the others may hold several units.
                        holder: if owner == 0 {
                            Holder::Developer { name: "开发商".into() }
                        } else {
                            Holder::Person { id: format!("p{owner}"), name: format!("p{owner}") }
                        },
                    })
                    .collect()
            })
        }

        proptest! {
            #[test]
            fn threshold_matches_rational_definition(part in 0i64..10_000, whole in 1i64..10_000, num in 1i64..10, extra in 0i64..10) {
                let den = num + extra;
                // part/whole >= num/den exactly, checked against integer division with remainder.
                let at_least = Threshold::at_least(num, den).met(part, whole);
                let more = Threshold::more_than(num, den).met(part, whole);
                prop_assert_eq!(at_least, part * den >= num * whole);
                prop_assert_eq!(more, part * den > num * whole);
                if part * den == num * whole {
                    prop_assert!(at_least && !more, "the exact boundary is 以上 but not 超过");
                }
            }

            #[test]
            fn roll_keeps_area_and_counts_each_owner_once(units in rolls()) {
                let roll = owner_roll(&units).unwrap();
                let total: i64 = units.iter().map(|u| u.area_dm2.unwrap_or(0)).sum();
                prop_assert_eq!(roll.iter().map(|e| e.area_dm2).sum::<i64>(), total);
                prop_assert_eq!(roll.iter().map(|e| e.units).sum::<i64>(), units.len() as i64);
                let mut owners: Vec<String> = units.iter().map(|u| match &u.holder { Holder::Person { id, .. } => id.clone(), Holder::Developer { .. } => "dev".into() }).collect();
                owners.sort();
                owners.dedup();
                prop_assert_eq!(roll.len(), owners.len());
            }

            /// On any roll, exactly the two-thirds boundary of heads (with enough area) meets the quorum,
            /// one head fewer does not; exactly half approval fails 过半数.
            #[test]
            fn quorum_and_majority_at_exact_boundaries(units in rolls(), k in 1i64..6) {
                let roll = owner_roll(&units).unwrap();
                let n = roll.len() as i64;
                let rule = Rule::preset(Preset::CivilCode278, Electorate::Owners).unwrap();
                let total = Weight { heads: n, area_dm2: roll.iter().map(|e| e.area_dm2).sum() };
                // Scale so the boundary is a whole number of heads: a roll of 3k heads, 2k take part.
                let roll_w = Weight { heads: 3 * k, area_dm2: 3 * total.area_dm2 };
                let took = Weight { heads: 2 * k, area_dm2: 2 * total.area_dm2 };
                let (ok, _) = quorum(&rule, roll_w, took);
                prop_assert!(ok, "exactly 2/3 of heads and area meets the quorum");
                let (short, _) = quorum(&rule, roll_w, Weight { heads: 2 * k - 1, ..took });
                prop_assert!(!short);
                let (short_area, _) = quorum(&rule, roll_w, Weight { area_dm2: 2 * total.area_dm2 - 1, ..took });
                prop_assert!(!short_area);
                let mut half = Tally::default();
                half.add(Choice::Yes, Weight { heads: k, area_dm2: total.area_dm2 });
                half.add(Choice::No, Weight { heads: k, area_dm2: total.area_dm2 });
                let d = decide(&rule, Category::Ordinary, roll_w, took, &half);
                prop_assert_eq!(d.outcome, Outcome::Rejected, "exactly half is not more than half");
                let mut three_q = Tally::default();
                three_q.add(Choice::Yes, Weight { heads: 3 * k, area_dm2: 3 * total.area_dm2 });
                three_q.add(Choice::No, Weight { heads: k, area_dm2: total.area_dm2 });
                let all = Weight { heads: 4 * k, area_dm2: 4 * total.area_dm2 };
                let d = decide(&rule, Category::Special, all, all, &three_q);
                prop_assert_eq!(d.outcome, Outcome::Passed, "exactly 3/4 passes a special matter");
                let mut under = three_q;
                under.yes.area_dm2 -= 1;
                under.no.area_dm2 += 1;
                prop_assert_eq!(decide(&rule, Category::Special, all, all, &under).outcome, Outcome::Rejected);
            }
        }
    }
    #[test]
    fn beijing_times_and_the_window() {
        let t = parse_beijing("2026-06-01T08:30", "开始时间").unwrap().unwrap();
        assert_eq!(format_beijing(t), "2026-06-01 08:30:00");
        assert_eq!(parse_beijing("2026-06-01 08:30", "x").unwrap(), Some(t));
        assert_eq!(parse_beijing("  ", "x").unwrap(), None);
        assert_eq!(parse_beijing("2026-06-01T25:00", "x").unwrap_err().code, "ballot.bad_time");
        assert_eq!(parse_beijing("明天", "x").unwrap_err().code, "ballot.bad_time");
        assert_eq!(check_window(Some(t), Some(t)).unwrap_err().code, "ballot.bad_window");
        assert!(check_window(Some(t), Some(t + 1)).is_ok());
        let c = t + DAY;
        assert_eq!(window_allows(Some(t), Some(c), t - 1, false).unwrap_err().code, "ballot.not_open_yet");
        assert_eq!(window_allows(Some(t), Some(c), t - 1, true).unwrap_err().code, "ballot.not_open_yet");
        assert!(window_allows(Some(t), Some(c), t, false).is_ok());
        assert!(window_allows(Some(t), Some(c), c - 1, false).is_ok());
        assert_eq!(window_allows(Some(t), Some(c), c, false).unwrap_err().code, "ballot.closed");
        assert!(window_allows(Some(t), Some(c), c + HOUR, true).is_ok(), "late paper entry until the result is computed");
        assert!(window_allows(None, None, 0, false).is_ok());
    }
    #[test]
    fn power_items_need_a_procedure_and_the_template_is_complete() {
        let i = PowerItemInput::parse("便民服务", " 农机补贴申请 ", "县农业农村局规定", "申请\n村审核\n公示", "村民委员会").unwrap();
        assert_eq!(i.name, "农机补贴申请");
        assert_eq!(i.steps, "申请 → 村审核 → 公示");
        assert_eq!(PowerItemInput::parse("便民服务", "x", "y", "只有一步", "z").unwrap_err().code, "power.steps");
        assert_eq!(PowerItemInput::parse("便民服务", "", "y", "a→b", "z").unwrap_err().code, "input.required");
        let t = power_template();
        assert_eq!(t.len(), 12);
        assert!(t.iter().all(|x| PowerItemInput::parse(&x.category, &x.name, &x.basis, &x.steps, &x.responsible).ok().as_ref() == Some(x)));
    }
}
