//! tarn used as a hostile but realistic user would: machine-written SQL, kills and Ctrl-C during writes, bad files
//! and bad environments. Real processes, real files.

mod common;

use std::path::Path;

use common::*;

fn script(dir: &Path, name: &str, sql: &str) -> TestResult<String> {
    let path = dir.join(name);
    std::fs::write(&path, sql)?;
    Ok(path.display().to_string())
}

/// CSV output of a script that returns one value.
fn one_value(ran: &Ran) -> Option<&str> {
    let lines: Vec<&str> = ran.stdout.lines().collect();
    match lines.as_slice() {
        [_, value] => Some(value),
        _ => None,
    }
}

#[test]
fn machine_written_sql_gets_an_answer_or_a_clear_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tarn = Tarn::local(&dir.path().join("wh"));
    let or = (0..20_000).map(|i| format!("a = {i}")).collect::<Vec<_>>().join(" OR ");
    let cases = [
        (
            "or.sql",
            format!("SELECT count(*) FROM (VALUES (1), (2), (20001)) AS t(a) WHERE {or};"),
            "2",
        ),
        (
            "plus.sql",
            format!("SELECT {} AS s;", vec!["1"; 20_000].join("+")),
            "20000",
        ),
        (
            "sum.sql",
            format!(
                "SELECT sum({}) AS s FROM (VALUES (1), (2)) AS t(a);",
                vec!["a"; 20_000].join(" + ")
            ),
            "60000",
        ),
        (
            "parens.sql",
            format!("SELECT {}1{} AS x;", "(".repeat(2_000), ")".repeat(2_000)),
            "1",
        ),
    ];
    for (name, sql, expected) in cases {
        let ran = tarn.ok(&["--format", "csv", "-f", &script(dir.path(), name, &sql)?])?;
        assert_eq!(one_value(&ran), Some(expected), "{name}: {}", ran.stdout);
    }
    let too_deep = script(
        dir.path(),
        "deep.sql",
        &format!("SELECT {}1{};", "(".repeat(6_000), ")".repeat(6_000)),
    )?;
    let error = tarn.fails(&["-f", &too_deep])?;
    assert!(
        error
            .contains("deep.sql:1:1: the statement nests parentheses, subqueries or calls more than 5,000 levels deep"),
        "{error}"
    );
    Ok(())
}
