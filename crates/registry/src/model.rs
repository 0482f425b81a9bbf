//! Validated values and rules of the base registers. Pure: no SQL, no HTTP.

use platform::AppError;
use platform::clock::Date;
use serde::Serialize;

/// 公民身份号码 (GB 11643-1999), normalised to upper-case `X`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl std::fmt::Debug for IdNumber {
    /// Never print the full number, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("身份证号应为 18 位（现为 {0} 位）")]
    Length(usize),
    #[error("身份证号前 17 位须为数字，末位为数字或 X")]
    Characters,
    #[error("身份证号中的地址码无效")]
    Region,
    #[error("身份证号中的出生日期 {0} 不存在或不合理")]
    BirthDate(String),
    #[error("身份证号校验码错误（应为 {0}）")]
    CheckDigit(char),
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The MOD 11-2 check character for the first 17 digits.
pub fn check_char(first17: &[u8]) -> char {
    let s: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| (d - b'0') as u32 * w).sum();
    CHECK[(s % 11) as usize]
}

impl IdNumber {
    /// Checks structure, address code shape, birth date (real, not in the future, after 1900) and
    /// the check digit. The address code is not checked against today's divisions: numbers keep the
    /// code of issue (射洪 residents carry 510922, not 510981).
    pub fn parse(s: &str, today: Date) -> Result<IdNumber, IdError> {
        let s: String = s.trim().chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdError::Length(n));
        }
        let b = s.as_bytes();
        if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(IdError::Characters);
        }
        if !(b'1'..=b'9').contains(&b[0]) || &s[2..6] == "0000" {
            return Err(IdError::Region);
        }
        let birth = format!("{}-{}-{}", &s[6..10], &s[10..12], &s[12..14]);
        match Date::parse(&birth) {
            Some(d) if d <= today && d.to_string().as_str() >= "1900-01-01" => {}
            _ => return Err(IdError::BirthDate(birth)),
        }
        let c = check_char(&b[..17]);
        if b[17] as char != c {
            return Err(IdError::CheckDigit(c));
        }
        Ok(IdNumber(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn birth_date(&self) -> String {
        format!("{}-{}-{}", &self.0[6..10], &self.0[10..12], &self.0[12..14])
    }
    /// 男 for an odd 17th digit, 女 for even.
    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female }
    }
    /// First 6 + last 4: keeps the county of issue, hides the birth date.
    pub fn masked(&self) -> String {
        mask_id(&self.0)
    }
}

pub fn mask_id(s: &str) -> String {
    if s.len() < 10 {
        return "*".repeat(s.len());
    }
    format!("{}{}{}", &s[..6], "*".repeat(s.len() - 10), &s[s.len() - 4..])
}

/// A phone: mainland mobile (11 digits starting 1[3-9]) or landline with area code.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl Phone {
    pub fn parse(s: &str) -> Result<Phone, AppError> {
        let digits: String = s.trim().chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits.strip_prefix("+86").unwrap_or(&digits).to_owned();
        let mobile = digits.len() == 11 && digits.starts_with('1') && matches!(digits.as_bytes()[1], b'3'..=b'9');
        let landline = digits.starts_with('0') && (10..=12).contains(&digits.len());
        if digits.bytes().all(|b| b.is_ascii_digit()) && (mobile || landline) {
            Ok(Phone(digits))
        } else {
            Err(AppError::bad_request("registry.bad_phone", "电话号码格式错误：手机号应为 11 位（1 开头），固话应带区号").at_field("phone"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// 3 + **** + 4.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

pub fn mask_phone(s: &str) -> String {
    if s.len() < 8 {
        return "*".repeat(s.len());
    }
    format!("{}****{}", &s[..3], &s[s.len() - 4..])
}

/// Surname plus one `*` per remaining character, for lists shared outside the unit.
pub fn mask_name(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
    pub fn parse(s: &str) -> Option<Sex> {
        match s.trim() {
            "男" | "M" | "m" | "male" => Some(Sex::Male),
            "女" | "F" | "f" | "female" => Some(Sex::Female),
            _ => None,
        }
    }
}

/// 实有人口 categories.
pub const RESIDENCE_KINDS: [&str; 3] = ["户籍", "常住", "流动"];

/// 与户主关系.
pub const RELATIONS: [&str; 8] = ["户主", "配偶", "子女", "父母", "祖父母", "孙子女", "兄弟姐妹", "其他"];

/// Special-population tags the plan's services target.
pub const TAGS: [&str; 14] = [
    "独居老人",
    "空巢老人",
    "高龄老人",
    "残疾人",
    "留守儿童",
    "困境儿童",
    "低保",
    "特困",
    "退役军人",
    "优抚对象",
    "失业人员",
    "重点青少年",
    "社区矫正",
    "党员",
];

pub fn check_tag(t: &str) -> Result<&'static str, AppError> {
    TAGS.iter()
        .find(|x| **x == t.trim())
        .copied()
        .ok_or_else(|| AppError::bad_request("registry.bad_tag", format!("未知标签「{}」，可用：{}", t.trim(), TAGS.join("、"))).at_field("tags"))
}

pub const HOUSE_USES: [&str; 4] = ["住宅", "商业", "办公", "其他"];
pub const OCCUPANCY: [&str; 3] = ["自住", "出租", "空置"];
/// 小区管理方式: professional property company, self-managed, or none (三无: no property company,
/// no owners' committee, no management body).
pub const COMPOUND_MANAGEMENT: [&str; 3] = ["物业管理", "自治管理", "三无小区"];

pub const FACILITY_CATEGORIES: [&str; 14] = [
    "党群服务中心",
    "综合服务站",
    "养老服务",
    "托育",
    "幼儿园",
    "卫生服务站",
    "超市",
    "文化活动",
    "社工站",
    "志愿服务站",
    "法律服务",
    "避难场所",
    "体育健身",
    "便民服务",
];

pub const ORGANISATION_KINDS: [&str; 7] = ["企业", "个体工商户", "社会组织", "社会企业", "慈善基金", "社区经济组织", "其他"];

pub const WORKFORCE_ROLES: [&str; 4] = ["社区工作者", "社会工作者", "网格员", "村（社区）干部"];
pub const SOCIAL_WORK_LEVELS: [&str; 3] = ["助理社会工作师", "社会工作师", "高级社会工作师"];

/// Age in whole years on `today`.
pub fn age_on(birth: &str, today: Date) -> Option<i64> {
    let b = Date::parse(birth)?;
    let t = today.to_string();
    let bs = b.to_string();
    let years: i64 = t[..4].parse::<i64>().ok()? - bs[..4].parse::<i64>().ok()?;
    Some(if t[5..] < bs[5..] { years - 1 } else { years })
}

/// Age bands used by filters and statistics.
pub const AGE_BANDS: [(&str, i64, i64); 5] = [("0–17 岁", 0, 17), ("18–59 岁", 18, 59), ("60–79 岁", 60, 79), ("80 岁以上", 80, 200), ("全部年龄", 0, 200)];

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::parse("2026-11-25").unwrap()
    }

    #[test]
    fn standard_examples_pass_and_wrong_check_digits_fail() {
        let id = IdNumber::parse("11010519491231002x", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), "1949-12-31");
        assert_eq!(id.sex(), Sex::Female);
        assert!(IdNumber::parse("440524188001010014", today()).is_err(), "born 1880: before 1900");
        assert_eq!(IdNumber::parse("340524198001010013", today()), Err(IdError::CheckDigit('X')));
    }

    #[test]
    fn impossible_dates_lengths_and_characters_are_named() {
        let mut s = String::from("51092219990230001");
        s.push(check_char(s.as_bytes()));
        assert_eq!(IdNumber::parse(&s, today()), Err(IdError::BirthDate("1999-02-30".into())));
        assert_eq!(IdNumber::parse("5109031990", today()), Err(IdError::Length(10)));
        assert_eq!(IdNumber::parse("51090319900101A01X", today()), Err(IdError::Characters));
        let mut future = String::from("51090320300101001");
        future.push(check_char(future.as_bytes()));
        assert!(matches!(IdNumber::parse(&future, today()), Err(IdError::BirthDate(_))));
    }

    #[test]
    fn old_shehong_codes_are_still_valid() {
        let mut s = String::from("51092219850612003");
        s.push(check_char(s.as_bytes()));
        let id = IdNumber::parse(&s, today()).expect("510922 was 射洪县's code before 2019");
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(id.masked(), format!("510922********{}", &s[14..]));
        assert!(!format!("{id:?}").contains("19850612"), "debug output is masked");
    }

    #[test]
    fn phones_are_checked_and_masked() {
        assert_eq!(Phone::parse("138 1234 5678").unwrap().masked(), "138****5678");
        assert_eq!(Phone::parse("+8613812345678").unwrap().as_str(), "13812345678");
        assert_eq!(Phone::parse("0825-2222333").unwrap().as_str(), "08252222333");
        assert!(Phone::parse("12812345678").is_err());
        assert!(Phone::parse("1381234567").is_err());
        assert_eq!(mask_name("欧阳修"), "欧**");
    }

    #[test]
    fn ages_count_whole_years() {
        assert_eq!(age_on("1949-12-31", today()), Some(76));
        assert_eq!(age_on("1950-11-25", today()), Some(76));
        assert_eq!(age_on("1950-11-26", today()), Some(75));
    }
}
