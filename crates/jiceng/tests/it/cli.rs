//! The binary as scripts drive it: `--db`, the TOML file, passwords on stdin, tokens, backups.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("jiceng-cli-{}", platform::db::new_id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn jiceng(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .current_dir(dir)
        .args(args)
        .env_remove("JICENG_DB")
        .env_remove("JICENG_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn scripts_can_add_users_and_tokens_with_the_password_on_stdin() {
    let dir = temp_dir();
    let db = dir.join("a.db");
    let db = db.to_str().unwrap();
    assert!(jiceng(&dir, &["--db", db, "import", "reference"], None).status.success());
    let out = jiceng(&dir, &["--db", db, "user", "add", "li", "--role", "county_staff", "--unit", "510903"], Some("Str0ng-pass!\n"));
    assert!(out.status.success(), "{}", text(&out));
    // A weak password, an unknown role and a unit at the wrong tier are refused with a reason.
    let out = jiceng(&dir, &["--db", db, "user", "add", "wu", "--role", "county_staff", "--unit", "510903"], Some("short\n"));
    assert!(!out.status.success() && text(&out).contains("密码至少 8 位"), "{}", text(&out));
    let out = jiceng(&dir, &["--db", db, "user", "add", "wu", "--role", "mayor", "--unit", "510903"], Some("Str0ng-pass!\n"));
    assert!(!out.status.success() && text(&out).contains("未知角色"));
    let out = jiceng(&dir, &["--db", db, "user", "grant", "li", "--role", "county_staff", "--unit", "510903001"], None);
    assert!(!out.status.success() && text(&out).contains("不能设在"));
    let out = jiceng(&dir, &["--db", db, "token", "create", "li"], None);
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("jct_") && token.len() > 60, "only the token on stdout: {token}");
    let list = jiceng(&dir, &["--db", db, "user", "list"], None);
    assert!(text(&list).contains("county_staff@510903"));
    let out = jiceng(&dir, &["--db", db, "user", "disable", "li"], None);
    assert!(out.status.success());
    assert!(text(&jiceng(&dir, &["--db", db, "user", "list"], None)).contains("[停用]"));
}

#[test]
fn flags_beat_the_environment_which_beats_the_toml_file() {
    let dir = temp_dir();
    std::fs::write(dir.join("jiceng.toml"), "db = \"from-toml.db\"\n").unwrap();
    assert!(jiceng(&dir, &["migrate"], None).status.success());
    assert!(dir.join("from-toml.db").exists(), "the TOML file is read from the working directory");
    let out = Command::new(env!("CARGO_BIN_EXE_jiceng")).current_dir(&dir).arg("migrate").env("JICENG_DB", "from-env.db").output().unwrap();
    assert!(out.status.success());
    assert!(dir.join("from-env.db").exists(), "the environment beats the file");
    let out = Command::new(env!("CARGO_BIN_EXE_jiceng"))
        .current_dir(&dir)
        .args(["--db", "from-flag.db", "migrate"])
        .env("JICENG_DB", "from-env.db")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir.join("from-flag.db").exists(), "the flag beats the environment");
    std::fs::write(dir.join("jiceng.toml"), "databse = \"typo.db\"\n").unwrap();
    let out = jiceng(&dir, &["migrate"], None);
    assert!(!out.status.success() && text(&out).contains("配置文件"), "{}", text(&out));
}

#[test]
fn backup_writes_a_database_that_opens_with_the_same_tree() {
    let dir = temp_dir();
    assert!(jiceng(&dir, &["--db", "live.db", "import", "reference"], None).status.success());
    let out = jiceng(&dir, &["--db", "live.db", "backup", "--out", "copy.db"], None);
    assert!(out.status.success(), "{}", text(&out));
    let out = jiceng(&dir, &["--db", "copy.db", "audit", "verify"], None);
    assert!(out.status.success(), "{}", text(&out));
    let out = jiceng(&dir, &["--db", "live.db", "backup", "--out", "copy.db"], None);
    assert!(!out.status.success() && text(&out).contains("已存在"), "never overwrites");
}

#[test]
fn a_csv_with_errors_exits_non_zero_and_lists_them() {
    let dir = temp_dir();
    assert!(jiceng(&dir, &["--db", "d.db", "import", "reference"], None).status.success());
    std::fs::write(dir.join("bad.csv"), "代码,名称,上级代码,类型\n510903001001601,新网格,510903001001,网格\n510903001001602,坏,510999001001,网格\n").unwrap();
    let out = jiceng(&dir, &["--db", "d.db", "import", "units", "bad.csv"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("第 3 行：代码 510903001001602 不以上级代码 510999001001 开头"), "{}", text(&out));
    assert!(text(&out).contains("未写入任何数据"));
}

#[test]
fn departments_get_members_from_the_command_line() {
    let dir = temp_dir();
    assert!(jiceng(&dir, &["--db", "d.db", "demo", "--no-serve"], None).status.success());
    assert!(jiceng(&dir, &["--db", "d.db", "user", "add", "zhang", "--role", "department_staff", "--unit", "510903"], Some("Str0ng-pass!\n")).status.success());
    let out = jiceng(&dir, &["--db", "d.db", "department", "add-member", "zhang", "--department", "城管局", "--unit", "510903"], None);
    assert!(out.status.success(), "{}", text(&out));
    let list = text(&jiceng(&dir, &["--db", "d.db", "department", "list", "510903001001"], None));
    assert!(list.contains("510903  城管局") && list.contains("5109  城管局"), "county and city departments: {list}");
    let bad = jiceng(&dir, &["--db", "d.db", "department", "add-member", "zhang", "--department", "城管局", "--unit", "510903001"], None);
    assert!(!bad.status.success() && text(&bad).contains("不是市或区县"));
}
