//! `tarn ingest`: files under a source prefix loaded into a table exactly once, moved to processed/ or to an error
//! prefix with their reason; locally and on a real S3 server on 127.0.0.1.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use tarn_engine::Session;
use tarn_engine::ingest::{AfterLoad, IngestOptions, NewColumns};
use tarn_fixtures::s3::S3Server;

/// `files` JSON-lines files of `rows` rows each under `dir/<dt=…>/`, ids numbered from `first`: (rows, sum of ids).
fn write_events(dir: &Path, files: usize, rows: usize, first: u64) -> TestResult<(u64, u64)> {
    let (mut count, mut sum) = (0u64, 0u64);
    for f in 0..files {
        let day = format!("dt=2024-01-{:02}", 1 + f % 3);
        let folder = dir.join(&day);
        std::fs::create_dir_all(&folder)?;
        let mut text = String::new();
        for r in 0..rows {
            let id = first + (f * rows + r) as u64;
            text.push_str(&format!(
                "{{\"id\": {id}, \"name\": \"user {id}\", \"amount\": {}.5}}\n",
                id % 100
            ));
            count += 1;
            sum += id;
        }
        std::fs::write(folder.join(format!("events-{first}-{f:04}.json")), text)?;
    }
    Ok((count, sum))
}

async fn events_table(s: &mut Session, location: &str) -> TestResult {
    run(
        s,
        &format!(
            "CREATE EXTERNAL TABLE events (id bigint, name string, amount double) PARTITIONED BY (dt string) \
             STORED AS PARQUET LOCATION '{location}'"
        ),
    )
    .await?;
    Ok(())
}

fn options(source: &str, processed: Option<&str>, errors: Option<&str>) -> IngestOptions {
    let mut o = IngestOptions::new(source, "events");
    o.after = processed.map_or(AfterLoad::Keep, |p| AfterLoad::Move(p.to_string()));
    o.errors = errors.map(str::to_string);
    o.batch_files = 15;
    o.settle = Duration::ZERO;
    o
}

fn files_in(dir: &Path) -> TestResult<Vec<String>> {
    let mut names: Vec<String> = tarn_fixtures::s3::walk(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.strip_prefix(dir).ok().map(|p| p.display().to_string()))
        .collect();
    names.sort();
    Ok(names)
}

/// A thousand small JSON files, as Firehose delivers them, become a few Parquet files per partition: one batch,
/// at most one file per partition from each of the write's streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_small_files_become_a_few_parquet_files_per_partition() -> TestResult {
    let dir = tempdir()?;
    let incoming = dir.path().join("landing/incoming");
    let (rows, sum) = write_events(&incoming, 1000, 3, 0)?;
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    events_table(&mut s, &dir_url(&dir.path().join("lake/events"))).await?;
    let mut o = options(&dir_url(&incoming), None, None);
    o.batch_files = 1000;
    let report = s.ingest(&o).await?;
    assert_eq!(
        (report.files(), report.rows(), report.batches.len()),
        (1000, rows, 1),
        "{report:?}"
    );
    assert_eq!(
        run(&mut s, "SELECT count(*), sum(id), count(DISTINCT dt) FROM events")
            .await?
            .0,
        [[rows.to_string(), sum.to_string(), "3".to_string()]]
    );
    let streams = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let written = visible_files(&dir.path().join("lake/events"))?;
    assert!(
        !written.is_empty() && written.len() <= 3 * streams,
        "3 partitions, {streams} streams: {} files {written:?}",
        written.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_load_once_move_to_processed_and_bad_ones_to_errors_with_reasons() -> TestResult {
    let dir = tempdir()?;
    let incoming = dir.path().join("landing/incoming");
    let (rows, sum) = write_events(&incoming, 40, 25, 0)?;
    // A gzip name over bytes that are not gzip, and a JSON file whose id is not a number.
    std::fs::write(incoming.join("dt=2024-01-01/broken.json.gz"), b"not gzip at all")?;
    std::fs::write(
        incoming.join("dt=2024-01-02/wrong-type.json"),
        "{\"id\": \"seven\", \"name\": \"x\", \"amount\": 1.0}\n",
    )?;
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    events_table(&mut s, &dir_url(&dir.path().join("lake/events"))).await?;
    let (processed, errors) = (dir.path().join("landing/processed"), dir.path().join("landing/error"));
    let o = options(&dir_url(&incoming), Some(&dir_url(&processed)), Some(&dir_url(&errors)));

    let report = s.ingest(&o).await?;
    assert_eq!(report.files(), 40, "{report:?}");
    assert_eq!(report.rows(), rows);
    assert_eq!(
        report.batches.len(),
        3,
        "40 good files (+2 bad) in batches of 15: {report:?}"
    );
    let mut failed: Vec<(String, String)> = report
        .failed
        .iter()
        .map(|f| {
            (
                f.url.rsplit('/').next().unwrap_or_default().to_string(),
                f.reason.clone(),
            )
        })
        .collect();
    failed.sort();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, "broken.json.gz");
    assert_eq!(failed[1].0, "wrong-type.json");
    assert!(
        failed[1].1.contains("seven") || failed[1].1.contains("id"),
        "{}",
        failed[1].1
    );

    assert_eq!(
        run(&mut s, "SELECT count(*), sum(id), count(DISTINCT dt) FROM events")
            .await?
            .0,
        [[rows.to_string(), sum.to_string(), "3".to_string()]]
    );
    assert!(files_in(&incoming)?.is_empty(), "{:?}", files_in(&incoming)?);
    // 40 small files make at most one Parquet file per partition per batch, not one per source file.
    let written = visible_files(&dir.path().join("lake/events"))?;
    assert!(written.len() <= 3 * 3, "{written:?}");
    assert_eq!(files_in(&processed)?.len(), 40);
    assert!(files_in(&processed)?.contains(&"dt=2024-01-03/events-0-0002.json".to_string()));
    assert_eq!(
        files_in(&errors)?,
        [
            "dt=2024-01-01/broken.json.gz",
            "dt=2024-01-01/broken.json.gz.error.txt",
            "dt=2024-01-02/wrong-type.json",
            "dt=2024-01-02/wrong-type.json.error.txt"
        ]
    );
    let reason = std::fs::read_to_string(errors.join("dt=2024-01-01/broken.json.gz.error.txt"))?;
    assert!(reason.contains("broken.json.gz"), "{reason}");

    // A rerun finds nothing new; files that land later are loaded.
    let own = s.ingest(&options(&dir_url(&dir.path().join("lake")), None, None)).await;
    assert!(
        own.as_ref()
            .is_err_and(|e| e.to_string().contains("holds the table's own files")),
        "{own:?}"
    );
    let again = s.ingest(&o).await?;
    assert_eq!((again.files(), again.failed.len()), (0, 0), "{again:?}");
    let (more, more_sum) = write_events(&incoming, 5, 10, 100_000)?;
    let third = s.ingest(&o).await?;
    assert_eq!(third.rows(), more);
    assert_eq!(
        scalar(&mut s, "SELECT sum(id) FROM events").await?,
        (sum + more_sum).to_string()
    );
    // The same bytes delivered again under their name are not loaded again; other bytes under it are.
    let name = "dt=2024-01-03/events-0-0002.json";
    std::fs::copy(processed.join(name), incoming.join(name))?;
    let resent = s.ingest(&o).await?;
    assert_eq!((resent.files(), resent.already_loaded), (0, 1), "{resent:?}");
    assert!(files_in(&incoming)?.is_empty(), "{:?}", files_in(&incoming)?);
    std::fs::write(
        incoming.join(name),
        "{\"id\": 7000000, \"name\": \"fix\", \"amount\": 2.5}\n",
    )?;
    let corrected = s.ingest(&o).await?;
    assert_eq!((corrected.files(), corrected.rows()), (1, 1), "{corrected:?}");
    assert_eq!(
        scalar(&mut s, "SELECT sum(id) FROM events").await?,
        (sum + more_sum + 7_000_000).to_string()
    );
    let (history, _) = run(&mut s, "SHOW LOADS events").await?;
    assert_eq!(history.len(), 40 + 2 + 5 + 1, "one row per file version: {history:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingesters_on_one_source_load_each_file_once() -> TestResult {
    let dir = tempdir()?;
    let incoming = dir.path().join("incoming");
    let (rows, sum) = write_events(&incoming, 60, 20, 0)?;
    let wh = dir_url(&dir.path().join("wh"));
    let mut s = open(&wh).await?;
    events_table(&mut s, &dir_url(&dir.path().join("lake/events"))).await?;
    let mut o = options(&dir_url(&incoming), None, None);
    o.batch_files = 7;
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (wh, o) = (wh.clone(), o.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = open(&wh).await.map_err(|e| e.to_string())?;
            let mut loaded = 0;
            // Each keeps going until nothing is left: files the other holds are waited for.
            loop {
                let r = s.ingest(&o).await.map_err(|e| e.to_string())?;
                loaded += r.files();
                if r.files() == 0 && r.waiting == 0 {
                    return Ok::<usize, String>(loaded);
                }
            }
        }));
    }
    let mut loaded = 0;
    for t in tasks {
        loaded += t.await??;
    }
    assert_eq!(loaded, 60, "every file loaded by exactly one of the two");
    assert_eq!(
        run(&mut s, "SELECT count(*), sum(id), count(DISTINCT id) FROM events")
            .await?
            .0,
        [[rows.to_string(), sum.to_string(), rows.to_string()]]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_loader_died_is_aborted_and_its_files_loaded_again() -> TestResult {
    let dir = tempdir()?;
    let incoming = dir.path().join("incoming");
    let (rows, _) = write_events(&incoming, 4, 10, 0)?;
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    events_table(&mut s, &dir_url(&dir.path().join("lake/events"))).await?;
    let log = claim_by_dead_loader(&s, "events", &incoming, usize::MAX).await?;
    let report = s.ingest(&options(&dir_url(&incoming), None, None)).await?;
    assert_eq!((report.files(), report.batches[0].number), (4, 2), "{report:?}");
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM events").await?, rows.to_string());
    let first = log.batch(1).await?.ok_or("no batch 1")?;
    assert!(
        matches!(first.outcome, Some(tarn_catalog::LoadOutcome::Aborted { .. })),
        "{:?}",
        first.outcome
    );
    Ok(())
}

/// Claims (as batch 1) the first `count` files under `incoming` for a process of this host that is not running (a
/// pid far above pid_max's default), as a loader killed after its claim leaves them; returns the table's history.
async fn claim_by_dead_loader(
    s: &Session,
    table: &str,
    incoming: &Path,
    count: usize,
) -> TestResult<tarn_catalog::LoadLog> {
    let table = s.catalog().get_table("default", table).await?.ok_or("no table")?;
    let log = s.catalog().load_log(&table);
    let mut files = Vec::new();
    let store = object_store::local::LocalFileSystem::new();
    let source = tarn_engine::storage::Location::parse(&dir_url(incoming))?;
    let mut paths = tarn_fixtures::s3::walk(incoming)?;
    paths.sort();
    for path in paths.into_iter().take(count) {
        let meta =
            object_store::ObjectStoreExt::head(&store, &object_store::path::Path::from_absolute_path(&path)?).await?;
        let known = Default::default();
        let file = tarn_engine::ingest::source_file(&store, &source, &meta, &known).await?;
        files.push(file.ok_or("a file listed is gone")?);
    }
    let claim = tarn_catalog::Claim {
        files,
        source: dir_url(incoming),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim().to_string(),
        pid: 4_000_000,
        process_start: Some(1),
        claimed_at: chrono::Utc::now(),
    };
    assert!(log.claim(1, &claim).await?);
    Ok(log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_table_gets_one_commit_per_batch_and_a_dead_loaders_batch_is_fenced() -> TestResult {
    let dir = tempdir()?;
    let incoming = dir.path().join("incoming");
    let (rows, sum) = write_events(&incoming, 20, 10, 0)?;
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    run(
        &mut s,
        &format!(
            "CREATE TABLE events WITH (table_type = 'DELTA', location = '{}', partitioned_by = ARRAY['dt']) AS \
             SELECT CAST(0 AS bigint) AS id, 'x' AS name, 0.5 AS amount, '2024-01-01' AS dt WHERE false",
            dir_url(&dir.path().join("lake/events"))
        ),
    )
    .await?;
    let log = claim_by_dead_loader(&s, "events", &incoming, 4).await?;
    let processed = dir.path().join("processed");
    let mut o = options(&dir_url(&incoming), Some(&dir_url(&processed)), None);
    o.batch_files = 8;
    let report = s.ingest(&o).await?;
    let numbers: Vec<u64> = report.batches.iter().map(|b| b.number).collect();
    assert_eq!((report.files(), numbers), (20, vec![2, 3, 4]), "{report:?}");
    assert_eq!(
        run(&mut s, "SELECT count(*), sum(id), count(DISTINCT dt) FROM events")
            .await?
            .0,
        [[rows.to_string(), sum.to_string(), "3".to_string()]]
    );
    let first = log.batch(1).await?.ok_or("no batch 1")?;
    assert!(
        matches!(first.outcome, Some(tarn_catalog::LoadOutcome::Aborted { .. })),
        "{:?}",
        first.outcome
    );
    // Version 0 creates the table, 1 fences the dead loader's batch (no files), 2-4 are the three batches.
    let (history, _) = run(&mut s, "DESCRIBE HISTORY events").await?;
    assert_eq!(history.len(), 5, "{history:?}");
    let again = s.ingest(&o).await?;
    assert_eq!((again.files(), again.batches.len()), (0, 0), "{again:?}");
    assert_eq!(run(&mut s, "DESCRIBE HISTORY events").await?.0.len(), 5);

    // A new key becomes a column of the Delta table in the batch's own commit.
    std::fs::write(
        incoming.join("late.json"),
        "{\"id\": 1000, \"name\": \"n\", \"amount\": 1.0, \"dt\": \"2024-02-01\", \"country\": \"NZ\"}\n",
    )?;
    o.new_columns = NewColumns::Add;
    let added = s.ingest(&o).await?;
    assert_eq!((added.rows(), added.added_columns.len()), (1, 1), "{added:?}");
    assert_eq!(
        run(&mut s, "SELECT id, country, dt FROM events WHERE country IS NOT NULL")
            .await?
            .0,
        [["1000", "NZ", "2024-02-01"]]
    );
    assert_eq!(run(&mut s, "DESCRIBE HISTORY events").await?.0.len(), 6);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_columns_fail_the_file_or_are_added_by_option() -> TestResult {
    let dir = tempdir()?;
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming)?;
    std::fs::write(
        incoming.join("a.json"),
        "{\"id\": 1, \"name\": \"a\", \"amount\": 1.5, \"country\": \"NZ\"}\n",
    )?;
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    events_table(&mut s, &dir_url(&dir.path().join("lake/events"))).await?;
    let mut o = options(&dir_url(&incoming), None, None);
    let refused = s.ingest(&o).await?;
    assert_eq!(refused.files(), 0);
    assert!(
        refused.failed[0].reason.contains("country") && refused.failed[0].reason.contains("--new-columns add"),
        "{:?}",
        refused.failed
    );
    // The failure is recorded: the same file is not tried again; a new version of it is.
    assert_eq!(s.ingest(&o).await?.failed.len(), 0);
    o.new_columns = NewColumns::Add;
    std::fs::write(
        incoming.join("a.json"),
        "{\"id\": 1, \"name\": \"a\", \"amount\": 1.5, \"country\": \"NZ\"}\n{\"id\": 2}\n",
    )?;
    let added = s.ingest(&o).await?;
    assert_eq!((added.files(), added.rows()), (1, 2), "{added:?}");
    assert_eq!(added.added_columns, ["country string"]);
    assert_eq!(
        run(&mut s, "SELECT id, country FROM events ORDER BY id").await?.0,
        [["1", "NZ"], ["2", "NULL"]]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_on_s3_moves_objects_and_keeps_the_history_in_the_warehouse() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("landing")?;
    server.create_bucket("lake")?;
    let data = tempdir()?;
    let (rows, sum) = write_events(data.path(), 12, 30, 0)?;
    server.upload_dir(data.path(), "landing", "incoming/events")?;
    server.put_object(
        "landing",
        "incoming/events/dt=2024-01-01/bad.json",
        b"{\"id\": [1, 2]}\n",
    )?;
    let mut s = open_s3("s3://lake/wh/", &server).await?;
    events_table(&mut s, "s3://lake/events/").await?;
    let o = options(
        "s3://landing/incoming/events/",
        Some("s3://landing/processed/events/"),
        Some("s3://landing/error/events/"),
    );
    let report = s.ingest(&o).await?;
    assert_eq!((report.files(), report.failed.len()), (12, 1), "{report:?}");
    assert_eq!(
        run(&mut s, "SELECT count(*), sum(id) FROM events").await?.0,
        [[rows.to_string(), sum.to_string()]]
    );
    // moto keeps its objects in memory: the files are checked where s3s-fs keeps them.
    if let (Some(moved), Some(reason)) = (
        server.local_path("landing", "processed/events/dt=2024-01-02/events-0-0001.json"),
        server.local_path("landing", "error/events/dt=2024-01-01/bad.json.error.txt"),
    ) {
        assert!(moved.exists(), "{}", moved.display());
        assert!(reason.exists(), "{}", reason.display());
    }
    // Another session (another machine) sees the history: the same bytes uploaded again are not loaded again, and
    // other bytes under a name loaded before are a new version.
    let mut other = open_s3("s3://lake/wh/", &server).await?;
    let changed = data.path().join("dt=2024-01-02/events-0-0001.json");
    std::fs::write(&changed, "{\"id\": 1000000, \"name\": \"late\", \"amount\": 1.5}\n")?;
    server.upload_dir(data.path(), "landing", "incoming/events")?;
    let again = other.ingest(&o).await?;
    assert_eq!(
        (again.files(), again.rows(), again.already_loaded),
        (1, 1, 11),
        "{again:?}"
    );
    let loaded = [[(rows + 1).to_string(), (sum + 1_000_000).to_string()]];
    assert_eq!(run(&mut other, "SELECT count(*), sum(id) FROM events").await?.0, loaded);
    // Compaction on S3: records with create-if-absent puts, the replaced objects deleted after the grace.
    let done = message(&mut other, "OPTIMIZE events").await?;
    // One file per partition from the first load, and the corrected file's in one of them.
    assert!(
        done.contains("2 files rewritten into 1 file in 1 folder of 3 (121 rows)"),
        "{done}"
    );
    assert_eq!(run(&mut s, "SELECT count(*), sum(id) FROM events").await?.0, loaded);
    run(&mut other, "SET tarn.optimize.grace = '0s'").await?;
    run(&mut other, "OPTIMIZE events").await?;
    assert_eq!(run(&mut s, "SELECT count(*), sum(id) FROM events").await?.0, loaded);
    if let Some(lake) = server.local_path("lake", "events") {
        assert_eq!(visible_files(&lake)?.len(), 3, "{:?}", visible_files(&lake)?);
    }
    Ok(())
}

/// The message a statement answers with.
async fn message(s: &mut Session, sql: &str) -> TestResult<String> {
    let result = s.execute(sql).await?;
    Ok(result.message().unwrap_or_default().to_string())
}

/// The visible data files under `dir` (what other engines read), by folder.
fn visible_files(dir: &Path) -> TestResult<Vec<String>> {
    Ok(files_in(dir)?
        .into_iter()
        .filter(|f| !f.split('/').any(|part| part.starts_with('_') || part.starts_with('.')))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_compacts_a_hive_table_while_a_reader_never_sees_a_wrong_count() -> TestResult {
    let dir = tempdir()?;
    let incoming = dir.path().join("incoming");
    let (rows, sum) = write_events(&incoming, 60, 5, 0)?;
    let wh = dir_url(&dir.path().join("wh"));
    let lake = dir.path().join("lake/events");
    let mut s = open(&wh).await?;
    events_table(&mut s, &dir_url(&lake)).await?;
    // One batch per source file: a stream of small files, one Parquet file each.
    let mut o = options(&dir_url(&incoming), None, None);
    o.batch_files = 1;
    assert_eq!(s.ingest(&o).await?.batches.len(), 60);
    assert_eq!(visible_files(&lake)?.len(), 60);
    let expected = [rows.to_string(), sum.to_string()];

    // Another session (another process) counts in a loop while the table is compacted.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (wh, stop, expected) = (wh.clone(), stop.clone(), expected.clone());
        tokio::spawn(async move {
            let mut r = open(&wh).await.map_err(|e| e.to_string())?;
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads < 3 {
                let (got, _) = run(&mut r, "SELECT count(*), sum(id) FROM events")
                    .await
                    .map_err(|e| e.to_string())?;
                if got != [expected.clone()] {
                    return Err(format!("read {got:?} after {reads} right reads, expected {expected:?}"));
                }
                reads += 1;
            }
            Ok::<_, String>(reads)
        })
    };
    let done = message(&mut s, "OPTIMIZE events").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await??;
    assert!(reads >= 3, "{reads}");
    assert!(
        done.contains("60 files rewritten into 3 files in 3 folders of 3"),
        "{done}"
    );
    assert_eq!(run(&mut s, "SELECT count(*), sum(id) FROM events").await?.0, [expected]);
    // Within the grace the replaced files stay for queries that listed them; another OPTIMIZE leaves them.
    assert_eq!(visible_files(&lake)?.len(), 63);
    let kept = message(&mut s, "OPTIMIZE events").await?;
    assert!(kept.contains("kept for running queries until"), "{kept}");
    // Rows that land meanwhile are in no compaction record: visible at once.
    run(&mut s, "INSERT INTO events VALUES (1000000, 'late', 1.5, '2024-01-01')").await?;
    assert_eq!(
        run(&mut s, "SELECT count(*), sum(id) FROM events").await?.0,
        [[(rows + 1).to_string(), (sum + 1_000_000).to_string()]]
    );
    // After the grace: the replaced files go, and the partition with the new row is compacted again.
    run(&mut s, "SET tarn.optimize.grace = '0s'").await?;
    let again = message(&mut s, "OPTIMIZE events WHERE dt = '2024-01-01'").await?;
    assert!(
        again.contains("2 files rewritten into 1 file in 1 folder of 1"),
        "{again}"
    );
    run(&mut s, "OPTIMIZE events").await?;
    let left = visible_files(&lake)?;
    assert_eq!(
        left.len(),
        3,
        "one file per partition, as any engine lists them: {left:?}"
    );
    assert_eq!(
        run(&mut s, "SELECT count(*), sum(id), count(DISTINCT dt) FROM events")
            .await?
            .0,
        [[(rows + 1).to_string(), (sum + 1_000_000).to_string(), "3".to_string()]]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_that_died_before_its_swap_is_invisible_and_cleared() -> TestResult {
    let dir = tempdir()?;
    let lake = dir.path().join("lake/events");
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    events_table(&mut s, &dir_url(&lake)).await?;
    for id in 1..=3 {
        run(
            &mut s,
            &format!("INSERT INTO events VALUES ({id}, 'x', 1.0, '2024-01-01')"),
        )
        .await?;
    }
    let folder = lake.join("dt=2024-01-01");
    let mut names = visible_files(&folder)?;
    names.sort();
    // What a compaction killed after renaming its new file into place leaves: a `writing` record naming it.
    let record = serde_json::json!({
        "seq": 1, "query_id": "20240101_000000_00000_dead0", "phase": "writing",
        "replaced": [names[0], names[1]], "written": [names[2]], "at": "2024-01-01T00:00:00Z"
    });
    std::fs::create_dir_all(folder.join("_tarn_compaction"))?;
    std::fs::write(
        folder.join("_tarn_compaction/00000000000000000001.json"),
        serde_json::to_vec(&record)?,
    )?;
    assert_eq!(
        scalar(&mut s, "SELECT sum(id) FROM events").await?,
        "3",
        "the new file is skipped"
    );
    // Past the grace the compaction counts as dead: its file goes, and the rest is compacted.
    run(&mut s, "SET tarn.optimize.grace = '1m'").await?;
    run(&mut s, "OPTIMIZE events").await?;
    assert!(!folder.join(&names[2]).exists());
    assert_eq!(scalar(&mut s, "SELECT sum(id) FROM events").await?, "3");
    run(&mut s, "SET tarn.optimize.grace = '0s'").await?;
    run(&mut s, "OPTIMIZE events").await?;
    assert_eq!(visible_files(&folder)?.len(), 1);
    assert_eq!(
        run(&mut s, "SELECT count(*), sum(id) FROM events").await?.0,
        [["2", "3"]]
    );
    // A record that is not one stops the query, naming it, rather than reading a guess.
    std::fs::write(folder.join("_tarn_compaction/00000000000000000099.json"), "{not json")?;
    let error = run(&mut s, "SELECT count(*) FROM events")
        .await
        .err()
        .map(|e| e.to_string());
    let error = error.unwrap_or_default();
    assert!(
        error.contains("00000000000000000099.json") && error.contains("not a compaction record"),
        "{error}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_keeps_a_bucketed_table_one_file_per_bucket() -> TestResult {
    let dir = tempdir()?;
    let lake = dir.path().join("lake/b");
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    run(
        &mut s,
        &format!(
            "CREATE TABLE b WITH (external_location = '{}', bucketed_by = ARRAY['id'], bucket_count = 4) AS \
             SELECT CAST(value AS bigint) AS id, 'x' AS name FROM range(40)",
            dir_url(&lake)
        ),
    )
    .await?;
    for k in 1..=3 {
        run(
            &mut s,
            &format!(
                "INSERT INTO b SELECT CAST(value + {} AS bigint), 'y' FROM range(40)",
                k * 100
            ),
        )
        .await?;
    }
    assert_eq!(visible_files(&lake)?.len(), 16, "4 writes of 4 buckets");
    run(&mut s, "SET tarn.optimize.grace = '0s'").await?;
    let done = message(&mut s, "OPTIMIZE b").await?;
    assert!(done.contains("16 files rewritten into 4 files"), "{done}");
    run(&mut s, "OPTIMIZE b").await?;
    let mut left = visible_files(&lake)?;
    left.sort();
    let buckets: Vec<&str> = left.iter().map(|f| &f[..6]).collect();
    assert_eq!(buckets, ["000000", "000001", "000002", "000003"], "{left:?}");
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM b").await?, "160");
    // Bucket pruning reads one file per id: a row in the wrong bucket's file would not be found.
    for id in [0, 7, 39, 100, 121, 139, 205, 301, 339] {
        assert_eq!(
            scalar(&mut s, &format!("SELECT count(*) FROM b WHERE id = {id}")).await?,
            "1",
            "id {id}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_folders_give_the_partition_of_firehose_keys() -> TestResult {
    let dir = tempdir()?;
    let incoming = dir.path().join("incoming");
    for (key, id) in [
        ("2024/01/26/13/a.json", 1),
        ("2024/02/01/00/b.json", 2),
        ("misc/c.json", 3),
    ] {
        let path = incoming.join(key);
        std::fs::create_dir_all(path.parent().ok_or("no folder")?)?;
        std::fs::write(path, format!("{{\"id\": {id}, \"name\": \"n\", \"amount\": 1.0}}\n"))?;
    }
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    events_table(&mut s, &dir_url(&dir.path().join("lake/events"))).await?;
    let mut o = options(&dir_url(&incoming), None, None);
    o.date_folders = Some("day".into());
    let wrong = s.ingest(&o).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        wrong.contains("--date-folders day: default.events has no partition key day (its keys: dt)"),
        "{wrong}"
    );
    o.date_folders = Some("dt".into());
    let report = s.ingest(&o).await?;
    assert_eq!((report.files(), report.failed.len()), (2, 1), "{report:?}");
    assert!(
        report.failed[0].reason.contains("has no YYYY/MM/DD/ folders"),
        "{report:?}"
    );
    assert_eq!(
        run(&mut s, "SELECT dt, id FROM events ORDER BY dt").await?.0,
        [["2024-01-26", "1"], ["2024-02-01", "2"]]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_compacts_partitions_whose_folder_names_are_escaped() -> TestResult {
    let dir = tempdir()?;
    let lake = dir.path().join("lake/t");
    let mut s = open(&dir_url(&dir.path().join("wh"))).await?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE t (id bigint) PARTITIONED BY (at string) STORED AS PARQUET LOCATION '{}'",
            dir_url(&lake)
        ),
    )
    .await?;
    for id in 1..=2 {
        run(&mut s, &format!("INSERT INTO t VALUES ({id}, '2024-01-01 10:00')")).await?;
    }
    assert_eq!(visible_files(&lake.join("at=2024-01-01 10%3A00"))?.len(), 2);
    run(&mut s, "SET tarn.optimize.grace = '0s'").await?;
    let done = message(&mut s, "OPTIMIZE t WHERE at = '2024-01-01 10:00'").await?;
    assert!(
        done.contains("2 files rewritten into 1 file in 1 folder of 1"),
        "{done}"
    );
    run(&mut s, "OPTIMIZE t").await?;
    assert_eq!(visible_files(&lake.join("at=2024-01-01 10%3A00"))?.len(), 1);
    assert_eq!(
        run(&mut s, "SELECT at, sum(id) FROM t GROUP BY at").await?.0,
        [["2024-01-01 10:00", "3"]]
    );
    // A partition registered elsewhere is left alone: INSERT would not write where its readers look.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere)?;
    run(
        &mut s,
        &format!(
            "ALTER TABLE t ADD PARTITION (at = 'x') LOCATION '{}'",
            dir_url(&elsewhere)
        ),
    )
    .await?;
    let left = message(&mut s, "OPTIMIZE t").await?;
    assert!(
        left.contains("elsewhere/: its partition is registered at a location of its own"),
        "{left}"
    );
    Ok(())
}
