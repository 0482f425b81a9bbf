//! Rules of the slice, pure and unit-tested: the double-entry ledger shared by the time bank
//! (时间银行, integer minutes) and the points bank (积分银行, integer points), time-bank
//! configuration with presets from documented Chinese schemes, star levels (星级志愿者), signed
//! check-in/out codes, service-record hours and the 3-working-day publication window (公示期).

use std::collections::{HashMap, HashSet};

use hmac::{Hmac, Mac};
use platform::clock::{DAY, Date, HOUR, Millis};
use platform::{AppError, AppResult};
use sha2::Sha256;

// ---------------------------------------------------------------------------------------------
// Ledger

/// What a ledger account counts. Each currency balances to zero on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Currency {
    /// 时间银行: minutes of service (1 小时 = 1 时间币 = 60).
    Minutes,
    /// 积分银行: whole points.
    Points,
}

impl Currency {
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Minutes => "minutes",
            Currency::Points => "points",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minutes" => Some(Currency::Minutes),
            "points" => Some(Currency::Points),
            _ => None,
        }
    }
}

/// Who holds an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// A registered person (keyed by the register's person id, so a relative who is no volunteer
    /// can still receive gifted hours).
    Person,
    /// A volunteer organisation or team.
    Organisation,
    /// A household (一户一档) in the points bank.
    Household,
    /// The donation pool (爱心池) of a city or county.
    Pool,
    /// Where hours or points come from: the issuing side of deposits and awards. It may run
    /// negative without limit; its balance is minus everything in circulation.
    Issuer,
    /// Where spent hours or points go: the service desk or the points shop.
    Sink,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Person => "person",
            AccountKind::Organisation => "organisation",
            AccountKind::Household => "household",
            AccountKind::Pool => "pool",
            AccountKind::Issuer => "issuer",
            AccountKind::Sink => "sink",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [AccountKind::Person, AccountKind::Organisation, AccountKind::Household, AccountKind::Pool, AccountKind::Issuer, AccountKind::Sink]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
    /// The lowest balance the account may reach by spending, given the configured overdraft;
    /// `None` means no floor (issuers).
    pub fn floor(self, overdraft: i64) -> Option<i64> {
        match self {
            AccountKind::Issuer => None,
            AccountKind::Person => Some(-overdraft.max(0)),
            _ => Some(0),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// 存入: a final service record deposited from the issuer.
    Deposit,
    /// 开户赠送: welcome credit from the issuer.
    Welcome,
    /// 兑换: hours spent on a service from the catalogue, or points in the shop.
    Redeem,
    /// 转赠: hours given to a named relative.
    Gift,
    /// 捐赠: hours given to the donation pool.
    Donate,
    /// 发放: the pool (or issuer) gives hours to a person in need.
    Grant,
    /// 积分奖励 / 扣分: points awarded or deducted under an approved rule.
    Award,
    /// 冲正: a compensating entry; history is never edited.
    Correction,
    /// 过期: unspent hours past the configured validity moved to the donation pool.
    Expire,
}

impl TransferKind {
    pub const ALL: [TransferKind; 9] = [
        TransferKind::Deposit,
        TransferKind::Welcome,
        TransferKind::Redeem,
        TransferKind::Gift,
        TransferKind::Donate,
        TransferKind::Grant,
        TransferKind::Award,
        TransferKind::Correction,
        TransferKind::Expire,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Deposit => "deposit",
            TransferKind::Welcome => "welcome",
            TransferKind::Redeem => "redeem",
            TransferKind::Gift => "gift",
            TransferKind::Donate => "donate",
            TransferKind::Grant => "grant",
            TransferKind::Award => "award",
            TransferKind::Correction => "correction",
            TransferKind::Expire => "expire",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            TransferKind::Deposit => "服务存入",
            TransferKind::Welcome => "开户赠送",
            TransferKind::Redeem => "兑换",
            TransferKind::Gift => "转赠亲属",
            TransferKind::Donate => "捐入爱心池",
            TransferKind::Grant => "爱心池发放",
            TransferKind::Award => "积分评定",
            TransferKind::Correction => "冲正",
            TransferKind::Expire => "过期转入爱心池",
        }
    }
    /// Transfers that spend the payer's own balance are held to its floor; issuing, deductions
    /// under an approved rule and corrections are not (a deduction may leave a household below 0).
    pub fn checks_floor(self) -> bool {
        matches!(self, TransferKind::Redeem | TransferKind::Gift | TransferKind::Donate | TransferKind::Grant | TransferKind::Expire)
    }
}

/// One side of a transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub account: String,
    pub amount: i64,
}

/// The two movements of a transfer of `amount` (> 0) from `from` to `to`: they sum to zero.
pub fn movements(from: &str, to: &str, amount: i64) -> AppResult<[Movement; 2]> {
    if amount <= 0 {
        return Err(AppError::bad_request("ledger.bad_amount", "转账数额必须为正整数").at_field("amount"));
    }
    if from == to {
        return Err(AppError::bad_request("ledger.same_account", "转出与转入账户不能相同"));
    }
    Ok([Movement { account: from.to_owned(), amount: -amount }, Movement { account: to.to_owned(), amount }])
}

/// Whether the payer can pay `amount` without going under its floor.
pub fn check_funds(balance: i64, amount: i64, floor: Option<i64>, currency: Currency) -> AppResult<()> {
    match floor {
        Some(f) if balance - amount < f => Err(AppError::conflict(
            "ledger.insufficient",
            format!("余额不足：现有 {}，需要 {}", format_amount(balance, currency), format_amount(amount, currency)),
        )),
        _ => Ok(()),
    }
}

/// `90` minutes → "1小时30分"; points → "12分".
pub fn format_amount(v: i64, c: Currency) -> String {
    match c {
        Currency::Points => format!("{v}分"),
        Currency::Minutes => {
            let sign = if v < 0 { "-" } else { "" };
            let a = v.abs();
            match (a / 60, a % 60) {
                (0, m) => format!("{sign}{m}分钟"),
                (h, 0) => format!("{sign}{h}小时"),
                (h, m) => format!("{sign}{h}小时{m}分"),
            }
        }
    }
}

/// Hours typed by a person ("1.5", "2", "0.25") as whole minutes; at most two decimals.
pub fn parse_hours(s: &str) -> AppResult<i64> {
    let bad = || AppError::bad_request("ledger.bad_hours", format!("「{}」不是有效的小时数（如 1 或 1.5）", s.trim())).at_field("hours");
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 2 || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let h: i64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
    let f: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().map_err(|_| bad())? };
    let minutes = h.checked_mul(60).and_then(|m| m.checked_add(f * 60 / 100)).ok_or_else(bad)?;
    if minutes <= 0 || minutes > 100_000 * 60 {
        return Err(bad());
    }
    Ok(minutes)
}

/// An in-memory ledger with the same rules as the stored one, for property tests and for reasoning:
/// balances exist only as sums of movements.
#[derive(Default, Debug)]
pub struct MemLedger {
    pub movements: Vec<Movement>,
    pub floors: HashMap<String, Option<i64>>,
}

impl MemLedger {
    pub fn balance(&self, account: &str) -> i64 {
        self.movements.iter().filter(|m| m.account == account).map(|m| m.amount).sum()
    }
    /// Applies a transfer, or nothing at all.
    pub fn transfer(&mut self, from: &str, to: &str, amount: i64, kind: TransferKind) -> AppResult<()> {
        let ms = movements(from, to, amount)?;
        if kind.checks_floor() {
            check_funds(self.balance(from), amount, self.floors.get(from).copied().flatten(), Currency::Minutes)?;
        }
        self.movements.extend(ms);
        Ok(())
    }
    pub fn total(&self) -> i64 {
        self.movements.iter().map(|m| m.amount).sum()
    }
}

// ---------------------------------------------------------------------------------------------
// Time-bank configuration

/// The rules of a city's or county's time bank. Every limit is optional configuration; the
/// presets follow documented schemes (research note, §2.3). Expiry is off by default because no
/// authoritative rule for it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeBankConfig {
    pub preset: String,
    /// 存储上限: the most a person account may hold, in minutes.
    pub storage_cap: Option<i64>,
    /// 每日上限: the most one service day may deposit, in minutes.
    pub daily_cap: Option<i64>,
    /// Redemption opens at this age (60 / 65)…
    pub unlock_age: Option<i64>,
    /// …or once this many minutes were earned by service (100 h = 1 star).
    pub unlock_earned: Option<i64>,
    /// How far below zero a person account may go (25 h in hOurworld's FAQ; 0 = no overdraft).
    pub overdraft: i64,
    /// 开户赠送: minutes credited when an account opens.
    pub welcome: i64,
    /// Days after which unspent deposits expire; `None` = never.
    pub expiry_days: Option<i64>,
    /// Hours may be given to named relatives (转赠).
    pub gifts: bool,
}

impl TimeBankConfig {
    pub const PRESETS: [&'static str; 4] = ["suining", "nanjing", "shanghai", "guangzhou"];

    /// A named preset.
    pub fn preset(name: &str) -> Option<Self> {
        let h = 60;
        Some(match name {
            // 遂宁 default: Nanjing's cap, redemption from 60 or after 100 h, 2 welcome hours.
            "suining" => Self {
                preset: name.into(),
                storage_cap: Some(1500 * h),
                daily_cap: None,
                unlock_age: Some(60),
                unlock_earned: Some(100 * h),
                overdraft: 0,
                welcome: 2 * h,
                expiry_days: None,
                gifts: true,
            },
            // 南京: cap 1500 h, elders 60+ redeem, transfers allowed.
            "nanjing" => Self {
                preset: name.into(),
                storage_cap: Some(1500 * h),
                daily_cap: None,
                unlock_age: Some(60),
                unlock_earned: None,
                overdraft: 0,
                welcome: 0,
                expiry_days: None,
                gifts: true,
            },
            // 上海 (长宁 pilot limits, 沪助养老时光汇 age): 2 coins/day, cap 600, recipients 65+.
            "shanghai" => Self {
                preset: name.into(),
                storage_cap: Some(600 * h),
                daily_cap: Some(2 * h),
                unlock_age: Some(65),
                unlock_earned: None,
                overdraft: 0,
                welcome: 0,
                expiry_days: None,
                gifts: true,
            },
            // 广州: redemption opens at 1 star (100 h), cap 1500.
            "guangzhou" => Self {
                preset: name.into(),
                storage_cap: Some(1500 * h),
                daily_cap: None,
                unlock_age: None,
                unlock_earned: Some(100 * h),
                overdraft: 0,
                welcome: 0,
                expiry_days: None,
                gifts: true,
            },
            _ => return None,
        })
    }

    pub fn default_preset() -> Self {
        Self::preset("suining").unwrap_or_else(|| unreachable!("suining preset exists"))
    }

    /// A deposit of `amount` minutes into an account holding `balance`, where `same_day` minutes
    /// were already deposited for the same service day.
    pub fn check_deposit(&self, balance: i64, amount: i64, same_day: i64) -> AppResult<()> {
        if let Some(cap) = self.daily_cap
            && same_day + amount > cap
        {
            return Err(AppError::conflict(
                "timebank.daily_cap",
                format!(
                    "超过每日存入上限 {}：当日已存 {}，本次 {}",
                    format_amount(cap, Currency::Minutes),
                    format_amount(same_day, Currency::Minutes),
                    format_amount(amount, Currency::Minutes)
                ),
            ));
        }
        if let Some(cap) = self.storage_cap
            && balance + amount > cap
        {
            return Err(AppError::conflict(
                "timebank.storage_cap",
                format!(
                    "超过存储上限 {}：现有 {}，本次 {}。超出部分可捐入爱心池",
                    format_amount(cap, Currency::Minutes),
                    format_amount(balance, Currency::Minutes),
                    format_amount(amount, Currency::Minutes)
                ),
            ));
        }
        Ok(())
    }

    /// Whether a person may redeem: old enough, or enough hours of their own service.
    pub fn check_unlocked(&self, age: Option<i64>, earned: i64) -> AppResult<()> {
        if self.unlock_age.is_none() && self.unlock_earned.is_none() {
            return Ok(());
        }
        let by_age = matches!((self.unlock_age, age), (Some(u), Some(a)) if a >= u);
        let by_hours = matches!(self.unlock_earned, Some(u) if earned >= u);
        if by_age || by_hours {
            return Ok(());
        }
        let mut conds = Vec::new();
        if let Some(u) = self.unlock_age {
            conds.push(format!("年满 {u} 周岁"));
        }
        if let Some(u) = self.unlock_earned {
            conds.push(format!("累计服务满 {}", format_amount(u, Currency::Minutes)));
        }
        Err(AppError::conflict("timebank.locked", format!("尚未达到兑换条件（{}）", conds.join("或"))))
    }
}

// ---------------------------------------------------------------------------------------------
// Stars

/// 星级: thresholds in hours for stars 1–5 (100/300/600/1000/1500 by default; 张家港, 大连 and
/// others use other ladders, so it is configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StarLadder(pub Vec<i64>);

impl Default for StarLadder {
    fn default() -> Self {
        StarLadder(vec![100, 300, 600, 1000, 1500])
    }
}

impl StarLadder {
    /// "30,60,100,200,300" → a ladder; strictly increasing positive hours.
    pub fn parse(s: &str) -> AppResult<Self> {
        let bad = || AppError::bad_request("star.bad_ladder", "星级门槛须为递增的正整数小时数，用逗号分隔").at_field("stars");
        let v: Vec<i64> = s.split([',', '，']).map(|x| x.trim().parse::<i64>().map_err(|_| bad())).collect::<AppResult<_>>()?;
        if v.is_empty() || v.len() > 10 || v[0] <= 0 || v.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad());
        }
        Ok(StarLadder(v))
    }
    /// The star level that `minutes` of final service reach (0 = none).
    pub fn level_for(&self, minutes: i64) -> i64 {
        self.0.iter().filter(|h| minutes >= **h * 60).count() as i64
    }
    /// Stars are applied for one at a time: the next level after `held`, if the hours reach it.
    pub fn check_application(&self, held: i64, level: i64, minutes: i64) -> AppResult<()> {
        if level != held + 1 {
            return Err(AppError::bad_request("star.one_at_a_time", format!("星级须逐级申请：当前 {held} 星，只能申请 {} 星", held + 1)));
        }
        let Some(need) = self.0.get((level - 1) as usize) else {
            return Err(AppError::bad_request("star.top", "已是最高星级"));
        };
        if minutes < need * 60 {
            return Err(AppError::conflict(
                "star.not_enough_hours",
                format!("申请 {level} 星需累计服务 {need} 小时，目前 {}", format_amount(minutes, Currency::Minutes)),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Signed check-in/out codes

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanAction {
    CheckIn,
    CheckOut,
}

impl ScanAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanAction::CheckIn => "in",
            ScanAction::CheckOut => "out",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "in" => Some(ScanAction::CheckIn),
            "out" => Some(ScanAction::CheckOut),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ScanAction::CheckIn => "签到",
            ScanAction::CheckOut => "签退",
        }
    }
}

/// How long a code shown at the site stays valid: short, so a photo sent home does not work.
pub const QR_TTL: Millis = 10 * 60 * 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrToken {
    pub activity_id: String,
    pub action: ScanAction,
    pub expires_ms: Millis,
}

type HmacSha256 = Hmac<Sha256>;

fn qr_mac(key: &[u8], body: &str) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"jiceng volunteer scan v1\0");
    mac.update(body.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

impl QrToken {
    /// `activity.action.expiry.mac`: URL-safe, short enough for a small QR code.
    pub fn sign(&self, key: &[u8]) -> String {
        let body = format!("{}.{}.{}", self.activity_id, self.action.as_str(), self.expires_ms);
        let mac = qr_mac(key, &body);
        format!("{body}.{mac}")
    }

    /// Checks the signature first (a forged code says nothing about its expiry), then the time.
    pub fn verify(key: &[u8], token: &str, now: Millis) -> AppResult<QrToken> {
        let forged = || AppError::bad_request("scan.forged", "签到码无效：不是本平台生成的二维码");
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [activity, action, exp, mac] = parts.as_slice() else {
            return Err(forged());
        };
        let body = format!("{activity}.{action}.{exp}");
        let expected = qr_mac(key, &body);
        // Constant-time comparison through the MAC's own verifier.
        let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(b"jiceng volunteer scan v1\0");
        m.update(body.as_bytes());
        let given = hex::decode(mac).map_err(|_| forged())?;
        if given.len() != 16 || m.verify_truncated_left(&given).is_err() || expected.len() != 32 {
            return Err(forged());
        }
        let action = ScanAction::parse(action).ok_or_else(forged)?;
        let expires_ms: Millis = exp.parse().map_err(|_| forged())?;
        if now > expires_ms {
            return Err(AppError::bad_request("scan.expired", "签到码已过期，请刷新现场二维码后重新扫码"));
        }
        Ok(QrToken { activity_id: (*activity).to_owned(), action, expires_ms })
    }
}

// ---------------------------------------------------------------------------------------------
// Service records

/// Hours are actual service time: from check-in to check-out, whole minutes, never travel.
pub fn service_minutes(check_in: Millis, check_out: Millis) -> AppResult<i64> {
    if check_out <= check_in {
        return Err(AppError::bad_request("scan.out_before_in", "签退时间不能早于签到时间"));
    }
    let m = (check_out - check_in) / 60_000;
    if m > 24 * 60 {
        return Err(AppError::bad_request("record.too_long", "单次服务时长不能超过 24 小时"));
    }
    Ok(m)
}

/// Check-in opens an hour before the activity starts and closes when it ends, so codes shown early
/// or late cannot collect hours.
pub const CHECKIN_EARLY: Millis = 60 * 60 * 1000;
/// A check-out later than this after the scheduled end counts only up to it (a forgotten check-out
/// does not become hours of service); the organiser may still lower the minutes.
pub const CHECKOUT_GRACE: Millis = 60 * 60 * 1000;

pub fn check_checkin_window(starts: Millis, ends: Millis, now: Millis) -> AppResult<()> {
    if now < starts - CHECKIN_EARLY {
        return Err(AppError::conflict("scan.too_early", "活动开始前 1 小时起才能签到"));
    }
    if now >= ends {
        return Err(AppError::conflict("scan.too_late", "活动已结束，不能签到"));
    }
    Ok(())
}

/// The end of service a check-out at `now` records.
pub fn checkout_end(ends: Millis, now: Millis) -> Millis {
    now.min(ends + CHECKOUT_GRACE)
}

/// Whether two service intervals overlap (touching ends do not).
pub fn overlaps(a: (Millis, Millis), b: (Millis, Millis)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Record states: 待确认 → 公示中 (3 working days for objections) → 已生效; an objection stops it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordState {
    Pending,
    Published,
    Final,
    Objected,
    Rejected,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Pending => "pending",
            RecordState::Published => "published",
            RecordState::Final => "final",
            RecordState::Objected => "objected",
            RecordState::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [RecordState::Pending, RecordState::Published, RecordState::Final, RecordState::Objected, RecordState::Rejected].into_iter().find(|k| k.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            RecordState::Pending => "待组织方确认",
            RecordState::Published => "公示中",
            RecordState::Final => "已生效",
            RecordState::Objected => "有异议待处理",
            RecordState::Rejected => "未予确认",
        }
    }
    /// A published record whose window has passed is final; the store turns it so when read.
    pub fn effective(self, publish_until: Option<Millis>, now: Millis) -> RecordState {
        match (self, publish_until) {
            (RecordState::Published, Some(u)) if now >= u => RecordState::Final,
            (s, _) => s,
        }
    }
}

/// 工作日 from `data/cn-work-calendar.csv`: Monday–Friday, minus official holidays, plus 调休
/// make-up days. Read here rather than taken from the events slice, which this slice must not
/// depend on.
pub struct WorkDays {
    holidays: HashSet<i64>,
    makeup: HashSet<i64>,
}

pub const CALENDAR_CSV: &str = include_str!("../../../data/cn-work-calendar.csv");

impl WorkDays {
    pub fn official() -> Self {
        let (mut holidays, mut makeup) = (HashSet::new(), HashSet::new());
        for line in CALENDAR_CSV.lines().skip(1) {
            let mut f = line.split(',');
            let (Some(d), Some(kind)) = (f.next().and_then(Date::parse), f.next()) else { continue };
            match kind {
                "holiday" => holidays.insert(d.days()),
                "makeup_workday" => makeup.insert(d.days()),
                _ => false,
            };
        }
        Self { holidays, makeup }
    }
    pub fn is_working(&self, d: Date) -> bool {
        // 1970-01-01 was a Thursday: days % 7 == 2 is Saturday, 3 is Sunday.
        let weekday = d.days().rem_euclid(7);
        let weekend = weekday == 2 || weekday == 3;
        self.makeup.contains(&d.days()) || !weekend && !self.holidays.contains(&d.days())
    }
    /// The end of the `n`-th full working day after the day of `from` (Beijing time): a record
    /// confirmed on Friday afternoon is published Monday, Tuesday and Wednesday.
    pub fn end_of_working_days_after(&self, from: Millis, n: i64) -> Millis {
        let mut d = Date::of_instant(from);
        let mut left = n;
        while left > 0 {
            d = Date::from_days(d.days() + 1);
            if self.is_working(d) {
                left -= 1;
            }
        }
        // Midnight after that day, Beijing time.
        (d.days() + 1) * DAY - 8 * HOUR
    }
}

/// 公示期: three working days (志愿服务记录与证明出具办法 practice; Guangdong uses five).
pub const PUBLICATION_WORKING_DAYS: i64 = 3;

/// Certificate numbers: issuer unit, date, and a random tail — unguessable, so a number alone
/// cannot be used to read someone's proof.
pub fn certificate_no(unit: &str, now: Millis, random: &str) -> String {
    format!("ZYZM{}{}{}", &unit[..unit.len().min(6)], Date::of_instant(now).to_string().replace('-', ""), &random[..random.len().min(8)].to_uppercase())
}

/// 志愿者编号: 6-digit county code and a sequence.
pub fn volunteer_no(unit: &str, seq: i64) -> String {
    format!("ZY{}{:07}", &unit[..unit.len().min(6)], seq)
}

/// Who may register (中国注册志愿者管理办法): 18+; 14–17 only with a guardian's consent; under 14 not
/// on their own.
pub fn check_age(age: i64, guardian_consent: bool, guardian_name: &str) -> AppResult<()> {
    if age < 14 {
        return Err(AppError::bad_request("volunteer.too_young", "未满 14 周岁不能个人注册，请由监护人陪同以家庭或团体方式参加").at_field("id_number"));
    }
    if age < 18 && (!guardian_consent || guardian_name.trim().is_empty()) {
        return Err(AppError::bad_request("volunteer.guardian_needed", "未满 18 周岁须填写监护人姓名并勾选监护人同意").at_field("guardian_name"));
    }
    Ok(())
}

/// Skills and availability as people type them: trimmed, at most 200 characters.
pub fn clean_text(s: &str, max: usize, field: &str, label: &str) -> AppResult<String> {
    let t = s.trim();
    if t.chars().count() > max {
        return Err(AppError::bad_request("input.too_long", format!("{label}不能超过 {max} 个字")).at_field(field));
    }
    Ok(t.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Points bank

/// Where a points claim came from (积分来源).
pub const AWARD_SOURCES: [(&str, &str); 4] = [("self", "自主申报"), ("report", "群众举报"), ("inspection", "入户检查"), ("bin", "智能垃圾箱")];

pub fn source_label(s: &str) -> &'static str {
    AWARD_SOURCES.iter().find(|(k, _)| *k == s).map(|(_, l)| *l).unwrap_or("其他")
}

/// A month "YYYY-MM".
pub fn parse_month(s: &str) -> AppResult<(i64, u32)> {
    let bad = || AppError::bad_request("points.bad_month", "月份格式应为 YYYY-MM").at_field("month");
    let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if !(2000..=2200).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok((y, m))
}

/// [start, end) of a Beijing calendar month in UTC milliseconds.
pub fn month_range(y: i64, m: u32) -> (Millis, Millis) {
    let start = platform::clock::days_from_civil(y, m, 1);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let end = platform::clock::days_from_civil(ny, nm, 1);
    (start * DAY - 8 * HOUR, end * DAY - 8 * HOUR)
}

/// Objections to a month's published points are taken until this many days after the month ends.
pub const OBJECTION_DAYS: i64 = 7;

// ---------------------------------------------------------------------------------------------
// Points accounts: household and person

/// How many minutes of an account expire now (first in, first out: spending uses the oldest hours
/// first): what was credited before the cutoff and not yet spent, expired or otherwise debited —
/// never more than the balance. Expiry itself is a debit, so running it again expires nothing more.
pub fn expiring(credited_before_cutoff: i64, debited_ever: i64, balance: i64) -> i64 {
    (credited_before_cutoff - debited_ever).min(balance).max(0)
}

/// 张三丰 → 张**: a name as a village notice board shows it.
pub fn mask_name(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => std::iter::once(f).chain(c.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// Whose points pay in the shop: the household's (家庭积分) or the person's own (个人积分).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payer {
    Household,
    Person,
}

impl Payer {
    pub fn parse(s: &str) -> AppResult<Payer> {
        match s.trim() {
            "" | "household" => Ok(Payer::Household),
            "person" => Ok(Payer::Person),
            _ => Err(AppError::bad_request("shop.bad_payer", "请选择用家庭积分还是个人积分兑换").at_field("from")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Payer::Household => "household",
            Payer::Person => "person",
        }
    }
}

/// The rule catalogue's setting on who may spend the household's points: 户主 only (the default),
/// or any member of the household.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HouseholdSpend {
    #[default]
    Head,
    Members,
}

pub const HEAD_RELATION: &str = "户主";

impl HouseholdSpend {
    pub fn parse(s: &str) -> AppResult<HouseholdSpend> {
        match s.trim() {
            "" | "head" => Ok(HouseholdSpend::Head),
            "members" => Ok(HouseholdSpend::Members),
            _ => Err(AppError::bad_request("points.bad_household_spend", "家庭积分使用人须为“仅户主”或“户内成员”").at_field("household_spend")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            HouseholdSpend::Head => "head",
            HouseholdSpend::Members => "members",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            HouseholdSpend::Head => "家庭积分仅户主可用",
            HouseholdSpend::Members => "家庭积分户内成员均可用",
        }
    }
    /// May a member with this relation to the head spend the household's points?
    pub fn check(self, relation: Option<&str>) -> AppResult<()> {
        if self == HouseholdSpend::Members || relation == Some(HEAD_RELATION) {
            return Ok(());
        }
        Err(AppError::conflict("points.head_only", "按本村积分细则，家庭积分只能由户主兑换；您可以使用个人积分"))
    }
}

// ---------------------------------------------------------------------------------------------
// Star approval by level

/// The level that approves each star (星级认定层级), set by the city: 1–3 stars the county and 4–5
/// the city by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StarApprovers(pub Vec<platform::scope::Level>);

impl Default for StarApprovers {
    fn default() -> Self {
        use platform::scope::Level::{City, County};
        StarApprovers(vec![County, County, County, City, City])
    }
}

impl StarApprovers {
    /// "county,county,county,city,city" (or 区县/市/省) → levels; township, village and cell are
    /// too close to the volunteer to certify.
    pub fn parse(s: &str) -> AppResult<Self> {
        use platform::scope::Level;
        let bad = || {
            AppError::bad_request("star.bad_approvers", "星级审批层级须为 county、city 或 province（区县/市/省），用逗号分隔，每星一项")
                .at_field("star_approvers")
        };
        let v: Vec<Level> = s
            .split([',', '，'])
            .map(|x| match x.trim() {
                "county" | "区县" | "县" => Ok(Level::County),
                "city" | "市" => Ok(Level::City),
                "province" | "省" => Ok(Level::Province),
                _ => Err(bad()),
            })
            .collect::<AppResult<_>>()?;
        if v.is_empty() || v.len() > 10 {
            return Err(bad());
        }
        Ok(StarApprovers(v))
    }
    pub fn to_config(&self) -> String {
        use platform::scope::Level;
        self.0
            .iter()
            .map(|l| match l {
                Level::Province => "province",
                Level::City => "city",
                _ => "county",
            })
            .collect::<Vec<_>>()
            .join(",")
    }
    /// The level that approves `star` (stars beyond the list go to the last level named).
    pub fn level_for(&self, star: i64) -> platform::scope::Level {
        let i = (star.max(1) - 1) as usize;
        self.0.get(i).or(self.0.last()).copied().unwrap_or(platform::scope::Level::County)
    }
    /// An approver whose grant is at `held` may decide a star that goes to `level_for(star)`: the
    /// same level exactly, so a county cannot certify a city's star and the city does not take the
    /// county's work.
    pub fn may_decide(&self, star: i64, held: platform::scope::Level) -> bool {
        self.level_for(star) == held
    }
    pub fn level_label(l: platform::scope::Level) -> &'static str {
        use platform::scope::Level;
        match l {
            Level::Province => "省级",
            Level::City => "市级",
            _ => "区县级",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn transfers_are_two_movements_summing_to_zero() {
        let [a, b] = movements("x", "y", 90).unwrap();
        assert_eq!(a.amount + b.amount, 0);
        assert_eq!((a.account.as_str(), a.amount), ("x", -90));
        assert_eq!(movements("x", "y", 0).unwrap_err().code, "ledger.bad_amount");
        assert_eq!(movements("x", "x", 5).unwrap_err().code, "ledger.same_account");
    }

    #[test]
    fn floors_block_spending_but_not_issuing() {
        assert!(check_funds(30, 60, Some(0), Currency::Minutes).is_err());
        assert!(check_funds(30, 60, Some(-30), Currency::Minutes).is_ok(), "overdraft");
        assert!(check_funds(-1_000, 60, AccountKind::Issuer.floor(0), Currency::Minutes).is_ok());
        assert_eq!(AccountKind::Person.floor(25 * 60), Some(-1500));
        assert_eq!(AccountKind::Household.floor(25 * 60), Some(0));
    }

    #[test]
    fn hours_parse_to_whole_minutes() {
        assert_eq!(parse_hours("1.5").unwrap(), 90);
        assert_eq!(parse_hours("2").unwrap(), 120);
        assert_eq!(parse_hours(".25").unwrap(), 15);
        for bad in ["", "0", "-1", "1.555", "abc", "1e3"] {
            assert!(parse_hours(bad).is_err(), "{bad}");
        }
        assert_eq!(format_amount(90, Currency::Minutes), "1小时30分");
        assert_eq!(format_amount(-120, Currency::Minutes), "-2小时");
    }

    #[test]
    fn presets_follow_the_documented_schemes() {
        let sh = TimeBankConfig::preset("shanghai").unwrap();
        assert_eq!((sh.daily_cap, sh.storage_cap, sh.unlock_age), (Some(120), Some(36_000), Some(65)));
        assert!(sh.check_deposit(0, 121, 0).is_err());
        assert_eq!(sh.check_deposit(0, 60, 61).unwrap_err().code, "timebank.daily_cap");
        assert_eq!(sh.check_deposit(35_990, 60, 0).unwrap_err().code, "timebank.storage_cap");
        assert_eq!(sh.check_unlocked(Some(64), 0).unwrap_err().code, "timebank.locked");
        assert!(sh.check_unlocked(Some(65), 0).is_ok());
        let gz = TimeBankConfig::preset("guangzhou").unwrap();
        assert!(gz.check_unlocked(Some(80), 99 * 60).is_err(), "Guangzhou unlocks by hours only");
        assert!(gz.check_unlocked(None, 100 * 60).is_ok());
        let sn = TimeBankConfig::default_preset();
        assert_eq!(sn.expiry_days, None, "expiry off by default");
        assert!(TimeBankConfig::preset("nowhere").is_none());
    }

    #[test]
    fn unlock_by_age_or_hours() {
        let sn = TimeBankConfig::default_preset();
        assert!(sn.check_unlocked(Some(59), 0).is_err());
        assert!(sn.check_unlocked(Some(60), 0).is_ok());
        assert!(sn.check_unlocked(Some(30), 100 * 60).is_ok());
    }

    #[test]
    fn stars_are_applied_for_one_at_a_time() {
        let l = StarLadder::default();
        assert_eq!(l.level_for(99 * 60 + 59), 0);
        assert_eq!(l.level_for(100 * 60), 1);
        assert_eq!(l.level_for(1600 * 60), 5);
        assert!(l.check_application(0, 1, 100 * 60).is_ok());
        assert_eq!(l.check_application(0, 2, 400 * 60).unwrap_err().code, "star.one_at_a_time");
        assert_eq!(l.check_application(1, 2, 299 * 60).unwrap_err().code, "star.not_enough_hours");
        assert_eq!(l.check_application(5, 6, 9_999 * 60).unwrap_err().code, "star.top");
        assert_eq!(StarLadder::parse("30,60,100,200,300").unwrap().level_for(65 * 60), 2);
        assert!(StarLadder::parse("100,50").is_err());
    }

    #[test]
    fn scan_codes_are_signed_and_expire() {
        let key = b"secret key";
        let t = QrToken { activity_id: "abc123".into(), action: ScanAction::CheckIn, expires_ms: 1_000_000 };
        let s = t.sign(key);
        assert_eq!(QrToken::verify(key, &s, 999_999).unwrap(), t);
        assert_eq!(QrToken::verify(key, &s, 1_000_001).unwrap_err().code, "scan.expired");
        assert_eq!(QrToken::verify(b"other key", &s, 0).unwrap_err().code, "scan.forged");
        // Changing the action or the expiry breaks the signature.
        let tampered = s.replacen(".in.", ".out.", 1);
        assert_eq!(QrToken::verify(key, &tampered, 0).unwrap_err().code, "scan.forged");
        let later = s.replacen("1000000", "9000000", 1);
        assert_eq!(QrToken::verify(key, &later, 2_000_000).unwrap_err().code, "scan.forged");
        assert_eq!(QrToken::verify(key, "garbage", 0).unwrap_err().code, "scan.forged");
    }

    #[test]
    fn scans_keep_to_the_activity_time() {
        let (start, end) = (10 * HOUR, 13 * HOUR);
        assert_eq!(check_checkin_window(start, end, start - 61 * 60_000).unwrap_err().code, "scan.too_early");
        assert!(check_checkin_window(start, end, start - 59 * 60_000).is_ok());
        assert_eq!(check_checkin_window(start, end, end).unwrap_err().code, "scan.too_late");
        assert_eq!(checkout_end(end, end + 5 * HOUR), end + CHECKOUT_GRACE);
        assert_eq!(checkout_end(end, end - 1), end - 1);
    }

    #[test]
    fn service_time_is_actual_time() {
        assert_eq!(service_minutes(0, 90 * 60_000 + 59_000).unwrap(), 90);
        assert_eq!(service_minutes(10, 5).unwrap_err().code, "scan.out_before_in");
        assert!(overlaps((0, 10), (5, 15)));
        assert!(!overlaps((0, 10), (10, 15)));
    }

    #[test]
    fn publication_lasts_three_working_days() {
        let w = WorkDays::official();
        // Friday 2026-05-29 15:00 Beijing → Monday, Tuesday, Wednesday → ends Thursday 00:00.
        let fri = (Date::parse("2026-05-29").unwrap().days() * DAY - 8 * HOUR) + 15 * HOUR;
        let end = w.end_of_working_days_after(fri, 3);
        assert_eq!(platform::clock::format_beijing(end), "2026-06-04 00:00:00");
        // Across the National Day holiday (2025-10-01..08, 调休 on 09-28 and 10-11).
        let sep30 = Date::parse("2025-09-30").unwrap().days() * DAY - 8 * HOUR + 10 * HOUR;
        assert_eq!(platform::clock::format_beijing(w.end_of_working_days_after(sep30, 1)), "2025-10-10 00:00:00");
        assert_eq!(RecordState::Published.effective(Some(end), end), RecordState::Final);
        assert_eq!(RecordState::Published.effective(Some(end), end - 1), RecordState::Published);
    }

    #[test]
    fn minors_need_a_guardian() {
        assert_eq!(check_age(13, true, "张三").unwrap_err().code, "volunteer.too_young");
        assert_eq!(check_age(16, false, "张三").unwrap_err().code, "volunteer.guardian_needed");
        assert!(check_age(16, true, "张三").is_ok());
        assert!(check_age(18, false, "").is_ok());
    }

    #[test]
    fn months_cover_beijing_days() {
        let (a, b) = month_range(2026, 12);
        assert_eq!(platform::clock::format_beijing(a), "2026-12-01 00:00:00");
        assert_eq!(platform::clock::format_beijing(b), "2027-01-01 00:00:00");
        assert!(parse_month("2026-13").is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Issue(usize, i64),
        Spend(usize, usize, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![(0usize..4, 1i64..500).prop_map(|(a, n)| Op::Issue(a, n)), (0usize..4, 0usize..5, -5i64..500).prop_map(|(a, b, n)| Op::Spend(a, b, n)),]
    }

    proptest! {
        /// Whatever sequence of issues and spends, accepted or refused: the ledger sums to zero,
        /// no floored account goes below its floor, and a refused transfer leaves no movement.
        #[test]
        fn ledger_balances_and_respects_floors(ops in proptest::collection::vec(op(), 0..80), overdraft in 0i64..100) {
            let accts = ["p0", "p1", "p2", "p3", "sink"];
            let mut l = MemLedger::default();
            l.floors.insert("issuer".into(), None);
            for a in accts {
                l.floors.insert(a.into(), AccountKind::Person.floor(overdraft));
            }
            for o in ops {
                let before = l.movements.len();
                let r = match o {
                    Op::Issue(a, n) => l.transfer("issuer", accts[a], n, TransferKind::Deposit),
                    Op::Spend(a, b, n) => l.transfer(accts[a], accts[b], n, TransferKind::Redeem),
                };
                prop_assert_eq!(l.movements.len(), before + if r.is_ok() { 2 } else { 0 });
                prop_assert_eq!(l.total(), 0);
                for a in accts {
                    prop_assert!(l.balance(a) >= -overdraft, "{} at {}", a, l.balance(a));
                }
            }
        }

        #[test]
        fn stars_never_decrease_with_more_hours(a in 0i64..200_000, b in 0i64..200_000) {
            let l = StarLadder::default();
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(l.level_for(lo) <= l.level_for(hi));
        }

        #[test]
        fn any_tampering_with_a_code_is_refused(flip in 0usize..60, exp in 1i64..10_000_000_000) {
            let key = b"k";
            let s = QrToken { activity_id: "a1b2".into(), action: ScanAction::CheckOut, expires_ms: exp }.sign(key);
            let mut bytes = s.clone().into_bytes();
            let i = flip % bytes.len();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let t = String::from_utf8(bytes).unwrap();
            if t != s {
                prop_assert!(QrToken::verify(key, &t, 0).is_err());
            }
        }

        #[test]
        fn hours_round_trip(h in 1i64..10_000, q in 0i64..4) {
            let s = if q == 0 { h.to_string() } else { format!("{h}.{}", ["", "25", "5", "75"][q as usize]) };
            prop_assert_eq!(parse_hours(&s).unwrap(), h * 60 + q * 15);
        }
    }

    #[test]
    fn household_points_are_the_heads_unless_the_rules_say_otherwise() {
        assert!(HouseholdSpend::default().check(Some("户主")).is_ok());
        assert_eq!(HouseholdSpend::default().check(Some("配偶")).unwrap_err().code, "points.head_only");
        assert_eq!(HouseholdSpend::Head.check(None).unwrap_err().code, "points.head_only");
        assert!(HouseholdSpend::Members.check(Some("子女")).is_ok());
        assert_eq!(HouseholdSpend::parse("x").unwrap_err().code, "points.bad_household_spend");
        assert_eq!(Payer::parse("").unwrap(), Payer::Household);
        assert_eq!(Payer::parse("person").unwrap(), Payer::Person);
    }

    #[test]
    fn expiry_takes_the_oldest_unspent_hours_once() {
        assert_eq!(expiring(120, 0, 120), 120);
        assert_eq!(expiring(120, 50, 70), 70, "spent hours were the oldest");
        assert_eq!(expiring(120, 120, 60), 0, "already expired: nothing more");
        assert_eq!(expiring(100, 0, 40), 40, "never below zero");
        assert_eq!(expiring(100, 0, -10), 0, "an overdrawn account loses nothing");
    }

    #[test]
    fn stars_go_to_the_level_the_city_sets() {
        use platform::scope::Level;
        let d = StarApprovers::default();
        assert_eq!(d.to_config(), "county,county,county,city,city");
        assert!(d.may_decide(3, Level::County) && !d.may_decide(3, Level::City));
        assert!(d.may_decide(4, Level::City) && !d.may_decide(4, Level::County));
        let c = StarApprovers::parse("区县,区县,市,市,省").unwrap();
        assert_eq!(c.level_for(5), Level::Province);
        assert_eq!(c.level_for(9), Level::Province);
        assert_eq!(StarApprovers::parse("county,township").unwrap_err().code, "star.bad_approvers");
    }
}
