//! Queries on a cluster: two tarn workers on 127.0.0.1 (in-process gRPC servers on ports from the OS) answer as one
//! session does, row for row and byte for byte, and the scan limit and unreachable workers fail cleanly.

mod common;

use std::path::Path;

use common::*;
use tarn_engine::worker::{WorkerOptions, serve_worker};
use tarn_engine::{EngineError, QueryStats, Session, SessionOptions};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Workers serving until the value is dropped.
struct Workers {
    urls: Vec<String>,
    _stops: Vec<oneshot::Sender<()>>,
}

async fn start_workers(n: usize) -> TestResult<Workers> {
    start_workers_with(n, None).await
}

/// Workers whose S3 settings are `aws` (a worker's own; a coordinator sends none).
async fn start_workers_with(n: usize, aws: Option<tarn_engine::AwsSettings>) -> TestResult<Workers> {
    let mut urls = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..n {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let options = WorkerOptions {
            name: url.clone(),
            aws: aws.clone(),
            ..Default::default()
        };
        tokio::spawn(serve_worker(listener, options, async {
            let _ = stopped.await;
        }));
        urls.push(url);
        stops.push(stop);
    }
    Ok(Workers { urls, _stops: stops })
}

async fn open_cluster(wh: &str, workers: &Workers, max_scan: Option<u64>) -> TestResult<Session> {
    open_cluster_with(wh, workers, max_scan, None).await
}

async fn open_cluster_with(
    wh: &str,
    workers: &Workers,
    max_scan: Option<u64>,
    aws: Option<tarn_engine::AwsSettings>,
) -> TestResult<Session> {
    let mut session = Session::open(SessionOptions {
        warehouse: wh.to_string(),
        workers: workers.urls.clone(),
        max_scan,
        aws,
        ..Default::default()
    })
    .await?;
    // The test's files are tiny; one byte per task spreads every scan over both workers.
    run(&mut session, "SET distributed.file_scan_config_bytes_per_partition = 1").await?;
    run(&mut session, NO_DYNAMIC_FILTERS).await?;
    Ok(session)
}

/// A join's dynamic filter can prune the probe side's files and pages or not, depending on which side's scan gets
/// there first: off on both sides of a comparison, the bytes a plan scans do not depend on timing.
const NO_DYNAMIC_FILTERS: &str = "SET datafusion.optimizer.enable_dynamic_filter_pushdown = false";

/// A new session over `wh`, as the cluster's are set up apart from its workers.
async fn open_single(wh: &str) -> TestResult<Session> {
    let mut session = open(wh).await?;
    run(&mut session, NO_DYNAMIC_FILTERS).await?;
    Ok(session)
}

/// Parquet files, gzip text, a Hive-partitioned and a bucketed table, made by one session in `wh`.
async fn tables(dir: &Path, wh: &str) -> TestResult {
    let mut s = open(wh).await?;
    for (i, rows) in [(0, 300), (1, 500), (2, 200)] {
        write_parquet(&dir.join(format!("p/part-{i}.parquet")), rows, 50, i as u64)?;
    }
    let text = dir.join("t");
    tarn_fixtures::data::write_gzip(&text.join("a.csv.gz"), "id|name\n1|a\n2|b\n3|\\N\n40|x\n")?;
    tarn_fixtures::data::write_gzip(&text.join("b.csv.gz"), "id|name\n4|d\n5|e\n700|f\n")?;
    for sql in [
        format!(
            "CREATE EXTERNAL TABLE p (id bigint, state string, income double) STORED AS PARQUET LOCATION '{}'",
            dir_url(&dir.join("p"))
        ),
        format!(
            "CREATE EXTERNAL TABLE t (id bigint, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
             LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(&text)
        ),
        format!(
            "CREATE TABLE parted WITH (format = 'PARQUET', partitioned_by = ARRAY['state'], external_location = '{}') \
             AS SELECT id, income, state FROM p",
            dir_url(&dir.join("parted"))
        ),
        format!(
            "CREATE TABLE buckets WITH (format = 'PARQUET', bucketed_by = ARRAY['id'], bucket_count = 4, \
             external_location = '{}') AS SELECT * FROM p",
            dir_url(&dir.join("buckets"))
        ),
    ] {
        run(&mut s, &sql).await?;
    }
    Ok(())
}

/// Joins, aggregates, pruning, Trino functions, windows, subqueries: what the cluster must answer as one session.
const QUERIES: &[&str] = &[
    "SELECT state, count(*), round(sum(income), 2) FROM p GROUP BY state ORDER BY state",
    "SELECT count(*), count(name), sum(id) FROM t",
    "SELECT p.state, count(*) FROM p JOIN t ON p.id = t.id GROUP BY p.state ORDER BY 1",
    "SELECT count(*), round(avg(income), 4) FROM parted WHERE state = 'CA'",
    "SELECT id, state, round(income, 4) FROM buckets WHERE id = 42",
    "SELECT a.state, count(*), round(sum(b.income), 2) FROM p a JOIN parted b ON a.id = b.id AND a.state = b.state \
     GROUP BY 1 ORDER BY 1",
    "SELECT regexp_replace(state, 'A', 'a') AS r, count(*) FROM p GROUP BY 1 ORDER BY 1",
    "SELECT id, rank() OVER (PARTITION BY state ORDER BY income DESC, id) AS r FROM p ORDER BY income DESC, id LIMIT 7",
    "SELECT count(DISTINCT state), count(DISTINCT id) FROM p",
    "SELECT count(*) FROM p WHERE income > (SELECT avg(income) FROM parted)",
    "SELECT state, count(*) FROM (SELECT state FROM p UNION ALL SELECT state FROM parted) GROUP BY 1 ORDER BY 1",
    "SELECT p.id, b.state, t.name FROM p JOIN buckets b ON p.id = b.id JOIN t ON t.id = p.id ORDER BY 1, 2, 3",
    "SELECT state, count(*) FROM p WHERE id IN (SELECT id FROM t) OR income < 100 GROUP BY 1 ORDER BY 1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_answer_as_one_session_row_for_row_and_byte_for_byte() -> TestResult {
    let dir = tempdir()?;
    let wh = dir.path().join("wh").display().to_string();
    tables(dir.path(), &wh).await?;
    let workers = start_workers(2).await?;
    let mut cluster = open_cluster(&wh, &workers, None).await?;
    let mut here = Vec::new();
    for sql in QUERIES {
        // A new session per query: a session keeps the footers it read, and a worker task reads its own.
        let (expected, single) = run(&mut open_single(&wh).await?, sql).await?;
        let (got, stats) = run(&mut cluster, sql).await?;
        assert_eq!(got, expected, "{sql}");
        assert!(single.bytes_scanned > 0, "{sql}");
        // The one plan that differs: datafusion-distributed turns DataFusion's physical scalar subquery off (its
        // value cannot be shared between tasks), so the subquery becomes a join, and the scan of `p` is no longer
        // pruned by the subquery's value.
        if !sql.contains("(SELECT avg(income)") {
            assert_eq!(
                stats.bytes_scanned, single.bytes_scanned,
                "bytes scanned of {sql}: {:?}",
                stats.workers
            );
        }
        let on_workers: u64 = stats.workers.iter().map(|(_, b)| b).sum();
        if on_workers == 0 {
            here.push(*sql);
        }
    }
    // A scan of one small file gets one task, and a plan whose every stage has one task runs on the coordinator.
    assert!(QUERIES.len() - here.len() >= 10, "ran on the coordinator: {here:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explain_shows_the_stages_and_a_bucketed_ctas_writes_what_one_session_writes() -> TestResult {
    let dir = tempdir()?;
    let wh = dir.path().join("wh").display().to_string();
    tables(dir.path(), &wh).await?;
    let workers = start_workers(2).await?;
    let mut cluster = open_cluster(&wh, &workers, None).await?;
    let (plan, _) = run(&mut cluster, "EXPLAIN SELECT state, count(*) FROM p GROUP BY state").await?;
    let text = plan.iter().map(|r| r.join(" ")).collect::<Vec<_>>().join("\n");
    assert!(text.contains("DistributedExec") && text.contains("Stage 1"), "{text}");
    // EXPLAIN ANALYZE runs it: its figures are the query's, and VERBOSE says what each task read, on which worker.
    let sql = "SELECT state, count(*) FROM p GROUP BY state";
    let (_, plain) = run(&mut cluster, sql).await?;
    let (analyzed, stats) = run(&mut cluster, &format!("EXPLAIN ANALYZE VERBOSE {sql}")).await?;
    let text = analyzed.iter().map(|r| r.join(" ")).collect::<Vec<_>>().join("\n");
    assert_eq!(stats.bytes_scanned, plain.bytes_scanned, "{stats:?} {plain:?}\n{text}");
    for url in &workers.urls {
        assert!(text.contains(&format!("tarn_bytes_scanned[{url}]=")), "{text}");
    }

    let ctas = |name: &str| {
        format!(
            "CREATE TABLE {name} WITH (format = 'PARQUET', bucketed_by = ARRAY['state'], bucket_count = 3, \
             external_location = '{}') AS SELECT id, state, income FROM p JOIN t USING (id)",
            dir_url(&dir.path().join(name))
        )
    };
    let (_, single) = run(&mut open_single(&wh).await?, &ctas("one")).await?;
    let (_, stats) = run(&mut cluster, &ctas("two")).await?;
    assert!(!stats.workers.is_empty(), "{stats:?}");
    // The files were written by the workers, not here.
    let files = std::fs::read_dir(dir.path().join("two"))?
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_file()))
        .count() as u64;
    assert!(files > 0);
    assert_eq!(
        stats.files_written.iter().map(|(_, n)| n).sum::<u64>(),
        files,
        "{stats:?}"
    );
    for (writer, _) in &stats.files_written {
        assert!(workers.urls.contains(writer), "{writer} {stats:?}");
    }
    assert!(single.bytes_scanned > 0);
    assert_eq!(stats.bytes_scanned, single.bytes_scanned);
    // The same buckets, with the same rows in each (a one-state query reads one bucket's file).
    for state in ["CA", "FL", "NY", "TX"] {
        let sql = |name: &str| format!("SELECT id, round(income, 4) FROM {name} WHERE state = '{state}' ORDER BY 1, 2");
        let (one, _) = run(&mut cluster, &sql("one")).await?;
        let (two, _) = run(&mut cluster, &sql("two")).await?;
        assert_eq!(one, two, "{state}");
        assert!(!one.is_empty());
    }
    // Files named by bucket as Hive names them (000000_0_...), the same buckets on both sides.
    let buckets = |name: &str| -> TestResult<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join(name))?
            .map(|e| Ok(e?.file_name().to_string_lossy().chars().take(6).collect()))
            .collect::<TestResult<_>>()?;
        names.sort();
        Ok(names)
    };
    assert_eq!(buckets("one")?, buckets("two")?);
    Ok(())
}

/// The files under `dir` (relative paths, sorted), and how many of them hold data rather than a write's record.
fn files_under(dir: &Path) -> TestResult<(Vec<String>, u64)> {
    let mut files: Vec<String> = tarn_fixtures::s3::walk(dir)?
        .iter()
        .map(|p| Ok(p.strip_prefix(dir)?.display().to_string()))
        .collect::<TestResult<_>>()?;
    files.sort();
    let data = files.iter().filter(|f| !f.starts_with("_tarn_writes")).count() as u64;
    Ok((files, data))
}

/// Each of `stats`' files was written by one of `workers`, and they wrote `files` in all.
fn written_by_workers(stats: &QueryStats, workers: &Workers, files: u64) {
    assert!(files > 0, "nothing written");
    assert_eq!(
        stats.files_written.iter().map(|(_, n)| n).sum::<u64>(),
        files,
        "{stats:?}"
    );
    for (writer, _) in &stats.files_written {
        assert!(workers.urls.contains(writer), "{writer} is not a worker: {stats:?}");
    }
}

/// A file's name without the query id (`000012_0_<query id>_0010000.parquet` → `000012`, partition folders
/// kept): what two writes of the same rows have in common.
fn layout(files: &[String]) -> Vec<String> {
    let mut shapes: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with("_tarn_writes"))
        .map(|f| match f.rsplit_once('/') {
            Some((folder, name)) => format!("{folder}/{}", &name[..6.min(name.len())]),
            None => f[..6.min(f.len())].to_string(),
        })
        .collect();
    shapes.sort();
    shapes.dedup();
    shapes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctas_insert_and_unload_write_their_files_on_the_workers() -> TestResult {
    let dir = tempdir()?;
    let wh = dir.path().join("wh").display().to_string();
    tables(dir.path(), &wh).await?;
    let workers = start_workers(2).await?;
    let mut cluster = open_cluster(&wh, &workers, None).await?;
    let mut single = open_single(&wh).await?;
    let out = |name: &str| dir.path().join(name);

    // Partitioned gzip text, and Parquet in more buckets than one write keeps open (each stream sorted by bucket).
    let writes = [
        (
            "text_parted",
            "format = 'TEXTFILE', write_compression = 'GZIP', partitioned_by = ARRAY['state']",
            "SELECT p.id, p.income, t.name, p.state FROM p LEFT JOIN t ON p.id = t.id",
        ),
        (
            "many_buckets",
            "format = 'PARQUET', bucketed_by = ARRAY['id'], bucket_count = 100",
            "SELECT id, state, income FROM p",
        ),
    ];
    for (name, with, query) in writes {
        for (session, suffix) in [(&mut single, "_one"), (&mut cluster, "_two")] {
            let sql = format!(
                "CREATE TABLE {name}{suffix} WITH ({with}, external_location = '{}') AS {query}",
                dir_url(&out(&format!("{name}{suffix}")))
            );
            let (_, stats) = run(session, &sql).await?;
            if suffix == "_two" {
                let (_, files) = files_under(&out(&format!("{name}{suffix}")))?;
                written_by_workers(&stats, &workers, files);
            } else {
                assert!(stats.files_written.is_empty(), "{stats:?}");
            }
        }
        let (one, _) = files_under(&out(&format!("{name}_one")))?;
        let (two, _) = files_under(&out(&format!("{name}_two")))?;
        assert_eq!(layout(&one), layout(&two), "{name}");
        let sql = |t: &str| format!("SELECT * FROM {t} ORDER BY 1, 2, 3");
        let (expected, _) = run(&mut single, &sql(&format!("{name}_one"))).await?;
        let (got, _) = run(&mut single, &sql(&format!("{name}_two"))).await?;
        assert_eq!(got, expected, "{name}");
        assert!(expected.len() >= 1000, "{name}: {}", expected.len());
    }

    // INSERT INTO: hidden files written by the workers, renamed into place here.
    let insert = "INSERT INTO text_parted_two SELECT id + 1000, income, 'new', state FROM p WHERE state = 'CA'";
    let (before, _) = files_under(&out("text_parted_two"))?;
    let (_, stats) = run(&mut cluster, insert).await?;
    let (after, _) = files_under(&out("text_parted_two"))?;
    written_by_workers(&stats, &workers, (after.len() - before.len()) as u64);
    assert!(
        after
            .iter()
            .all(|f| !f.rsplit('/').next().unwrap_or("").starts_with('.')),
        "{after:?}"
    );
    let count = "SELECT count(*), count(DISTINCT id) FROM text_parted_two WHERE name = 'new'";
    let (inserted, _) = run(&mut single, count).await?;
    let (ca, _) = run(
        &mut single,
        "SELECT count(*), count(DISTINCT id) FROM p WHERE state = 'CA'",
    )
    .await?;
    assert_eq!(inserted, ca);

    // UNLOAD as JSON lines: as many lines as rows.
    let target = out("unloaded");
    let unload = format!(
        "UNLOAD (SELECT id, state FROM p WHERE income > 50) TO '{}' WITH (format = 'JSON', compression = 'NONE')",
        dir_url(&target)
    );
    let (_, stats) = run(&mut cluster, &unload).await?;
    let (files, data) = files_under(&target)?;
    written_by_workers(&stats, &workers, data);
    let mut lines = 0;
    for file in &files {
        lines += std::fs::read_to_string(target.join(file))?.lines().count();
    }
    let (expected, _) = run(&mut single, "SELECT count(*) FROM p WHERE income > 50").await?;
    assert_eq!(vec![vec![lines.to_string()]], expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scan_limit_holds_for_the_sum_over_workers() -> TestResult {
    let dir = tempdir()?;
    let wh = dir.path().join("wh").display().to_string();
    tables(dir.path(), &wh).await?;
    let workers = start_workers(2).await?;
    let sql = "SELECT state, count(*) FROM p GROUP BY state ORDER BY state";
    let (_, unlimited) = run(&mut open_cluster(&wh, &workers, None).await?, sql).await?;
    let total = unlimited.bytes_scanned;
    assert!(unlimited.workers.len() == 2, "{unlimited:?}");

    // Exactly the total passes.
    let (rows, _) = run(&mut open_cluster(&wh, &workers, Some(total)).await?, sql).await?;
    assert_eq!(rows.len(), 4);
    // One byte less fails, whether a task alone passes it or only the sum does; no rows come out.
    for limit in [total - 1, 1] {
        let mut cluster = open_cluster(&wh, &workers, Some(limit)).await?;
        let outcome: TestResult<(Vec<Vec<String>>, QueryStats)> = run(&mut cluster, sql).await;
        let err = outcome.err().ok_or("the query ran past its scan limit")?;
        assert!(err.to_string().contains("over the scan limit"), "{err}");
    }
    // SET tarn.max_scan reaches the workers too.
    let mut cluster = open_cluster(&wh, &workers, None).await?;
    run(&mut cluster, "SET tarn.max_scan = '1'").await?;
    let err = run(&mut cluster, sql)
        .await
        .err()
        .ok_or("SET tarn.max_scan did not stop the query")?;
    assert!(err.to_string().contains("over the scan limit"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_worker_is_named_and_set_workers_switches_clusters() -> TestResult {
    let dir = tempdir()?;
    let wh = dir.path().join("wh").display().to_string();
    tables(dir.path(), &wh).await?;
    // Ports nobody listens on: taken from the OS, then closed. (With one worker, datafusion-distributed runs
    // everything on the coordinator: it cuts stages only where they get two tasks or more.)
    let (closed, other) = {
        let (a, b) = (
            TcpListener::bind("127.0.0.1:0").await?,
            TcpListener::bind("127.0.0.1:0").await?,
        );
        (
            format!("http://{}", a.local_addr()?),
            format!("http://{}", b.local_addr()?),
        )
    };
    let mut session = open(&wh).await?;
    let sql = "SELECT state, count(*) FROM p GROUP BY state ORDER BY state";
    let (expected, _) = run(&mut session, sql).await?;
    run(&mut session, &format!("SET tarn.workers = '{closed},{other}'")).await?;
    run(&mut session, "SET distributed.file_scan_config_bytes_per_partition = 1").await?;
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(std::time::Duration::from_secs(120), run(&mut session, sql))
        .await?
        .err()
        .ok_or("a query ran on a worker that is not there")?;
    let message = err.to_string();
    assert!(
        (message.contains(&format!("worker {closed} is not reachable"))
            || message.contains(&format!("worker {other} is not reachable")))
            && message.contains("tarn worker --listen"),
        "{message} (after {:?})",
        started.elapsed()
    );
    assert!(matches!(
        err.downcast_ref::<EngineError>(),
        Some(EngineError::WorkerUnreachable { .. })
    ));

    // Real workers from here: the same session answers on them, then alone again.
    let workers = start_workers(2).await?;
    run(
        &mut session,
        &format!("SET tarn.workers = '{}'", workers.urls.join(",")),
    )
    .await?;
    let (got, stats) = run(&mut session, sql).await?;
    assert_eq!(got, expected);
    assert_eq!(stats.workers.len(), 2, "{stats:?}");
    let (shown, _) = run(&mut session, "SHOW SESSION LIKE 'tarn.workers'").await?;
    assert_eq!(shown[0][1], workers.urls.join(","));
    run(&mut session, "SET tarn.workers = ''").await?;
    let (got, stats) = run(&mut session, sql).await?;
    assert_eq!(got, expected);
    assert!(stats.workers.is_empty(), "{stats:?}");
    // A script written for a cluster runs alone: datafusion-distributed's settings are still settable.
    run(&mut session, "SET distributed.file_scan_config_bytes_per_partition = 2").await?;
    let (got, _) = run(&mut session, sql).await?;
    assert_eq!(got, expected);

    let err = run(&mut session, "SET tarn.workers = 'ftp://x:1'")
        .await
        .err()
        .ok_or("ftp accepted")?;
    assert!(
        err.to_string().contains("worker 'ftp://x:1' has the scheme 'ftp'"),
        "{err}"
    );
    Ok(())
}

/// On S3 (s3s-fs in-process, or moto with TARN_TEST_S3=moto): workers read the bucket with their own settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_tables_on_workers_with_their_own_s3_settings() -> TestResult {
    let server = tarn_fixtures::s3::S3Server::start()?;
    server.create_bucket("lake")?;
    let local = tempdir()?;
    for (i, rows) in [(0, 300), (1, 500), (2, 200)] {
        write_parquet(&local.path().join(format!("p/part-{i}.parquet")), rows, 50, i as u64)?;
    }
    tarn_fixtures::data::write_gzip(&local.path().join("t/a.csv.gz"), "id|name\n1|a\n2|b\n3|\\N\n")?;
    tarn_fixtures::data::write_gzip(&local.path().join("t/b.csv.gz"), "id|name\n4|d\n5|e\n")?;
    server.upload_dir(local.path(), "lake", "data")?;
    let wh = "s3://lake/wh/";
    let mut single = open_s3(wh, &server).await?;
    run(
        &mut single,
        "CREATE EXTERNAL TABLE p (id bigint, state string, income double) STORED AS PARQUET \
         LOCATION 's3://lake/data/p/'",
    )
    .await?;
    run(
        &mut single,
        "CREATE EXTERNAL TABLE t (id bigint, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
         LOCATION 's3://lake/data/t/' TBLPROPERTIES ('skip.header.line.count'='1')",
    )
    .await?;
    let workers = start_workers_with(2, Some(aws(&server))).await?;
    let mut cluster = open_cluster_with(wh, &workers, None, Some(aws(&server))).await?;
    for sql in [
        "SELECT state, count(*), round(sum(income), 2) FROM p GROUP BY state ORDER BY state",
        "SELECT count(*), count(name), sum(id) FROM t",
        "SELECT p.state, count(*) FROM p JOIN t ON p.id = t.id GROUP BY p.state ORDER BY 1",
    ] {
        let mut single = open_s3(wh, &server).await?;
        run(&mut single, NO_DYNAMIC_FILTERS).await?;
        let (expected, one) = run(&mut single, sql).await?;
        let (got, stats) = run(&mut cluster, sql).await?;
        assert_eq!(got, expected, "{sql}");
        assert_eq!(stats.bytes_scanned, one.bytes_scanned, "{sql}");
        assert_eq!(stats.workers.len(), 2, "{sql}: {stats:?}");
    }
    // A partitioned CTAS into the bucket: the workers write to S3 with their own settings.
    let ctas = "CREATE TABLE by_state WITH (format = 'PARQUET', partitioned_by = ARRAY['state'], \
                external_location = 's3://lake/out/by_state/') AS SELECT id, income, state FROM p";
    let (_, stats) = run(&mut cluster, ctas).await?;
    // The in-process server's files can be counted on disk (moto's cannot).
    let data = match server.local_path("lake", "out/by_state") {
        Some(dir) => tarn_fixtures::s3::walk(&dir)?
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
            .count() as u64,
        None => stats.files_written.iter().map(|(_, n)| n).sum(),
    };
    written_by_workers(&stats, &workers, data);
    let sql = "SELECT state, count(*), round(sum(income), 2) FROM by_state GROUP BY 1 ORDER BY 1";
    let (got, _) = run(&mut cluster, sql).await?;
    let (expected, _) = run(&mut single, &sql.replace("by_state", "p")).await?;
    assert_eq!(got, expected);
    Ok(())
}
