//! `tarn ingest` as a real process: killed with SIGKILL at random moments while files keep arriving and a second
//! ingester runs on the same source, it still loads every file exactly once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const FILES: usize = 500;
const ROWS_PER_FILE: usize = 2;
const KILLS: usize = 30;

/// Puts the source files over time, each whole, into day folders: `put(relative key, text)`.
fn feed(put: &(dyn Fn(&str, &str) -> std::io::Result<()> + Sync)) -> std::io::Result<()> {
    for f in 0..FILES {
        let mut text = String::new();
        for r in 0..ROWS_PER_FILE {
            let id = f * ROWS_PER_FILE + r;
            text.push_str(&format!("{{\"id\": {id}, \"name\": \"user {id}\"}}\n"));
        }
        put(&format!("dt=2024-01-{:02}/events-{f:04}.json", 1 + f % 4), &text)?;
        std::thread::sleep(Duration::from_millis(8));
    }
    Ok(())
}

/// Lands a local file as a careful producer does (or use --settle): written beside, in `staging`, and renamed into
/// place under `incoming`.
fn put_local(incoming: &Path, staging: &Path, key: &str, text: &str) -> std::io::Result<()> {
    let path = incoming.join(key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::create_dir_all(staging)?;
    let temp = staging.join(key.replace('/', "_"));
    std::fs::write(&temp, text)?;
    std::fs::rename(temp, path)
}

/// Where a run reads, moves and writes: source, processed and error prefixes.
struct Places {
    incoming: String,
    done: String,
    errors: String,
}

fn ingest_args<'a>(places: &'a Places, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["ingest", &places.incoming, "--into", "ev", "--processed", &places.done];
    args.extend(["--errors", &places.errors, "--settle", "0s"]);
    args.extend(more);
    args
}

fn ingester(tarn: &Tarn, places: &Places) -> TestResult<Child> {
    Ok(tarn
        .command()
        .arg("-q")
        .args(ingest_args(places, &["--watch", "100ms", "--batch-files", "40"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// Two ingesters on one source while `put` lands the files; one of them killed with SIGKILL every 30–430 ms,
/// at least [`KILLS`] times, and started again; then one pass finishes what they left. Returns the kills.
fn kill_loop(
    tarn: &Tarn,
    places: &Places,
    put: &(dyn Fn(&str, &str) -> std::io::Result<()> + Sync),
) -> TestResult<usize> {
    let mut rng = tarn_fixtures::data::Lcg::new(7);
    std::thread::scope(|scope| -> TestResult<usize> {
        let feeder = scope.spawn(|| feed(put));
        let mut children = [ingester(tarn, places)?, ingester(tarn, places)?];
        let started = Instant::now();
        let mut kills = 0;
        while kills < KILLS || !feeder.is_finished() {
            std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
            let which = usize::try_from(rng.below(2))?;
            children[which].kill()?;
            children[which].wait()?;
            kills += 1;
            children[which] = ingester(tarn, places)?;
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "the kill loop took over 5 minutes"
            );
        }
        feeder.join().map_err(|_| "the feeder panicked")??;
        for child in &mut children {
            child.kill()?;
            child.wait()?;
        }
        Ok(kills)
    })
}

/// Every source file reached the processed folder `done`, and DuckDB counts in them the rows the table holds.
fn check_processed(done: &Path) -> TestResult {
    assert_eq!(files_under(done).len(), FILES);
    let rows = FILES * ROWS_PER_FILE;
    if let Some(duck) = duckdb_over_json(done)? {
        assert_eq!(
            duck,
            format!("({rows}, {rows}, {})", (0..rows).sum::<usize>()),
            "DuckDB over the source files"
        );
    }
    Ok(())
}

/// After the loop: one pass loads what is left, the next finds nothing; the table holds every row once.
fn check_exactly_once(tarn: &Tarn, places: &Places, kills: usize) -> TestResult {
    tarn.ok(&ingest_args(places, &[]))?;
    let again = tarn.ok(&ingest_args(places, &["--json"]))?;
    let report: serde_json::Value = serde_json::from_str(again.stdout.trim())?;
    assert_eq!(report["batches"].as_array().map(Vec::len), Some(0), "{report}");
    assert_eq!(report["failed"].as_array().map(Vec::len), Some(0), "{report}");
    let rows = FILES * ROWS_PER_FILE;
    let sum: usize = (0..rows).sum();
    for (sql, expected) in [
        ("SELECT count(*) FROM ev", rows),
        ("SELECT count(DISTINCT id) FROM ev", rows),
        ("SELECT sum(id) FROM ev", sum),
    ] {
        assert_eq!(tarn.value(sql)?, expected.to_string(), "{sql} after {kills} kills");
    }
    Ok(())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    tarn_fixtures::s3::walk(dir).unwrap_or_default()
}

/// DuckDB's (count, count distinct id, sum id) over the JSON files under `dir`; `None` without DuckDB outside CI.
fn duckdb_over_json(dir: &Path) -> TestResult<Option<String>> {
    let script = format!(
        "import duckdb; duckdb.sql(\"SET enable_progress_bar = false\"); \
         print(duckdb.sql(\"SELECT count(*), count(DISTINCT id), sum(id) FROM read_json_auto('{}/**/*.json')\").fetchall()[0])",
        dir.display()
    );
    let out = match Command::new("python3").arg("-c").arg(&script).output() {
        Ok(out) => out,
        Err(_) if std::env::var("CI").is_err() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("No module named 'duckdb'") && std::env::var("CI").is_err() {
            return Ok(None);
        }
        return Err(format!("duckdb failed: {stderr}").into());
    }
    Ok(Some(String::from_utf8(out.stdout)?.trim().to_string()))
}

#[test]
fn ingest_killed_at_random_with_a_second_ingester_loads_every_file_exactly_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tarn = Tarn::local(&dir.path().join("wh"));
    let (incoming, done, errors, lake) = (
        dir.path().join("landing/incoming"),
        dir.path().join("landing/processed"),
        dir.path().join("landing/error"),
        dir.path().join("lake/ev"),
    );
    std::fs::create_dir_all(&incoming)?;
    tarn.ok(&["-c", &format!(
        "CREATE EXTERNAL TABLE ev (id bigint, name string) PARTITIONED BY (dt string) STORED AS PARQUET LOCATION '{}'",
        dir_url(&lake)
    )])?;
    let places = Places {
        incoming: dir_url(&incoming),
        done: dir_url(&done),
        errors: dir_url(&errors),
    };
    let staging = dir.path().join("staging");
    let put = |key: &str, text: &str| put_local(&incoming, &staging, key, text);
    let kills = kill_loop(&tarn, &places, &put)?;
    check_exactly_once(&tarn, &places, kills)?;
    assert!(files_under(&incoming).is_empty(), "{:?}", files_under(&incoming));
    check_processed(&done)?;
    assert!(files_under(&errors).is_empty(), "{:?}", files_under(&errors));
    // No file of an uncommitted write is left in the table's folders.
    let hidden: Vec<PathBuf> = files_under(&lake)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    Ok(())
}

#[test]
fn ingest_into_delta_killed_at_random_loads_every_file_exactly_once_one_commit_per_batch() -> TestResult {
    let dir = tempfile::tempdir()?;
    let wh = dir.path().join("wh");
    let tarn = Tarn::local(&wh);
    let incoming = dir.path().join("landing/incoming");
    std::fs::create_dir_all(&incoming)?;
    tarn.ok(&[
        "-c",
        &format!(
            "CREATE TABLE ev WITH (table_type = 'DELTA', location = '{}', partitioned_by = ARRAY['dt']) AS \
         SELECT CAST(0 AS bigint) AS id, 'x' AS name, '2024-01-01' AS dt WHERE false",
            dir_url(&dir.path().join("lake/ev"))
        ),
    ])?;
    let places = Places {
        incoming: dir_url(&incoming),
        done: dir_url(&dir.path().join("landing/processed")),
        errors: dir_url(&dir.path().join("landing/error")),
    };
    let staging = dir.path().join("staging");
    let put = |key: &str, text: &str| put_local(&incoming, &staging, key, text);
    let kills = kill_loop(&tarn, &places, &put)?;
    check_exactly_once(&tarn, &places, kills)?;
    check_processed(&dir.path().join("landing/processed"))?;
    // Every batch number is one Delta commit: its rows, or the fence of a batch given up; version 0 made the table.
    let batches = files_under(&wh.join("_catalog"))
        .iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "loads"))
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let history = tarn.ok(&["--format", "csv", "-c", "DESCRIBE HISTORY ev"])?;
    let commits = history.stdout.lines().skip(1).filter(|l| !l.is_empty()).count();
    assert_eq!(commits, 1 + batches, "{batches} batches after {kills} kills");
    Ok(())
}

#[test]
fn ingest_on_s3_killed_at_random_loads_every_file_exactly_once() -> TestResult {
    let server = tarn_fixtures::s3::S3Server::start()?;
    server.create_bucket("landing")?;
    server.create_bucket("lake")?;
    let tarn = Tarn::s3("s3://lake/wh/", &server);
    tarn.ok(&[
        "-c",
        "CREATE EXTERNAL TABLE ev (id bigint, name string) PARTITIONED BY (dt string) STORED AS PARQUET \
                     LOCATION 's3://lake/ev/'",
    ])?;
    let places = Places {
        incoming: "s3://landing/incoming/".into(),
        done: "s3://landing/processed/".into(),
        errors: "s3://landing/error/".into(),
    };
    let put = |key: &str, text: &str| server.put_object("landing", &format!("incoming/{key}"), text.as_bytes());
    let kills = kill_loop(&tarn, &places, &put)?;
    check_exactly_once(&tarn, &places, kills)?;
    // moto keeps its objects in memory; s3s-fs in a folder DuckDB can read.
    if let Some(done) = server.local_path("landing", "processed") {
        check_processed(&done)?;
    }
    Ok(())
}

/// A pass with a file that cannot be loaded: the good file is loaded, the bad one is in the error prefix with its
/// reason beside it, and the exit code (3) says that a file failed.
#[test]
fn a_failed_file_goes_to_the_error_prefix_with_its_reason_and_the_exit_code_says_so() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tarn = Tarn::local(&dir.path().join("wh"));
    let (incoming, done, errors) = (
        dir.path().join("landing/incoming"),
        dir.path().join("landing/processed"),
        dir.path().join("landing/error"),
    );
    std::fs::create_dir_all(incoming.join("dt=2024-01-01"))?;
    std::fs::write(
        incoming.join("dt=2024-01-01/good.json"),
        "{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2, \"name\": \"b\"}\n",
    )?;
    std::fs::write(incoming.join("dt=2024-01-01/bad.json.gz"), b"not gzip at all")?;
    tarn.ok(&["-c", &format!(
        "CREATE EXTERNAL TABLE ev (id bigint, name string) PARTITIONED BY (dt string) STORED AS PARQUET LOCATION '{}'",
        dir_url(&dir.path().join("lake/ev"))
    )])?;
    let places = Places {
        incoming: dir_url(&incoming),
        done: dir_url(&done),
        errors: dir_url(&errors),
    };
    let ran = tarn.run(&ingest_args(&places, &["--once"]))?;
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert_eq!(ran.code, Some(3), "{said}");
    assert!(
        said.contains("· 1 file failed") && said.contains("failed: file://"),
        "{said}"
    );
    assert!(said.contains("bad.json.gz → file://"), "{said}");
    assert_eq!(tarn.value("SELECT sum(id) FROM ev")?, "3");
    assert!(done.join("dt=2024-01-01/good.json").is_file());
    assert!(errors.join("dt=2024-01-01/bad.json.gz").is_file());
    let reason = std::fs::read_to_string(errors.join("dt=2024-01-01/bad.json.gz.error.txt"))?;
    assert!(
        reason.contains("bad.json.gz") && reason.lines().count() >= 2,
        "{reason}"
    );
    assert!(files_under(&incoming).is_empty(), "{:?}", files_under(&incoming));
    Ok(())
}
