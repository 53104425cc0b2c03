//! Delta Lake tables: CTAS, INSERT, DELETE, UPDATE, MERGE, time travel, OPTIMIZE, VACUUM, history, registration of
//! tables other writers made, and the same suite on the S3 test server (s3s-fs in-process; moto with
//! TARN_TEST_S3=moto).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use tarn_engine::{EngineError, Session};
use tarn_fixtures::data::write_consumer_csv_gz;
use tarn_fixtures::s3::S3Server;

/// One row of the reference model: the same operations applied in plain Rust, independently of delta-rs.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: i64,
    state: String,
    amount: f64,
}

fn state_of(id: i64) -> &'static str {
    ["CA", "TX", "NY", "WA"][(id % 4) as usize]
}

/// (count, sum of ids, sum of amounts in thousandths) of a model version.
fn summary(rows: &[Row]) -> Vec<String> {
    let amount: f64 = rows.iter().map(|r| r.amount).sum();
    vec![
        rows.len().to_string(),
        rows.iter().map(|r| r.id).sum::<i64>().to_string(),
        format!("{}", (amount * 1000.0).round() as i64),
    ]
}

async fn summary_at(s: &mut Session, table: &str, version: Option<usize>) -> TestResult<Vec<String>> {
    let travel = version.map(|v| format!(" FOR VERSION AS OF {v}")).unwrap_or_default();
    let (rows, _) = run(
        s,
        &format!("SELECT count(*), sum(id), CAST(round(sum(amount) * 1000) AS bigint) FROM {table}{travel}"),
    )
    .await?;
    Ok(rows.into_iter().next().unwrap_or_default())
}

/// The whole suite, at `base` (a local folder URL or an `s3://` prefix): every version compared with the model,
/// time travel to each of them, OPTIMIZE of many small appends, VACUUM's guard and what it deletes, history,
/// SHOW CREATE TABLE round trip, DROP and DROP ... PURGE.
async fn delta_suite(s: &mut Session, base: &str) -> TestResult<Vec<String>> {
    run(s, "CREATE DATABASE d").await?;
    let location = format!("{base}orders/");
    let (_, stats) = run(
        s,
        &format!(
            "CREATE TABLE d.orders WITH (table_type = 'DELTA', location = '{location}', partitioned_by = ARRAY['state'], \
             write_compression = 'ZSTD') AS \
             SELECT value AS id, CAST(value AS double) * 1.5 AS amount, \
             CASE value % 4 WHEN 0 THEN 'CA' WHEN 1 THEN 'TX' WHEN 2 THEN 'NY' ELSE 'WA' END AS state \
             FROM range(1000)"
        ),
    )
    .await?;
    assert_eq!(stats.rows, 1000, "CTAS reports the rows it wrote");
    let mut model: Vec<Row> = (0..1000)
        .map(|id| Row {
            id,
            state: state_of(id).into(),
            amount: id as f64 * 1.5,
        })
        .collect();
    let mut versions = vec![model.clone()];

    // v1: INSERT
    run(s, "INSERT INTO d.orders SELECT value + 1000, 1.0, 'WY' FROM range(100)").await?;
    model.extend((1000..1100).map(|id| Row {
        id,
        state: "WY".into(),
        amount: 1.0,
    }));
    versions.push(model.clone());

    // v2: DELETE
    let (_, stats) = run(s, "DELETE FROM d.orders WHERE id % 10 = 0").await?;
    let before = model.len();
    model.retain(|r| r.id % 10 != 0);
    assert_eq!(
        stats.rows as usize,
        before - model.len(),
        "DELETE reports the rows it removed"
    );
    versions.push(model.clone());

    // v3: UPDATE
    let (_, stats) = run(s, "UPDATE d.orders SET amount = amount + 100 WHERE state = 'TX'").await?;
    let mut updated = 0;
    for r in model.iter_mut().filter(|r| r.state == "TX") {
        r.amount += 100.0;
        updated += 1;
    }
    assert_eq!(stats.rows, updated);
    versions.push(model.clone());

    // v4: MERGE from another table (a plain Parquet CTAS): matched rows take the source amount, others are new.
    run(
        s,
        &format!(
            "CREATE TABLE d.changes WITH (external_location = '{base}changes/') AS \
             SELECT value AS id, 7.0 AS amount FROM range(990, 1050)"
        ),
    )
    .await?;
    run(
        s,
        "MERGE INTO d.orders AS t USING d.changes AS c ON t.id = c.id \
         WHEN MATCHED THEN UPDATE SET amount = c.amount \
         WHEN NOT MATCHED THEN INSERT (id, amount, state) VALUES (c.id, c.amount, 'NJ')",
    )
    .await?;
    for id in 990..1050 {
        match model.iter_mut().find(|r| r.id == id) {
            Some(r) => r.amount = 7.0,
            None => model.push(Row {
                id,
                state: "NJ".into(),
                amount: 7.0,
            }),
        }
    }
    versions.push(model.clone());

    // v5: MERGE with a subquery source, a conditional delete and a NOT MATCHED BY SOURCE-free insert.
    run(
        s,
        "MERGE INTO d.orders t USING (SELECT value AS id FROM range(0, 40)) AS src ON t.id = src.id \
         WHEN MATCHED AND t.state = 'CA' THEN DELETE",
    )
    .await?;
    model.retain(|r| !(r.id < 40 && r.state == "CA"));
    versions.push(model.clone());

    // v6: rows the source does not have: odd WY ids are deleted, even NJ ones re-priced.
    run(
        s,
        "MERGE INTO d.orders t USING (SELECT value AS id FROM range(0, 2000) WHERE value % 2 = 0) AS src \
         ON t.id = src.id \
         WHEN NOT MATCHED BY SOURCE AND t.state = 'WY' THEN DELETE \
         WHEN MATCHED AND t.state = 'NJ' THEN UPDATE SET amount = 8.5",
    )
    .await?;
    model.retain(|r| !(r.state == "WY" && r.id % 2 == 1));
    for r in model.iter_mut().filter(|r| r.state == "NJ" && r.id % 2 == 0) {
        r.amount = 8.5;
    }
    versions.push(model.clone());

    // Every version, row by row, as the model had it after each statement.
    let as_rows = |model: &[Row]| -> Vec<Vec<String>> {
        let mut sorted = model.to_vec();
        sorted.sort_by_key(|r| r.id);
        sorted
            .iter()
            .map(|r| vec![r.id.to_string(), r.state.clone(), format!("{:?}", r.amount)])
            .collect()
    };
    for (version, expected) in versions.iter().enumerate() {
        let (rows, _) = run(
            s,
            &format!("SELECT id, state, amount FROM d.orders FOR VERSION AS OF {version} ORDER BY id"),
        )
        .await?;
        assert_eq!(rows, as_rows(expected), "every row of version {version}");
        assert_eq!(
            summary_at(s, "d.orders", Some(version)).await?,
            summary(expected),
            "version {version}"
        );
    }
    assert_eq!(summary_at(s, "d.orders", None).await?, summary(&model), "latest");
    let (rows, _) = run(s, "SELECT id, state, amount FROM d.orders ORDER BY id").await?;
    assert_eq!(rows, as_rows(&model), "every row of the latest version");

    // Per-partition counts, and partition pruning: a one-state query reads less than the whole table.
    let (by_state, _) = run(s, "SELECT state, count(*) FROM d.orders GROUP BY state ORDER BY state").await?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &model {
        *counts.entry(r.state.clone()).or_default() += 1;
    }
    let expected: Vec<Vec<String>> = counts.iter().map(|(k, v)| vec![k.clone(), v.to_string()]).collect();
    assert_eq!(by_state, expected);
    let (_, all) = run(s, "SELECT sum(amount) FROM d.orders").await?;
    let (_, one) = run(s, "SELECT sum(amount) FROM d.orders WHERE state = 'WY'").await?;
    assert!(all.bytes_scanned > 0, "reads are metered");
    assert!(
        one.bytes_scanned * 3 < all.bytes_scanned,
        "one partition of five reads less: {} vs {}",
        one.bytes_scanned,
        all.bytes_scanned
    );

    // History: one row per version, newest first, with the operation.
    let (history, _) = run(s, "DESCRIBE HISTORY d.orders").await?;
    let ops: Vec<(&str, &str)> = history.iter().map(|r| (r[0].as_str(), r[2].as_str())).collect();
    assert_eq!(
        ops,
        [
            ("6", "MERGE"),
            ("5", "MERGE"),
            ("4", "MERGE"),
            ("3", "UPDATE"),
            ("2", "DELETE"),
            ("1", "WRITE"),
            ("0", "WRITE")
        ]
    );
    let err = s
        .execute("SELECT count(*) FROM d.orders FOR VERSION AS OF 42")
        .await
        .err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.to_string().contains("there is no version 42; the newest is 6")),
        "{err:?}"
    );
    let err = s
        .execute("SELECT count(*) FROM d.orders FOR TIMESTAMP AS OF '2001-01-01 00:00:00'")
        .await
        .err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.to_string().contains("no version existed at 2001-01-01 00:00:00.000")),
        "{err:?}"
    );
    assert_eq!(
        summary_at(s, "d.orders", None).await?,
        run(s, "SELECT count(*), sum(id), CAST(round(sum(amount) * 1000) AS bigint) FROM d.orders FOR TIMESTAMP AS OF '2999-01-01 00:00:00'")
            .await?
            .0
            .remove(0),
        "a time after the newest commit reads the newest version"
    );

    // OPTIMIZE: many small appends become one file per partition; the data does not change.
    run(
        s,
        &format!(
            "CREATE TABLE d.events WITH (table_type = 'DELTA', location = '{base}events/') AS \
             SELECT value AS id, 'a' AS kind FROM range(10)"
        ),
    )
    .await?;
    for i in 1..12 {
        run(
            s,
            &format!("INSERT INTO d.events SELECT value + {}, 'b' FROM range(10)", i * 10),
        )
        .await?;
    }
    let before = scalar(s, "SELECT sum(id) FROM d.events").await?;
    let (optimized, _) = run(s, "OPTIMIZE d.events").await?;
    assert!(optimized.is_empty());
    let (history, _) = run(s, "DESCRIBE HISTORY d.events").await?;
    assert_eq!(history[0][2], "OPTIMIZE");
    let metrics: serde_json::Value = serde_json::from_str(&history[0][4])?;
    assert_eq!(metrics["numFilesRemoved"], 12, "{metrics}");
    assert_eq!(metrics["numFilesAdded"], 1, "{metrics}");
    assert_eq!(scalar(s, "SELECT sum(id) FROM d.events").await?, before);
    assert_eq!(scalar(s, "SELECT count(*) FROM d.events").await?, "120");

    // VACUUM: refused below the table's retention, then (when asked) deletes exactly the 12 compacted files.
    let err = s.execute("VACUUM d.events RETAIN 0 HOURS").await.err();
    assert!(
        err.as_ref().is_some_and(|e| e
            .to_string()
            .contains("SET tarn.delta.retention_duration_check = false")),
        "{err:?}"
    );
    run(s, "SET tarn.delta.retention_duration_check = false").await?;
    let dry = s.execute("VACUUM d.events RETAIN 0 HOURS DRY RUN").await?;
    assert!(
        dry.message().is_some_and(|m| m.contains("would delete 12 files")),
        "{:?}",
        dry.message()
    );
    let done = s.execute("VACUUM d.events RETAIN 0 HOURS").await?;
    assert!(
        done.message().is_some_and(|m| m.contains("deleted 12 files")),
        "{:?}",
        done.message()
    );
    assert_eq!(scalar(s, "SELECT count(*) FROM d.events").await?, "120");
    let err = s.execute("SELECT sum(id) FROM d.events FOR VERSION AS OF 3").await;
    let err = match err {
        Ok(result) => result.collect().await.err().map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    assert!(err.is_some(), "the files of a vacuumed version are gone");

    // SHOW CREATE TABLE round-trips; DESCRIBE reads the log.
    let (ddl, _) = run(s, "SHOW CREATE TABLE d.orders").await?;
    let ddl: Vec<String> = ddl.into_iter().map(|r| r[0].clone()).collect();
    let ddl = ddl.join("\n").replace("`d`.`orders`", "d.orders_again");
    run(s, &ddl).await?;
    assert_eq!(summary_at(s, "d.orders_again", None).await?, summary(&model));
    let (described, _) = run(s, "DESCRIBE d.orders_again").await?;
    let names: Vec<&str> = described.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names[..2], ["id", "amount"]);
    assert!(names.contains(&"# Partition Information") && names.last() == Some(&"state"));

    // DROP keeps the files; PURGE (of a table tarn created) deletes them.
    run(s, "DROP TABLE d.orders_again").await?;
    assert_eq!(summary_at(s, "d.orders", None).await?, summary(&model));
    let dropped = s.execute("DROP TABLE d.events PURGE").await?;
    let message = dropped.message().unwrap_or_default().to_string();
    assert!(message.contains("deleted the"), "{message}");

    // Row changes on a Hive table are refused with the way out.
    let err = s.execute("DELETE FROM d.changes WHERE id = 1").await.err();
    assert!(
        err.as_ref()
            .is_some_and(|e| matches!(e, EngineError::Unsupported { .. })
                && e.to_string().contains("WITH (table_type = 'DELTA')")),
        "{err:?}"
    );
    Ok(vec![location])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_tables_locally() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    let base = dir_url(data.path());
    delta_suite(&mut s, &base).await?;
    // PURGE removed the log and data files of `events`, and nothing is left of it.
    let left = tarn_fixtures::s3::walk(&data.path().join("events"))?;
    assert!(left.is_empty(), "{left:?}");
    assert!(data.path().join("orders").join("_delta_log").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_tables_on_s3() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("lake")?;
    let mut s = open_s3("s3://lake/warehouse/", &server).await?;
    delta_suite(&mut s, "s3://lake/delta/").await?;
    // A second session (another process would do the same) reads the table from the bucket.
    let mut other = open_s3("s3://lake/warehouse/", &server).await?;
    assert_eq!(
        scalar(&mut other, "SELECT count(*) FROM d.orders WHERE state = 'NJ'").await?,
        "6"
    );
    Ok(())
}

/// Four sessions append three times each, at once: every append lands as its own version.
async fn concurrent_appends(mut s: Session) -> TestResult {
    run(
        &mut s,
        "CREATE TABLE t WITH (table_type = 'DELTA') AS SELECT value AS id FROM range(10)",
    )
    .await?;
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let mut session = s.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..3 {
                session
                    .execute(&format!(
                        "INSERT INTO t SELECT value + {} FROM range(5)",
                        1000 * (writer * 3 + round + 1)
                    ))
                    .await?
                    .collect()
                    .await?;
            }
            Ok::<_, EngineError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM t").await?, "70");
    let (history, _) = run(&mut s, "DESCRIBE HISTORY t").await?;
    assert_eq!(history.len(), 13, "12 appends and the CTAS, each its own version");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_sessions_all_land() -> TestResult {
    let wh = tempdir()?;
    concurrent_appends(open(&wh.path().display().to_string()).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_on_s3_all_land() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("lake")?;
    concurrent_appends(open_s3("s3://lake/warehouse/", &server).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_delta_statements_say_what_and_change_nothing() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    std::fs::write(data.path().join("x.csv"), "a\n1\n")?;
    let err = s
        .execute(&format!(
            "CREATE EXTERNAL TABLE nope LOCATION '{}' TBLPROPERTIES ('table_type'='DELTA')",
            dir_url(data.path())
        ))
        .await
        .err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.to_string().contains("there is no Delta table here (no _delta_log/")),
        "{err:?}"
    );
    let err = s
        .execute(&format!(
            "CREATE TABLE t WITH (table_type = 'DELTA', location = '{}') AS SELECT 1 AS a",
            dir_url(data.path())
        ))
        .await
        .err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.to_string().contains("already holds data")),
        "{err:?}"
    );
    let err = s
        .execute(
            "CREATE TABLE t WITH (table_type = 'DELTA', bucketed_by = ARRAY['a'], bucket_count = 4) AS SELECT 1 AS a",
        )
        .await
        .err();
    assert!(
        err.as_ref().is_some_and(|e| e.to_string().contains("partitioned_by")),
        "{err:?}"
    );
    let err = s.execute("OPTIMIZE missing").await.err();
    assert!(matches!(err, Some(EngineError::TableNotFound { .. })), "{err:?}");
    run(
        &mut s,
        "CREATE TABLE p WITH (table_type = 'DELTA', partitioned_by = ARRAY['k']) AS SELECT 1 AS a, 'x' AS k",
    )
    .await?;
    let err = s.execute("OPTIMIZE p WHERE a = 1").await.err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.to_string().contains("partition columns only (k)")),
        "{err:?}"
    );
    let err = s.execute("UPDATE p SET nope = 1").await.err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.to_string() == "column 'nope' is not in table default.p (its columns: a, k)"),
        "{err:?}"
    );
    let err = s
        .execute("MERGE INTO p USING (SELECT 2 AS a) ON p.a = a WHEN MATCHED THEN DELETE")
        .await
        .err();
    assert!(
        matches!(&err, Some(EngineError::Invalid { message, .. })
            if message == "MERGE ... USING (subquery) needs an alias: USING (...) AS s"),
        "{err:?}"
    );
    // A condition that names neither side is refused before anything is written.
    let err = s
        .execute("MERGE INTO p USING (SELECT 2 AS a) AS src ON p.a = nope.a WHEN MATCHED THEN DELETE")
        .await
        .err();
    assert!(
        err.as_ref().is_some_and(|e| e.to_string().contains("nope.a")),
        "{err:?}"
    );
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM p").await?, "1");
    let (history, _) = run(&mut s, "DESCRIBE HISTORY p").await?;
    assert_eq!(history.len(), 1, "failed statements commit nothing");
    let (tables, _) = run(&mut s, "SHOW TABLES").await?;
    assert_eq!(tables, [["p"]], "failed statements register nothing");
    // Versions are Delta's: a Hive table has no history to show or travel in.
    run(&mut s, "CREATE TABLE h AS SELECT 1 AS a").await?;
    let err = s.execute("DESCRIBE HISTORY h").await.err();
    assert!(
        err.as_ref().is_some_and(|e| e
            .to_string()
            .starts_with("DESCRIBE HISTORY on default.h (parquet files) is not supported")),
        "{err:?}"
    );
    let err = s.execute("SELECT * FROM h FOR VERSION AS OF 0").await.err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.to_string().contains("only Delta tables keep older versions")),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_dir(data.path())?.count(),
        1,
        "the folder tarn refused is untouched"
    );
    Ok(())
}

fn python(script: &str) -> TestResult<Option<String>> {
    let Some(python) = reference_python() else {
        if std::env::var("CI").is_ok() {
            return Err("CI needs the Delta reference readers: run .ci/run, which installs them".into());
        }
        eprintln!("skipping: no Python with deltalake and duckdb's delta extension (see .ci/run)");
        return Ok(None);
    };
    // DuckDB draws a progress bar on stdout for queries over two seconds (a slow CI machine), which is not an answer;
    // DUCKDB_DELTA turns it off. The deltalake package can abort in its thread teardown at interpreter exit ("terminate called without an
    // active exception") after printing its answer; leave without the teardown.
    let script = format!("{script}\nimport os, sys\nsys.stdout.flush()\nos._exit(0)\n");
    let out = Command::new(python).arg("-c").arg(&script).output()?;
    if !out.status.success() {
        return Err(format!("python failed: {}\n{script}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(Some(String::from_utf8(out.stdout)?.trim().to_string()))
}

const DUCKDB_DELTA: &str = "import duckdb, duckdb_extension_delta, os\n\
    ext = os.path.join(os.path.dirname(duckdb_extension_delta.__file__), 'extensions', 'v' + duckdb.__version__, 'delta.duckdb_extension')\n\
    con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n\
    con.execute('SET enable_progress_bar = false')\n\
    con.execute(f\"LOAD '{ext}'\")\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_delta_readers_agree_and_tarn_reads_what_they_write() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    write_consumer_csv_gz(&data.path().join("intake"), 3, 2_000, 9)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(&mut s, "CREATE DATABASE cs").await?;
    run(&mut s, &consumer_ddl("cs.raw", &dir_url(&data.path().join("intake")))).await?;
    let delta = data.path().join("consumer_delta");
    run(
        &mut s,
        &format!(
            "CREATE TABLE cs.consumer WITH (format = 'DELTA', external_location = '{}', partitioned_by = ARRAY['state']) \
             AS SELECT * EXCLUDE (state), state FROM cs.raw",
            delta.display()
        ),
    )
    .await?;
    let total = scalar(&mut s, "SELECT count(*) FROM cs.raw").await?;
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM cs.consumer").await?, total);
    let (per_state, _) = run(
        &mut s,
        "SELECT state, count(*) FROM cs.raw GROUP BY state ORDER BY state",
    )
    .await?;
    let expected: String = per_state
        .iter()
        .map(|r| format!("{}={}", r[0], r[1]))
        .collect::<Vec<_>>()
        .join(",");
    let (tarn_per_state, _) = run(
        &mut s,
        "SELECT state, count(*) FROM cs.consumer GROUP BY state ORDER BY state",
    )
    .await?;
    assert_eq!(tarn_per_state, per_state);

    let path = delta.display().to_string();
    let deltalake_view = python(&format!(
        "import deltalake, collections\n\
         t = deltalake.DeltaTable('{path}').to_pyarrow_table()\n\
         c = collections.Counter(t.column('state').to_pylist())\n\
         print(t.num_rows, ','.join(f'{{k}}={{v}}' for k, v in sorted(c.items())))"
    ))?;
    if let Some(view) = deltalake_view {
        assert_eq!(
            view,
            format!("{total} {expected}"),
            "the deltalake package reads the same table"
        );
    }
    let duckdb_view = python(&format!(
        "{DUCKDB_DELTA}\
         n = con.execute(\"SELECT count(*) FROM delta_scan('{path}')\").fetchone()[0]\n\
         rows = con.execute(\"SELECT state, count(*) FROM delta_scan('{path}') GROUP BY state ORDER BY state\").fetchall()\n\
         print(n, ','.join(f'{{k}}={{v}}' for k, v in rows))"
    ))?;
    if let Some(view) = duckdb_view {
        assert_eq!(
            view,
            format!("{total} {expected}"),
            "DuckDB's delta_scan reads the same table"
        );
    }

    // After tarn's DELETE, the other readers see the new version too.
    run(&mut s, "DELETE FROM cs.consumer WHERE state = 'CA'").await?;
    let left = scalar(&mut s, "SELECT count(*) FROM cs.consumer").await?;
    if let Some(n) = python(&format!(
        "import deltalake\nprint(deltalake.DeltaTable('{path}').to_pyarrow_table().num_rows)"
    ))? {
        assert_eq!(n, left);
    }

    // A table the deltalake package wrote (partitioned, two commits) is registered and read by tarn.
    let theirs = data.path().join("theirs");
    let their_path = theirs.display().to_string();
    if python(&format!(
        "import deltalake, pyarrow as pa\n\
         deltalake.write_deltalake('{their_path}', pa.table({{'id': list(range(100)), 'region': ['EU', 'US'] * 50}}), partition_by=['region'])\n\
         deltalake.write_deltalake('{their_path}', pa.table({{'id': [100, 101], 'region': ['EU', 'APAC']}}), mode='append', partition_by=['region'])\n\
         print('ok')"
    ))?
    .is_some()
    {
        run(
            &mut s,
            &format!("CREATE EXTERNAL TABLE cs.theirs LOCATION '{their_path}' TBLPROPERTIES ('table_type'='DELTA')"),
        )
        .await?;
        let (rows, _) = run(&mut s, "SELECT region, count(*), sum(id) FROM cs.theirs GROUP BY region ORDER BY region").await?;
        assert_eq!(rows, [["APAC", "1", "101"], ["EU", "51", "2550"], ["US", "50", "2500"]]);
        assert_eq!(scalar(&mut s, "SELECT count(*) FROM cs.theirs FOR VERSION AS OF 0").await?, "100");
        run(&mut s, "INSERT INTO cs.theirs VALUES (500, 'US')").await?;
        let n = python(&format!(
            "import deltalake\nt = deltalake.DeltaTable('{their_path}')\nprint(t.version(), t.to_pyarrow_table().num_rows)"
        ))?;
        assert_eq!(n.as_deref(), Some("2 103"), "tarn's INSERT is a commit the deltalake package reads");
    }
    Ok(())
}
