//! Catalog maintenance: partitions registered in the catalog (and read from it), MSCK REPAIR, ADD/DROP PARTITION,
//! SHOW PARTITIONS, ALTER TABLE, table versions, SHOW CREATE TABLE round trips, and views.

mod common;

use common::*;

fn write_csv(dir: &std::path::Path, rows: std::ops::Range<usize>) -> TestResult<u64> {
    std::fs::create_dir_all(dir)?;
    let mut text = String::new();
    for i in rows {
        text.push_str(&format!("{i}|n{i}\n"));
    }
    std::fs::write(dir.join("part-0.csv"), &text)?;
    Ok(text.len() as u64)
}

fn err_text(result: TestResult<impl std::fmt::Debug>) -> String {
    match result {
        Ok(v) => format!("unexpected success: {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_query_on_one_of_1000_partitions_lists_only_that_partition() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let root = data.path();
    let mut sizes = Vec::new();
    for p in 0..1000 {
        sizes.push(write_csv(&root.join(format!("p={p:04}")), p..p + 2)?);
    }
    let mut s = open(&wh.path().display().to_string()).await?;
    let created = s
        .execute(&format!(
            "CREATE EXTERNAL TABLE t (id int, name string) PARTITIONED BY (p string) \
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}'",
            dir_url(root)
        ))
        .await?;
    let message = created.message().unwrap_or_default();
    assert!(
        message.contains("partitioned by p: 1000 partitions registered"),
        "{message}"
    );
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM t").await?, "2000");

    let (rows, stats) = run(&mut s, "SELECT id, p FROM t WHERE p = '0500' ORDER BY id").await?;
    assert_eq!(rows, [["500", "0500"], ["501", "0500"]]);
    assert_eq!(stats.bytes_scanned, sizes[500]);
    // One LIST, of that partition's folder; the other 999 folders (and the table root) are never listed.
    let expected = format!("{}/p=0500", root.display()).trim_start_matches('/').to_string();
    assert_eq!(stats.listed, [expected]);

    // A range filter lists exactly the partitions it can match.
    let (rows, stats) = run(&mut s, "SELECT count(*) FROM t WHERE p BETWEEN '0010' AND '0014'").await?;
    assert_eq!(rows, [["10"]]);
    assert_eq!(stats.listed.len(), 5, "{:?}", stats.listed);

    // A folder that lands later is not read until it is registered (Glue's model) ...
    write_csv(&root.join("p=1000"), 7000..7003)?;
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM t WHERE p = '1000'").await?, "0");
    // ... and MSCK REPAIR adds exactly it.
    let result = s.execute("MSCK REPAIR TABLE t").await?;
    assert_eq!(
        result.message(),
        Some("default.t: added 1 partition (p=1000); 1001 registered")
    );
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM t WHERE p = '1000'").await?, "3");
    let result = s.execute("MSCK REPAIR TABLE t").await?;
    assert_eq!(result.message(), Some("default.t: no new partitions; 1001 registered"));
    Ok(())
}

#[tokio::test]
async fn partitions_are_added_dropped_and_shown() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let root = data.path();
    // A non-Hive layout: 2024/01/26/, which only ADD PARTITION ... LOCATION can map.
    write_csv(&root.join("2024/01/26"), 0..3)?;
    write_csv(&root.join("2024/01/27"), 10..12)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    let (_, _) = run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE logs (id int, name string) PARTITIONED BY (year string, month string, day int) \
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}'",
            dir_url(root)
        ),
    )
    .await?;
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM logs").await?, "0");
    let result = s
        .execute(&format!(
            "ALTER TABLE logs ADD PARTITION (year = '2024', month = '01', day = 26) LOCATION '{}' \
             PARTITION (year='2024', month='01', day=27) LOCATION '{}'",
            dir_url(&root.join("2024/01/26")),
            dir_url(&root.join("2024/01/27"))
        ))
        .await?;
    assert_eq!(
        result.message(),
        Some("default.logs: added 2 partitions (year=2024/month=01/day=26, year=2024/month=01/day=27)")
    );
    let (rows, _) = run(&mut s, "SELECT day, count(*) FROM logs GROUP BY day ORDER BY day").await?;
    assert_eq!(rows, [["26", "3"], ["27", "2"]]);
    let (rows, _) = run(&mut s, "SHOW PARTITIONS logs").await?;
    assert_eq!(rows, [["year=2024/month=01/day=26"], ["year=2024/month=01/day=27"]]);

    // Errors say what is wrong and change nothing.
    let e = err_text(
        run(
            &mut s,
            "ALTER TABLE logs ADD PARTITION (year='2024', month='01', day=26)",
        )
        .await,
    );
    assert!(e.contains("Partition already exists: year=2024/month=01/day=26"), "{e}");
    let e = err_text(run(&mut s, "ALTER TABLE logs ADD PARTITION (year='2024', month='01')").await);
    assert!(e.contains("'day' is given 0 times"), "{e}");
    let e = err_text(
        run(
            &mut s,
            "ALTER TABLE logs ADD PARTITION (year='2024', month='01', day='x')",
        )
        .await,
    );
    assert!(e.contains("'x' is not a valid int for partition key 'day'"), "{e}");
    let e = err_text(run(&mut s, "ALTER TABLE logs ADD PARTITION (yr='2024', month='01', day=1)").await);
    assert!(e.contains("has no partition key 'yr'"), "{e}");
    let e = err_text(
        run(
            &mut s,
            "ALTER TABLE logs DROP PARTITION (year='2023', month='01', day=1)",
        )
        .await,
    );
    assert!(
        e.contains("is not registered in default.logs; nothing was dropped"),
        "{e}"
    );
    let (rows, _) = run(&mut s, "SHOW PARTITIONS logs").await?;
    assert_eq!(rows.len(), 2, "errors changed nothing");

    // IF NOT EXISTS skips the existing one and adds the new one (default location: <table>/year=.../...).
    let result = s
        .execute(
            "ALTER TABLE logs ADD IF NOT EXISTS PARTITION (year='2024', month='01', day=26) \
             PARTITION (year='2024', month='02', day=1)",
        )
        .await?;
    assert_eq!(
        result.message(),
        Some("default.logs: added 1 partition (year=2024/month=02/day=1); 1 partition already existed")
    );
    write_csv(&root.join("year=2024/month=02/day=1"), 20..24)?;
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM logs WHERE month = '02'").await?,
        "4"
    );

    // DROP removes the entry, not the files.
    let result = s
        .execute("ALTER TABLE logs DROP PARTITION (year='2024', month='01', day=26), PARTITION (year='2024', month='02', day=1)")
        .await?;
    assert_eq!(
        result.message(),
        Some(
            "default.logs: dropped 2 partitions (year=2024/month=01/day=26, year=2024/month=02/day=1); their files \
             were not touched"
        )
    );
    assert!(root.join("2024/01/26/part-0.csv").exists());
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM logs").await?, "2");
    run(
        &mut s,
        "ALTER TABLE logs DROP IF EXISTS PARTITION (year='2023', month='01', day=1)",
    )
    .await?;

    // MSCK finds the Hive folder again, and names a registered default-location folder that is gone.
    run(
        &mut s,
        "ALTER TABLE logs ADD PARTITION (year='2025', month='01', day=1)",
    )
    .await?;
    let result = s.execute("MSCK REPAIR TABLE logs").await?;
    assert_eq!(
        result.message(),
        Some("default.logs: added 1 partition (year=2024/month=02/day=1); 3 registered")
    );
    assert!(
        result
            .notices()
            .iter()
            .any(|n| n.starts_with("Partitions missing from filesystem: year=2025/month=01/day=1")),
        "{:?}",
        result.notices()
    );
    let e = err_text(run(&mut s, "SHOW PARTITIONS missing_table").await);
    assert!(e.contains("table 'default.missing_table' does not exist"), "{e}");
    run(
        &mut s,
        &format!("CREATE EXTERNAL TABLE flat (id int) LOCATION '{}'", dir_url(root)),
    )
    .await?;
    let e = err_text(run(&mut s, "MSCK REPAIR TABLE flat").await);
    assert!(e.contains("table default.flat is not partitioned"), "{e}");
    Ok(())
}

#[tokio::test]
async fn ctas_and_insert_register_their_partitions() -> TestResult {
    let wh = tempdir()?;
    let out = tempdir()?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE TABLE sales WITH (format = 'PARQUET', external_location = '{}', partitioned_by = ARRAY['region']) \
             AS SELECT * FROM (VALUES (1, 'eu'), (2, 'us'), (3, 'eu')) AS v(id, region)",
            dir_url(&out.path().join("sales"))
        ),
    )
    .await?;
    let (rows, _) = run(&mut s, "SHOW PARTITIONS sales").await?;
    assert_eq!(rows, [["region=eu"], ["region=us"]]);
    run(&mut s, "INSERT INTO sales VALUES (4, 'apac'), (5, 'eu')").await?;
    let (rows, _) = run(&mut s, "SHOW PARTITIONS sales").await?;
    assert_eq!(rows, [["region=apac"], ["region=eu"], ["region=us"]]);
    let (rows, stats) = run(&mut s, "SELECT count(*) FROM sales WHERE region = 'apac'").await?;
    assert_eq!(rows, [["1"]]);
    assert_eq!(stats.listed.len(), 1, "{:?}", stats.listed);
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM sales").await?, "5");
    Ok(())
}

#[tokio::test]
async fn alter_table_keeps_every_version_and_show_create_table_round_trips() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let root = data.path();
    write_csv(&root.join("dt=2024-01-01"), 0..4)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE ev (id bigint COMMENT 'key', name string) COMMENT 'events' \
             PARTITIONED BY (dt date) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}' \
             TBLPROPERTIES ('owner_team' = 'data')",
            dir_url(root)
        ),
    )
    .await?;
    run(
        &mut s,
        "ALTER TABLE ev SET TBLPROPERTIES ('owner_team' = 'platform', 'retention' = '30')",
    )
    .await?;
    let result = s
        .execute("ALTER TABLE ev ADD COLUMNS (score double COMMENT 'new', tag string)")
        .await?;
    assert_eq!(
        result.message(),
        Some("default.ev: added 2 columns (score, tag) (table version 3)")
    );
    // Files written before the new columns read them as NULL.
    let (rows, _) = run(&mut s, "SELECT id, score, tag, dt FROM ev ORDER BY id LIMIT 1").await?;
    assert_eq!(rows, [["0", "NULL", "NULL", "2024-01-01"]]);

    let (cols, _) = run(&mut s, "SHOW COLUMNS IN ev").await?;
    assert_eq!(cols, [["id"], ["name"], ["score"], ["tag"], ["dt"]]);
    let (props, _) = run(&mut s, "SHOW TBLPROPERTIES ev ('owner_team')").await?;
    assert_eq!(props, [["owner_team", "platform"]]);
    let e = err_text(run(&mut s, "SHOW TBLPROPERTIES ev ('nope')").await);
    assert!(e.contains("has no property 'nope'"), "{e}");
    let (versions, _) = run(&mut s, "SHOW TABLE VERSIONS ev").await?;
    let ops: Vec<(&str, &str)> = versions.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(ops, [("3", "ADD COLUMNS"), ("2", "SET TBLPROPERTIES"), ("1", "CREATE")]);
    assert_eq!(versions[2][3], "id bigint, name string", "version 1 kept its columns");
    let (formatted, _) = run(&mut s, "DESCRIBE FORMATTED ev").await?;
    let value = |key: &str| {
        formatted
            .iter()
            .find(|r| r[0] == key)
            .map(|r| r[1].clone())
            .unwrap_or_default()
    };
    assert_eq!(value("Partitions:"), "1");
    assert_eq!(value("Version:"), "3");
    assert_eq!(
        value("SerDe Library:"),
        "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    );
    assert!(
        formatted.iter().any(|r| r[1] == "retention" && r[2] == "30"),
        "{formatted:?}"
    );

    // SHOW CREATE TABLE's output recreates an equal table.
    let (ddl, _) = run(&mut s, "SHOW CREATE TABLE ev").await?;
    let ddl: String = ddl.iter().map(|r| r[0].clone()).collect::<Vec<_>>().join("\n");
    let before = s.catalog().get_table("default", "ev").await?.ok_or("ev is missing")?;
    run(&mut s, "DROP TABLE ev").await?;
    run(&mut s, &ddl).await?;
    let after = s
        .catalog()
        .get_table("default", "ev")
        .await?
        .ok_or("ev was not recreated")?;
    assert_eq!(after.storage, before.storage);
    assert_eq!(after.partition_keys, before.partition_keys);
    assert_eq!(after.description, before.description);
    assert_eq!(after.parameters, before.parameters);
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM ev WHERE dt = DATE '2024-01-01'").await?,
        "4"
    );

    let e = err_text(run(&mut s, "ALTER TABLE ev SET LOCATION '/elsewhere'").await);
    assert!(e.contains("ALTER TABLE ... SET LOCATION is not supported"), "{e}");
    let e = err_text(run(&mut s, "ALTER TABLE ev RENAME TO ev2").await);
    assert!(e.contains("ALTER TABLE ... RENAME is not supported"), "{e}");
    let e = err_text(run(&mut s, "ALTER TABLE ev ADD COLUMNS (id int)").await);
    assert!(e.contains("duplicate column 'id'"), "{e}");
    let (versions, _) = run(&mut s, "SHOW TABLE VERSIONS ev").await?;
    assert_eq!(versions[0][1], "CREATE", "the failed ALTER wrote no version");
    Ok(())
}

#[tokio::test]
async fn views_persist_across_sessions_and_go_stale_when_their_tables_change() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    write_csv(&data.path().join("t"), 0..10)?;
    let warehouse = wh.path().display().to_string();
    let mut s = open(&warehouse).await?;
    run(&mut s, "CREATE DATABASE sales").await?;
    run(&mut s, "USE sales").await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE t (id int, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
             LOCATION '{}'",
            dir_url(&data.path().join("t"))
        ),
    )
    .await?;
    // Unqualified names in the view mean the database current when it was created (sales), wherever it is used.
    run(&mut s, "CREATE VIEW big AS SELECT id, name FROM t WHERE id >= 5").await?;
    run(&mut s, "CREATE VIEW big_count AS SELECT count(*) AS n FROM big").await?;

    let mut other = open(&warehouse).await?;
    let (rows, stats) = run(&mut other, "SELECT n FROM sales.big_count").await?;
    assert_eq!(rows, [["5"]]);
    assert!(stats.bytes_scanned > 0, "a view's scan is billed like its tables'");
    let (views, _) = run(&mut other, "SHOW VIEWS IN sales").await?;
    assert_eq!(views, [["big"], ["big_count"]]);
    let (tables, _) = run(&mut other, "SHOW TABLES IN sales").await?;
    assert_eq!(tables, [["big"], ["big_count"], ["t"]]);
    let (described, _) = run(&mut other, "DESCRIBE sales.big").await?;
    assert_eq!(described, [["id", "int", ""], ["name", "string", ""]]);
    let (ddl, _) = run(&mut other, "SHOW CREATE VIEW sales.big").await?;
    assert_eq!(
        ddl,
        [["CREATE VIEW sales.big AS"], ["SELECT id, name FROM t WHERE id >= 5"]]
    );

    // Errors: exists, recursion, wrong kind of DROP.
    let e = err_text(run(&mut s, "CREATE VIEW big AS SELECT 1 AS x").await);
    assert!(e.contains("table 'sales.big' already exists"), "{e}");
    let e = err_text(run(&mut s, "CREATE OR REPLACE VIEW big AS SELECT * FROM big_count").await);
    assert!(e.contains("a view cannot be recursive"), "{e}");
    let e = err_text(run(&mut s, "DROP TABLE big").await);
    assert!(e.contains("is a view; use DROP VIEW"), "{e}");
    let e = err_text(run(&mut s, "DROP VIEW t").await);
    assert!(e.contains("is a table, not a view"), "{e}");
    let e = err_text(run(&mut s, "MSCK REPAIR TABLE big").await);
    assert!(
        e.contains("sales.big is a view; MSCK REPAIR TABLE works on tables"),
        "{e}"
    );
    let e = err_text(run(&mut s, "INSERT INTO big VALUES (1, 'x')").await);
    assert!(e.contains("is a view"), "{e}");

    // OR REPLACE with a different shape makes the dependent view stale, with the way out.
    run(&mut s, "CREATE OR REPLACE VIEW big AS SELECT id FROM t WHERE id >= 8").await?;
    assert_eq!(scalar(&mut other, "SELECT count(*) FROM sales.big").await?, "2");
    assert_eq!(scalar(&mut other, "SELECT n FROM sales.big_count").await?, "2");
    run(&mut s, "DROP TABLE t").await?;
    let e = err_text(run(&mut other, "SELECT * FROM sales.big_count").await);
    assert!(
        e.contains("view sales.big is stale")
            && e.contains("'sales.t' does not exist")
            && e.contains("CREATE OR REPLACE VIEW"),
        "{e}"
    );
    run(&mut s, "DROP VIEW big").await?;
    run(&mut s, "DROP VIEW IF EXISTS big").await?;
    let (views, _) = run(&mut other, "SHOW VIEWS IN sales").await?;
    assert_eq!(views, [["big_count"]]);
    Ok(())
}

#[tokio::test]
async fn crawl_is_a_statement_too() -> TestResult {
    let wh = tempdir()?;
    let data = tempdir()?;
    let root = data.path().join("sales");
    write_csv(&root.join("region=eu"), 0..4)?;
    write_csv(&root.join("region=us"), 10..13)?;
    let mut s = open(&wh.path().display().to_string()).await?;
    let sql = format!("CRAWL '{}' INTO raw AS sales DRY RUN", dir_url(&root));
    let mut dry = s.execute(&sql).await?;
    let notices = dry.notices().to_vec();
    let mut batches = Vec::new();
    while let Some(batch) = dry.next_batch().await {
        batches.push(batch?);
    }
    assert_eq!(
        rows(&batches)?,
        [["raw.sales", "csv delim='|'", "3", "region (2)", "would create"]]
    );
    assert!(
        notices[0].starts_with("dry run: crawled 1 table from 2 files"),
        "{notices:?}"
    );
    assert!(
        s.catalog().get_database("raw").await?.is_none(),
        "a dry run writes nothing"
    );

    let (created, _) = run(&mut s, &format!("CRAWL '{}' INTO raw AS sales", dir_url(&root))).await?;
    assert_eq!(created[0][4], "created");
    // No header in these files: generic names, as Glue gives them.
    assert_eq!(
        scalar(&mut s, "SELECT sum(col0) FROM raw.sales WHERE region = 'us'").await?,
        "33"
    );
    let (again, _) = run(&mut s, &format!("CRAWL '{}' INTO raw AS sales", dir_url(&root))).await?;
    assert_eq!(again[0][4], "unchanged");

    // A table of that name not made by this crawl is left alone, and the report says so.
    run(
        &mut s,
        &format!("CREATE EXTERNAL TABLE raw.mine (id int) LOCATION '{}'", dir_url(&root)),
    )
    .await?;
    let (skipped, _) = run(&mut s, &format!("CRAWL '{}' INTO raw AS mine", dir_url(&root))).await?;
    assert!(
        skipped[0][4].starts_with("skipped: raw.mine exists and was not made by a crawl of"),
        "{skipped:?}"
    );
    assert_eq!(
        scalar(&mut s, "SHOW COLUMNS IN raw.mine").await?,
        "id",
        "the table is unchanged"
    );

    // Folders whose partition keys changed: reported, the registered partitions kept.
    let keyed = data.path().join("keyed");
    write_csv(&keyed.join("a=1"), 0..2)?;
    run(&mut s, &format!("CRAWL '{}' INTO raw AS keyed", dir_url(&keyed))).await?;
    std::fs::rename(keyed.join("a=1"), keyed.join("b=1"))?;
    let mut result = s
        .execute(&format!("CRAWL '{}' INTO raw AS keyed", dir_url(&keyed)))
        .await?;
    let notices = result.notices().to_vec();
    while let Some(batch) = result.next_batch().await {
        batch?;
    }
    assert!(
        notices
            .iter()
            .any(|n| n.contains("raw.keyed: the folders now give partition keys (b) but the table has (a)")),
        "{notices:?}"
    );
    let (partitions, _) = run(&mut s, "SHOW PARTITIONS raw.keyed").await?;
    assert_eq!(partitions, [["a=1"]]);
    Ok(())
}
