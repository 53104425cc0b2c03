//! Delimited text read as Athena reads it: LazySimpleSerDe's and OpenCSVSerde's rules for empty fields and `\N`,
//! values that are not of their column's type read as NULL and counted (strict mode: an error), invalid UTF-8 as
//! U+FFFD. The expected values are Athena's documented behaviour (athena-glue.md §2.2).

mod common;

use common::*;

const ROWS: &str = "id|name|amount|day\n\
                    1|ann|10|2024-01-01\n\
                    2||abc|2024-13-01\n\
                    \n\
                    3|\\N|\\N|\n\
                    4|bob|7|2024-02-02\n";

async fn table(s: &mut tarn_engine::Session, dir: &std::path::Path, name: &str, row_format: &str) -> TestResult {
    run(
        s,
        &format!(
            "CREATE EXTERNAL TABLE {name} (id bigint, name string, amount bigint, day date) {row_format} \
             LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(dir)
        ),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_simple_serde_reads_empty_null_marker_and_bad_values_as_athena() -> TestResult {
    let dir = tempdir()?;
    let data = dir.path().join("lazy");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("a.csv"), ROWS)?;
    let mut s = open(&dir.path().join("wh").display().to_string()).await?;
    table(&mut s, &data, "lazy", "ROW FORMAT DELIMITED FIELDS TERMINATED BY '|'").await?;
    let (rows, stats) = run(
        &mut s,
        "SELECT id, name, name IS NULL, amount, day FROM lazy ORDER BY id",
    )
    .await?;
    assert_eq!(
        rows,
        [
            ["1", "ann", "false", "10", "2024-01-01"],
            // An empty field is '' in a string column and NULL in a number or date column.
            ["2", "", "false", "NULL", "NULL"],
            // `\N` is NULL in every column.
            ["3", "NULL", "true", "NULL", "NULL"],
            ["4", "bob", "false", "7", "2024-02-02"],
        ]
    );
    // count(col) as Athena counts it: '' is a value, NULL is not.
    assert_eq!(
        run(&mut s, "SELECT count(name), count(amount), count(day) FROM lazy")
            .await?
            .0,
        [["3", "2", "2"]]
    );
    // The values that were not of their column's type, counted with the first one and its line (line 4 is
    // blank; the file's numbering is kept).
    let notes = stats.text.unreadable;
    let url = format!("file://{}/a.csv", data.display());
    assert_eq!(notes.get("amount"), Some(&(1, format!("'abc' at {url}:3"))));
    assert_eq!(notes.get("day"), Some(&(1, format!("'2024-13-01' at {url}:3"))));
    assert_eq!(notes.len(), 2, "{notes:?}");

    // A table's own NULL marker: '' here (what tarn writes), so the empty name is NULL too.
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE empty_null (id bigint, name string, amount bigint, day date) ROW FORMAT DELIMITED \
             FIELDS TERMINATED BY '|' NULL DEFINED AS '' LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(&data)
        ),
    )
    .await?;
    assert_eq!(scalar(&mut s, "SELECT count(name) FROM empty_null").await?, "3");
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM empty_null WHERE name IS NULL").await?,
        "1"
    );

    // Strict: the first such value fails the query, with file, line, column and type.
    run(&mut s, "SET tarn.text.strict = true").await?;
    let err = s
        .execute("SELECT * FROM lazy")
        .await?
        .collect()
        .await
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            format!(
                "{url}:3: value 'abc' is not valid for column 'amount' (bigint); fix the file, or SET tarn.text.strict \
                 = false to read such values as NULL as Athena does"
            )
            .as_str()
        )
    );
    // Columns a query does not read are not converted, so they cannot fail it.
    assert_eq!(scalar(&mut s, "SELECT count(name) FROM lazy").await?, "3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_csv_serde_has_no_null_marker() -> TestResult {
    let dir = tempdir()?;
    let data = dir.path().join("open");
    std::fs::create_dir_all(&data)?;
    std::fs::write(
        data.join("a.csv"),
        "id,name,amount,day\n1,\"ann, jr\",10,18276\n2,\"\",,2020-01-16\n3,\\N,7,x\n",
    )?;
    let mut s = open(&dir.path().join("wh").display().to_string()).await?;
    table(
        &mut s,
        &data,
        "oc",
        "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'",
    )
    .await?;
    let (rows, stats) = run(&mut s, "SELECT id, name, amount, day FROM oc ORDER BY id").await?;
    assert_eq!(
        rows,
        [
            // OpenCSVSerde dates are days since 1970 (Athena's rule) or ISO text (tarn reads both).
            ["1", "ann, jr", "10", "2020-01-15"],
            ["2", "", "NULL", "2020-01-16"],
            // `\N` is text to OpenCSVSerde.
            ["3", "\\N", "7", "NULL"],
        ]
    );
    assert_eq!(stats.text.unreadable.keys().collect::<Vec<_>>(), ["day"]);
    assert_eq!(scalar(&mut s, "SELECT count(name) FROM oc").await?, "3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_reads_as_the_replacement_character_and_is_counted() -> TestResult {
    let dir = tempdir()?;
    let data = dir.path().join("utf8");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("a.csv"), b"id|name\n1|caf\xe9\n2|ok\n3|\xff\xfe\n".as_slice())?;
    // Gzip too: the repair happens after decompression.
    tarn_fixtures::data::write_gzip(&data.join("b.csv.gz"), "id|name\n4|plain\n")?;
    let mut s = open(&dir.path().join("wh").display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE u (id bigint, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
             LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(&data)
        ),
    )
    .await?;
    let (rows, stats) = run(&mut s, "SELECT id, name FROM u ORDER BY id").await?;
    assert_eq!(
        rows,
        [
            ["1", "caf\u{FFFD}"],
            ["2", "ok"],
            ["3", "\u{FFFD}\u{FFFD}"],
            ["4", "plain"]
        ]
    );
    assert_eq!(
        stats.text.invalid_utf8,
        Some((3, format!("file://{}/a.csv:2", data.display())))
    );
    run(&mut s, "SET tarn.text.strict = true").await?;
    let err = s
        .execute("SELECT * FROM u")
        .await?
        .collect()
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("/a.csv:2: the line is not valid UTF-8")),
        "{err:?}"
    );
    Ok(())
}

/// A big plain file is read in byte ranges on several cores; its unreadable values still name the file's line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_ranges_name_the_files_lines() -> TestResult {
    let dir = tempdir()?;
    let data = dir.path().join("big");
    std::fs::create_dir_all(&data)?;
    let mut text = String::from("id|v\n");
    let lines = 400_000;
    for i in 0..lines {
        if i == lines - 10 {
            text.push_str("x|1\n");
        } else {
            text.push_str(&format!("{i}|{}\n", i % 9));
        }
    }
    std::fs::write(data.join("big.csv"), &text)?;
    let mut s = open(&dir.path().join("wh").display().to_string()).await?;
    run(&mut s, "SET datafusion.execution.target_partitions = '4'").await?;
    run(&mut s, "SET datafusion.optimizer.repartition_file_min_size = '65536'").await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE big (id bigint, v int) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
             LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(&data)
        ),
    )
    .await?;
    let (plan, _) = run(&mut s, "EXPLAIN SELECT count(id) FROM big").await?;
    let plan = format!("{plan:?}");
    assert!(plan.contains("big.csv:0.."), "the file is read in ranges: {plan}");
    let (rows, stats) = run(&mut s, "SELECT count(id), count(*) FROM big").await?;
    assert_eq!(rows, [[(lines - 1).to_string(), lines.to_string()]]);
    // The header is line 1, so data row k (from 0) is line k + 2.
    let expected_line = lines - 10 + 2;
    assert_eq!(
        stats.text.unreadable.get("id"),
        Some(&(1, format!("'x' at file://{}/big.csv:{expected_line}", data.display())))
    );
    Ok(())
}

/// A file that starts with a UTF-8 byte-order mark (as Excel writes them): the mark is not part of the first value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_order_mark_is_not_data() -> TestResult {
    let dir = tempdir()?;
    let data = dir.path().join("bom");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("a.csv"), "\u{FEFF}7|x\n8|y\n")?;
    let mut s = open(&dir.path().join("wh").display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE b (id bigint, v string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}'",
            dir_url(&data)
        ),
    )
    .await?;
    let (rows, stats) = run(&mut s, "SELECT id, v FROM b ORDER BY id").await?;
    assert_eq!(rows, [["7", "x"], ["8", "y"]]);
    assert!(stats.text.is_empty(), "{:?}", stats.text);
    Ok(())
}
