//! A cluster of real `tarn worker` processes on 127.0.0.1: the case study's scripts give one process's rows and
//! bytes scanned, and a worker killed with SIGKILL in the middle of a query or of a CTAS fails the statement
//! cleanly, naming the worker, with nothing registered and no file left after the next write to the location; so
//! does Ctrl-C while the workers write.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tarn_fixtures::consumer_header::write_delivery;

/// A `tarn worker` process, killed when dropped.
struct Worker {
    child: Child,
    url: String,
}

impl Worker {
    fn start() -> TestResult<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tarn"))
            .args(["worker", "--listen", "127.0.0.1:0"])
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the worker has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("tarn worker listening on ")
            .ok_or_else(|| format!("the worker said {line:?}"))?
            .to_string();
        Ok(Self { child, url })
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn urls(workers: &[&Worker]) -> String {
    workers.iter().map(|w| w.url.as_str()).collect::<Vec<_>>().join(",")
}

/// The `scanned …` part of each figures line, in order.
fn scanned(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.split(" · ").find(|part| part.starts_with("scanned ")))
        .map(str::to_string)
        .collect()
}

/// The delivery is small: one byte per task spreads every scan over both workers.
fn spread_sql() -> &'static str {
    "SET distributed.file_scan_config_bytes_per_partition = 1"
}

/// The case study's CTAS scripts, and the queries over the tables they make.
const WRITES: &[&str] = &[
    "03_parquet.sql",
    "04_parquet_state_buckets.sql",
    "07_parquet_state_partitions.sql",
];
const QUERIES: &[&str] = &["02_count_raw.sql", "05_one_state.sql", "06_eight_columns.sql"];

/// Runs a case-study script in `wh`, its tables written under `out`, on `workers` if given: stdout and stderr.
fn script(wh: &Path, intake: &Path, out: &Path, name: &str, workers: Option<&str>) -> TestResult<(String, String)> {
    let path = repo_file(&format!("queries/consumer_header/{name}"));
    let vars = [
        format!("location={}", dir_url(intake)),
        format!("parquet_location={}", dir_url(&out.join("parquet"))),
        format!("buckets_location={}", dir_url(&out.join("buckets"))),
        format!("partitions_location={}", dir_url(&out.join("by-state"))),
    ];
    let mut args: Vec<&str> = Vec::new();
    if let Some(workers) = workers {
        args.extend(["--workers", workers, "-v", "-c", spread_sql()]);
    }
    args.extend(["-f", &path]);
    for var in &vars {
        args.extend(["--var", var]);
    }
    let ran = Tarn::local(wh).ok(&args)?;
    Ok((ran.stdout, ran.stderr))
}

#[test]
fn the_case_study_on_two_worker_processes_gives_one_process_rows_and_bytes() -> TestResult {
    let data = tempfile::tempdir()?;
    let intake = data.path().join("intake");
    write_delivery(&intake, 3, 500, 42)?;
    let (one, two) = (Worker::start()?, Worker::start()?);
    let workers = urls(&[&one, &two]);
    let (wh1, wh2) = (data.path().join("wh1"), data.path().join("wh2"));
    let (out1, out2) = (data.path().join("out1"), data.path().join("out2"));

    // The tables: CTAS in one process into wh1, on the workers into wh2. The CSV they read is the same, so the
    // first CTAS scans the same bytes; the later ones read files the first wrote, which differ in their row order.
    for (i, name) in std::iter::once("01_raw_table.sql")
        .chain(WRITES.iter().copied())
        .enumerate()
    {
        let (_, single) = script(&wh1, &intake, &out1, name, None)?;
        let (_, cluster) = script(&wh2, &intake, &out2, name, Some(&workers))?;
        if i == 1 {
            // Compared only when there are figures to compare: a changed figures line must fail, not pass empty.
            assert!(!scanned(&single).is_empty(), "{name}: no figures in {single}");
            assert!(!scanned(&cluster).is_empty(), "{name}: no figures in {cluster}");
            assert_eq!(scanned(&single), scanned(&cluster), "{name}:\n{single}\n{cluster}");
            assert!(cluster.contains(" · on 2 workers"), "{cluster}");
        }
        if i > 0 {
            // The workers wrote the files, and -v says how many each.
            let writers: Vec<&str> = cluster.lines().filter(|l| l.contains(", wrote ")).collect();
            assert!(!writers.is_empty(), "{name}: {cluster}");
            assert!(
                writers
                    .iter()
                    .all(|l| [&one, &two].iter().any(|w| l.starts_with(&format!("  {}:", w.url)))),
                "{name}: {cluster}"
            );
        }
    }
    for name in QUERIES {
        // The queries over wh1's tables, in one process and on the workers: the same rows and bytes.
        let (out_single, single) = script(&wh1, &intake, &out1, name, None)?;
        let (out_cluster, cluster) = script(&wh1, &intake, &out1, name, Some(&workers))?;
        assert_eq!(out_single, out_cluster, "{name}");
        assert!(!scanned(&single).is_empty(), "{name}: no figures in {single}");
        assert_eq!(scanned(&single), scanned(&cluster), "{name}:\n{single}\n{cluster}");
        // ... and over the tables the workers wrote: the same rows.
        let (out_written, _) = script(&wh2, &intake, &out2, name, Some(&workers))?;
        assert_eq!(out_single, out_written, "{name} over the tables written on the workers");
        if *name == "02_count_raw.sql" {
            // The gzip CSV count ran on both workers, and -v says what each scanned.
            assert!(cluster.contains(" · on 2 workers"), "{cluster}");
            for worker in [&one, &two] {
                assert!(cluster.contains(&format!("  {}: scanned ", worker.url)), "{cluster}");
            }
        }
    }

    // Delta: its writes and DML run on the coordinator, and a query that would send a Delta scan to a worker runs
    // there too, and says so.
    let tarn = Tarn::local(&wh2);
    tarn.ok(&[
        "--workers",
        &workers,
        "-f",
        &repo_file("queries/consumer_header/08_delta_corrections.sql"),
        "--var",
        &format!("delta_location={}", dir_url(&out2.join("delta"))),
    ])?;
    let joined = r#"SELECT count(*) FROM "sf-digital-transformation".consumer_2020_03_delta d
        JOIN "sf-digital-transformation".consumer_raw r ON d.PersonID = r.PersonID AND r.State <> 'WY'"#;
    let local = tarn.ok(&["--format", "csv", "-c", joined])?;
    let cluster = tarn.ok(&[
        "--workers",
        &workers,
        "--format",
        "csv",
        "-c",
        spread_sql(),
        "-c",
        joined,
    ])?;
    assert_eq!(local.stdout, cluster.stdout);
    assert!(
        cluster
            .stderr
            .contains("warning: ran in this process, not on the workers: tarn cannot send a DeltaScanExec"),
        "{}",
        cluster.stderr
    );
    let raw = tarn.value(r#"SELECT count(*) FROM "sf-digital-transformation".consumer_raw WHERE State <> 'WY'"#)?;
    let now = tarn.value(r#"SELECT count(*) FROM "sf-digital-transformation".consumer_2020_03_delta"#)?;
    assert_eq!(now, raw);
    Ok(())
}

/// `tarn args` started, its output captured.
fn spawn(tarn: &Tarn, args: &[&str]) -> TestResult<Child> {
    Ok(tarn
        .command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}

/// Waits for `child` to end (at most 120 s: a statement whose worker died must fail, never hang).
fn wait_with_timeout(mut child: Child) -> TestResult<Ran> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("the statement hung after its worker was killed".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ran(child.wait_with_output()?))
}

/// The files under `dir` that are not a write's record.
fn data_files(dir: &Path) -> Vec<std::path::PathBuf> {
    tarn_fixtures::s3::walk(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| !f.strip_prefix(dir).is_ok_and(|r| r.starts_with("_tarn_writes")))
        .collect()
}

/// Starts a CTAS of `name` into `target` on `workers` and returns once its first file is there: each person joined
/// with the others of their state, in files of at most 1 MB, so files are completed as the write goes.
fn write_until_files(tarn: &Tarn, workers: &str, name: &str, target: &Path) -> TestResult<Child> {
    let ctas = format!(
        "CREATE TABLE {name} WITH (format = 'PARQUET', write_target_data_file_size_bytes = 1048576, \
         external_location = '{}') AS SELECT a.* FROM \"sf-digital-transformation\".consumer_raw a \
         JOIN \"sf-digital-transformation\".consumer_raw b ON a.State = b.State",
        dir_url(target)
    );
    let mut write = spawn(tarn, &["--workers", workers, "-c", spread_sql(), "-c", &ctas])?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while data_files(target).is_empty() {
        if Instant::now() > deadline {
            return Err("the CTAS wrote no file in 5 minutes".into());
        }
        if write.try_wait()?.is_some() {
            let ended = ran(write.wait_with_output()?);
            return Err(format!("the CTAS ended before it wrote a file: {}", ended.stderr).into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(write)
}

/// After a CTAS of `name` into `target` failed on workers: nothing is registered, its record stays marked aborted
/// (a task on another worker may complete a file after the coordinator gave up), and the next write there deletes
/// all of its files and makes a whole table.
fn next_write_cleans_up(tarn: &Tarn, name: &str, target: &Path) -> TestResult {
    let tables = tarn.ok(&["--format", "csv", "-c", "SHOW TABLES"])?;
    assert!(!tables.stdout.contains(name), "{}", tables.stdout);
    let records = tarn_fixtures::s3::walk(&target.join("_tarn_writes"))?;
    let aborted = records
        .iter()
        .find(|f| f.ends_with("aborted.json"))
        .ok_or_else(|| format!("no aborted record: {records:?}"))?;
    let query_id = aborted
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .ok_or("the record has no folder")?;
    let again = format!(
        "CREATE TABLE {name} WITH (format = 'PARQUET', external_location = '{}') AS \
         SELECT State, count(*) AS n FROM \"sf-digital-transformation\".consumer_raw GROUP BY 1",
        dir_url(target)
    );
    tarn.ok(&["-c", &again])?;
    let left: Vec<_> = tarn_fixtures::s3::walk(target)?
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(&query_id))
        .collect();
    assert!(
        left.is_empty(),
        "files of the failed CTAS left after the next write: {left:?}"
    );
    assert!(!data_files(target).is_empty());
    let counted = tarn.ok(&["--format", "csv", "-c", &format!("SELECT sum(n) FROM {name}")])?;
    assert!(counted.stdout.contains("1500"), "{}", counted.stdout);
    Ok(())
}

/// Every state's people joined with every state's people three times over: minutes of work on two workers, so a
/// kill lands in the middle.
const HEAVY: &str = r#"SELECT a.State, count(*) AS n FROM "sf-digital-transformation".consumer_raw a
    JOIN "sf-digital-transformation".consumer_raw b ON a.State = b.State
    JOIN "sf-digital-transformation".consumer_raw c ON a.State = c.State
    JOIN "sf-digital-transformation".consumer_raw d ON a.State = d.State GROUP BY 1"#;

#[test]
fn a_worker_killed_mid_query_or_mid_ctas_and_ctrl_c_mid_ctas_fail_the_statement_cleanly() -> TestResult {
    let data = tempfile::tempdir()?;
    let intake = data.path().join("intake");
    write_delivery(&intake, 3, 500, 42)?;
    let wh = data.path().join("wh");
    let tarn = Tarn::local(&wh);
    tarn.ok(&[
        "-f",
        &repo_file("queries/consumer_header/01_raw_table.sql"),
        "--var",
        &format!("location={}", dir_url(&intake)),
    ])?;
    let spread = spread_sql();

    // Mid-query.
    let (mut one, two) = (Worker::start()?, Worker::start()?);
    let query = spawn(&tarn, &["--workers", &urls(&[&one, &two]), "-c", spread, "-c", HEAVY])?;
    std::thread::sleep(Duration::from_secs(3));
    one.kill();
    let failed = wait_with_timeout(query)?;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains(&format!("error: worker {} stopped answering during the query", one.url)),
        "{}",
        failed.stderr
    );

    // Mid-CTAS, while the workers write its files.
    // On new workers: a task of a cancelled query keeps its worker busy until it has rows to send
    // (datafusion-distributed 4.0 stops a task only then), and the query above sends none for minutes.
    drop(two);
    let (mut two, three) = (Worker::start()?, Worker::start()?);
    let target = data.path().join("heavy");
    let write = write_until_files(&tarn, &urls(&[&two, &three]), "heavy", &target)?;
    two.kill();
    let failed = wait_with_timeout(write)?;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    // Named whether the write lost its connection to the worker or could not open one for a later stage.
    let named = [
        format!("error: worker {} stopped answering during the query", two.url),
        format!("error: worker {} is not reachable", two.url),
    ];
    assert!(named.iter().any(|n| failed.stderr.contains(n)), "{}", failed.stderr);
    next_write_cleans_up(&tarn, "heavy", &target)?;

    // Ctrl-C while the workers write: the statement is cancelled, and the same holds.
    let four = Worker::start()?;
    let target = data.path().join("interrupted");
    let write = write_until_files(&tarn, &urls(&[&three, &four]), "interrupted", &target)?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(write.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
    let cancelled = wait_with_timeout(write)?;
    assert_eq!(cancelled.code, Some(130), "{}", cancelled.stderr);
    assert!(cancelled.stderr.contains("error: cancelled"), "{}", cancelled.stderr);
    next_write_cleans_up(&tarn, "interrupted", &target)?;
    Ok(())
}
