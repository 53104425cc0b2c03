//! The Trino compatibility corpus: `engine/tests/trino/*.slt`, a sqllogictest-style list of queries with the rows
//! Trino's documentation gives for them (each file names the pages it follows).
//!
//! Format: `query` on a line, the SQL, `----`, then one line per row with values separated by tabs (NULL as `NULL`);
//! `query error <text>` (or `statement error <text>`), the SQL, and the statement must fail with an error containing
//! `<text>`; `statement ok`, the SQL, and the statement must succeed (its rows are not checked). Blocks are separated
//! by blank lines; `#` lines are comments.
//!
//! The same test checks `docs/trino-compatibility.md` against the corpus: a ✅ or 🟡 row needs a case that runs its
//! function or statement and succeeds, a ❌ row may have none, and every function a succeeding case calls has a row.

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
    Ok,
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
        let error = match (header.strip_prefix("query"), header.strip_prefix("statement")) {
            (Some(rest), _) if rest.trim().is_empty() => None,
            (_, Some(rest)) if rest.trim() == "ok" => Some(None),
            (Some(rest), _) | (_, Some(rest)) => match rest.trim().strip_prefix("error ") {
                Some(text) => Some(Some(text.to_string())),
                None => {
                    return Err(format!(
                        "{file}:{start}: expected `query`, `statement ok` or `... error <text>`"
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "{file}:{start}: expected `query` or `statement`, found {header:?}"
                ));
            }
        };
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let expected = match error {
            Some(Some(text)) => Expected::Error(text),
            Some(None) => Expected::Ok,
            None => {
                if lines.get(i).map(|l| l.trim()) != Some("----") {
                    return Err(format!("{file}:{start}: a `query` needs `----` and its rows"));
                }
                i += 1;
                let mut rows = Vec::new();
                // Only an empty line ends the rows: a row of empty values is a line of tabs.
                while i < lines.len() && !lines[i].is_empty() {
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
    // `${dir}` in a case is a scratch folder outside the warehouse (for UNLOAD and external tables).
    let scratch_dir = tempdir()?;
    let scratch = scratch_dir.path().display().to_string();
    let mut session = open(&wh.path().display().to_string()).await?;
    let mut failures = Vec::new();
    let mut count = 0;
    // What the cases that succeed use (functions and statement phrases), and what only failing-by-design cases use.
    let mut succeeded: Vec<Uses> = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in parse(&name, &std::fs::read_to_string(&path)?)? {
            count += 1;
            let outcome = run(&mut session, &case.sql.replace("${dir}", &scratch)).await;
            let problem = match (&case.expected, outcome) {
                (Expected::Rows(expected), Ok((rows, _))) => {
                    let got: Vec<String> = rows.iter().map(|r| r.join("\t")).collect();
                    (&got != expected).then(|| format!("expected {expected:?}, got {got:?}"))
                }
                (Expected::Rows(_) | Expected::Ok, Err(e)) => Some(format!("failed: {e}")),
                (Expected::Ok, Ok(_)) => None,
                (Expected::Error(text), Ok((rows, _))) => {
                    Some(format!("expected an error with {text:?}, got {rows:?}"))
                }
                (Expected::Error(text), Err(e)) => (!e.to_string().contains(text.as_str()))
                    .then(|| format!("expected an error with {text:?}, got: {e}")),
            };
            if let Some(problem) = problem {
                failures.push(format!("{}:{}: {}\n  {problem}", case.file, case.line, case.sql));
            } else if !matches!(case.expected, Expected::Error(_)) {
                succeeded.push(Uses::of(&case));
            }
        }
    }
    assert!(count > 0, "no cases found in {}", dir.display());
    failures.extend(check_compatibility_table(&succeeded)?);
    assert!(
        failures.is_empty(),
        "{} problem(s) with {count} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// Athena's names for result columns: `_col<position>` for what is neither a column nor aliased, also after a `*`,
/// inside subqueries and VALUES; a CTAS refuses such a column, as Athena does.
#[tokio::test]
async fn unnamed_columns_are_named_as_athena_names_them() -> TestResult {
    let wh = tempdir()?;
    let mut session = open(&wh.path().display().to_string()).await?;
    let names = |batches: &[tarn_engine::arrow::array::RecordBatch]| -> Vec<String> {
        batches
            .first()
            .map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect())
            .unwrap_or_default()
    };
    let refused = session
        .execute("CREATE TABLE u AS SELECT 1 AS a, count(*) FROM (VALUES 1)")
        .await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("Column name not specified at position 2"), "{message}");
    run(&mut session, "CREATE TABLE t AS SELECT 1 AS a, 'x' AS b").await?;
    for (sql, expected) in [
        (
            "SELECT a, a + 1, count(*) AS n, upper(b) FROM t GROUP BY a, b",
            vec!["a", "_col1", "n", "_col3"],
        ),
        ("SELECT *, a * 2 FROM t", vec!["a", "b", "_col2"]),
        ("SELECT * FROM (SELECT a + 1, b FROM t)", vec!["_col0", "b"]),
        ("VALUES (1, 'a')", vec!["_col0", "_col1"]),
        ("SELECT 1 UNION ALL SELECT 2", vec!["_col0"]),
        ("SELECT t.a, (b) FROM t ORDER BY a + 1", vec!["a", "b"]),
    ] {
        let (batches, _) = session.execute(sql).await?.collect().await?;
        assert_eq!(names(&batches), expected, "{sql}");
    }
    Ok(())
}

/// The functions a case calls (lower-case) and its SQL, whitespace-normalised and lower-cased, for statement phrases.
struct Uses {
    at: String,
    functions: std::collections::BTreeSet<String>,
    text: String,
    /// The functions were read from the tokens (the SQL is not DuckDB's): a SQL keyword called like a function
    /// (`VALUES (`, `OVER (`, `array(integer)`) is not taken for an unlisted function.
    fallback: bool,
}

/// Each unquoted word followed by `(`, lower-cased, and whether it is a SQL keyword.
fn called_words(sql: &str) -> Vec<(String, bool)> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Vec::new();
    };
    let tokens: Vec<&Token> = tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    // A word after `)` or AS is an alias with its column names, `(VALUES 1) t(x)`; after TABLE, INTO, ... a table
    // with its columns. (A statement's first word is never a function.)
    tokens
        .windows(3)
        .filter_map(|w3| match w3 {
            [Token::RParen, _, _] => None,
            [Token::Word(before), _, _]
                if matches!(
                    before.keyword,
                    Keyword::AS | Keyword::TABLE | Keyword::EXISTS | Keyword::INTO | Keyword::VIEW
                ) =>
            {
                None
            }
            [Token::Period, _, _] => None,
            [_, Token::Word(w), Token::LParen] if w.quote_style.is_none() => {
                Some((w.value.to_lowercase(), w.keyword != Keyword::NoKeyword))
            }
            _ => None,
        })
        .collect()
}

impl Uses {
    fn of(case: &Case) -> Self {
        use datafusion::sql::sqlparser::ast::{CastKind, Expr, visit_expressions};
        use datafusion::sql::sqlparser::dialect::DuckDbDialect;
        use datafusion::sql::sqlparser::parser::Parser;
        let mut functions = std::collections::BTreeSet::new();
        // tarn's own statements (CREATE TABLE ... WITH, MSCK, ...) do not all parse here; their phrases still count.
        let mut fallback = false;
        if let Ok(statements) = Parser::parse_sql(&DuckDbDialect {}, &case.sql) {
            let _ = visit_expressions(&statements, |e| {
                let name = match e {
                    Expr::Function(f) => Some(f.name.to_string().to_lowercase()),
                    Expr::Cast {
                        kind: CastKind::TryCast | CastKind::SafeCast,
                        ..
                    } => Some("try_cast".into()),
                    Expr::Cast { .. } => Some("cast".into()),
                    Expr::Extract { .. } => Some("extract".into()),
                    Expr::Position { .. } => Some("position".into()),
                    Expr::Substring { .. } => Some("substring".into()),
                    Expr::Trim { .. } => Some("trim".into()),
                    Expr::Ceil { .. } => Some("ceil".into()),
                    Expr::Floor { .. } => Some("floor".into()),
                    _ => None,
                };
                functions.extend(name);
                std::ops::ControlFlow::<()>::Continue(())
            });
        } else {
            // Trino's forms DuckDB's grammar lacks (bare `VALUES 1, 2`, `array(integer)` in a CAST, ...): the words
            // called like functions, keywords too when the table lists them (`replace`, `format`).
            functions.extend(called_words(&case.sql).into_iter().map(|(word, _)| word));
            fallback = true;
        }
        Uses {
            at: format!("{}:{}", case.file, case.line),
            functions,
            text: normalise(&case.sql),
            fallback,
        }
    }

    /// A row's key is a function name (lower case), or else a phrase of the statement (`CROSS JOIN UNNEST`).
    fn covers(&self, key: &str) -> bool {
        if is_function(key) {
            self.functions.contains(key)
        } else {
            self.text.contains(&normalise(key))
        }
    }
}

fn is_function(key: &str) -> bool {
    key.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn normalise(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Functions the corpus calls to check its results, which are not Athena's.
const PROBES: [&str; 1] = ["arrow_typeof"];

/// Checks `docs/trino-compatibility.md` against what the corpus's succeeding cases use.
fn check_compatibility_table(succeeded: &[Uses]) -> TestResult<Vec<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/trino-compatibility.md");
    let table = std::fs::read_to_string(&path)?;
    let mut problems = Vec::new();
    let mut keys = std::collections::BTreeSet::new();
    for (n, line) in table.lines().enumerate() {
        let Some(rest) = line.strip_prefix("| `") else { continue };
        let Some((key, _)) = rest.split_once('`') else { continue };
        let status = line.split('|').nth(2).unwrap_or_default().trim();
        let covered_by = succeeded.iter().find(|u| u.covers(key)).map(|u| u.at.clone());
        let at = format!("docs/trino-compatibility.md:{}", n + 1);
        match (status, covered_by) {
            ("✅" | "🟡", None) => {
                problems.push(format!("{at}: `{key}` is {status} but no succeeding case uses it"))
            }
            ("❌", Some(case)) => problems.push(format!("{at}: `{key}` is ❌ but {case} runs it and succeeds")),
            ("✅" | "🟡" | "❌", _) => {}
            _ => problems.push(format!("{at}: `{key}` has no status (✅, 🟡 or ❌)")),
        }
        if !keys.insert(key.to_string()) {
            problems.push(format!("{at}: `{key}` is listed twice"));
        }
    }
    for uses in succeeded {
        let keywords: std::collections::BTreeSet<String> = if uses.fallback {
            called_words(&uses.text)
                .into_iter()
                .filter_map(|(w, keyword)| keyword.then_some(w))
                .collect()
        } else {
            Default::default()
        };
        for f in &uses.functions {
            if !keys.contains(f) && !PROBES.contains(&f.as_str()) && !keywords.contains(f) {
                problems.push(format!(
                    "{}: calls {f}(), which docs/trino-compatibility.md does not list",
                    uses.at
                ));
            }
        }
    }
    Ok(problems)
}
