//! The spine on local folders: catalog persistence, both DDL forms, scan accounting, limits, partitions, errors.

mod common;

use std::io::Write;

use common::*;
use tarn_engine::{EngineError, ResultKind};
use tarn_fixtures::data::{write_consumer_csv_gz, write_consumer_csv_of_size, write_gzip};

const PARTS: usize = 3;
const ROWS_PER_PART: usize = 400;

#[tokio::test]
async fn athena_and_datafusion_ddl_agree_and_persist() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let intake = data.path().join("intake");
    write_consumer_csv_gz(&intake, PARTS, ROWS_PER_PART, 1)?;
    std::fs::write(intake.join("_SUCCESS"), b"")?;
    let warehouse = wh.path().display().to_string();

    let mut s = open(&warehouse).await?;
    run(&mut s, r#"CREATE DATABASE "SF-Digital-Transformation""#).await?;
    run(
        &mut s,
        &consumer_ddl(r#""sf-digital-transformation"."Consumer_Raw""#, &dir_url(&intake)),
    )
    .await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE \"sf-digital-transformation\".consumer_df STORED AS CSV LOCATION '{}' \
             OPTIONS ('format.delimiter' '|', 'format.has_header' 'true', 'format.compression' 'gzip')",
            dir_url(&intake)
        ),
    )
    .await?;
    let expected = (PARTS * ROWS_PER_PART).to_string();
    let athena = scalar(
        &mut s,
        r#"SELECT count("HouseholdID") FROM "sf-digital-transformation"."consumer_raw""#,
    )
    .await?;
    let datafusion = scalar(&mut s, "SELECT count(*) FROM \"sf-digital-transformation\".consumer_df").await?;
    assert_eq!(
        (athena.as_str(), datafusion.as_str()),
        (expected.as_str(), expected.as_str())
    );

    // The inferred table has the header's columns, lower-cased.
    let (described, _) = run(&mut s, "DESCRIBE \"sf-digital-transformation\".consumer_df").await?;
    let names: Vec<&str> = described.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "householdid",
            "personid",
            "firstname",
            "lastname",
            "state",
            "zipcode",
            "income",
            "birthdate"
        ]
    );

    // A second session (as a second process would) sees the same catalog.
    let mut again = open(&warehouse).await?;
    let (tables, _) = run(&mut again, "SHOW TABLES IN \"sf-digital-transformation\"").await?;
    assert_eq!(tables, [["consumer_df"], ["consumer_raw"]]);
    run(&mut again, "USE \"sf-digital-transformation\"").await?;
    assert_eq!(scalar(&mut again, "SELECT count(*) FROM consumer_raw").await?, expected);
    Ok(())
}

#[tokio::test]
async fn full_scan_of_gzip_csv_bills_every_byte_of_every_file() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let files = write_consumer_csv_gz(data.path(), PARTS, ROWS_PER_PART, 2)?;
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .sum::<Result<_, _>>()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, &consumer_ddl("consumer", &dir_url(data.path()))).await?;
    let (rows, stats) = run(&mut s, "SELECT state, count(*) FROM consumer GROUP BY state").await?;
    assert!(!rows.is_empty());
    assert_eq!(
        stats.bytes_scanned, total,
        "bytes scanned must be the sum of the gzip files"
    );
    assert_eq!(stats.requests, PARTS as u64);
    let bill = stats.bill.ok_or("a query is billed")?;
    assert_eq!(bill.billed_bytes, 10 << 20, "Athena's 10 MB minimum");
    // DDL and listings are free.
    let mut ddl = s.execute("SHOW TABLES").await?;
    while ddl.next_batch().await.is_some() {}
    assert_eq!((ddl.kind(), ddl.stats().bill), (ResultKind::Listing, None));
    assert_eq!(s.totals().bytes_scanned(), total);
    Ok(())
}

#[tokio::test]
async fn parquet_bytes_scanned_matches_datafusions_metric() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let a = write_parquet(&data.path().join("a.parquet"), 60_000, 20_000, 1)?;
    let b = write_parquet(&data.path().join("b.parquet"), 60_000, 20_000, 2)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE p (id bigint, state string, income double) STORED AS PARQUET LOCATION '{}'",
            dir_url(data.path())
        ),
    )
    .await?;
    let query = "SELECT sum(id), count(state), sum(income) FROM p";

    // Cold: the store also served the footers, which the Parquet reader fetches outside its metric (one read of
    // PARQUET_FOOTER_HINT per file range opened before the footer cache had it: at most 2 files x 2 ranges here).
    let (cold, rows) = run_keep(&mut s, query).await?;
    assert_eq!(rows[0][1], "120000");
    let metric = cold.metric("bytes_scanned").ok_or("no bytes_scanned metric")? as u64;
    let metered = cold.stats().bytes_scanned;
    let footers = metered - metric;
    let hint = tarn_engine::PARQUET_FOOTER_HINT as u64;
    assert!(footers > 0, "footers are counted too: {metered} vs {metric}");
    assert!(
        footers.is_multiple_of(hint) && footers <= 4 * hint,
        "only footer reads differ: {metered} vs {metric}"
    );
    assert!(metered <= a + b + 4 * hint, "{metered} vs files of {}", a + b);

    // Warm (footers cached by the session): the store's count and DataFusion's metric agree exactly.
    let (warm, _) = run_keep(&mut s, query).await?;
    let metric = warm.metric("bytes_scanned").ok_or("no bytes_scanned metric")? as u64;
    assert_eq!(warm.stats().bytes_scanned, metric);
    assert!(metric > 0);
    Ok(())
}

#[tokio::test]
async fn count_star_on_parquet_reads_only_footers() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let size = write_parquet(&data.path().join("big.parquet"), 400_000, 50_000, 3)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE p STORED AS PARQUET LOCATION '{}'",
            dir_url(data.path())
        ),
    )
    .await?;
    let (rows, stats) = run(&mut s, "SELECT count(*) FROM p").await?;
    assert_eq!(rows, [["400000"]]);
    assert!(
        stats.bytes_scanned <= 64 * 1024,
        "count(*) read {} of {size}",
        stats.bytes_scanned
    );
    assert!(
        stats.bytes_scanned * 50 < size,
        "count(*) read {} of {size}",
        stats.bytes_scanned
    );
    Ok(())
}

/// The planner gets each Parquet file's footer statistics, which choose join sides and answer `count(*)`; answers
/// stay the scan's for a column spelled in another case in the file, a column the file lacks (added later), a
/// column widened from the file's type, and `count(col)` reads the column, as Athena does and bills.
#[tokio::test]
async fn footer_statistics_answer_like_the_scan_and_put_the_small_side_first() -> TestResult {
    use std::sync::Arc;
    use tarn_engine::arrow::array::{Int32Array, RecordBatch, StringArray};
    use tarn_engine::arrow::datatypes::{DataType, Field, Schema};
    let wh = tempdir()?;
    let data = tempdir()?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("ID", DataType::Int32, true),
        Field::new("Name", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int32Array::from((1..=100).collect::<Vec<i32>>())),
            Arc::new(StringArray::from(
                (1..=100)
                    .map(|i| (i % 3 != 0).then(|| format!("n{i}")))
                    .collect::<Vec<_>>(),
            )),
        ],
    )?;
    let small = data.path().join("small");
    write_batch(&small.join("s.parquet"), &batch)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE small (id bigint, name string, added string) STORED AS PARQUET LOCATION '{}'",
            dir_url(&small)
        ),
    )
    .await?;
    let (rows, _) = run(
        &mut s,
        "SELECT count(*), count(id), min(id), max(id), count(name), count(added) FROM small",
    )
    .await?;
    assert_eq!(rows, [["100", "100", "1", "100", "67", "0"]]);
    let (_, warm) = run(&mut s, "SELECT count(id) FROM small").await?;
    assert!(
        warm.bytes_scanned > 0,
        "count(id) reads the column even with the footer cached"
    );
    let (rows, warm) = run(&mut s, "SELECT count(*) FROM small").await?;
    assert_eq!(
        (rows, warm.bytes_scanned),
        (vec![vec!["100".to_string()]], 0),
        "count(*) from the cached footer"
    );

    write_parquet(&data.path().join("big/b.parquet"), 60_000, 20_000, 4)?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE big (id bigint, state string, income double) STORED AS PARQUET LOCATION '{}'",
            dir_url(&data.path().join("big"))
        ),
    )
    .await?;
    let join = "SELECT count(*) FROM big JOIN small ON big.id = small.id";
    assert_eq!(scalar(&mut s, join).await?, "100");
    // The hash join builds its table from its first input: the 100-row table, though the query names it second.
    let (plan, _) = run(&mut s, &format!("EXPLAIN {join}")).await?;
    let physical = plan
        .iter()
        .find(|r| r[0] == "physical_plan")
        .map(|r| r[1].clone())
        .ok_or("no physical plan")?;
    let after_join = physical
        .split_once("HashJoinExec")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("no hash join in\n{physical}"))?;
    let first_scan = after_join
        .lines()
        .find(|l| l.contains("DataSourceExec"))
        .ok_or_else(|| format!("no scan under the join in\n{physical}"))?;
    assert!(
        first_scan.contains("small"),
        "the build side is the big table:\n{physical}"
    );
    Ok(())
}

/// A partition folder of NULLs (`__HIVE_DEFAULT_PARTITION__`) holds rows whose partition value is NULL: with the
/// files' row counts known, `count(region)` must still leave them out, and `count(*)` count them.
#[tokio::test]
async fn null_partitions_are_not_counted_from_statistics() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    write_parquet(&data.path().join("region=west/a.parquet"), 300, 100, 1)?;
    write_parquet(
        &data.path().join("region=__HIVE_DEFAULT_PARTITION__/b.parquet"),
        200,
        100,
        2,
    )?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE pt (id bigint, state string, income double) PARTITIONED BY (region string) \
             STORED AS PARQUET LOCATION '{}'",
            dir_url(data.path())
        ),
    )
    .await?;
    for _ in 0..2 {
        let (rows, _) = run(
            &mut s,
            "SELECT count(region), count(*), min(region), max(region) FROM pt",
        )
        .await?;
        assert_eq!(rows, [["300", "500", "west", "west"]]);
        let (rows, _) = run(&mut s, "SELECT count(region), count(*) FROM pt WHERE region IS NULL").await?;
        assert_eq!(rows, [["0", "200"]]);
    }
    Ok(())
}

#[tokio::test]
async fn scan_limit_cancels_the_query_and_names_the_limit() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    write_consumer_csv_of_size(&data.path().join("big.csv"), 10 << 20, 4)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, &consumer_ddl("big", &dir_url(data.path()))).await?;
    run(&mut s, "SET tarn.max_scan = '1MB'").await?;
    let err = s.execute("SELECT count(*) FROM big").await?.collect().await.err();
    match &err {
        Some(EngineError::ScanLimitExceeded { limit, scanned }) => {
            assert_eq!(*limit, 1 << 20);
            assert!(*scanned > 1 << 20);
        }
        other => return Err(format!("expected a scan-limit error, got {other:?}").into()),
    }
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("scan limit of 1.00 MB"), "{text}");
    run(&mut s, "SET tarn.max_scan = '20MB'").await?;
    assert!(scalar(&mut s, "SELECT count(*) FROM big").await?.parse::<u64>()? > 100_000);
    Ok(())
}

#[tokio::test]
async fn concurrent_queries_are_metered_separately() -> TestResult {
    let wh = tempdir()?;
    let csv = tempdir()?;
    let pq = tempdir()?;
    write_consumer_csv_gz(csv.path(), 2, 2000, 5)?;
    let csv_bytes = file_sizes(csv.path())?;
    write_parquet(&pq.path().join("x.parquet"), 200_000, 50_000, 4)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, &consumer_ddl("c", &dir_url(csv.path()))).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE p STORED AS PARQUET LOCATION '{}'",
            dir_url(pq.path())
        ),
    )
    .await?;
    let (_, alone) = run(&mut s, "SELECT sum(income) FROM p").await?;
    for _ in 0..5 {
        let (mut s1, mut s2) = (s.clone(), s.clone());
        let (a, b) = tokio::join!(
            async move { run(&mut s1, "SELECT count(*) FROM c").await },
            async move { run(&mut s2, "SELECT sum(income) FROM p").await }
        );
        assert_eq!(a?.1.bytes_scanned, csv_bytes);
        assert_eq!(b?.1.bytes_scanned, alone.bytes_scanned);
    }
    Ok(())
}

#[tokio::test]
async fn drop_table_and_drop_database_leave_every_data_file() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let files = write_consumer_csv_gz(data.path(), PARTS, 50, 6)?;
    let before: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, "CREATE DATABASE d").await?;
    run(&mut s, &consumer_ddl("d.t1", &dir_url(data.path()))).await?;
    run(&mut s, &consumer_ddl("d.t2", &dir_url(data.path()))).await?;
    run(&mut s, "DROP TABLE d.t1").await?;
    let err = s
        .execute("DROP DATABASE d")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("still has 1 table(s) (t2)"), "{err}");
    run(&mut s, "DROP DATABASE d CASCADE").await?;
    let after: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    assert_eq!(before, after);
    assert_eq!(tarn_fixtures::s3::walk(data.path())?.len(), PARTS);
    let err = s
        .execute("SELECT * FROM d.t2")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("database 'd' does not exist"), "{err}");
    Ok(())
}

#[tokio::test]
async fn hive_partitions_are_read_and_pruned() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let root = data.path();
    let mut sizes = std::collections::BTreeMap::new();
    for (state, rows) in [("CA", 30), ("TX", 20), ("__HIVE_DEFAULT_PARTITION__", 5)] {
        let dir = root.join(format!("state={state}"));
        std::fs::create_dir_all(&dir)?;
        let mut text = String::from("id|name\n");
        for i in 0..rows {
            text.push_str(&format!("{i}|n{i}\n"));
        }
        let file = dir.join("part-0.csv");
        std::fs::write(&file, &text)?;
        sizes.insert(state, text.len() as u64);
    }
    // Not partition folders: ignored, as in Athena.
    std::fs::create_dir_all(root.join("_tmp"))?;
    std::fs::write(root.join("_tmp/junk.csv"), "x|y\n")?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE t (id int, name string) PARTITIONED BY (state string) \
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(root)
        ),
    )
    .await?;
    let (rows, stats) = run(&mut s, "SELECT count(*), min(state) FROM t WHERE state = 'CA'").await?;
    assert_eq!(rows, [["30", "CA"]]);
    assert_eq!(stats.bytes_scanned, sizes["CA"], "only the CA folder is read");
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM t WHERE state IS NULL").await?, "5");
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM t").await?, "55");
    let (_, stats) = run(&mut s, "SELECT count(*) FROM t WHERE state IN ('TX', 'NV')").await?;
    assert_eq!(stats.bytes_scanned, sizes["TX"]);

    // DataFusion's DDL without a column list discovers the partition folder too.
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE t2 STORED AS CSV LOCATION '{}' OPTIONS ('format.delimiter' '|')",
            dir_url(root)
        ),
    )
    .await?;
    let (described, _) = run(&mut s, "DESCRIBE t2").await?;
    assert!(
        described.iter().any(|r| r[0] == "# Partition Information"),
        "{described:?}"
    );
    assert_eq!(described.last().map(|r| r[0].as_str()), Some("state"));
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM t2 WHERE state = 'TX'").await?,
        "20"
    );
    Ok(())
}

#[tokio::test]
async fn json_lines_mixed_compression_hidden_files_and_subfolders() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let root = data.path();
    std::fs::write(
        root.join("a.json"),
        "{\"id\": 1, \"kind\": \"x\"}\n{\"id\": 2, \"kind\": \"y\"}\n",
    )?;
    write_gzip(&root.join("2024/01/b.json.gz"), "{\"id\": 3, \"kind\": \"x\"}\n")?;
    std::fs::write(root.join(".hidden.json"), "{\"id\": 100}\n")?;
    std::fs::write(root.join("_SUCCESS"), "not json")?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE ev (id bigint, kind string) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' \
             LOCATION '{}'",
            dir_url(root)
        ),
    )
    .await?;
    let (rows, _) = run(&mut s, "SELECT kind, sum(id) FROM ev GROUP BY kind ORDER BY kind").await?;
    assert_eq!(rows, [["x", "4"], ["y", "2"]]);
    Ok(())
}

#[tokio::test]
async fn bad_rows_are_reported_with_file_and_line() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let mut text = String::from("HouseholdID|PersonID|FirstName|LastName|State|ZipCode|Income|BirthDate\n");
    let mut rng = tarn_fixtures::data::Lcg::new(9);
    for id in 1..=20 {
        text.push_str(&tarn_fixtures::data::consumer_row(&mut rng, id));
        text.push('\n');
    }
    text.push_str("21|210|Ann|Lee|CA|01234|55.5\n"); // line 22: seven fields
    write_gzip(&data.path().join("part-00000.csv.gz"), &text)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, &consumer_ddl("c", &dir_url(data.path()))).await?;
    let err = s.execute("SELECT count(*) FROM c").await?.collect().await.err();
    match &err {
        Some(EngineError::DataFile {
            location,
            line,
            message,
        }) => {
            assert!(location.ends_with("/part-00000.csv.gz"), "{location}");
            assert_eq!(*line, Some(22));
            assert!(message.contains("expected 8 fields, found 7"), "{message}");
        }
        other => return Err(format!("expected a data-file error, got {other:?}").into()),
    }

    // A value that does not parse as the declared type: the file line too (arrow counts those from 0).
    let bad_value = tempdir()?;
    std::fs::write(bad_value.path().join("x.csv"), "id|v\n1|2\n2|3\nthree|4\n")?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE v (id bigint, v int) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}' \
             TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(bad_value.path())
        ),
    )
    .await?;
    // As Athena reads it: NULL, and counted with where the first one is.
    let (rows, stats) = run(&mut s, "SELECT sum(id), count(id), count(*) FROM v").await?;
    assert_eq!(rows, [["3", "2", "3"]]);
    let (count, example) = stats.text.unreadable.get("id").cloned().unwrap_or_default();
    assert_eq!(count, 1);
    assert!(
        example.starts_with("'three' at file://") && example.ends_with("/x.csv:4"),
        "{example}"
    );
    // Strict, the same value is an error naming file, line, column and type.
    run(&mut s, "SET tarn.text.strict = true").await?;
    let err = s
        .execute("SELECT sum(id) FROM v")
        .await?
        .collect()
        .await
        .err()
        .map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(
        err.contains("/x.csv:4: value 'three' is not valid for column 'id' (bigint)"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn lines_are_file_lines_when_a_big_csv_is_read_in_ranges() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let path = data.path().join("big.csv");
    let rows = write_consumer_csv_of_size(&path, 24 << 20, 11)?;
    // Break the second-to-last row, far inside the last byte range.
    let text = std::fs::read_to_string(&path)?;
    let mut lines: Vec<&str> = text.lines().collect();
    let bad_line = lines.len() - 1; // 1-based number of the second-to-last line
    lines[bad_line - 1] = "1|2|3";
    let mut file = std::fs::File::create(&path)?;
    for line in &lines {
        writeln!(file, "{line}")?;
    }
    drop(file);
    assert_eq!(lines.len() as u64, rows + 1);
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, "SET datafusion.execution.target_partitions = '4'").await?;
    run(&mut s, &consumer_ddl("big", &dir_url(data.path()))).await?;
    let err = s.execute("SELECT count(*) FROM big").await?.collect().await.err();
    match err {
        Some(EngineError::DataFile { line, message, .. }) => {
            assert_eq!(line, Some(bad_line as u64), "{message}");
            assert!(message.contains("found 3"), "{message}");
        }
        other => return Err(format!("expected a data-file error, got {other:?}").into()),
    }
    Ok(())
}

#[tokio::test]
async fn undecodable_files_name_the_file() -> TestResult {
    let wh = tempdir()?;
    let gz = tempdir()?;
    std::fs::write(gz.path().join("part-0.csv.gz"), "this is not gzip\n")?;
    let pq = tempdir()?;
    write_parquet(&pq.path().join("good.parquet"), 100, 100, 1)?;
    std::fs::write(pq.path().join("notes.txt"), "a text file in a Parquet folder\n")?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, &consumer_ddl("g", &dir_url(gz.path()))).await?;
    let err = s
        .execute("SELECT count(*) FROM g")
        .await?
        .collect()
        .await
        .err()
        .map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(
        err.contains(
            "part-0.csv.gz: the name says gzip but the content is not gzip (it starts with text: 'this is not gzip')"
        ),
        "{err}"
    );

    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE p (id bigint, state string, income double) STORED AS PARQUET LOCATION '{}'",
            dir_url(pq.path())
        ),
    )
    .await?;
    let err = s.execute("SELECT sum(id) FROM p").await;
    let err = match err {
        Ok(result) => result.collect().await.err(),
        Err(e) => Some(e),
    }
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("notes.txt") && err.contains("not a Parquet file"), "{err}");
    Ok(())
}

#[tokio::test]
async fn catalog_errors_suggest_and_change_nothing() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let empty = tempdir()?;
    write_consumer_csv_gz(data.path(), 1, 10, 1)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, "CREATE DATABASE sales").await?;
    run(&mut s, &consumer_ddl("sales.consumer_raw", &dir_url(data.path()))).await?;
    let catalog_before = tarn_fixtures::s3::walk(wh.path())?;

    let message = |r: Result<_, EngineError>| r.err().map(|e: EngineError| e.to_string()).unwrap_or_default();
    let e = message(s.execute("SELECT * FROM sales.consumer_rwa").await.map(|_| ()));
    assert_eq!(
        e,
        "table 'sales.consumer_rwa' does not exist; did you mean 'sales.consumer_raw'?"
    );
    let e = message(s.execute("SELECT * FROM consumer_raw").await.map(|_| ()));
    assert_eq!(
        e,
        "table 'default.consumer_raw' does not exist; did you mean 'sales.consumer_raw'?"
    );
    let e = message(s.execute("SELECT * FROM sails.consumer_raw").await.map(|_| ()));
    assert_eq!(e, "database 'sails' does not exist; did you mean 'sales'?");
    let e = message(s.execute("USE sails").await.map(|_| ()));
    assert_eq!(e, "database 'sails' does not exist; did you mean 'sales'?");

    // LOCATION with no files: nothing to infer from is an error; declared columns get a warning.
    let e = message(
        s.execute(&format!(
            "CREATE EXTERNAL TABLE sales.x STORED AS PARQUET LOCATION '{}'",
            dir_url(empty.path())
        ))
        .await
        .map(|_| ()),
    );
    assert!(e.contains("holds no data files to infer the columns from"), "{e}");
    let e = message(
        s.execute(&consumer_ddl("sales.consumer_raw", &dir_url(data.path())))
            .await
            .map(|_| ()),
    );
    assert_eq!(e, "table 'sales.consumer_raw' already exists");
    let e = message(
        s.execute("CREATE EXTERNAL TABLE sales.y (a strin) LOCATION '/tmp/x'")
            .await
            .map(|_| ()),
    );
    assert!(e.contains("column 'a': unknown type 'strin'"), "{e}");
    let e = message(
        s.execute("CREATE EXTERNAL TABLE sales.y (a string) STORED AS ORC LOCATION '/tmp/x'")
            .await
            .map(|_| ()),
    );
    assert!(e.contains("STORED AS ORC is not supported"), "{e}");
    let e = message(
        s.execute(
            "CREATE EXTERNAL TABLE sales.y (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '||' LOCATION '/tmp/x'",
        )
        .await
        .map(|_| ()),
    );
    assert!(e.contains("field.delim '||' must be a single ASCII character"), "{e}");
    let typo = s
        .execute("CREATE EXTERNAL TABLE sales.y (a string)\nSTORED AZ PARQUET LOCATION '/tmp/x'")
        .await
        .err();
    assert_eq!(typo.as_ref().and_then(EngineError::position), Some((2, 8)), "{typo:?}");
    assert_eq!(
        tarn_fixtures::s3::walk(wh.path())?,
        catalog_before,
        "failed statements wrote nothing"
    );

    let created = s.execute(&consumer_ddl("sales.later", &dir_url(empty.path()))).await?;
    assert!(
        created.notices().iter().any(|n| n.contains("holds no data files yet")),
        "{:?}",
        created.notices()
    );
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM sales.later").await?, "0");
    Ok(())
}

#[tokio::test]
async fn every_codec_athena_reads_is_chosen_per_file() -> TestResult {
    use std::io::Write as _;
    let wh = tempdir()?;
    let data = tempdir()?;
    let root = data.path();
    let text = |first: u32| format!("id|name\n{first}|a\n{}|b\n", first + 1);
    std::fs::write(root.join("plain.csv"), text(1))?;
    write_gzip(&root.join("g.csv.gz"), &text(3))?;
    let mut bz = bzip2::write::BzEncoder::new(
        std::fs::File::create(root.join("b.csv.bz2"))?,
        bzip2::Compression::default(),
    );
    bz.write_all(text(5).as_bytes())?;
    bz.finish()?;
    std::fs::write(root.join("z.csv.zst"), zstd::encode_all(text(7).as_bytes(), 3)?)?;
    let mut xz = liblzma::write::XzEncoder::new(std::fs::File::create(root.join("x.csv.xz"))?, 6);
    xz.write_all(text(9).as_bytes())?;
    xz.finish()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE t (id int, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
             LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(root)
        ),
    )
    .await?;
    let (rows, _) = run(&mut s, "SELECT count(*), sum(id) FROM t").await?;
    assert_eq!(rows, [["10", "55"]]);

    // An extension tarn cannot decode is an error, not garbage.
    std::fs::write(root.join("l.csv.lz4"), b"\x04\x22\x4d\x18")?;
    let err = s
        .execute("SELECT count(*) FROM t")
        .await?
        .collect()
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("l.csv.lz4: files compressed with 'lz4' cannot be read yet")),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn mixed_case_names_in_files_match_like_athena() -> TestResult {
    use std::sync::Arc;
    use tarn_engine::arrow::array::{Int64Array, RecordBatch, StringArray};
    use tarn_engine::arrow::datatypes::{DataType, Field, Schema};
    let wh = tempdir()?;
    let pq = tempdir()?;
    // Parquet as Spark or pandas write it: the column names keep their case.
    let schema = Arc::new(Schema::new(vec![
        Field::new("HouseholdID", DataType::Int64, true),
        Field::new("State", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from((1..=100).collect::<Vec<i64>>())),
            Arc::new(StringArray::from(
                (1..=100)
                    .map(|i| if i % 4 == 0 { "CA" } else { "TX" })
                    .collect::<Vec<_>>(),
            )),
        ],
    )?;
    write_batch(&pq.path().join("p.parquet"), &batch)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE inferred STORED AS PARQUET LOCATION '{}'",
            dir_url(pq.path())
        ),
    )
    .await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE declared (householdid bigint, state string) STORED AS PARQUET LOCATION '{}'",
            dir_url(pq.path())
        ),
    )
    .await?;
    for table in ["inferred", "declared"] {
        let (rows, _) = run(
            &mut s,
            &format!("SELECT count(householdid), sum(householdid) FROM {table} WHERE state = 'CA'"),
        )
        .await?;
        assert_eq!(rows, [["25", "1300"]], "{table}");
    }

    // JSON keys: Athena's OpenX SerDe ignores their case; tarn records the files' spelling as `mapping.*`.
    let js = tempdir()?;
    std::fs::write(
        js.path().join("e.json"),
        "{\"EventID\": 1, \"UserName\": \"ann\", \"ts-utc\": \"a\"}\n{\"EventID\": 2, \"UserName\": \"bo\", \"ts-utc\": \"b\"}\n",
    )?;
    let serde = "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'";
    run(
        &mut s,
        &format!("CREATE EXTERNAL TABLE ev1 {serde} LOCATION '{}'", dir_url(js.path())),
    )
    .await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE ev2 (eventid bigint, username string, ts string) {serde} \
             WITH SERDEPROPERTIES ('mapping.ts' = 'ts-utc') LOCATION '{}'",
            dir_url(js.path())
        ),
    )
    .await?;
    let (rows, _) = run(&mut s, "SELECT eventid, username FROM ev1 WHERE username = 'bo'").await?;
    assert_eq!(rows, [["2", "bo"]]);
    let (rows, _) = run(&mut s, "SELECT sum(eventid), max(username), max(ts) FROM ev2").await?;
    assert_eq!(rows, [["3", "bo", "b"]]);
    Ok(())
}

#[tokio::test]
async fn table_functions_are_not_mistaken_for_tables() -> TestResult {
    let wh = tempdir()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM range(10)").await?, "10");
    assert_eq!(
        scalar(&mut s, "SELECT sum(value) FROM generate_series(1, 4)").await?,
        "10"
    );
    let err = s.execute("SELECT * FROM rnage(10)").await.err();
    assert!(matches!(err, Some(EngineError::TableNotFound { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn show_functions_lists_what_queries_can_call() -> TestResult {
    let wh = tempdir()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    let (rows, stats) = run(&mut s, "SHOW FUNCTIONS LIKE 'regexp_rep*|checksum|row_number'").await?;
    assert_eq!(
        rows,
        [
            ["checksum", "aggregate"],
            ["regexp_replace", "scalar"],
            ["row_number", "window"],
        ]
    );
    assert_eq!(stats.bytes_scanned, 0);
    let (all, _) = run(&mut s, "SHOW FUNCTIONS").await?;
    assert!(all.len() > 300, "{} functions", all.len());
    // The engine's internal helper for long chains is not a function users call.
    assert!(!all.iter().any(|r| r[0].starts_with("tarn_")), "{all:?}");
    let err = s.execute("SHOW FUNCTIONS LIKE").await.err();
    assert!(matches!(err, Some(EngineError::Syntax { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn show_session_says_what_set_changed() -> TestResult {
    let wh = tempdir()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, "SET tarn.max_scan = '10GB'").await?;
    run(&mut s, "SET tarn.text.strict = true").await?;
    run(&mut s, "SET tarn.optimize.grace = '10m'").await?;
    let (rows, _) = run(&mut s, "SHOW SESSION").await?;
    let pairs: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("tarn.max_scan", "10.00 GB", "off"),
            ("tarn.memory_limit", "1.00 GB", "1.00 GB"),
            ("tarn.text.strict", "true", "false"),
            ("tarn.delta.retention_duration_check", "true", "true"),
            ("tarn.optimize.grace", "10m", "1h"),
            ("tarn.workers", "", ""),
        ]
    );
    let (rows, _) = run(&mut s, "SHOW SESSION LIKE '*delta*'").await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][3], "boolean");
    Ok(())
}
