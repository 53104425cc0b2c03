//! The spine on S3: tables and the warehouse on a real S3 server on 127.0.0.1 (s3s-fs in-process by default,
//! moto_server with TARN_TEST_S3=moto).

mod common;

use common::*;
use tarn_engine::{AwsSettings, EngineError, Session, SessionOptions};
use tarn_fixtures::data::write_consumer_csv_gz;
use tarn_fixtures::s3::S3Server;

const PARTS: usize = 3;
const ROWS_PER_PART: usize = 300;

fn server_with_data() -> TestResult<(S3Server, tempfile::TempDir, u64)> {
    let server = S3Server::start()?;
    server.create_bucket("consumer")?;
    server.create_bucket("lake")?;
    let data = tempdir()?;
    write_consumer_csv_gz(&data.path().join("intake"), PARTS, ROWS_PER_PART, 1)?;
    let bytes = file_sizes(&data.path().join("intake"))?;
    server.upload_dir(&data.path().join("intake"), "consumer", "intake")?;
    server.put_object("consumer", "intake/_SUCCESS", b"")?;
    Ok((server, data, bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_and_warehouse_on_s3() -> TestResult {
    let (server, _data, bytes) = server_with_data()?;
    let warehouse = "s3://lake/warehouse/";
    let mut s = open_s3(warehouse, &server).await?;
    run(&mut s, r#"CREATE DATABASE "sf-digital-transformation""#).await?;
    run(
        &mut s,
        &consumer_ddl(r#""sf-digital-transformation".consumer_raw"#, "s3://consumer/intake/"),
    )
    .await?;
    run(
        &mut s,
        "CREATE EXTERNAL TABLE \"sf-digital-transformation\".consumer_df STORED AS CSV LOCATION 's3://consumer/intake' \
         OPTIONS ('format.delimiter' '|')",
    )
    .await?;
    let expected = (PARTS * ROWS_PER_PART).to_string();
    let (rows, stats) = run(
        &mut s,
        r#"SELECT count(HouseholdID) FROM "sf-digital-transformation"."consumer_raw""#,
    )
    .await?;
    assert_eq!(rows, [[expected.clone()]]);
    assert_eq!(stats.bytes_scanned, bytes, "S3 bytes scanned = sum of the objects");
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM \"sf-digital-transformation\".consumer_df").await?,
        expected
    );

    // The catalog lives in the bucket: a new session sees it.
    let mut other = open_s3(warehouse, &server).await?;
    let (tables, _) = run(&mut other, "SHOW TABLES IN \"sf-digital-transformation\"").await?;
    assert_eq!(tables, [["consumer_df"], ["consumer_raw"]]);
    if let Some(doc) = server.local_path(
        "lake",
        "warehouse/_catalog/sf-digital-transformation/tables/consumer_raw/v00000000000000000001.json",
    ) {
        let text = std::fs::read_to_string(doc)?;
        assert!(text.contains("\"location\": \"s3://consumer/intake/\""), "{text}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_on_s3_prunes_and_counts() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("lake")?;
    let data = tempdir()?;
    let size = write_parquet(&data.path().join("state=CA/a.parquet"), 100_000, 25_000, 1)?;
    write_parquet(&data.path().join("state=TX/a.parquet"), 50_000, 25_000, 2)?;
    server.upload_dir(data.path(), "lake", "pq")?;
    let wh = tempdir()?;
    let mut s = open_s3(&wh.path().display().to_string(), &server).await?;
    run(
        &mut s,
        "CREATE EXTERNAL TABLE p STORED AS PARQUET LOCATION 's3://lake/pq/'",
    )
    .await?;
    let (rows, stats) = run(&mut s, "SELECT count(*) FROM p WHERE state = 'TX'").await?;
    assert_eq!(rows, [["50000"]]);
    assert!(
        stats.bytes_scanned <= 64 * 1024,
        "count(*) read {} bytes",
        stats.bytes_scanned
    );
    let (_, stats) = run(&mut s, "SELECT sum(income) FROM p WHERE state = 'CA'").await?;
    assert!(
        stats.bytes_scanned < size,
        "one column of one partition: {} of {size}",
        stats.bytes_scanned
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_on_an_s3_catalog_have_one_winner() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("lake")?;
    let warehouse = "s3://lake/wh";
    let mut a = open_s3(warehouse, &server).await?;
    let mut b = open_s3(warehouse, &server).await?;
    for round in 0..8 {
        let ddl = format!("CREATE EXTERNAL TABLE t{round} (id bigint) STORED AS PARQUET LOCATION 's3://lake/none/'");
        let (x, y) = tokio::join!(a.execute(&ddl), b.execute(&ddl));
        let outcomes = [x.map(|_| ()), y.map(|_| ())];
        let wins = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {outcomes:?}");
        let loser = outcomes
            .into_iter()
            .find_map(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(loser, format!("table 'default.t{round}' already exists"));
    }
    let mut reader = open_s3(warehouse, &server).await?;
    let (tables, _) = run(&mut reader, "SHOW TABLES").await?;
    assert_eq!(tables.len(), 8);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_and_bad_credentials_are_named() -> TestResult {
    let (server, _data, _) = server_with_data()?;
    let wh = tempdir()?;
    let mut s = open_s3(&wh.path().display().to_string(), &server).await?;
    let err = s
        .execute(&consumer_ddl("t", "s3://no-such-bucket/intake/"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("s3://no-such-bucket/intake/") && err.contains("bucket does not exist"),
        "{err}"
    );
    let (tables, _) = run(&mut s, "SHOW TABLES").await?;
    assert!(tables.is_empty(), "nothing registered");

    if server.checks_credentials() {
        let wrong = AwsSettings::new(Some(&server.endpoint()), Some("us-east-1")).with_credentials(
            "tarn-test-key",
            "wrong-secret",
            None,
        );
        let mut bad = Session::open(SessionOptions {
            warehouse: wh.path().display().to_string(),
            aws: Some(wrong),
            ..Default::default()
        })
        .await?;
        let err = bad.execute(&consumer_ddl("t", "s3://consumer/intake/")).await.err();
        let text = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert!(matches!(err, Some(EngineError::Storage { .. })), "{err:?}");
        assert!(text.contains("credentials were rejected"), "{text}");
        assert!(
            !text.contains("wrong-secret"),
            "secrets never appear in messages: {text}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctas_insert_and_unload_on_s3() -> TestResult {
    let (server, _data, _) = server_with_data()?;
    let mut s = open_s3("s3://lake/warehouse/", &server).await?;
    run(&mut s, &consumer_ddl("raw", "s3://consumer/intake/")).await?;
    let total = (PARTS * ROWS_PER_PART).to_string();
    run(
        &mut s,
        "CREATE TABLE by_state WITH (external_location='s3://lake/tables/by_state/', partitioned_by=ARRAY['state']) \
         AS SELECT householdid, income, state FROM raw",
    )
    .await?;
    run(
        &mut s,
        "CREATE TABLE buckets WITH (external_location='s3://lake/tables/buckets/', bucketed_by=ARRAY['state'], \
         bucket_count=8, parquet_compression='SNAPPY') AS SELECT * FROM raw",
    )
    .await?;
    // Without a location the table goes under the warehouse, in the bucket too.
    let (_, made) = run(&mut s, "CREATE TABLE plain AS SELECT householdid, state FROM raw").await?;
    assert!(made.rows > 0);
    for table in ["by_state", "buckets", "plain"] {
        assert_eq!(
            scalar(&mut s, &format!("SELECT count(*) FROM {table}")).await?,
            total,
            "{table}"
        );
    }
    let ca = scalar(&mut s, "SELECT count(*) FROM raw WHERE state = 'CA'").await?;
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM buckets WHERE state = 'CA'").await?,
        ca
    );

    // INSERT publishes its files by server-side copy; nothing staged stays behind.
    run(
        &mut s,
        "INSERT INTO by_state SELECT householdid, income, state FROM raw WHERE state = 'CA'",
    )
    .await?;
    let doubled = ca.parse::<u64>()? * 2;
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM by_state WHERE state = 'CA'").await?,
        doubled.to_string()
    );
    if let Some(root) = server.local_path("lake", "tables/by_state") {
        let staged = tarn_fixtures::s3::walk(&root)?
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .count();
        assert_eq!(staged, 0);
    }
    run(
        &mut s,
        "UNLOAD (SELECT state, count(*) AS n FROM raw GROUP BY state) TO 's3://lake/exports/counts/' WITH (format = 'JSON')",
    )
    .await?;
    run(
        &mut s,
        "CREATE EXTERNAL TABLE counts (state string, n bigint) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' \
         LOCATION 's3://lake/exports/counts/'",
    )
    .await?;
    assert_eq!(scalar(&mut s, "SELECT sum(n) FROM counts").await?, total);
    let err = s
        .execute("UNLOAD (SELECT 1 AS x) TO 's3://lake/exports/counts/' WITH (format = 'JSON')")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("already holds data"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_partitions_on_s3_list_only_what_a_query_needs() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("lake")?;
    for p in 0..200 {
        server.put_object(
            "lake",
            &format!("events/p={p:03}/part-0.csv"),
            format!("{p}|a\n{p}|b\n").as_bytes(),
        )?;
    }
    // A value that needs Hive escaping, written as Hive writes it.
    server.put_object("lake", "events/p=a%3Ab/part-0.csv", b"7|x\n")?;
    let mut s = open_s3("s3://lake/warehouse/", &server).await?;
    let created = s
        .execute(
            "CREATE EXTERNAL TABLE events (id int, tag string) PARTITIONED BY (p string) \
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION 's3://lake/events/'",
        )
        .await?;
    let message = created.message().unwrap_or_default();
    assert!(
        message.ends_with("201 partitions registered) over s3://lake/events/"),
        "{message}"
    );
    let (rows, stats) = run(&mut s, "SELECT count(*) FROM events WHERE p = '123'").await?;
    assert_eq!(rows, [["2"]]);
    assert_eq!(stats.listed, ["events/p=123"], "one LIST, of that partition's folder");
    assert_eq!(scalar(&mut s, "SELECT id FROM events WHERE p = 'a:b'").await?, "7");

    server.put_object("lake", "events/p=200/part-0.csv", b"200|new\n")?;
    let repaired = s.execute("MSCK REPAIR TABLE events").await?;
    assert_eq!(
        repaired.message(),
        Some("default.events: added 1 partition (p=200); 202 registered")
    );
    run(
        &mut s,
        "ALTER TABLE events ADD PARTITION (p = 'elsewhere') LOCATION 's3://lake/other/place/'",
    )
    .await?;
    server.put_object("lake", "other/place/f.csv", b"1|z\n2|z\n3|z\n")?;
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM events WHERE p = 'elsewhere'").await?,
        "3"
    );
    let e = s
        .execute("ALTER TABLE events ADD PARTITION (p = 'x') LOCATION 's3://another-bucket/x/'")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("a partition must be in the table's bucket (s3://lake/)"),
        "{e}"
    );
    Ok(())
}
