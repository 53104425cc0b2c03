//! Black-box tests: real `tarn` processes, real files, a real S3 server on 127.0.0.1.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

use tarn_fixtures::consumer_header::write_delivery;
use tarn_fixtures::data::{write_consumer_csv_of_size, write_gzip};
use tarn_fixtures::s3::S3Server;

const PARTS: usize = 3;
const ROWS_PER_PART: usize = 500;

/// DuckDB's count of the gzip, pipe-delimited files in `dir` (the `duckdb` Python package). `None` when DuckDB is
/// not installed, which CI does not allow.
fn duckdb_count(dir: &Path) -> TestResult<Option<u64>> {
    duckdb_value(&format!(
        "SELECT count(*) FROM read_csv('{}/*.csv.gz', delim='|', header=true)",
        dir.display()
    ))
}

/// The single value DuckDB returns for `sql`; `None` when DuckDB is not installed (allowed only outside CI).
fn duckdb_value(sql: &str) -> TestResult<Option<u64>> {
    // A query over two seconds would draw DuckDB's progress bar on stdout, before the answer.
    let script = format!(
        "import duckdb; duckdb.sql(\"SET enable_progress_bar = false\"); print(duckdb.sql(\"{sql}\").fetchall()[0][0])"
    );
    let out = match Command::new("python3").arg("-c").arg(&script).output() {
        Ok(out) => out,
        Err(_) if std::env::var("CI").is_err() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("No module named 'duckdb'") && std::env::var("CI").is_err() {
            eprintln!("duckdb is not installed (pip install duckdb); the DuckDB cross-check is skipped locally");
            return Ok(None);
        }
        return Err(format!("duckdb failed: {stderr}").into());
    }
    Ok(Some(String::from_utf8(out.stdout)?.trim().parse()?))
}

fn consumer_data() -> TestResult<(tempfile::TempDir, PathBuf)> {
    let data = tempfile::tempdir()?;
    let intake = data.path().join("intake");
    write_delivery(&intake, PARTS, ROWS_PER_PART, 42)?;
    Ok((data, intake))
}

const DF_DDL: &str = "CREATE EXTERNAL TABLE \"sf-digital-transformation\".consumer_df STORED AS CSV LOCATION '{}' \
                      OPTIONS ('format.delimiter' '|', 'format.has_header' 'true')";

#[test]
fn both_ddl_forms_match_duckdb_locally_and_a_second_process_sees_them() -> TestResult {
    let wh = tempfile::tempdir()?;
    let (_data, intake) = consumer_data()?;
    let tarn = Tarn::local(wh.path());
    let created = tarn.ok(&[
        "-f",
        &repo_file("queries/consumer_header/01_raw_table.sql"),
        "--var",
        &format!("location={}", dir_url(&intake)),
    ])?;
    assert!(
        created
            .stderr
            .contains("created table sf-digital-transformation.consumer_raw (400 columns)"),
        "{}",
        created.stderr
    );
    tarn.ok(&["-c", &DF_DDL.replace("{}", &dir_url(&intake))])?;

    // Separate processes from here on.
    let athena = tarn.value(r#"SELECT count(*) FROM "sf-digital-transformation"."consumer_raw""#)?;
    let datafusion = tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".consumer_df")?;
    let expected = (PARTS * ROWS_PER_PART).to_string();
    assert_eq!(
        (athena.as_str(), datafusion.as_str()),
        (expected.as_str(), expected.as_str())
    );
    if let Some(duck) = duckdb_count(&intake)? {
        assert_eq!(athena, duck.to_string(), "tarn and DuckDB disagree");
    }
    let tables = tarn.ok(&["--format", "csv", "-c", "SHOW TABLES IN \"sf-digital-transformation\""])?;
    assert_eq!(tables.stdout, "tab_name\nconsumer_df\nconsumer_raw\n");
    Ok(())
}

#[test]
fn both_ddl_forms_match_duckdb_on_s3_with_the_catalog_in_the_bucket() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("consumer")?;
    server.create_bucket("lake")?;
    let (_data, intake) = consumer_data()?;
    server.upload_dir(&intake, "consumer", "intake")?;
    let tarn = Tarn::s3("s3://lake/warehouse/", &server);
    tarn.ok(&["-f", &repo_file("queries/consumer_header/01_raw_table.sql")])?;
    tarn.ok(&["-c", &DF_DDL.replace("{}", "s3://consumer/intake/")])?;
    let r = tarn.ok(&["-f", &repo_file("queries/consumer_header/02_count_raw.sql")])?;
    let expected = (PARTS * ROWS_PER_PART).to_string();
    assert!(
        r.stdout.contains("| _col0 |") && r.stdout.contains(&expected),
        "{}",
        r.stdout
    );
    // The issue's stats line: rows, time, bytes scanned and the Athena bill, on stderr.
    let bytes: u64 = tarn_fixtures::s3::walk(&intake)?
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .sum::<Result<_, _>>()?;
    let stats = r.stderr.lines().last().unwrap_or_default().to_string();
    assert!(
        stats.starts_with("1 row · ") && stats.contains(&format!("scanned {}", tarn_engine::format_bytes(bytes))),
        "{stats}"
    );
    assert!(stats.ends_with("Athena would bill $0.00004768"), "{stats}");
    assert_eq!(
        tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".consumer_df")?,
        expected
    );
    if let Some(duck) = duckdb_count(&intake)? {
        assert_eq!(
            expected,
            duck.to_string(),
            "tarn on S3 and DuckDB on the same files disagree"
        );
    }
    Ok(())
}

#[test]
fn output_formats_put_data_on_stdout_and_figures_on_stderr() -> TestResult {
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    let sql = "SELECT 1 AS a, 'x' AS b, NULL AS c UNION ALL SELECT 2, '', NULL ORDER BY a";
    let json = tarn.ok(&["--format", "json", "-c", sql])?;
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(parsed, serde_json::json!([{"a": 1, "b": "x"}, {"a": 2, "b": ""}]));
    assert!(json.stderr.starts_with("2 rows · "), "{}", json.stderr);
    let nd = tarn.ok(&["--format", "ndjson", "-c", sql])?;
    assert_eq!(nd.stdout.lines().count(), 2);
    let csv = tarn.ok(&["--format", "csv", "-c", sql])?;
    assert_eq!(csv.stdout, "a,b,c\n1,x,\n2,\"\",\n");
    let table = tarn.ok(&["-c", sql])?;
    assert!(table.stdout.contains("| 2 |   | NULL |"), "{}", table.stdout);
    let quiet = tarn.ok(&["--quiet", "-c", sql])?;
    assert_eq!(quiet.stderr, "");
    Ok(())
}

#[test]
fn values_print_as_athena_prints_them_in_tables_and_csv() -> TestResult {
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    let sql = "SELECT TIMESTAMP '2022-10-20 00:00:00', INTERVAL '90' MINUTE, INTERVAL '3' YEAR + INTERVAL '5' MONTH, \
               1e7, MAP(ARRAY['a', 'b'], ARRAY[1, 2]), CAST(ROW(1, 'a') AS ROW(x integer, y varchar)), \
               with_timezone(TIMESTAMP '2001-08-22 03:04:05.321', 'America/Los_Angeles') AS la";
    let csv = tarn.ok(&["--format", "csv", "-c", sql])?;
    assert_eq!(
        csv.stdout,
        "_col0,_col1,_col2,_col3,_col4,_col5,la\n2022-10-20 00:00:00.000,0 01:30:00.000,3-5,1.0E7,\"{a=1, b=2}\",\
         \"{x=1, y=a}\",2001-08-22 03:04:05.321 America/Los_Angeles\n"
    );
    let table = tarn.ok(&["-c", sql])?;
    // The table's cells, trimmed of the padding that lines up the columns.
    let cells: Vec<Vec<&str>> = table
        .stdout
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert_eq!(
        cells,
        [
            vec!["_col0", "_col1", "_col2", "_col3", "_col4", "_col5", "la"],
            vec![
                "2022-10-20 00:00:00.000",
                "0 01:30:00.000",
                "3-5",
                "1.0E7",
                "{a=1, b=2}",
                "{x=1, y=a}",
                "2001-08-22 03:04:05.321 America/Los_Angeles"
            ]
        ],
        "{}",
        table.stdout
    );
    Ok(())
}

#[test]
fn max_scan_stops_a_query_over_the_limit() -> TestResult {
    let wh = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    write_consumer_csv_of_size(&data.path().join("ten_mb.csv"), 10 << 20, 1)?;
    let tarn = Tarn::local(wh.path());
    tarn.ok(&[
        "-c",
        "CREATE DATABASE scan",
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE scan.consumer_raw (HouseholdID bigint, PersonID bigint, FirstName string, \
             LastName string, State string, ZipCode string, Income double, BirthDate date) \
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}' \
             TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(data.path())
        ),
    ])?;
    let err = tarn.fails(&["--max-scan", "1MB", "-c", "SELECT count(*) FROM scan.consumer_raw"])?;
    assert!(err.starts_with("error: query cancelled: it read "), "{err}");
    assert!(err.contains("over the scan limit of 1.00 MB"), "{err}");
    // The same through the environment, and a limit that fits.
    let mut cmd = tarn.command();
    let out = cmd
        .env("TARN_MAX_SCAN", "20MB")
        .args(["--format", "csv", "-c", "SELECT count(*) FROM scan.consumer_raw"])
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

#[test]
fn racing_processes_create_one_table_and_leave_a_readable_catalog() -> TestResult {
    let wh = tempfile::tempdir()?;
    let (_data, intake) = consumer_data()?;
    let tarn = Tarn::local(wh.path());
    tarn.ok(&["-c", "CREATE DATABASE race"])?;
    for round in 0..6 {
        let ddl = format!(
            "CREATE EXTERNAL TABLE race.t{round} (id bigint) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}'",
            dir_url(&intake)
        );
        let children: Vec<_> = (0..2)
            .map(|_| {
                tarn.command()
                    .args(["-c", &ddl])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        let outcomes: Vec<Ran> = children
            .into_iter()
            .map(|c| c.wait_with_output().map(ran))
            .collect::<Result<_, _>>()?;
        let winners = outcomes.iter().filter(|r| r.code == Some(0)).count();
        assert_eq!(
            winners,
            1,
            "round {round}: {:?}",
            outcomes.iter().map(|r| &r.stderr).collect::<Vec<_>>()
        );
        let loser = outcomes
            .iter()
            .find(|r| r.code != Some(0))
            .map(|r| r.stderr.trim().to_string())
            .unwrap_or_default();
        assert_eq!(loser, format!("error: table 'race.t{round}' already exists"));
    }
    let tables = tarn.ok(&["--format", "csv", "-c", "SHOW TABLES IN race"])?;
    assert_eq!(tables.stdout.lines().count(), 1 + 6);
    tarn.ok(&["-c", "DESCRIBE race.t5"])?;
    Ok(())
}

#[test]
fn a_writer_killed_mid_script_never_leaves_an_unreadable_catalog() -> TestResult {
    let wh = tempfile::tempdir()?;
    let (_data, intake) = consumer_data()?;
    let tarn = Tarn::local(wh.path());
    let script_dir = tempfile::tempdir()?;
    let script = script_dir.path().join("many.sql");
    let mut file = std::fs::File::create(&script)?;
    for i in 0..400 {
        writeln!(file, "CREATE DATABASE IF NOT EXISTS db{};", i % 7)?;
        writeln!(
            file,
            "CREATE EXTERNAL TABLE db{}.t{i} (id bigint) LOCATION '{}';",
            i % 7,
            dir_url(&intake)
        )?;
        writeln!(file, "DROP TABLE IF EXISTS db{}.t{};", i % 7, i / 2)?;
    }
    drop(file);
    for delay_ms in [150, 400, 900] {
        let mut child = tarn
            .command()
            .args(["--quiet", "-f"])
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill()?; // SIGKILL: no chance to clean up
        child.wait()?;
        let dbs = tarn.ok(&["--format", "csv", "-c", "SHOW DATABASES"])?;
        for db in dbs.stdout.lines().skip(1) {
            let tables = tarn.ok(&["--format", "csv", "-c", &format!("SHOW TABLES IN {db}")])?;
            for table in tables.stdout.lines().skip(1) {
                tarn.ok(&["-c", &format!("DESCRIBE {db}.{table}")])?;
            }
        }
    }
    Ok(())
}

#[test]
fn drop_table_leaves_every_data_file() -> TestResult {
    let wh = tempfile::tempdir()?;
    let (_data, intake) = consumer_data()?;
    let before: Vec<(PathBuf, Vec<u8>)> = tarn_fixtures::s3::walk(&intake)?
        .into_iter()
        .map(|p| std::fs::read(&p).map(|b| (p, b)))
        .collect::<Result<_, _>>()?;
    let tarn = Tarn::local(wh.path());
    tarn.ok(&[
        "-f",
        &repo_file("queries/consumer_header/01_raw_table.sql"),
        "--var",
        &format!("location={}", dir_url(&intake)),
    ])?;
    let dropped = tarn.ok(&["-c", "DROP TABLE \"sf-digital-transformation\".consumer_raw"])?;
    assert!(dropped.stderr.contains("were not touched"), "{}", dropped.stderr);
    let after: Vec<(PathBuf, Vec<u8>)> = tarn_fixtures::s3::walk(&intake)?
        .into_iter()
        .map(|p| std::fs::read(&p).map(|b| (p, b)))
        .collect::<Result<_, _>>()?;
    assert_eq!(before, after);
    Ok(())
}

/// Every error of the issue's list: one `error:` line that says what and where, exit code 1, catalog unchanged.
#[test]
fn errors_say_what_and_where_exit_1_and_change_nothing() -> TestResult {
    let wh = tempfile::tempdir()?;
    let (_data, intake) = consumer_data()?;
    let tarn = Tarn::local(wh.path());
    tarn.ok(&[
        "-f",
        &repo_file("queries/consumer_header/01_raw_table.sql"),
        "--var",
        &format!("location={}", dir_url(&intake)),
        "--var",
        "database=sales",
    ])?;
    let catalog = || tarn_fixtures::s3::walk(wh.path());
    let before = catalog()?;

    // Unknown table and database, with the near names.
    assert_eq!(
        tarn.fails(&["-c", "SELECT * FROM sales.consumer_rwa"])?,
        "error: table 'sales.consumer_rwa' does not exist; did you mean 'sales.consumer_raw'?"
    );
    assert_eq!(
        tarn.fails(&["-c", "SELECT * FROM sails.consumer_raw"])?,
        "error: database 'sails' does not exist; did you mean 'sales'?"
    );

    // LOCATION with no files: nothing to infer the columns from.
    let empty = tempfile::tempdir()?;
    let e = tarn.fails(&[
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE sales.e STORED AS PARQUET LOCATION '{}'",
            dir_url(empty.path())
        ),
    ])?;
    assert_eq!(
        e,
        format!(
            "error: LOCATION file://{}/: holds no data files to infer the columns from; give a column list, or point LOCATION at the folder with the data",
            empty.path().display()
        )
    );

    // Tables over bad files register fine; reading them fails.
    let bad = tempfile::tempdir()?;
    write_gzip(
        &bad.path().join("part-00000.csv.gz"),
        "HouseholdID|PersonID|FirstName|LastName|State|ZipCode|Income|BirthDate\n1|10|Ann|Lee|CA|01234|5.5|1980-01-02\n2|20|Bo|Lee|CA|01234|5.5\n",
    )?;
    tarn.ok(&[
        "-c",
        "CREATE DATABASE bad",
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE bad.consumer_raw (HouseholdID bigint, PersonID bigint, FirstName string, \
             LastName string, State string, ZipCode string, Income double, BirthDate date) \
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}' \
             TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(bad.path())
        ),
    ])?;
    let notgz = tempfile::tempdir()?;
    std::fs::write(notgz.path().join("part-0.csv.gz"), "HouseholdID|PersonID\n1|2\n")?;
    tarn.ok(&["-c", &format!("CREATE EXTERNAL TABLE bad.notgz (a bigint, b bigint) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}'", dir_url(notgz.path()))])?;
    let pq = tempfile::tempdir()?;
    std::fs::write(pq.path().join("readme.txt"), "not parquet\n")?;
    tarn.ok(&[
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE bad.pq (a bigint) STORED AS PARQUET LOCATION '{}'",
            dir_url(pq.path())
        ),
    ])?;
    let before_bad = catalog()?;

    // A row with the wrong number of fields: file, line, expected and found.
    let e = tarn.fails(&["-c", "SELECT count(*) FROM bad.consumer_raw"])?;
    assert_eq!(
        e,
        format!(
            "error: file://{}/part-00000.csv.gz:3: expected 8 fields, found 7; check the table's delimiter and header setting, or fix the row",
            bad.path().display()
        )
    );

    // A gzip name over content that is not gzip.
    let e = tarn.fails(&["-c", "SELECT count(*) FROM bad.notgz"])?;
    assert!(
        e.starts_with(&format!(
            "error: file://{}/part-0.csv.gz: the name says gzip but the content is not gzip (it starts with text: \
             'HouseholdID|Pers'); rename the file to what it is, or compress it",
            notgz.path().display()
        )),
        "{e}"
    );

    // A file that is not Parquet in a Parquet table.
    let e = tarn.fails(&["-c", "SELECT count(*) FROM bad.pq"])?;
    assert_eq!(
        e,
        format!(
            "error: file://{}/readme.txt: not a Parquet file (no Parquet footer); keep only Parquet files under the table's LOCATION",
            pq.path().display()
        )
    );
    let after_bad = catalog()?;

    // A DDL typo in a script: file, line and column.
    let scripts = tempfile::tempdir()?;
    let script = scripts.path().join("typo.sql");
    std::fs::write(
        &script,
        "-- make a table\nCREATE EXTERNAL TABLE sales.typo (a string)\n  STORED AZ PARQUET\n  LOCATION '/tmp/x';\n",
    )?;
    let e = tarn.fails(&["-f", &script.display().to_string()])?;
    assert_eq!(
        e,
        format!(
            "error: {}:3:10: syntax error: Expected: AS, found: AZ",
            script.display()
        )
    );
    let e = tarn.fails(&["-c", "SELEC 1"])?;
    assert!(e.starts_with("error: syntax error: ") && e.contains("SELEC"), "{e}");

    assert_eq!(after_bad, before_bad, "failing queries wrote nothing");
    let after = catalog()?;
    assert_eq!(
        after.len(),
        before.len() + 4,
        "only the bad database and its three tables, created on purpose"
    );
    Ok(())
}

#[test]
fn s3_errors_name_the_bucket_and_the_credentials() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("consumer")?;
    let (_data, intake) = consumer_data()?;
    server.upload_dir(&intake, "consumer", "intake")?;
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::s3(&wh.path().display().to_string(), &server);
    let e = tarn.fails(&[
        "-f",
        &repo_file("queries/consumer_header/01_raw_table.sql"),
        "--var",
        "location=s3://no-such-bucket/intake/",
    ])?;
    assert!(
        e.contains("s3://no-such-bucket/intake/: the bucket does not exist"),
        "{e}"
    );
    let tables = tarn.ok(&["--format", "csv", "-c", "SHOW TABLES IN \"sf-digital-transformation\""])?;
    assert_eq!(tables.stdout, "tab_name\n", "nothing registered");

    if server.checks_credentials() {
        let mut bad = Tarn::s3(&wh.path().display().to_string(), &server);
        for (k, v) in bad.env.iter_mut() {
            if *k == "AWS_SECRET_ACCESS_KEY" {
                *v = "not-the-secret".into();
            }
        }
        let e = bad.fails(&["-f", &repo_file("queries/consumer_header/01_raw_table.sql")])?;
        assert!(
            e.contains("s3://consumer/intake/: the credentials were rejected"),
            "{e}"
        );
        assert!(!e.contains("not-the-secret"), "{e}");
    }

    // A named profile from ~/.aws files works like the environment.
    let home = tempfile::tempdir()?;
    std::fs::create_dir_all(home.path().join(".aws"))?;
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[lake]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            tarn_fixtures::s3::ACCESS_KEY,
            tarn_fixtures::s3::SECRET_KEY
        ),
    )?;
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile lake]\nregion = us-east-1\nendpoint_url = {}\n",
            server.endpoint()
        ),
    )?;
    let profile = Tarn::local(wh.path());
    let out = profile
        .command()
        .env("AWS_PROFILE", "lake")
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join(".aws/credentials"))
        .env("AWS_CONFIG_FILE", home.path().join(".aws/config"))
        .args([
            "-f",
            &repo_file("queries/consumer_header/01_raw_table.sql"),
            "-c",
            "SELECT count(*) FROM \"sf-digital-transformation\".consumer_raw",
        ])
        .output()?;
    let r = ran(out);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains(&(PARTS * ROWS_PER_PART).to_string()), "{}", r.stdout);
    let missing = profile
        .command()
        .env("AWS_PROFILE", "nope")
        .args(["-c", "SELECT * FROM \"sf-digital-transformation\".consumer_raw"])
        .output()?;
    let r = ran(missing);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("AWS_PROFILE=nope but no [nope] profile"),
        "{}",
        r.stderr
    );
    Ok(())
}

#[test]
fn scripts_stop_at_the_first_failure_unless_told_to_continue() -> TestResult {
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    let dir = tempfile::tempdir()?;
    let first = dir.path().join("01.sql");
    let second = dir.path().join("02.sql");
    std::fs::write(
        &first,
        "CREATE DATABASE ${db};\nSELECT * FROM ${db}.missing;\nCREATE DATABASE ${db}_after;\n",
    )?;
    std::fs::write(&second, "CREATE DATABASE second;\n")?;
    let r = tarn.run(&[
        "run",
        &first.display().to_string(),
        &second.display().to_string(),
        "--var",
        "db=s1",
    ])?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains(&format!(
            "error: {}:2:1: table 's1.missing' does not exist",
            first.display()
        )),
        "{}",
        r.stderr
    );
    let dbs = tarn.ok(&["--format", "csv", "-c", "SHOW DATABASES"])?;
    assert_eq!(dbs.stdout, "database_name\ndefault\ns1\n");

    let r = tarn.run(&[
        "--continue-on-error",
        "run",
        &first.display().to_string(),
        &second.display().to_string(),
        "--var",
        "db=s2",
    ])?;
    assert_eq!(r.code, Some(1), "a failure is still reported");
    let dbs = tarn.ok(&["--format", "csv", "-c", "SHOW DATABASES"])?;
    assert_eq!(dbs.stdout, "database_name\ndefault\ns1\ns2\ns2_after\nsecond\n");

    let e = tarn.fails(&["run", &first.display().to_string()])?;
    assert_eq!(
        e,
        format!(
            "error: {}:1:1: the script uses ${{db}} but no --var db=... was given",
            first.display()
        )
    );
    Ok(())
}

#[test]
fn piped_stdin_runs_as_a_script() -> TestResult {
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    let run_stdin = |input: &str| -> TestResult<Ran> {
        let mut child = tarn
            .command()
            .args(["--format", "csv"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().ok_or("no stdin")?.write_all(input.as_bytes())?;
        Ok(ran(child.wait_with_output()?))
    };
    let r = run_stdin("SELECT 1 AS one;\nSELECT 2 AS two;\n")?;
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), "one\n1\ntwo\n2\n"));
    let r = run_stdin("SELECT 1;\nSELECT * FROM nowhere;\n")?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("error: stdin:2:1: table 'default.nowhere' does not exist"),
        "{}",
        r.stderr
    );
    Ok(())
}

#[test]
fn demo_replays_the_case_study_and_reuses_its_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let demo_dir = dir.path().join("demo");
    let run = || -> TestResult<Ran> {
        let out = Command::new(env!("CARGO_BIN_EXE_tarn"))
            .args(["demo", "--rows", "30000", "--parts", "3", "--dir"])
            .arg(&demo_dir)
            .stdin(Stdio::null())
            .output()?;
        Ok(ran(out))
    };
    let first = run()?;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("generated 30000 rows x 400 columns in 3 gzip parts"),
        "{}",
        first.stderr
    );
    let bytes: u64 = tarn_fixtures::s3::walk(&demo_dir.join("intake"))?
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .sum::<Result<_, _>>()?;
    let summary_row = first
        .stdout
        .lines()
        .find(|l| l.contains("| count all rows"))
        .ok_or("no summary row")?
        .to_string();
    assert!(summary_row.contains(" 30000 |"), "{summary_row}");
    assert!(
        summary_row.contains(&tarn_engine::format_bytes(bytes)),
        "{summary_row} vs {bytes} bytes"
    );

    // Every layout and query scanned something, and the bucketed table answers the 8-column one-state query from
    // a small fraction of what the CSV costs.
    let scanned = |layout: &str, query: &str| -> TestResult<f64> {
        let row = first
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {layout} ")) && l.contains(&format!("| {query} ")))
            .ok_or_else(|| format!("no row for {layout} / {query}:\n{}", first.stdout))?;
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        Ok(tarn_engine::parse_size(cells[5]).map_err(|e| format!("{e} in {row}"))? as f64)
    };
    for layout in [
        "gzip CSV",
        "Parquet",
        "Parquet, partitioned by state",
        "Parquet, 60 state buckets",
    ] {
        for query in ["count all rows", "count one state", "8 columns, one state"] {
            assert!(scanned(layout, query)? > 0.0, "{layout} / {query} scanned nothing");
        }
    }
    let csv = scanned("gzip CSV", "8 columns, one state")?;
    let bucketed = scanned("Parquet, 60 state buckets", "8 columns, one state")?;
    assert!(bucketed < csv / 10.0, "bucketed {bucketed} vs CSV {csv}");

    let second = run()?;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert!(second.stderr.contains("reusing the demo data"), "{}", second.stderr);

    // The tables it made are there for the user.
    let tarn = Tarn::local(&demo_dir.join("warehouse"));
    assert_eq!(
        tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".consumer_raw")?,
        "30000"
    );

    // A folder tarn did not write is never written into.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("intake"))?;
    std::fs::write(foreign.join("intake/mine.txt"), "keep me")?;
    let out = Command::new(env!("CARGO_BIN_EXE_tarn"))
        .args(["demo", "--dir"])
        .arg(&foreign)
        .output()?;
    let r = ran(out);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("was not written by tarn demo"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(foreign.join("intake/mine.txt"))?, "keep me");
    Ok(())
}

fn big_source(rows_per_part: usize) -> TestResult<(tempfile::TempDir, PathBuf)> {
    let data = tempfile::tempdir()?;
    let intake = data.path().join("intake");
    write_delivery(&intake, 4, rows_per_part, 9)?;
    Ok((data, intake))
}

/// A 400-column delivery of 4 parts registered as the case study's raw table (script 01).
fn registered_big_source(tarn: &Tarn, rows_per_part: usize) -> TestResult<tempfile::TempDir> {
    let (data, intake) = big_source(rows_per_part)?;
    tarn.ok(&[
        "-f",
        &repo_file("queries/consumer_header/01_raw_table.sql"),
        "--var",
        &format!("location={}", dir_url(&intake)),
    ])?;
    Ok(data)
}

#[test]
fn a_killed_ctas_registers_nothing_and_the_rerun_succeeds() -> TestResult {
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    let data = registered_big_source(&tarn, 100_000)?;
    let target = data.path().join("by_state");
    let ctas = format!(
        "CREATE TABLE \"sf-digital-transformation\".by_state WITH (format='TEXTFILE', external_location='{}', \
         partitioned_by=ARRAY['state']) AS SELECT householdid, personid, income, state FROM \"sf-digital-transformation\".consumer_raw",
        target.display()
    );
    let mut child = tarn
        .command()
        .args(["-c", &ctas])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Kill it once it has written data files.
    wait_for(&target, |p| p.to_string_lossy().contains("state="))?;
    child.kill()?;
    child.wait()?;
    let tables = tarn.ok(&["--format", "csv", "-c", "SHOW TABLES IN \"sf-digital-transformation\""])?;
    assert_eq!(
        tables.stdout, "tab_name\nconsumer_raw\n",
        "the killed CTAS registered nothing"
    );

    let rerun = tarn.ok(&["-c", &ctas])?;
    assert!(
        rerun
            .stderr
            .contains("created table sf-digital-transformation.by_state: 400000 rows"),
        "{}",
        rerun.stderr
    );
    assert_eq!(
        tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".by_state")?,
        "400000"
    );
    // Only the rerun's files remain: every file is named with one query id.
    let ids: std::collections::BTreeSet<String> = tarn_fixtures::s3::walk(&target)?
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(|n| n.chars().take(27).collect()))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    Ok(())
}

#[test]
fn a_killed_insert_shows_nothing_and_the_rerun_adds_its_rows_once() -> TestResult {
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    let data = registered_big_source(&tarn, 100_000)?;
    let target = data.path().join("copy");
    tarn.ok(&["-c", &format!(
        "CREATE TABLE \"sf-digital-transformation\".copy WITH (external_location='{}', partitioned_by=ARRAY['state']) AS \
         SELECT householdid, income, state FROM \"sf-digital-transformation\".consumer_raw WHERE state = 'WY'",
        target.display()
    )])?;
    let count = || tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".copy");
    let before: u64 = count()?.parse()?;
    let insert = "INSERT INTO \"sf-digital-transformation\".copy SELECT householdid, income, state FROM \"sf-digital-transformation\".consumer_raw";
    let mut child = tarn
        .command()
        .args(["-c", insert])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Kill it while its files are still hidden (named with a leading '.').
    wait_for(&target, |p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
    })?;
    child.kill()?;
    child.wait()?;
    assert_eq!(count()?.parse::<u64>()?, before, "a killed INSERT is not visible");

    tarn.ok(&["-c", insert])?;
    assert_eq!(count()?.parse::<u64>()?, before + 400_000, "the rerun's rows, once");
    let hidden: Vec<_> = tarn_fixtures::s3::walk(&target)?
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    assert!(
        hidden.is_empty(),
        "the dead write's staged files were removed: {hidden:?}"
    );
    Ok(())
}

#[test]
fn a_killed_delta_write_leaves_the_previous_version_readable() -> TestResult {
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    let data = registered_big_source(&tarn, 100_000)?;
    let raw = "\"sf-digital-transformation\".consumer_raw";
    let target = data.path().join("delta_copy");
    tarn.ok(&[
        "-c",
        &format!(
            "CREATE TABLE \"sf-digital-transformation\".dcopy WITH (table_type='DELTA', external_location='{}', \
         partitioned_by=ARRAY['state']) AS SELECT householdid, income, state FROM {raw} WHERE state = 'WY'",
            target.display()
        ),
    ])?;
    let count = || tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".dcopy");
    let before: u64 = count()?.parse()?;
    let files_before = tarn_fixtures::s3::walk(&target)?;
    let insert =
        format!("INSERT INTO \"sf-digital-transformation\".dcopy SELECT householdid, income, state FROM {raw}");
    let mut child = tarn
        .command()
        .args(["-c", &insert])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Kill it once it has written a data file of its own (before its commit).
    wait_for(&target, |p| {
        p.extension().is_some_and(|e| e == "parquet") && !files_before.contains(&p.to_path_buf())
    })?;
    child.kill()?;
    child.wait()?;
    assert_eq!(count()?.parse::<u64>()?, before, "the killed INSERT committed nothing");
    let history = tarn.ok(&[
        "--format",
        "csv",
        "-c",
        "DESCRIBE HISTORY \"sf-digital-transformation\".dcopy",
    ])?;
    assert_eq!(
        history.stdout.lines().count(),
        2,
        "one version, the CTAS: {}",
        history.stdout
    );

    tarn.ok(&["-c", &insert])?;
    assert_eq!(count()?.parse::<u64>()?, before + 400_000, "the rerun's rows, once");

    // A killed Delta CTAS registers nothing, and running it again into the same folder works: the next write there
    // removes the dead one's files.
    let full = data.path().join("delta_full");
    let ctas = format!(
        "CREATE TABLE \"sf-digital-transformation\".dfull WITH (table_type='DELTA', location='{}', \
         partitioned_by=ARRAY['state']) AS SELECT householdid, income, state FROM {raw}",
        full.display()
    );
    let mut child = tarn
        .command()
        .args(["-c", &ctas])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_for(&full, |p| p.extension().is_some_and(|e| e == "parquet"))?;
    child.kill()?;
    child.wait()?;
    let tables = tarn.ok(&["--format", "csv", "-c", "SHOW TABLES IN \"sf-digital-transformation\""])?;
    assert_eq!(
        tables.stdout, "tab_name\nconsumer_raw\ndcopy\n",
        "the killed CTAS registered nothing"
    );
    tarn.ok(&["-c", &ctas])?;
    assert_eq!(
        tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".dfull")?,
        "400000"
    );
    let commits = tarn_fixtures::s3::walk(&full.join("_delta_log"))?;
    assert_eq!(commits.len(), 1, "only the rerun's commit: {commits:?}");
    Ok(())
}

#[test]
fn two_processes_appending_to_one_delta_table_both_land() -> TestResult {
    let wh = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    tarn.ok(&[
        "-c",
        "CREATE TABLE t WITH (table_type = 'DELTA') AS SELECT value AS id FROM range(10)",
    ])?;
    for round in 0..3 {
        let children: Vec<_> = (0..2)
            .map(|writer| {
                tarn.command()
                    .args([
                        "-c",
                        &format!(
                            "INSERT INTO t SELECT value + {} FROM range(1000)",
                            (round * 2 + writer + 1) * 10_000
                        ),
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        for child in children {
            let out = child.wait_with_output()?;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    assert_eq!(tarn.value("SELECT count(*) FROM t")?, "6010");
    assert_eq!(tarn.value("SELECT count(DISTINCT id) FROM t")?, "6010");
    Ok(())
}

#[test]
fn the_case_study_scripts_run_unchanged() -> TestResult {
    let wh = tempfile::tempdir()?;
    // Enough rows that data, not Parquet footers, dominates what is read.
    let (data, intake) = big_source(25_000)?;
    let tarn = Tarn::local(wh.path());
    let out = data.path().join("2020-03");
    let vars = [
        format!("location={}", dir_url(&intake)),
        format!("parquet_location={}/consumer-all-cols-parquet/", out.display()),
        format!("buckets_location={}/consumer-parquet-state-buckets/", out.display()),
    ];
    let mut args: Vec<&str> = vec!["run"];
    let scripts = ["01_raw_table.sql", "03_parquet.sql", "04_parquet_state_buckets.sql"]
        .map(|s| repo_file(&format!("queries/consumer_header/{s}")));
    args.extend(scripts.iter().map(String::as_str));
    for v in &vars {
        args.extend(["--var", v.as_str()]);
    }
    let made = tarn.ok(&args)?;
    assert!(
        made.stderr
            .contains("created table sf-digital-transformation.consumer_2020_03_parquet_state_buckets"),
        "{}",
        made.stderr
    );
    let one_state = tarn.ok(&[
        "--format",
        "csv",
        "-f",
        &repo_file("queries/consumer_header/05_one_state.sql"),
    ])?;
    let counts: Vec<&str> = one_state.stdout.lines().filter(|l| !l.starts_with("_col0")).collect();
    assert_eq!(counts.len(), 3);
    assert!(counts.iter().all(|c| *c == counts[0]), "{counts:?}");
    // The bytes scanned shrink layout by layout.
    let scanned: Vec<String> = one_state
        .stderr
        .lines()
        .filter_map(|l| l.split(" · scanned ").nth(1))
        .map(|rest| rest.split(" · ").next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(scanned.len(), 3, "{}", one_state.stderr);
    let bytes = |s: &str| tarn_engine::parse_size(s).unwrap_or(u64::MAX);
    assert!(
        bytes(&scanned[0]) > bytes(&scanned[1]) && bytes(&scanned[1]) > bytes(&scanned[2]),
        "{scanned:?}"
    );

    // The Delta script: the corrections change the table, and version 0 is still the delivery.
    let delta = tarn.ok(&[
        "--format",
        "csv",
        "-f",
        &repo_file("queries/consumer_header/08_delta_corrections.sql"),
        "--var",
        &format!("delta_location={}/consumer-delta/", out.display()),
    ])?;
    let wy = tarn.value(
        "SELECT count(*) FROM \"sf-digital-transformation\".consumer_2020_03_all_cols_parquet WHERE state = 'WY'",
    )?;
    let all = tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".consumer_2020_03_all_cols_parquet")?;
    let (all, wy): (u64, u64) = (all.parse()?, wy.parse()?);
    assert!(wy > 0);
    assert!(
        delta
            .stdout
            .contains(&format!("rows_now,rows_delivered\n{},{all}\n", all - wy)),
        "{}",
        delta.stdout
    );
    assert!(
        delta.stdout.contains("2,") && delta.stdout.contains(",UPDATE,") && delta.stdout.contains(",DELETE,"),
        "{}",
        delta.stdout
    );
    Ok(())
}

#[test]
fn the_workflow_publishes_good_months_and_stops_at_a_failed_check() -> TestResult {
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let wh = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let tarn = Tarn::local(wh.path());
    let workflow = repo_file("queries/consumer_header/workflow.sql");
    let march = data.path().join("intake/2020-03");
    write_delivery(&march, PARTS, ROWS_PER_PART, 11)?;
    let curated = |month: &str| data.path().join(format!("curated/{month}")).display().to_string();
    let month_args = |month: &str, intake: &Path| -> Vec<String> {
        vec![
            "run".into(),
            workflow.clone(),
            "--var".into(),
            format!("month={}", month.replace('-', "_")),
            "--var".into(),
            format!("location={}", intake.display()),
            "--var".into(),
            format!("curated_location={}", curated(month)),
        ]
    };
    let march_args = month_args("2020-03", &march);
    let r = tarn.ok(&args(&march_args))?;
    assert!(
        r.stderr.contains("check 'every row has a household' passed"),
        "{}",
        r.stderr
    );
    let total = (PARTS * ROWS_PER_PART).to_string();
    let published = || tarn.value("SELECT count(*) FROM \"sf-digital-transformation\".consumer");
    assert_eq!(published()?, total);

    // A re-run of the month replaces its curated files instead of adding to them.
    let files = || -> TestResult<usize> { Ok(tarn_fixtures::s3::walk(Path::new(&curated("2020-03")))?.len()) };
    let before = files()?;
    tarn.ok(&args(&march_args))?;
    assert_eq!((files()?, published()?), (before, total.clone()));

    // April's delivery has a row without a household: the check stops the run and March stays published.
    let april = data.path().join("intake/2020-04");
    write_delivery(&april, PARTS, ROWS_PER_PART, 12)?;
    write_gzip(
        &april.join("part-late.csv.gz"),
        &format!(
            "{}\n{}\n",
            tarn_fixtures::consumer_header::header_line(),
            tarn_fixtures::consumer_header::sparse_line(&[("PersonID", "77"), ("State", "CA")])
        ),
    )?;
    let r = tarn.run(&args(&month_args("2020-04", &april)))?;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("workflow.sql:431:1: check 'every row has a household' failed: 1 row breaks it, e.g. (77, CA)"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("sf-digital-transformation.consumer (")
            && !r.stderr.contains("dropped table sf-digital-transformation.consumer;"),
        "nothing was published: {}",
        r.stderr
    );
    assert_eq!(published()?, total);
    let ddl = tarn.ok(&["-c", "SHOW CREATE TABLE \"sf-digital-transformation\".consumer"])?;
    assert!(ddl.stdout.contains("curated/2020-03"), "{}", ddl.stdout);
    Ok(())
}

#[test]
fn generate_writes_the_same_delivery_locally_and_to_s3_and_never_overwrites() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("consumer")?;
    let dir = tempfile::tempdir()?;
    let tarn = Tarn::s3(&dir.path().join("warehouse").display().to_string(), &server);
    let generate = |out: &str| {
        tarn.run(&[
            "generate",
            "consumer-header",
            "--rows",
            "900",
            "--parts",
            "3",
            "--seed",
            "5",
            "--out",
            out,
        ])
    };
    let local = dir.path().join("intake");
    let r = generate(&local.display().to_string())?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("generated 900 rows x 400 columns in 3 gzip parts"),
        "{}",
        r.stderr
    );
    let r = generate("s3://consumer/intake/2020-03/")?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // The same bytes as the local run (s3s-fs keeps its objects as files; moto does not).
    for part in 0..3 {
        let name = tarn_fixtures::consumer_header::part_name(part);
        if let Some(uploaded) = server.local_path("consumer", &format!("intake/2020-03/{name}")) {
            assert_eq!(std::fs::read(uploaded)?, std::fs::read(local.join(&name))?, "{name}");
        }
    }
    let wh = tempfile::tempdir()?;
    let reader = Tarn::s3(&wh.path().display().to_string(), &server);
    reader.ok(&[
        "-f",
        &repo_file("queries/consumer_header/01_raw_table.sql"),
        "--var",
        "location=s3://consumer/intake/2020-03/",
    ])?;
    assert_eq!(
        reader.value("SELECT count(DISTINCT PersonID) FROM \"sf-digital-transformation\".consumer_raw")?,
        "900"
    );
    // A second run into the same place refuses instead of replacing the files.
    let again = generate(&local.display().to_string())?;
    assert_eq!(again.code, Some(1));
    assert!(
        again.stderr.contains("already exists; tarn does not overwrite files"),
        "{}",
        again.stderr
    );
    Ok(())
}

/// A landing folder like the ones Glue crawlers are pointed at: gzip pipe CSV under `dt=`, gzip JSON under
/// `year=/month=/day=`, Parquet, a Delta table, and an all-string CSV with a header.
fn landing_zone(scratch: &Tarn, root: &Path) -> TestResult {
    for day in 1..=3 {
        let mut text = String::from("order_id|customer|amount|ordered_at\n");
        for i in 0..(100 * day) {
            text.push_str(&format!(
                "{i}|c{}|{}.{:02}|2024-01-0{day} 10:{:02}:00\n",
                i % 7,
                i % 50,
                i % 100,
                i % 60
            ));
        }
        write_gzip(&root.join(format!("orders/dt=2024-01-0{day}/part-0.csv.gz")), &text)?;
    }
    for day in 1..=2 {
        let mut text = String::new();
        for i in 0..(40 + day) {
            text.push_str(&format!(
                "{{\"event_id\": {i}, \"Kind\": \"click\", \"score\": {}.5, \"props\": {{\"page\": \"p{i}\"}}}}\n",
                i % 3
            ));
        }
        write_gzip(
            &root.join(format!("events/year=2024/month=01/day=0{day}/events.json.gz")),
            &text,
        )?;
    }
    let mut people = String::from("customer_id,email,city\n");
    for i in 0..25 {
        people.push_str(&format!("C-{i:04},user{i}@example.com,City {}\n", i % 4));
    }
    std::fs::create_dir_all(root.join("people"))?;
    std::fs::write(root.join("people/people.csv"), people)?;
    scratch.ok(&[
        "-c",
        &format!(
            "UNLOAD (SELECT value AS id, 'n' || CAST(value AS VARCHAR) AS name FROM range(1234)) TO '{}' \
             WITH (format = 'PARQUET')",
            dir_url(&root.join("customers"))
        ),
    ])?;
    scratch.ok(&[
        "-c",
        &format!(
            "CREATE TABLE ledger WITH (table_type = 'DELTA', location = '{}') AS \
             SELECT value AS id, value * 2 AS amount FROM range(77)",
            dir_url(&root.join("ledger"))
        ),
    ])?;
    Ok(())
}

#[test]
fn crawl_registers_each_kind_of_folder_and_a_recrawl_adds_only_what_is_new() -> TestResult {
    let wh = tempfile::tempdir()?;
    let scratch_wh = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let landing = data.path().join("landing");
    landing_zone(&Tarn::local(scratch_wh.path()), &landing)?;
    let tarn = Tarn::local(wh.path());

    let dry = tarn.ok(&["crawl", &dir_url(&landing), "--database", "raw", "--dry-run"])?;
    assert!(
        dry.stdout.starts_with("dry run: crawled 5 tables from "),
        "{}",
        dry.stdout
    );
    let err = tarn.fails(&["-c", "SHOW TABLES IN raw"])?;
    assert!(
        err.contains("database 'raw' does not exist"),
        "a dry run writes nothing: {err}"
    );

    let out = tarn.ok(&["crawl", &dir_url(&landing), "--database", "raw"])?.stdout;
    let line = |table: &str| -> String {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("raw.{table} ")))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(out.starts_with("crawled 5 tables from "), "{out}");
    assert_eq!(
        line("orders"),
        "raw.orders csv gzip delim='|' header 5 columns partitions: dt (3) created",
        "{out}"
    );
    assert_eq!(
        line("events"),
        "raw.events json gzip 7 columns partitions: year, month, day (2) created",
        "{out}"
    );
    // UNLOAD writes Parquet with Athena's default codec, gzip.
    assert_eq!(
        line("customers"),
        "raw.customers parquet gzip 2 columns created",
        "{out}"
    );
    assert_eq!(line("ledger"), "raw.ledger delta 2 columns created", "{out}");
    assert_eq!(
        line("people"),
        "raw.people csv delim=',' header 3 columns created",
        "{out}"
    );

    let describe = |table: &str| -> TestResult<Vec<String>> {
        let r = tarn.ok(&["--format", "csv", "-c", &format!("DESCRIBE raw.{table}")])?;
        Ok(r.stdout
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("\"\"") && !l.starts_with('#'))
            .map(|l| l.trim_end_matches(",\"\"").to_string())
            .collect())
    };
    assert_eq!(
        describe("orders")?,
        [
            "order_id,bigint",
            "customer,string",
            "amount,\"decimal(18,2)\"",
            "ordered_at,timestamp",
            "dt,string"
        ]
    );
    assert_eq!(
        describe("events")?,
        [
            "event_id,bigint",
            "kind,string",
            "score,double",
            "props,struct<page:string>",
            "year,string",
            "month,string",
            "day,string"
        ]
    );
    assert_eq!(
        describe("people")?,
        ["customer_id,string", "email,string", "city,string"]
    );
    assert_eq!(describe("customers")?, ["id,bigint", "name,string"]);

    // Counts equal DuckDB's on the same files (the Delta table has no offline DuckDB reader: its CTAS wrote 77).
    let counts = [
        (
            "orders",
            format!(
                "read_csv('{}/orders/*/*.csv.gz', delim='|', header=true)",
                landing.display()
            ),
        ),
        (
            "events",
            format!("read_json_auto('{}/events/**/*.json.gz')", landing.display()),
        ),
        (
            "customers",
            format!("read_parquet('{}/customers/*.parquet')", landing.display()),
        ),
        (
            "people",
            format!("read_csv('{}/people/*.csv', header=true)", landing.display()),
        ),
    ];
    for (table, source) in counts {
        let ours = tarn.value(&format!("SELECT count(*) FROM raw.{table}"))?;
        if let Some(theirs) = duckdb_value(&format!("SELECT count(*) FROM {source}"))? {
            assert_eq!(ours, theirs.to_string(), "{table}");
        }
    }
    assert_eq!(tarn.value("SELECT count(*) FROM raw.ledger")?, "77");
    assert_eq!(
        tarn.value("SELECT count(*) FROM raw.people WHERE customer_id = 'customer_id'")?,
        "0"
    );
    // 200 rows: the whole parts sum to 4 x (0 + ... + 49) = 4900, the cents to 2 x (0 + ... + 99) / 100 = 99.
    assert_eq!(
        tarn.value("SELECT sum(amount) FROM raw.orders WHERE dt = '2024-01-02'")?,
        "4999.00"
    );
    assert_eq!(
        tarn.value("SELECT count(*) FROM raw.events WHERE kind = 'click' AND day = '02'")?,
        "42"
    );

    // A new partition whose files have one more column: the re-crawl reports and registers exactly that.
    let mut text = String::from("order_id|customer|amount|ordered_at|coupon\n");
    for i in 0..10 {
        text.push_str(&format!("{i}|c{i}|1.00|2024-01-04 09:00:00|SAVE{i}\n"));
    }
    write_gzip(&landing.join("orders/dt=2024-01-04/part-0.csv.gz"), &text)?;
    let again = tarn.ok(&["crawl", &dir_url(&landing), "--database", "raw"])?.stdout;
    let orders = again
        .lines()
        .find(|l| l.trim_start().starts_with("raw.orders "))
        .unwrap_or_default();
    assert!(
        orders.ends_with("updated: +1 column (coupon string), +1 partition (dt=2024-01-04)"),
        "{again}"
    );
    for table in ["events", "customers", "ledger", "people"] {
        let line = again
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("raw.{table} ")))
            .unwrap_or_default();
        assert!(line.ends_with("unchanged"), "{table}: {again}");
    }
    let versions = tarn
        .ok(&["--format", "csv", "-c", "SHOW TABLE VERSIONS raw.orders"])?
        .stdout;
    let ops: Vec<&str> = versions.lines().skip(1).filter_map(|l| l.split(',').nth(1)).collect();
    assert_eq!(ops, ["CRAWL", "CREATE"], "the previous definition is kept");
    assert_eq!(tarn.value("SELECT count(*) FROM raw.orders")?, "610");
    assert_eq!(tarn.value("SELECT count(coupon) FROM raw.orders")?, "10");
    if let Some(theirs) = duckdb_value(&format!(
        "SELECT count(*) FROM read_csv('{}/orders/*/*.csv.gz', delim='|', header=true, union_by_name=true)",
        landing.display()
    ))? {
        assert_eq!(theirs, 610);
    }
    let third = tarn.ok(&["crawl", &dir_url(&landing), "--database", "raw"])?.stdout;
    assert_eq!(third.lines().filter(|l| l.ends_with("unchanged")).count(), 5, "{third}");

    // Removing is opt-in.
    std::fs::remove_dir_all(landing.join("orders/dt=2024-01-01"))?;
    let kept = tarn.ok(&["crawl", &dir_url(&landing), "--database", "raw"])?.stdout;
    assert!(kept.contains("raw.orders") && !kept.contains("-1 partition"), "{kept}");
    let removed = tarn
        .ok(&["crawl", &dir_url(&landing), "--database", "raw", "--delete-missing"])?
        .stdout;
    assert!(removed.contains("updated: -1 partition (dt=2024-01-01)"), "{removed}");
    assert_eq!(tarn.value("SELECT count(*) FROM raw.orders")?, "510");
    Ok(())
}

#[test]
fn crawl_splits_incompatible_unnamed_folders_and_merges_compatible_ones() -> TestResult {
    let wh = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let root = data.path().join("logs");
    // Same columns under 2024/01/26 and 2024/01/27: partitions partition_0.. of one table.
    for day in ["26", "27"] {
        std::fs::create_dir_all(root.join(format!("web/2024/01/{day}")))?;
        std::fs::write(
            root.join(format!("web/2024/01/{day}/hits.tsv")),
            format!("path\tstatus\n/a\t200\n/b{day}\t404\n"),
        )?;
    }
    // Different shapes side by side: separate tables.
    std::fs::create_dir_all(root.join("mixed/a"))?;
    std::fs::create_dir_all(root.join("mixed/b"))?;
    std::fs::write(root.join("mixed/a/x.csv"), "id,name\n1,x\n")?;
    std::fs::write(root.join("mixed/b/y.json"), "{\"k\": true, \"v\": 2.5}\n")?;
    // Hive partitions whose files disagree on a type: one table, the column a string, the conflict named.
    for (k, value) in [("1", "7"), ("2", "true")] {
        std::fs::create_dir_all(root.join(format!("typed/k={k}")))?;
        std::fs::write(
            root.join(format!("typed/k={k}/f.json")),
            format!("{{\"v\": {value}, \"User.Name\": \"u{k}\"}}\n"),
        )?;
    }
    let tarn = Tarn::local(wh.path());
    let out = tarn.ok(&["crawl", &dir_url(&root), "--database", "logs"])?.stdout;
    assert!(
        out.contains("partitions: partition_0, partition_1, partition_2 (2)"),
        "{out}"
    );
    assert!(
        out.contains(
            "note: logs.web: folders without key=value names became partitions partition_0, partition_1, partition_2"
        ),
        "{out}"
    );
    assert!(out.contains("logs.mixed_a ") && out.contains("logs.mixed_b "), "{out}");
    assert!(
        out.contains("note: ") && out.contains("sub-folders became separate tables"),
        "{out}"
    );
    assert_eq!(
        tarn.value("SELECT count(*) FROM logs.web WHERE partition_2 = '27'")?,
        "2"
    );
    assert_eq!(tarn.value("SELECT status FROM logs.web WHERE path = '/b26'")?, "404");
    assert_eq!(tarn.value("SELECT count(*) FROM logs.mixed_b WHERE k")?, "1");
    assert!(
        out.contains(
            "note: logs.typed: column 'v' is bigint in typed/k=1/f.json but boolean in typed/k=2/f.json; it is \
             registered as string; tarn reads JSON numbers and booleans in a string column as an error naming the \
             file"
        ),
        "{out}"
    );
    let err = tarn.fails(&["-c", "SELECT v FROM logs.typed WHERE k = '2'"])?;
    assert!(
        err.contains(
            "typed/k=2/f.json:1: not a valid row of the table (whilst decoding field 'v': expected string got true)"
        ),
        "{err}"
    );
    // A key that is not a column name is read through its OpenX mapping.
    assert_eq!(tarn.value("SELECT user_name FROM logs.typed WHERE k = '1'")?, "u1");

    // Bad input: one clear error, nothing registered.
    let empty = data.path().join("empty");
    std::fs::create_dir_all(&empty)?;
    let err = tarn.fails(&["crawl", &dir_url(&empty), "--database", "nothing"])?;
    assert!(err.contains("holds no data files to crawl"), "{err}");
    let err = tarn.fails(&["-c", "SHOW TABLES IN nothing"])?;
    assert!(err.contains("database 'nothing' does not exist"), "{err}");
    Ok(())
}

#[test]
fn views_and_partitions_are_shared_by_processes() -> TestResult {
    let wh = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    for (day, rows) in [("2024-01-01", 3), ("2024-01-02", 5)] {
        let mut text = String::new();
        for i in 0..rows {
            text.push_str(&format!("{i}|{}\n", i * 10));
        }
        std::fs::create_dir_all(data.path().join(format!("dt={day}")))?;
        std::fs::write(data.path().join(format!("dt={day}/part-0.csv")), text)?;
    }
    let first = Tarn::local(wh.path());
    first.ok(&[
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE m (id int, v int) PARTITIONED BY (dt string) \
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}'",
            dir_url(data.path())
        ),
        "-c",
        "CREATE VIEW per_day AS SELECT dt, count(*) AS n, sum(v) AS total FROM m GROUP BY dt",
        "-c",
        "ALTER TABLE m DROP PARTITION (dt = '2024-01-01')",
    ])?;
    // Another process sees the view and the partition change.
    let second = Tarn::local(wh.path());
    let out = second.ok(&["--format", "csv", "-c", "SELECT * FROM per_day ORDER BY dt"])?;
    assert_eq!(out.stdout, "dt,n,total\n2024-01-02,5,100\n");
    let out = second.ok(&["--format", "csv", "-c", "SHOW PARTITIONS m"])?;
    assert_eq!(out.stdout, "partition\ndt=2024-01-02\n");
    second.ok(&["-c", "MSCK REPAIR TABLE m"])?;
    assert_eq!(first.value("SELECT sum(n) FROM per_day")?, "8");
    let ddl = first.ok(&["--format", "csv", "-c", "SHOW CREATE VIEW per_day"])?;
    assert!(ddl.stdout.contains("CREATE VIEW default.per_day AS"), "{}", ddl.stdout);
    let err = second.fails(&["-c", "DROP TABLE per_day"])?;
    assert_eq!(err, "error: default.per_day is a view; use DROP VIEW");
    second.ok(&["-c", "DROP VIEW per_day"])?;
    let err = first.fails(&["-c", "SELECT * FROM per_day"])?;
    assert!(err.contains("table 'default.per_day' does not exist"), "{err}");
    Ok(())
}

#[test]
fn crawl_works_the_same_on_s3() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("lake")?;
    let scratch_wh = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let landing = data.path().join("landing");
    landing_zone(&Tarn::local(scratch_wh.path()), &landing)?;
    server.upload_dir(&landing, "lake", "landing")?;
    let tarn = Tarn::s3("s3://lake/warehouse/", &server);
    let out = tarn.ok(&["crawl", "s3://lake/landing/", "--database", "raw"])?.stdout;
    let summary: Vec<String> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        summary,
        [
            "raw.customers parquet gzip 2 columns created",
            "raw.events json gzip 7 columns partitions: year, month, day (2) created",
            "raw.ledger delta 2 columns created",
            "raw.orders csv gzip delim='|' header 5 columns partitions: dt (3) created",
            "raw.people csv delim=',' header 3 columns created",
            "note: created database raw",
        ],
        "{out}"
    );
    assert_eq!(
        tarn.value("SELECT count(*) FROM raw.orders WHERE dt = '2024-01-03'")?,
        "300"
    );
    assert_eq!(tarn.value("SELECT count(*) FROM raw.customers")?, "1234");
    assert_eq!(tarn.value("SELECT sum(amount) FROM raw.ledger")?, "5852");
    assert_eq!(tarn.value("SELECT count(*) FROM raw.people")?, "25");
    let again = tarn.ok(&["crawl", "s3://lake/landing/", "--database", "raw"])?.stdout;
    assert_eq!(again.lines().filter(|l| l.ends_with("unchanged")).count(), 5, "{again}");
    Ok(())
}
