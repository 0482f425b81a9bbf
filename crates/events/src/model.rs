//! The rules of the event loop, pure: the working-time calendar (with 调休), time limits and lights,
//! the state machine, and the performance formulas.

use std::collections::HashMap;

use platform::clock::{DAY, Date, MINUTE, Millis};
use serde::Serialize;

pub const CALENDAR_CSV: &str = include_str!("../../../data/cn-work-calendar.csv");
pub const CATALOGUE_CSV: &str = include_str!("../../../data/event-catalogue.csv");

/// Beijing is UTC+8 all year.
const TZ: Millis = 8 * 60 * MINUTE;

/// Office hours in minutes after midnight, Beijing time: 09:00–12:00 and 13:30–17:30.
pub const WORK_PERIODS: [(i64, i64); 2] = [(9 * 60, 12 * 60), (13 * 60 + 30, 17 * 60 + 30)];
pub const WORK_MINUTES_PER_DAY: i64 = 420;

/// Which days are working days: Monday–Friday, minus official holidays, plus make-up working days.
#[derive(Clone, Debug, Default)]
pub struct WorkCalendar {
    special: HashMap<i64, bool>,
}

impl WorkCalendar {
    /// The shipped official schedule, parsed once (every event's deadline asks for it).
    pub fn official() -> &'static Self {
        static OFFICIAL: std::sync::OnceLock<WorkCalendar> = std::sync::OnceLock::new();
        OFFICIAL.get_or_init(|| Self::from_csv(CALENDAR_CSV))
    }
    pub fn from_csv(csv: &str) -> Self {
        let mut special = HashMap::new();
        for line in csv.lines().skip(1) {
            let mut it = line.split(',');
            if let (Some(d), Some(kind)) = (it.next().and_then(Date::parse), it.next()) {
                special.insert(d.days(), kind == "makeup_workday");
            }
        }
        Self { special }
    }
    pub fn is_workday(&self, d: Date) -> bool {
        if let Some(w) = self.special.get(&d.days()) {
            return *w;
        }
        // 1970-01-01 was a Thursday.
        let weekday = (d.days() + 3).rem_euclid(7); // 0 = Monday
        weekday < 5
    }

    /// Working minutes between two instants (0 if `to` is before `from`).
    pub fn work_minutes_between(&self, from: Millis, to: Millis) -> i64 {
        if to <= from {
            return 0;
        }
        let (mut total, start_day, end_day) = (0i64, (from + TZ).div_euclid(DAY), (to + TZ).div_euclid(DAY));
        for day in start_day..=end_day {
            if !self.is_workday(Date::from_days(day)) {
                continue;
            }
            let day_start = day * DAY - TZ;
            for (a, b) in WORK_PERIODS {
                let (pa, pb) = (day_start + a * MINUTE, day_start + b * MINUTE);
                let (s, e) = (pa.max(from), pb.min(to));
                if e > s {
                    total += (e - s) / MINUTE;
                }
            }
        }
        total
    }

    /// The instant when `minutes` working minutes have passed after `from`.
    pub fn add_work_minutes(&self, from: Millis, minutes: i64) -> Millis {
        let mut left = minutes.max(0);
        let mut day = (from + TZ).div_euclid(DAY);
        // Bounded: limits are at most a few months of working time.
        for _ in 0..3660 {
            if self.is_workday(Date::from_days(day)) {
                let day_start = day * DAY - TZ;
                for (a, b) in WORK_PERIODS {
                    let (pa, pb) = (day_start + a * MINUTE, day_start + b * MINUTE);
                    let s = pa.max(from);
                    if pb <= s {
                        continue;
                    }
                    let avail = (pb - s) / MINUTE;
                    if left <= avail {
                        return s + left * MINUTE;
                    }
                    left -= avail;
                }
            }
            day += 1;
        }
        from + minutes * MINUTE
    }
}

/// How a time limit is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LimitUnit {
    /// Clock minutes: the acknowledgement limit of 特急 alarms (四级呼叫全响应).
    Minutes,
    /// Clock hours, day and night (emergencies do not wait for office hours).
    Hours,
    WorkingHours,
    WorkingDays,
}

impl LimitUnit {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minutes" => Some(LimitUnit::Minutes),
            "hours" => Some(LimitUnit::Hours),
            "working_hours" => Some(LimitUnit::WorkingHours),
            "working_days" => Some(LimitUnit::WorkingDays),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            LimitUnit::Minutes => "minutes",
            LimitUnit::Hours => "hours",
            LimitUnit::WorkingHours => "working_hours",
            LimitUnit::WorkingDays => "working_days",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            LimitUnit::Minutes => "分钟",
            LimitUnit::Hours => "小时",
            LimitUnit::WorkingHours => "工作小时",
            LimitUnit::WorkingDays => "工作日",
        }
    }
}

/// A time limit: an amount and how it is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub amount: i64,
    pub unit: LimitUnit,
}

impl Limit {
    pub fn deadline(&self, cal: &WorkCalendar, from: Millis) -> Millis {
        match self.unit {
            LimitUnit::Minutes => from + self.amount * MINUTE,
            LimitUnit::Hours => from + self.amount * 60 * MINUTE,
            LimitUnit::WorkingHours => cal.add_work_minutes(from, self.amount * 60),
            LimitUnit::WorkingDays => cal.add_work_minutes(from, self.amount * WORK_MINUTES_PER_DAY),
        }
    }
    /// Share of the limit used at `now`, in per cent (paused time excluded by the caller).
    pub fn used_percent(&self, cal: &WorkCalendar, from: Millis, now: Millis) -> i64 {
        let (used, total) = match self.unit {
            LimitUnit::Minutes => ((now - from).max(0) / MINUTE, self.amount),
            LimitUnit::Hours => ((now - from).max(0) / MINUTE, self.amount * 60),
            LimitUnit::WorkingHours => (cal.work_minutes_between(from, now), self.amount * 60),
            LimitUnit::WorkingDays => (cal.work_minutes_between(from, now), self.amount * WORK_MINUTES_PER_DAY),
        };
        if total <= 0 { 100 } else { used * 100 / total }
    }
    pub fn label(&self) -> String {
        format!("{} {}", self.amount, self.unit.label())
    }
}

/// 紧急程度. Urgent cases get half the limit; 特急 a quarter, counted in clock hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Urgency {
    Normal,
    Urgent,
    Critical,
}

impl Urgency {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "一般" | "normal" => Some(Urgency::Normal),
            "紧急" | "urgent" => Some(Urgency::Urgent),
            "特急" | "critical" => Some(Urgency::Critical),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Urgency::Normal => "一般",
            Urgency::Urgent => "紧急",
            Urgency::Critical => "特急",
        }
    }
    /// The handling limit for this urgency, from the type's default.
    pub fn scale(self, base: Limit) -> Limit {
        let minutes = match base.unit {
            LimitUnit::Minutes => base.amount,
            LimitUnit::Hours | LimitUnit::WorkingHours => base.amount * 60,
            LimitUnit::WorkingDays => base.amount * WORK_MINUTES_PER_DAY,
        };
        match self {
            Urgency::Normal => base,
            Urgency::Urgent => {
                Limit { amount: ((minutes / 2) / 60).max(1), unit: if base.unit == LimitUnit::Hours { LimitUnit::Hours } else { LimitUnit::WorkingHours } }
            }
            Urgency::Critical => Limit { amount: ((minutes / 4) / 60).clamp(1, 24), unit: LimitUnit::Hours },
        }
    }
}

/// 绿灯/黄灯/红灯 for the current stage: yellow from 75 % of the limit, red when it is used up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Light {
    Green,
    Yellow,
    Red,
}

impl Light {
    pub fn from_percent(p: i64) -> Light {
        if p >= 100 {
            Light::Red
        } else if p >= 75 {
            Light::Yellow
        } else {
            Light::Green
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Light::Green => "绿灯",
            Light::Yellow => "黄灯",
            Light::Red => "红灯",
        }
    }
    pub fn parse(s: &str) -> Light {
        match s {
            "red" => Light::Red,
            "yellow" => Light::Yellow,
            _ => Light::Green,
        }
    }
}

/// Event states: a superset of the seven-step closed loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum State {
    /// 上报
    Reported,
    /// 已受理
    Accepted,
    /// 不予受理 (final)
    Rejected,
    /// 已派遣 (to a unit or department)
    Dispatched,
    /// 已签收 / 处置中
    Handling,
    /// 已反馈, waiting for 核查
    FedBack,
    /// 已结案, waiting for 回访评价
    Closed,
    /// 已评价
    Evaluated,
    /// 已归档 (final)
    Archived,
    /// 挂起: the clock is paused
    Suspended,
    /// 已合并 into another event (final)
    Merged,
}

impl State {
    pub const ALL: [State; 11] = [
        State::Reported,
        State::Accepted,
        State::Rejected,
        State::Dispatched,
        State::Handling,
        State::FedBack,
        State::Closed,
        State::Evaluated,
        State::Archived,
        State::Suspended,
        State::Merged,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            State::Reported => "reported",
            State::Accepted => "accepted",
            State::Rejected => "rejected",
            State::Dispatched => "dispatched",
            State::Handling => "handling",
            State::FedBack => "fed_back",
            State::Closed => "closed",
            State::Evaluated => "evaluated",
            State::Archived => "archived",
            State::Suspended => "suspended",
            State::Merged => "merged",
        }
    }
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            State::Reported => "待受理",
            State::Accepted => "已受理待派遣",
            State::Rejected => "不予受理",
            State::Dispatched => "已派遣待签收",
            State::Handling => "处置中",
            State::FedBack => "已反馈待核查",
            State::Closed => "已结案待回访",
            State::Evaluated => "已评价",
            State::Archived => "已归档",
            State::Suspended => "已挂起",
            State::Merged => "已合并",
        }
    }
    /// States whose time limit runs (and so can turn yellow and red).
    pub fn is_timed(self) -> bool {
        matches!(self, State::Reported | State::Accepted | State::Dispatched | State::Handling | State::FedBack)
    }
    pub fn is_open(self) -> bool {
        !matches!(self, State::Rejected | State::Evaluated | State::Archived | State::Merged | State::Closed)
    }
}

/// What staff do to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    Accept,
    Reject,
    Dispatch,
    /// 签收
    SignIn,
    /// 退回: the handling unit sends it back to the dispatcher
    Return,
    /// 改派
    Reassign,
    /// 反馈
    Feedback,
    /// 核查通过 → 结案 (with a reason)
    Close,
    /// 核查不通过 → 返工
    Rework,
    /// 回访评价
    Evaluate,
    Archive,
    Suspend,
    Resume,
    /// 越级上报 / automatic escalation: moves the event one level up
    Escalate,
    Merge,
    /// 延期申请 and its approval or refusal
    RequestExtension,
    ApproveExtension,
    RefuseExtension,
}

impl Action {
    pub const ALL: [Action; 18] = [
        Action::Accept,
        Action::Reject,
        Action::Dispatch,
        Action::SignIn,
        Action::Return,
        Action::Reassign,
        Action::Feedback,
        Action::Close,
        Action::Rework,
        Action::Evaluate,
        Action::Archive,
        Action::Suspend,
        Action::Resume,
        Action::Escalate,
        Action::Merge,
        Action::RequestExtension,
        Action::ApproveExtension,
        Action::RefuseExtension,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::Dispatch => "dispatch",
            Action::SignIn => "sign_in",
            Action::Return => "return",
            Action::Reassign => "reassign",
            Action::Feedback => "feedback",
            Action::Close => "close",
            Action::Rework => "rework",
            Action::Evaluate => "evaluate",
            Action::Archive => "archive",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::Escalate => "escalate",
            Action::Merge => "merge",
            Action::RequestExtension => "request_extension",
            Action::ApproveExtension => "approve_extension",
            Action::RefuseExtension => "refuse_extension",
        }
    }
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Action::Accept => "受理",
            Action::Reject => "不予受理",
            Action::Dispatch => "派遣",
            Action::SignIn => "签收",
            Action::Return => "退回",
            Action::Reassign => "改派",
            Action::Feedback => "处置反馈",
            Action::Close => "核查结案",
            Action::Rework => "核查不通过（返工）",
            Action::Evaluate => "回访评价",
            Action::Archive => "归档",
            Action::Suspend => "挂起",
            Action::Resume => "恢复",
            Action::Escalate => "越级上报",
            Action::Merge => "合并为重复",
            Action::RequestExtension => "申请延期",
            Action::ApproveExtension => "批准延期",
            Action::RefuseExtension => "不批准延期",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("当前状态「{}」下不能执行「{}」", from.label(), action.label())]
pub struct TransitionError {
    pub from: State,
    pub action: Action,
}

/// The state after `action`, or why not. Extensions and escalation keep the state; evaluation may
/// reopen (`reopen` = 不满意).
pub fn next_state(from: State, action: Action, reopen: bool) -> Result<State, TransitionError> {
    use Action as A;
    use State as S;
    let to = match (from, action) {
        (S::Reported, A::Accept) => S::Accepted,
        (S::Reported, A::Reject) => S::Rejected,
        (S::Reported | S::Accepted, A::Dispatch) => S::Dispatched,
        (S::Dispatched, A::SignIn) => S::Handling,
        (S::Dispatched | S::Handling, A::Return) => S::Accepted,
        (S::Dispatched | S::Handling, A::Reassign) => S::Dispatched,
        (S::Handling, A::Feedback) => S::FedBack,
        (S::FedBack, A::Close) => S::Closed,
        (S::FedBack, A::Rework) => S::Handling,
        (S::Closed, A::Evaluate) if reopen => S::Handling,
        (S::Closed, A::Evaluate) => S::Evaluated,
        (S::Closed | S::Evaluated | S::Rejected, A::Archive) => S::Archived,
        (s, A::Suspend) if s.is_timed() => S::Suspended,
        // Back to the state it was suspended in; the caller knows which (from the history).
        (S::Suspended, A::Resume) => S::Handling,
        (S::Reported | S::Accepted | S::Dispatched | S::Handling, A::Escalate) => from,
        (S::Reported | S::Accepted, A::Merge) => S::Merged,
        (S::Dispatched | S::Handling, A::RequestExtension | A::ApproveExtension | A::RefuseExtension) => from,
        _ => return Err(TransitionError { from, action }),
    };
    Ok(to)
}

/// 结案原因: only 已解决 counts as solved.
pub const CLOSE_REASONS: [&str; 5] = ["已解决", "不属职责", "重复", "无法解决", "转办"];

/// 回访评价.
pub const SATISFACTION: [&str; 3] = ["满意", "基本满意", "不满意"];

/// 吹哨 kinds.
pub const WHISTLE_KINDS: [&str; 3] = ["日常哨", "攻坚哨", "应急哨"];

/// The three rates over the evaluated events of a period, in per cent, and their weighted composite.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rates {
    pub response: f64,
    pub solved: f64,
    pub satisfied: f64,
    pub composite: f64,
}

/// Weights (response, solved, satisfied) and the factor for 基本满意. Presets: 10/40/50 (Beijing 12345
/// analytics) and 30/35/35 (准格尔旗); 基本满意 counts 0.9.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Weights {
    pub response: f64,
    pub solved: f64,
    pub satisfied: f64,
    pub basic_factor: f64,
}

pub const WEIGHT_PRESETS: [(&str, Weights); 2] = [
    ("10/40/50", Weights { response: 0.10, solved: 0.40, satisfied: 0.50, basic_factor: 0.9 }),
    ("30/35/35", Weights { response: 0.30, solved: 0.35, satisfied: 0.35, basic_factor: 0.9 }),
];

/// `valid` = events due for a callback; `responded` = signed for in time; `solved` = closed as 已解决.
pub fn rates(valid: i64, responded: i64, solved: i64, satisfied: i64, basic: i64, w: Weights) -> Rates {
    if valid == 0 {
        return Rates { response: 0.0, solved: 0.0, satisfied: 0.0, composite: 0.0 };
    }
    let v = valid as f64;
    let response = 100.0 * responded as f64 / v;
    let solved_r = 100.0 * solved as f64 / v;
    let satisfied_r = 100.0 * (satisfied as f64 + w.basic_factor * basic as f64) / v;
    Rates { response, solved: solved_r, satisfied: satisfied_r, composite: w.response * response + w.solved * solved_r + w.satisfied * satisfied_r }
}

/// A catalogue entry.
#[derive(Clone, Debug, Serialize)]
pub struct EventType {
    pub code: String,
    pub name: String,
    pub family: String,
    pub limit: Limit,
    pub department: String,
}

pub fn default_catalogue() -> Vec<EventType> {
    CATALOGUE_CSV
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some(EventType {
                code: f.first()?.to_string(),
                name: f.get(1)?.to_string(),
                family: f.get(2)?.to_string(),
                limit: Limit { amount: f.get(3)?.parse().ok()?, unit: LimitUnit::parse(f.get(4)?)? },
                department: f.get(5)?.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Beijing wall-clock time → UTC millis.
    fn bj(date: &str, h: i64, m: i64) -> Millis {
        Date::parse(date).unwrap().days() * DAY - TZ + (h * 60 + m) * MINUTE
    }

    #[test]
    fn holidays_and_make_up_days_follow_the_official_schedule() {
        let cal = WorkCalendar::official();
        assert!(!cal.is_workday(Date::parse("2026-10-01").unwrap()), "National Day");
        assert!(cal.is_workday(Date::parse("2026-10-10").unwrap()), "a Saturday made a working day (调休)");
        assert!(!cal.is_workday(Date::parse("2026-11-28").unwrap()), "an ordinary Saturday");
        assert!(cal.is_workday(Date::parse("2026-11-25").unwrap()), "an ordinary Wednesday");
    }

    #[test]
    fn working_time_skips_nights_lunch_weekends_and_holidays() {
        let cal = WorkCalendar::official();
        // Wednesday 2026-09-30 16:30 + 2 working hours: 1 h that day, then the National Day holiday, then Thursday 10-08.
        let start = bj("2026-09-30", 16, 30);
        assert_eq!(cal.add_work_minutes(start, 120), bj("2026-10-08", 10, 0));
        assert_eq!(cal.work_minutes_between(start, bj("2026-10-08", 10, 0)), 120);
        // Saturday 2026-10-10 is a make-up working day: work reported on Friday evening runs on Saturday.
        assert_eq!(cal.add_work_minutes(bj("2026-10-09", 18, 0), 60), bj("2026-10-10", 10, 0));
        // Lunch does not count: 11:00 + 90 min = 14:00.
        assert_eq!(cal.add_work_minutes(bj("2026-11-25", 11, 0), 90), bj("2026-11-25", 14, 0));
        // Reported at night: the clock starts at 09:00.
        assert_eq!(cal.add_work_minutes(bj("2026-11-25", 22, 0), 30), bj("2026-11-26", 9, 30));
        // One working day from Friday afternoon ends Monday afternoon.
        let friday = bj("2026-11-27", 15, 0);
        assert_eq!(Limit { amount: 1, unit: LimitUnit::WorkingDays }.deadline(cal, friday), bj("2026-11-30", 15, 0));
        // Clock hours ignore the calendar.
        assert_eq!(Limit { amount: 3, unit: LimitUnit::Hours }.deadline(cal, friday), friday + 180 * MINUTE);
    }

    #[test]
    fn lights_turn_at_three_quarters_and_at_the_limit() {
        let cal = WorkCalendar::official();
        let l = Limit { amount: 4, unit: LimitUnit::WorkingHours };
        let s = bj("2026-11-25", 9, 0);
        assert_eq!(Light::from_percent(l.used_percent(cal, s, bj("2026-11-25", 11, 0))), Light::Green);
        assert_eq!(Light::from_percent(l.used_percent(cal, s, bj("2026-11-25", 12, 30))), Light::Yellow, "3 of 4 hours; lunch does not count");
        assert_eq!(Light::from_percent(l.used_percent(cal, s, bj("2026-11-25", 14, 29))), Light::Yellow);
        assert_eq!(Light::from_percent(l.used_percent(cal, s, bj("2026-11-25", 14, 30))), Light::Red);
    }

    #[test]
    fn urgency_shortens_limits() {
        let base = Limit { amount: 2, unit: LimitUnit::WorkingDays };
        assert_eq!(Urgency::Normal.scale(base), base);
        assert_eq!(Urgency::Urgent.scale(base), Limit { amount: 7, unit: LimitUnit::WorkingHours });
        assert_eq!(Urgency::Critical.scale(base), Limit { amount: 3, unit: LimitUnit::Hours });
    }

    #[test]
    fn the_state_machine_allows_the_loop_and_refuses_shortcuts() {
        use Action as A;
        let mut s = State::Reported;
        for a in [A::Accept, A::Dispatch, A::SignIn, A::Feedback, A::Rework, A::Feedback, A::Close] {
            s = next_state(s, a, false).unwrap();
        }
        assert_eq!(s, State::Closed);
        assert_eq!(next_state(s, A::Evaluate, true).unwrap(), State::Handling, "不满意 reopens");
        assert_eq!(next_state(s, A::Evaluate, false).unwrap(), State::Evaluated);
        let e = next_state(State::Reported, A::Close, false).unwrap_err();
        assert_eq!(e.to_string(), "当前状态「待受理」下不能执行「核查结案」");
        assert!(next_state(State::Archived, A::Suspend, false).is_err());
        assert_eq!(next_state(State::Handling, A::Suspend, false).unwrap(), State::Suspended);
        assert!(next_state(State::Suspended, A::Resume, false).is_ok());
        assert!(next_state(State::Handling, A::Resume, false).is_err());
    }

    #[test]
    fn rates_follow_the_published_formulas() {
        let r = rates(100, 90, 80, 70, 20, WEIGHT_PRESETS[0].1);
        assert!((r.satisfied - 88.0).abs() < 1e-9, "满意 + 0.9 × 基本满意");
        assert!((r.composite - (0.1 * 90.0 + 0.4 * 80.0 + 0.5 * 88.0)).abs() < 1e-9);
        assert_eq!(default_catalogue().len(), 20);
    }
}
