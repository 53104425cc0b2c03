//! Machine-written SQL: chains of thousands of terms and deep nesting give answers (the same answers, types and
//! column names as the short forms) or a clear error, never a crash.

mod common;

use common::*;

/// Types and NULLs for arithmetic chains: bigint, double, decimal and a nullable int column.
async fn session_with_table() -> TestResult<(tempfile::TempDir, tarn_engine::Session)> {
    let dir = tempdir()?;
    let mut s = open(&dir.path().join("wh").display().to_string()).await?;
    let data = dir.path().join("t");
    run(
        &mut s,
        &format!(
            "UNLOAD (SELECT * FROM (VALUES (CAST(7 AS bigint), 2.5, CAST(1.25 AS decimal(10,2)), CAST(3 AS int)), \
             (CAST(-4 AS bigint), 0.1, CAST(-0.5 AS decimal(10,2)), CAST(NULL AS int))) AS v(i, d, m, n)) TO '{}' \
             WITH (format = 'PARQUET')",
            dir_url(&data)
        ),
    )
    .await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE t (i bigint, d double, m decimal(10,2), n int) STORED AS PARQUET LOCATION '{}'",
            dir_url(&data)
        ),
    )
    .await?;
    Ok((dir, s))
}

/// `terms` joined by `ops` in turn, flat (`a + b - c …`) and with every step parenthesised (`((a + b) - c) …`),
/// which DataFusion plans as the same left-deep tree of binary expressions.
fn flat_and_nested(terms: &[&str], ops: &[&str]) -> (String, String) {
    let mut flat = terms[0].to_string();
    let mut nested = terms[0].to_string();
    for (i, term) in terms.iter().enumerate().skip(1) {
        let op = ops[(i - 1) % ops.len()];
        flat = format!("{flat} {op} {term}");
        nested = format!("({nested} {op} {term})");
    }
    (flat, nested)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_arithmetic_chains_answer_exactly_as_short_ones() -> TestResult {
    let (_dir, mut s) = session_with_table().await?;
    // 300 terms, longer than the chains tarn folds into one call; mixed types, NULLs, every operator. (Operators of
    // one precedence, so the flat text parses to the same left-deep tree as the parenthesised one.)
    let cycle = ["i", "d", "m", "n", "2", "1.5", "i * 3", "(d - 1)"];
    let terms: Vec<&str> = (0..300).map(|k| cycle[k % cycle.len()]).collect();
    for ops in [vec!["+"], vec!["+", "-"], vec!["*", "/"], vec!["%", "*", "/"]] {
        let (flat, nested) = flat_and_nested(&terms, &ops);
        let shape = |e: &str| format!("SELECT {e}, arrow_typeof({e}) FROM t ORDER BY i");
        let (a, _) = run(&mut s, &shape(&flat)).await?;
        let (b, _) = run(&mut s, &shape(&nested)).await?;
        assert_eq!(a, b, "{ops:?}");
        assert_eq!(a.len(), 2);
    }
    // The column is named as Athena names an expression nobody named, however deep.
    let (flat, nested) = flat_and_nested(&terms[..100], &["+", "-"]);
    let a = s
        .execute(&format!("SELECT {flat} FROM t"))
        .await?
        .schema()
        .field(0)
        .name()
        .clone();
    let b = s
        .execute(&format!("SELECT {nested} FROM t"))
        .await?
        .schema()
        .field(0)
        .name()
        .clone();
    assert_eq!(a, b);
    assert_eq!(a, "_col0");
    // Errors are the binary expression's own.
    let err = s
        .execute(&format!("SELECT {} FROM t", vec!["i"; 100].join(" + ") + " + 'x'"))
        .await
        .err()
        .ok_or("a string in a sum is an error")?;
    assert!(err.to_string().contains("Int64 + Utf8"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_terms_plan_and_run_on_a_test_threads_stack() -> TestResult {
    let (_dir, mut s) = session_with_table().await?;
    let or = (0..20_000)
        .map(|k| format!("i = {}", k - 10))
        .collect::<Vec<_>>()
        .join(" OR ");
    assert_eq!(
        scalar(&mut s, &format!("SELECT count(*) FROM t WHERE {or}")).await?,
        "2"
    );
    let and = (0..20_000)
        .map(|k| format!("i <> {}", k + 100))
        .collect::<Vec<_>>()
        .join(" AND ");
    assert_eq!(
        scalar(&mut s, &format!("SELECT count(*) FROM t WHERE {and}")).await?,
        "2"
    );
    let sum = vec!["i"; 20_000].join(" + ");
    assert_eq!(scalar(&mut s, &format!("SELECT sum({sum}) FROM t")).await?, "60000");
    let ones = vec!["1"; 20_000].join("+");
    assert_eq!(scalar(&mut s, &format!("SELECT {ones}")).await?, "20000");
    // Three-valued logic survives the regrouping: a NULL term keeps an OR of falses NULL.
    let or_null = (0..5_000)
        .map(|k| format!("n = {}", k + 100))
        .collect::<Vec<_>>()
        .join(" OR ");
    let (rows, _) = run(&mut s, &format!("SELECT i, {or_null} FROM t ORDER BY i")).await?;
    assert_eq!(rows, [["-4", "NULL"], ["7", "false"]]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_is_parsed_to_five_thousand_levels_and_refused_beyond() -> TestResult {
    let (_dir, mut s) = session_with_table().await?;
    let deep = format!(
        "SELECT {}i{} AS x FROM t ORDER BY x",
        "(".repeat(2_000),
        ")".repeat(2_000)
    );
    let (rows, _) = run(&mut s, &deep).await?;
    assert_eq!(rows, [["-4"], ["7"]]);
    let too_deep = format!("SELECT {}1{}", "(".repeat(6_000), ")".repeat(6_000));
    let err = s.execute(&too_deep).await.err().ok_or("6,000 levels are refused")?;
    assert!(
        err.to_string()
            .contains("nests parentheses, subqueries or calls more than 5,000 levels deep"),
        "{err}"
    );
    Ok(())
}
