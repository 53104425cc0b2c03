//! Plans that survive the wire: every scan shape tarn makes, encoded on one session with tarn's codec and decoded on
//! another (as a worker would), prints the same plan, reads the same rows and counts the same bytes. DataFusion
//! 55.2's own encoding of a file scan has no compression field (apache/datafusion#24180: a gzip scan decodes as
//! uncompressed) and no column adapter; these tests fail if tarn's codec stops carrying them.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use common::*;
use datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use tarn_engine::Session;
use tarn_engine::arrow::array::{Int64Array, RecordBatch, StringArray};
use tarn_engine::arrow::datatypes::{DataType, Field, Schema};
use tarn_engine::wire::{decode_plan, encode_plan};

fn plan_text(plan: &Arc<dyn ExecutionPlan>) -> String {
    displayable(plan.as_ref()).indent(true).to_string()
}

/// Plans `sql` on `coordinator`, runs it there and, through the wire, on `worker`: the same plan text, rows and
/// bytes scanned (each run counts into a meter of its own). Returns the rows.
async fn round_trip(coordinator: &mut Session, worker: &Session, sql: &str) -> TestResult<Vec<Vec<String>>> {
    let here = coordinator.plan_query(sql).await?;
    let shipped = coordinator.plan_query(sql).await?;
    let bytes = encode_plan(Arc::clone(&shipped.plan))?;
    let (task, meter) = worker.worker_context();
    let decoded = decode_plan(&bytes, &task)?;
    assert_eq!(plan_text(&decoded), plan_text(&here.plan), "{sql}");
    let expected = rows(&collect(Arc::clone(&here.plan), Arc::clone(&here.task)).await?)?;
    let got = rows(&collect(decoded, task).await?)?;
    assert_eq!(got, expected, "{sql}");
    assert!(here.meter.bytes() > 0, "{sql} read nothing");
    assert_eq!(meter.bytes(), here.meter.bytes(), "bytes scanned by {sql}");
    assert_eq!(meter.text_notes(), here.meter.text_notes(), "{sql}");
    Ok(got)
}

/// The error of running `sql` on `worker` through the wire, and the error of running it on `coordinator`.
async fn errors(coordinator: &mut Session, worker: &Session, sql: &str) -> TestResult<(String, String)> {
    let here = coordinator.plan_query(sql).await?;
    let here = collect(here.plan, here.task)
        .await
        .err()
        .ok_or("the query should fail")?;
    let shipped = coordinator.plan_query(sql).await?;
    let (task, _) = worker.worker_context();
    let decoded = decode_plan(&encode_plan(shipped.plan)?, &task)?;
    let there = collect(decoded, task)
        .await
        .err()
        .ok_or("the query should fail there too")?;
    Ok((there.to_string(), here.to_string()))
}

async fn sessions(dir: &Path) -> TestResult<(Session, Session)> {
    let warehouse = dir.join("wh").display().to_string();
    Ok((open(&warehouse).await?, open(&warehouse).await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_scans_keep_filters_partitions_buckets_and_column_case() -> TestResult {
    let dir = tempdir()?;
    let (mut s, worker) = sessions(dir.path()).await?;
    // Planning reads the footers for the planner's statistics, and counts them, on the side that plans; the bytes
    // compared here are the scan's own, on both sides.
    run(&mut s, "SET datafusion.execution.collect_statistics = false").await?;

    // Spark's and pandas' spelling in the file, the table's in the catalog: the adapter must come through.
    let schema = Arc::new(Schema::new(vec![
        Field::new("HouseholdID", DataType::Int64, true),
        Field::new("State", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(StringArray::from(vec!["CA", "TX", "CA", "NY"])),
        ],
    )?;
    write_batch(&dir.path().join("mixed/part-0.parquet"), &batch)?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE mixed (householdid bigint, state string) STORED AS PARQUET LOCATION '{}'",
            dir_url(&dir.path().join("mixed"))
        ),
    )
    .await?;
    assert_eq!(
        round_trip(
            &mut s,
            &worker,
            "SELECT householdid, state FROM mixed WHERE householdid > 1 ORDER BY 1"
        )
        .await?,
        [["2", "TX"], ["3", "CA"], ["4", "NY"]]
    );

    // Hive partitions, one of them NULL, pruned by a filter on the partition column.
    let parted = dir.path().join("parted");
    write_parquet(&parted.join("dt=2024-01-01/a.parquet"), 10, 10, 1)?;
    write_parquet(&parted.join("dt=2024-01-02/a.parquet"), 20, 10, 2)?;
    write_parquet(&parted.join("dt=__HIVE_DEFAULT_PARTITION__/a.parquet"), 5, 10, 3)?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE parted (id bigint, state string, income double) PARTITIONED BY (dt string) \
             STORED AS PARQUET LOCATION '{}'",
            dir_url(&parted)
        ),
    )
    .await?;
    assert_eq!(
        round_trip(
            &mut s,
            &worker,
            "SELECT dt, count(*) FROM parted WHERE dt IS NULL OR dt = '2024-01-02' GROUP BY dt ORDER BY dt"
        )
        .await?,
        [["2024-01-02", "20"], ["NULL", "5"]]
    );

    // A bucketed table read for one key: bucket pruning's file list is what travels.
    run(
        &mut s,
        &format!(
            "CREATE TABLE buckets WITH (external_location = '{}', bucketed_by = ARRAY['k'], bucket_count = 4) AS \
             SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e'), (6, 'f')) AS v(k, v)",
            dir_url(&dir.path().join("buckets"))
        ),
    )
    .await?;
    let one_key = "SELECT k, v FROM buckets WHERE k = 3";
    let planned = s.plan_query(one_key).await?;
    assert!(
        plan_text(&planned.plan).contains("file_groups={1 group"),
        "{}",
        plan_text(&planned.plan)
    );
    assert_eq!(round_trip(&mut s, &worker, one_key).await?, [["3", "c"]]);

    // Joins and aggregates over both, with a Trino function (found by name in the worker's registry).
    assert_eq!(
        round_trip(
            &mut s,
            &worker,
            "SELECT m.state, count(*), regexp_replace(m.state, '[AC]', 'x') FROM mixed m JOIN parted p \
             ON p.id = m.householdid WHERE p.dt = '2024-01-01' GROUP BY m.state ORDER BY 1"
        )
        .await?,
        [["CA", "2", "xx"], ["NY", "1", "NY"], ["TX", "1", "TX"]]
    );
    Ok(())
}

/// One folder of the same rows in every codec Athena reads, each file named by its codec.
fn write_codecs(dir: &Path) -> TestResult {
    std::fs::create_dir_all(dir)?;
    let text = |first: i64| format!("id|name\n{first}|n{first}\n{}|\\N\n", first + 1);
    std::fs::write(dir.join("a.csv"), text(1))?;
    tarn_fixtures::data::write_gzip(&dir.join("b.csv.gz"), &text(3))?;
    let mut bz = bzip2::write::BzEncoder::new(
        std::fs::File::create(dir.join("c.csv.bz2"))?,
        bzip2::Compression::default(),
    );
    bz.write_all(text(5).as_bytes())?;
    bz.finish()?;
    std::fs::write(dir.join("d.csv.zst"), zstd::encode_all(text(7).as_bytes(), 3)?)?;
    let mut xz = liblzma::write::XzEncoder::new(std::fs::File::create(dir.join("e.csv.xz"))?, 6);
    xz.write_all(text(9).as_bytes())?;
    xz.finish()?;
    Ok(())
}

/// The table over [`write_codecs`]' folder at `location`: `|`-delimited, a header line, `\N` NULL.
async fn codecs_table(s: &mut Session, location: &str) -> TestResult {
    run(
        s,
        &format!(
            "CREATE EXTERNAL TABLE codecs (id bigint, name string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
             LOCATION '{location}' TBLPROPERTIES ('skip.header.line.count'='1')"
        ),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_scans_keep_codecs_serde_rules_and_error_locations() -> TestResult {
    let dir = tempdir()?;
    let (mut s, worker) = sessions(dir.path()).await?;
    let codecs = dir.path().join("codecs");
    write_codecs(&codecs)?;
    codecs_table(&mut s, &dir_url(&codecs)).await?;
    // Every codec decoded (the #24180 trap would read the compressed files as garbage or fail), the header skipped
    // in each file, `\N` NULL.
    assert_eq!(
        round_trip(&mut s, &worker, "SELECT count(*), count(name), sum(id) FROM codecs").await?,
        [["10", "5", "55"]]
    );
    assert_eq!(
        round_trip(
            &mut s,
            &worker,
            "SELECT id, name FROM codecs WHERE id IN (3, 4, 10) ORDER BY id"
        )
        .await?,
        [["3", "n3"], ["4", "NULL"], ["10", "NULL"]]
    );

    // OpenCSVSerde: quoted fields with the delimiter inside, no NULL marker.
    let quoted = dir.path().join("quoted");
    std::fs::create_dir_all(&quoted)?;
    std::fs::write(quoted.join("a.csv"), "id,name\n1,\"ann, jr\"\n2,\\N\n")?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE quoted (id bigint, name string) ROW FORMAT SERDE \
             'org.apache.hadoop.hive.serde2.OpenCSVSerde' LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(&quoted)
        ),
    )
    .await?;
    assert_eq!(
        round_trip(&mut s, &worker, "SELECT id, name FROM quoted ORDER BY id").await?,
        [["1", "ann, jr"], ["2", "\\N"]]
    );

    // JSON lines, gzip.
    let json = dir.path().join("json");
    tarn_fixtures::data::write_gzip(
        &json.join("events.json.gz"),
        "{\"id\": 1, \"kind\": \"click\"}\n{\"id\": 2, \"kind\": \"view\"}\n",
    )?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE events (id bigint, kind string) ROW FORMAT SERDE \
             'org.openx.data.jsonserde.JsonSerDe' LOCATION '{}'",
            dir_url(&json)
        ),
    )
    .await?;
    assert_eq!(
        round_trip(&mut s, &worker, "SELECT kind FROM events WHERE id = 2").await?,
        [["view"]]
    );

    // A value that is not of its column's type: read as NULL and noted with its file and line on both sides (the
    // round trip compares the notes), and in strict mode the same error, naming the file and line. The setting the
    // query was planned under holds wherever it runs, whatever the runner's session says.
    let bad = dir.path().join("bad");
    tarn_fixtures::data::write_gzip(&bad.join("a.csv.gz"), "id|amount\n1|10\n2|abc\n")?;
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE bad (id bigint, amount bigint) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
             LOCATION '{}' TBLPROPERTIES ('skip.header.line.count'='1')",
            dir_url(&bad)
        ),
    )
    .await?;
    let mut strict_worker = open(&dir.path().join("wh").display().to_string()).await?;
    run(&mut strict_worker, "SET tarn.text.strict = true").await?;
    for runner in [&worker, &strict_worker] {
        assert_eq!(
            round_trip(&mut s, runner, "SELECT id, amount FROM bad ORDER BY id").await?,
            [["1", "10"], ["2", "NULL"]]
        );
    }
    run(&mut s, "SET tarn.text.strict = true").await?;
    let (there, here) = errors(&mut s, &worker, "SELECT amount FROM bad").await?;
    assert_eq!(there, here);
    let url = format!("file://{}/a.csv.gz:3", bad.display());
    assert!(there.contains(&url), "{there}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_a_plan_are_refused() -> TestResult {
    let dir = tempdir()?;
    let (_, worker) = sessions(dir.path()).await?;
    let (task, _) = worker.worker_context();
    let err = decode_plan(b"not a plan", &task).err().ok_or("garbage decoded")?;
    assert!(err.to_string().contains("malformed"), "{err}");
    Ok(())
}

/// delta-rs 1.1 has no codec for its scan (`DeltaScanExec`; its `DeltaPhysicalCodec` only reads the retired
/// `DeltaScan`): a Delta query cannot be sent yet, and says so instead of sending a plan that would read wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_scan_is_refused_by_name() -> TestResult {
    let dir = tempdir()?;
    let (mut s, _) = sessions(dir.path()).await?;
    run(
        &mut s,
        &format!(
            "CREATE TABLE d WITH (table_type = 'DELTA', external_location = '{}') AS \
             SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(k, v)",
            dir_url(&dir.path().join("d"))
        ),
    )
    .await?;
    let planned = s.plan_query("SELECT * FROM d WHERE k = 1").await?;
    let err = encode_plan(planned.plan).err().ok_or("a Delta scan was encoded")?;
    assert!(
        err.to_string()
            .contains("tarn cannot send a DeltaScanExec to another machine"),
        "{err}"
    );
    Ok(())
}

/// The same on S3: the runner finds the bucket's store in its own registry, and reads gzip text and Parquet as the
/// planner would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_of_s3_tables_run_on_another_session() -> TestResult {
    let server = tarn_fixtures::s3::S3Server::start()?;
    server.create_bucket("lake")?;
    let local = tempdir()?;
    write_codecs(&local.path().join("codecs"))?;
    write_parquet(&local.path().join("parquet/dt=2024-01-01/a.parquet"), 30, 10, 4)?;
    server.upload_dir(local.path(), "lake", "data")?;
    let mut s = open_s3("s3://lake/wh/", &server).await?;
    let worker = open_s3("s3://lake/wh/", &server).await?;
    codecs_table(&mut s, "s3://lake/data/codecs/").await?;
    run(
        &mut s,
        "CREATE EXTERNAL TABLE parted (id bigint, state string, income double) PARTITIONED BY (dt string) \
         STORED AS PARQUET LOCATION 's3://lake/data/parquet/'",
    )
    .await?;
    run(&mut s, "SET datafusion.execution.collect_statistics = false").await?;
    assert_eq!(
        round_trip(&mut s, &worker, "SELECT count(*), count(name), sum(id) FROM codecs").await?,
        [["10", "5", "55"]]
    );
    assert_eq!(
        round_trip(
            &mut s,
            &worker,
            "SELECT dt, count(*), min(id) FROM parted WHERE id >= 10 GROUP BY dt"
        )
        .await?,
        [["2024-01-01", "20", "10"]]
    );
    Ok(())
}

/// `plan` with every file of its scans cut into two byte ranges, as a distributed planner splits file scans.
fn split_into_ranges(plan: Arc<dyn ExecutionPlan>) -> TestResult<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
    use datafusion::datasource::source::DataSourceExec;
    Ok(plan
        .transform_down(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
                return Ok(Transformed::no(node));
            };
            let groups: Vec<FileGroup> = config
                .file_groups
                .iter()
                .flat_map(|g| g.files().to_vec())
                .flat_map(|f| {
                    let size = f.object_meta.size as i64;
                    [
                        FileGroup::new(vec![f.clone().with_range(0, size / 2)]),
                        FileGroup::new(vec![f.with_range(size / 2, size)]),
                    ]
                })
                .collect();
            let config = FileScanConfigBuilder::from(config.clone())
                .with_file_groups(groups)
                .build();
            Ok(Transformed::yes(
                Arc::new(DataSourceExec::clone(exec).with_data_source(Arc::new(config))) as _,
            ))
        })?
        .data)
}

/// A compressed text file cut into byte ranges (what datafusion-distributed does to file scans) is read once, by
/// the range that starts it: a range from the middle of a gzip stream used to fail with "unexpected end of file".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_text_cut_into_byte_ranges_is_read_once() -> TestResult {
    let dir = tempdir()?;
    let (mut s, _) = sessions(dir.path()).await?;
    let codecs = dir.path().join("codecs");
    write_codecs(&codecs)?;
    codecs_table(&mut s, &dir_url(&codecs)).await?;
    for sql in [
        "SELECT count(*), count(name), sum(id) FROM codecs",
        "SELECT id, name FROM codecs ORDER BY id",
    ] {
        let planned = s.plan_query(sql).await?;
        let whole = rows(&collect(Arc::clone(&planned.plan), Arc::clone(&planned.task)).await?)?;
        let split = split_into_ranges(planned.plan)?;
        assert!(plan_text(&split).contains("a.csv:0.."), "{}", plan_text(&split));
        assert_eq!(rows(&collect(split, planned.task).await?)?, whole, "{sql}");
    }
    Ok(())
}

/// The files a write plan reports, summed by where they are: folder, hidden or not, bucket, extension → files, rows. Not
/// file by file: which stream reads which input file is decided as the scan runs (streams take files from each
/// other), and a stream numbers its files in the order their rows come.
async fn written(
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<datafusion::execution::TaskContext>,
) -> TestResult<Vec<String>> {
    let mut by_place = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for r in rows(&collect(plan, task).await?)? {
        let (folder, name) = r[0].rsplit_once('/').unwrap_or(("", &r[0]));
        let hidden = if name.starts_with('.') { "." } else { "" };
        let extension = name.trim_start_matches('.').split_once('.').map_or("", |(_, e)| e);
        let place = format!("{folder}/{hidden}bucket={} .{extension} partition={}", r[5], r[4]);
        let entry = by_place.entry(place).or_default();
        entry.0 += 1;
        entry.1 += r[2].parse::<u64>()?;
    }
    Ok(by_place
        .into_iter()
        .map(|(place, (files, rows))| format!("{place} files={files} rows={rows}"))
        .collect())
}

/// The number of files [`written`] counted.
fn file_count(places: &[String]) -> usize {
    places
        .iter()
        .filter_map(|p| p.split(' ').find_map(|w| w.strip_prefix("files=")))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_plans_keep_their_layout_codec_buckets_and_names() -> TestResult {
    use tarn_engine::bucket::{BucketColumn, BucketVersion};
    use tarn_engine::storage::Location;
    use tarn_engine::write::exec::{WriteSpec, write_plan};
    use tarn_engine::write::props::{FileEncoding, TextCodec};
    use tarn_engine::write::{Bucketing, WriteProgress};

    let dir = tempdir()?;
    let (mut s, worker) = sessions(dir.path()).await?;
    for (i, n) in [(0, 300), (1, 200)] {
        write_parquet(&dir.path().join(format!("p/part-{i}.parquet")), n, 50, i as u64)?;
    }
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE p (id bigint, state string, income double) STORED AS PARQUET LOCATION '{}'",
            dir_url(&dir.path().join("p"))
        ),
    )
    .await?;
    let bucketing = |count: u32, version: BucketVersion| -> TestResult<Option<Bucketing>> {
        Ok(Some(Bucketing {
            columns: vec![
                BucketColumn::new("id", "bigint")?,
                BucketColumn::new("name", "varchar(10)")?,
            ],
            count,
            version,
        }))
    };
    // (query, encoding, partition columns, bucketing, hidden names, JSON keys)
    type Shape = (
        &'static str,
        FileEncoding,
        Vec<String>,
        Option<Bucketing>,
        bool,
        Option<Vec<String>>,
    );
    let shapes: Vec<Shape> = vec![
        (
            "SELECT id, income, state FROM p",
            FileEncoding::Parquet(datafusion::parquet::basic::Compression::SNAPPY),
            Vec::new(),
            None,
            false,
            None,
        ),
        (
            "SELECT id, income, state FROM p",
            FileEncoding::Text {
                delimiter: b'\x01',
                codec: TextCodec::Gzip,
            },
            vec!["state".into()],
            None,
            true,
            None,
        ),
        (
            "SELECT id, CAST(state AS varchar) AS name, income FROM p",
            FileEncoding::Parquet(datafusion::parquet::basic::Compression::ZSTD(
                datafusion::parquet::basic::ZstdLevel::try_new(7)?,
            )),
            Vec::new(),
            bucketing(8, BucketVersion::V1)?,
            false,
            None,
        ),
        (
            "SELECT id, CAST(state AS varchar) AS name, income, state FROM p",
            FileEncoding::Json(TextCodec::Zstd(5)),
            vec!["state".into()],
            bucketing(100, BucketVersion::V2)?,
            false,
            Some(vec!["Id".into(), "Name".into(), "Income".into()]),
        ),
    ];
    for (i, (sql, encoding, partition_names, bucketing, hidden, file_names)) in shapes.into_iter().enumerate() {
        let target = dir.path().join(format!("out-{i}"));
        let spec = Arc::new(WriteSpec {
            location: Location::parse(&dir_url(&target))?,
            encoding,
            partition_names,
            bucketing,
            query_id: format!("20261203_000000_0000{i}_abcde"),
            hidden,
            target_file_size: 1 << 20,
            file_names,
            record: None,
        });
        // Without keys a file is written per stream that got rows, and which streams get rows depends on how the
        // scan's streams share out its files: only the rows per place are the same from run to run.
        let keyed = !spec.partition_names.is_empty() || spec.bucketing.is_some();
        let places = |files: Vec<String>| -> Vec<String> {
            match keyed {
                true => files,
                false => files
                    .into_iter()
                    .map(|f| {
                        f.split(' ')
                            .filter(|w| !w.starts_with("files="))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect(),
            }
        };
        let planned = s.plan_query(sql).await?;
        let progress = Arc::new(WriteProgress::default());
        let plan = write_plan(planned.plan, Arc::clone(&spec), None, progress, 3)?;
        let (task, _) = worker.worker_context();
        let decoded = decode_plan(&encode_plan(Arc::clone(&plan))?, &task)?;
        assert_eq!(plan_text(&decoded), plan_text(&plan), "{sql}");
        let here = written(plan, planned.task).await?;
        let on_disk = tarn_fixtures::s3::walk(&target)?.len();
        assert_eq!(on_disk, file_count(&here), "{sql}: {here:?}");
        std::fs::remove_dir_all(&target)?;
        let there = written(decoded, task).await?;
        assert_eq!(places(there.clone()), places(here), "{sql}");
        let on_disk = tarn_fixtures::s3::walk(&target)?.len();
        assert_eq!(on_disk, file_count(&there), "{sql}: {there:?}");
        let total: u64 = there
            .iter()
            .map(|f| {
                f.split(' ')
                    .find_map(|w| w.strip_prefix("rows="))
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(total, 500, "{sql}: {there:?}");
        assert!(on_disk > 1 || !keyed, "{sql}: {there:?}");
        if i == 3 {
            // JSON lines under the table's keys, zstd-compressed.
            let file = tarn_fixtures::s3::walk(&target)?.into_iter().next().ok_or("no file")?;
            let text = String::from_utf8(zstd::decode_all(std::fs::read(&file)?.as_slice())?)?;
            assert!(text.starts_with("{\"Id\":") && text.contains("\"Name\":"), "{text}");
        }
    }

    // On a worker, each file is completed only while the write's record says it runs: a task that outlived its
    // query stops at its next file, and its uploads are aborted.
    let target = dir.path().join("guarded");
    let record = dir.path().join("guarded/_tarn_writes/q");
    std::fs::create_dir_all(&record)?;
    let spec = Arc::new(WriteSpec {
        location: Location::parse(&dir_url(&target))?,
        encoding: FileEncoding::Parquet(datafusion::parquet::basic::Compression::SNAPPY),
        partition_names: vec!["state".into()],
        bucketing: None,
        query_id: "20261203_000000_00009_abcde".into(),
        hidden: false,
        target_file_size: 1 << 20,
        file_names: None,
        record: Some(object_store::path::Path::from_filesystem_path(&record)?),
    });
    let planned = s.plan_query("SELECT id, income, state FROM p").await?;
    let plan = write_plan(planned.plan, spec, None, Arc::new(WriteProgress::default()), 3)?;
    let bytes = encode_plan(plan)?;
    for (marker, runs) in [
        (None, false),
        (Some("started.json"), true),
        (Some("aborted.json"), false),
    ] {
        if let Some(marker) = marker {
            std::fs::write(record.join(marker), "{}")?;
        }
        let _ = std::fs::remove_dir_all(target.join("state=CA"));
        let (task, _) = worker.worker_context();
        let outcome = collect(decode_plan(&bytes, &task)?, task).await;
        let data: Vec<_> = tarn_fixtures::s3::walk(&target)
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !f.starts_with(&record))
            .collect();
        match runs {
            true => assert!(outcome.is_ok() && data.len() == 4, "{marker:?}: {data:?}"),
            false => {
                let err = outcome.err().ok_or("a write without a running record completed")?;
                assert!(err.to_string().contains("was stopped by its coordinator"), "{err}");
                assert!(data.is_empty(), "{marker:?}: {data:?}");
            }
        }
        if runs {
            for file in data {
                std::fs::remove_file(file)?;
            }
        }
    }
    Ok(())
}
