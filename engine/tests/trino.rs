//! The Trino compatibility corpus: `engine/tests/trino/*.slt`, a sqllogictest-style list of queries with the rows
//! Trino's documentation gives for them (each file names the pages it follows).
//!
//! Format: `query` on a line, the SQL, `----`, then one line per row with values separated by tabs (NULL as `NULL`);
//! or `query error <text>`, the SQL, and the statement must fail with an error containing `<text>`. Blocks are
//! separated by blank lines; `#` lines are comments.

mod common;

use common::*;

struct Case {
    file: String,
    line: usize,
    sql: String,
    expected: Expected,
}

enum Expected {
    Rows(Vec<String>),
    Error(String),
}

fn parse(file: &str, text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let header = line;
        let error = match header.strip_prefix("query") {
            Some(rest) if rest.trim().is_empty() => None,
            Some(rest) => match rest.trim().strip_prefix("error ") {
                Some(text) => Some(text.to_string()),
                None => return Err(format!("{file}:{start}: expected `query` or `query error <text>`")),
            },
            None => return Err(format!("{file}:{start}: expected `query`, found {header:?}")),
        };
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let expected = match error {
            Some(text) => Expected::Error(text),
            None => {
                if lines.get(i).map(|l| l.trim()) != Some("----") {
                    return Err(format!("{file}:{start}: a `query` needs `----` and its rows"));
                }
                i += 1;
                let mut rows = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    rows.push(lines[i].to_string());
                    i += 1;
                }
                Expected::Rows(rows)
            }
        };
        cases.push(Case {
            file: file.to_string(),
            line: start,
            sql: sql.join("\n"),
            expected,
        });
    }
    Ok(cases)
}

#[tokio::test]
async fn trino_corpus() -> TestResult {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trino");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "slt"));
    files.sort();
    let wh = tempdir()?;
    let mut session = open(&wh.path().display().to_string()).await?;
    let mut failures = Vec::new();
    let mut count = 0;
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in parse(&name, &std::fs::read_to_string(&path)?)? {
            count += 1;
            let outcome = run(&mut session, &case.sql).await;
            let problem = match (&case.expected, outcome) {
                (Expected::Rows(expected), Ok((rows, _))) => {
                    let got: Vec<String> = rows.iter().map(|r| r.join("\t")).collect();
                    (&got != expected).then(|| format!("expected {expected:?}, got {got:?}"))
                }
                (Expected::Rows(_), Err(e)) => Some(format!("failed: {e}")),
                (Expected::Error(text), Ok((rows, _))) => {
                    Some(format!("expected an error with {text:?}, got {rows:?}"))
                }
                (Expected::Error(text), Err(e)) => (!e.to_string().contains(text.as_str()))
                    .then(|| format!("expected an error with {text:?}, got: {e}")),
            };
            if let Some(problem) = problem {
                failures.push(format!("{}:{}: {}\n  {problem}", case.file, case.line, case.sql));
            }
        }
    }
    assert!(count > 0, "no cases found in {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}
