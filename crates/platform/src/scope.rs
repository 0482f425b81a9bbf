//! Unit codes and scopes. A role is held at a unit and reaches that unit's subtree; every query that
//! reads unit-owned rows takes a [`Scope`] and filters in SQL, never after the fact.
//!
//! Codes follow the statistical division codes: 2 digits province, 4 city, 6 county, 9 township,
//! 12 village/community, then 3 more digits (15) for compounds (小区) and grids (网格). A unit's
//! subtree is exactly the codes that start with its code, so a scope is a set of code ranges that
//! both engines serve from the primary-key B-tree.

use serde::Serialize;

use crate::db::Sql;

/// A validated unit code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct UnitCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitCodeError {
    #[error("单位代码不能为空")]
    Empty,
    #[error("单位代码只能包含数字：{0}")]
    NotDigits(String),
    #[error("单位代码长度应为 2、4、6、9、12 或 15 位：{0}")]
    BadLength(String),
}

/// The administrative depth a code length stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    Province = 1,
    City = 2,
    County = 3,
    Township = 4,
    Village = 5,
    Cell = 6,
}

impl Level {
    pub fn from_i64(n: i64) -> Option<Level> {
        Some(match n {
            1 => Level::Province,
            2 => Level::City,
            3 => Level::County,
            4 => Level::Township,
            5 => Level::Village,
            6 => Level::Cell,
            _ => return None,
        })
    }
    pub fn code_len(self) -> usize {
        match self {
            Level::Province => 2,
            Level::City => 4,
            Level::County => 6,
            Level::Township => 9,
            Level::Village => 12,
            Level::Cell => 15,
        }
    }
    /// 市级 / 县级 …: how staff name the level.
    pub fn label(self) -> &'static str {
        match self {
            Level::Province => "省级",
            Level::City => "市级",
            Level::County => "县级",
            Level::Township => "乡镇级",
            Level::Village => "村（社区）级",
            Level::Cell => "小区/网格",
        }
    }
}

impl UnitCode {
    pub fn parse(s: &str) -> Result<Self, UnitCodeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(UnitCodeError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UnitCodeError::NotDigits(s.to_owned()));
        }
        if !matches!(s.len(), 2 | 4 | 6 | 9 | 12 | 15) {
            return Err(UnitCodeError::BadLength(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn level(&self) -> Level {
        match self.0.len() {
            2 => Level::Province,
            4 => Level::City,
            6 => Level::County,
            9 => Level::Township,
            12 => Level::Village,
            _ => Level::Cell,
        }
    }
    /// The code one level up, by structure (a province has none).
    pub fn structural_parent(&self) -> Option<UnitCode> {
        let len = match self.0.len() {
            4 => 2,
            6 => 4,
            9 => 6,
            12 => 9,
            15 => 12,
            _ => return None,
        };
        Some(UnitCode(self.0[..len].to_owned()))
    }
    /// True when `other` is this unit or lies below it.
    pub fn contains(&self, other: &UnitCode) -> bool {
        other.0.starts_with(&self.0)
    }
    /// The smallest string greater than every code in this subtree (codes are ASCII digits).
    fn upper_bound(&self) -> String {
        let mut bytes = self.0.clone().into_bytes();
        if let Some(last) = bytes.last_mut() {
            *last += 1;
        }
        String::from_utf8(bytes).unwrap_or_default()
    }
}

impl std::fmt::Display for UnitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The set of subtrees a principal may touch for one permission. Empty means nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    roots: Vec<UnitCode>,
}

impl Scope {
    /// Builds a scope, dropping roots already covered by another root.
    pub fn new(mut roots: Vec<UnitCode>) -> Self {
        roots.sort();
        roots.dedup();
        let mut kept: Vec<UnitCode> = Vec::new();
        for r in roots {
            if !kept.iter().any(|k| k.contains(&r)) {
                kept.push(r);
            }
        }
        Self { roots: kept }
    }
    pub fn nothing() -> Self {
        Self::default()
    }
    pub fn roots(&self) -> &[UnitCode] {
        &self.roots
    }
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
    pub fn contains(&self, code: &UnitCode) -> bool {
        self.roots.iter().any(|r| r.contains(code))
    }
    /// True when the unit is in scope or is an ancestor of an in-scope unit (shown in breadcrumbs
    /// as a path, never opened).
    pub fn is_ancestor_of_scope(&self, code: &UnitCode) -> bool {
        self.roots.iter().any(|r| code.contains(r))
    }
    /// The part of this scope inside `root`: `root` itself when the scope covers it, otherwise the
    /// scope's subtrees below `root`. Filtering by this one scope gives the database a single tight
    /// range instead of two overlapping ones (SQLite would walk the wider).
    pub fn within(&self, root: &UnitCode) -> Scope {
        if self.contains(root) { Scope::new(vec![root.clone()]) } else { Scope::new(self.roots.iter().filter(|r| root.contains(r)).cloned().collect()) }
    }
    /// Appends `(column >= $a AND column < $b OR …)` to `sql`; an empty scope appends a false condition.
    pub fn push_filter(&self, sql: &mut Sql, column: &str) {
        if self.roots.is_empty() {
            sql.push("(1 = 0)");
            return;
        }
        sql.push("(");
        for (i, r) in self.roots.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(").push(column).push(" >= ").bind(r.as_str()).push(" AND ").push(column).push(" < ").bind(r.upper_bound()).push(")");
        }
        sql.push(")");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> UnitCode {
        UnitCode::parse(s).expect("valid code")
    }

    #[test]
    fn codes_are_validated() {
        assert_eq!(UnitCode::parse("51090a"), Err(UnitCodeError::NotDigits("51090a".into())));
        assert_eq!(UnitCode::parse("5109031"), Err(UnitCodeError::BadLength("5109031".into())));
        assert_eq!(UnitCode::parse(" "), Err(UnitCodeError::Empty));
        assert_eq!(c("510903001001").level(), Level::Village);
        assert_eq!(c("510903001001").structural_parent(), Some(c("510903001")));
    }

    #[test]
    fn scope_is_the_subtree_and_nothing_else() {
        let s = Scope::new(vec![c("510903"), c("510903001"), c("510921002")]);
        assert_eq!(s.roots(), &[c("510903"), c("510921002")]);
        assert!(s.contains(&c("510903001001")));
        assert!(s.contains(&c("510921002001")));
        assert!(!s.contains(&c("510904")));
        assert!(!s.contains(&c("5109")));
        assert!(s.is_ancestor_of_scope(&c("5109")));
        assert!(!Scope::nothing().contains(&c("5109")));
    }

    #[test]
    fn within_narrows_to_the_tighter_subtree() {
        let county = Scope::new(vec![c("510903")]);
        assert_eq!(county.within(&c("510903001001")).roots(), &[c("510903001001")]);
        assert_eq!(county.within(&c("5109")).roots(), &[c("510903")]);
        assert!(county.within(&c("510904")).is_empty());
    }

    #[test]
    fn range_bound_excludes_the_next_sibling_even_after_a_nine() {
        assert_eq!(c("510909").upper_bound(), "51090:");
        assert!("510909123" < c("510909").upper_bound().as_str());
        assert!("510910" > c("510909").upper_bound().as_str());
    }
}
