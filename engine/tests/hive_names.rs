//! Partition folder names are Hive's, exactly: tarn reads the escaped folders pyarrow and DuckDB write (which is
//! what Hive, Spark and Trino write too), and pyarrow and DuckDB read the values tarn wrote, locally and on S3
//! (s3s-fs in-process, moto_server with TARN_TEST_S3=moto).

mod common;

use std::process::Command;

use common::*;
use tarn_fixtures::s3::S3Server;

/// Values that need escaping in a folder name (`/ = % : # ?`), one that only looks dangerous (`..`), a space,
/// non-ASCII text, the empty string and NULL.
const VALUES: [Option<&str>; 12] = [
    Some("a/b"),
    Some("c=d"),
    Some("100%"),
    Some("10:00"),
    Some("#1"),
    Some("why?"),
    Some("two words"),
    Some(".."),
    Some("naïve ünïcødé"),
    Some("2024-01-01 10:00:00"),
    Some(""),
    None,
];

/// The folder Hive's `FileUtils.escapePathName` makes for each of [`VALUES`], in order.
const HIVE_FOLDERS: [&str; 12] = [
    "p=a%2Fb",
    "p=c%3Dd",
    "p=100%25",
    "p=10%3A00",
    "p=%231",
    "p=why%3F",
    "p=two words",
    "p=..",
    "p=naïve ünïcødé",
    "p=2024-01-01 10%3A00%3A00",
    "p=__HIVE_DEFAULT_PARTITION__",
    "p=__HIVE_DEFAULT_PARTITION__",
];

/// Runs `script` with the reference readers; `None` (the check is skipped) only outside CI.
fn python(script: &str) -> TestResult<Option<String>> {
    let Some(python) = reference_python() else {
        if std::env::var("CI").is_ok() {
            return Err("CI needs pyarrow and DuckDB's httpfs extension: run .ci/run, which installs them".into());
        }
        eprintln!("skipping: no Python with pyarrow and duckdb-extension-httpfs (see .ci/run)");
        return Ok(None);
    };
    let out = Command::new(python).arg("-c").arg(script).output()?;
    if !out.status.success() {
        return Err(format!("python failed: {}\n{script}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(Some(String::from_utf8(out.stdout)?.trim().to_string()))
}

/// Python that sets `fs` (a pyarrow file system) and `con` (DuckDB) up for local paths or the test S3 server.
fn prelude(server: Option<&S3Server>) -> String {
    let mut script = String::from(
        "import json, os, duckdb, duckdb_extension_httpfs\n\
         import pyarrow as pa, pyarrow.dataset as ds, pyarrow.fs as pafs\n\
         ext = os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__), 'extensions', 'v' + duckdb.__version__, 'httpfs.duckdb_extension')\n\
         con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n\
         con.execute('SET enable_progress_bar = false')\n",
    );
    match server {
        None => script.push_str("fs = pafs.LocalFileSystem()\n"),
        Some(server) => {
            let endpoint = server.endpoint();
            let host = endpoint.trim_start_matches("http://");
            script.push_str(&format!(
                "fs = pafs.S3FileSystem(access_key='{key}', secret_key='{secret}', region='{region}', \
                 endpoint_override='{host}', scheme='http')\n\
                 con.execute(f\"LOAD '{{ext}}'\")\n\
                 con.execute(\"CREATE SECRET (TYPE s3, KEY_ID '{key}', SECRET '{secret}', REGION '{region}', \
                 ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)\")\n",
                key = tarn_fixtures::s3::ACCESS_KEY,
                secret = tarn_fixtures::s3::SECRET_KEY,
                region = tarn_fixtures::s3::REGION,
            ));
        }
    }
    script
}

fn values_json() -> String {
    let values: Vec<String> = VALUES
        .iter()
        .map(|v| match v {
            Some(v) => format!("\"{v}\""),
            None => "null".into(),
        })
        .collect();
    format!("[{}]", values.join(", "))
}

/// Rows `(x, p)` as tarn prints them: x numbers the values from 1.
fn expected_rows(empty_string_reads: &str) -> Vec<Vec<String>> {
    VALUES
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = match v {
                Some("") => empty_string_reads.to_string(),
                Some(v) => v.to_string(),
                None => "NULL".into(),
            };
            vec![(i + 1).to_string(), p]
        })
        .collect()
}

/// `[[x, p], ...]` from the reference readers' JSON, sorted by x, NULL as tarn prints it.
fn parse_rows(json: &str) -> TestResult<Vec<Vec<String>>> {
    let rows: Vec<(i64, Option<String>)> = serde_json::from_str(json)?;
    let mut rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(x, p)| vec![x.to_string(), p.unwrap_or_else(|| "NULL".into())])
        .collect();
    rows.sort_by_key(|r| r[0].parse::<i64>().unwrap_or_default());
    Ok(rows)
}

/// Both ways, in one store: tarn reads what pyarrow and DuckDB wrote, and they read what tarn wrote.
/// `root` is a local folder or `s3://bucket/prefix` (no trailing slash); `base` is where Python writes it.
async fn round_trip(root: &str, server: Option<&S3Server>, warehouse: &str) -> TestResult {
    let mut s = match server {
        Some(server) => open_s3(warehouse, server).await?,
        None => open(warehouse).await?,
    };
    // pyarrow's S3 writes fail on moto's multipart answers, so on S3 both write to a local folder, which is uploaded
    // object by object under the names they chose: the names are what this is about.
    let staging = tempdir()?;
    let write_root = match server {
        Some(_) => staging.path().display().to_string(),
        None => root.to_string(),
    };
    let write = format!(
        "{prelude}values = json.loads('{values}')\n\
         t = pa.table({{'x': list(range(1, len(values) + 1)), 'p': values}})\n\
         ds.write_dataset(t, '{write_root}/by_pyarrow', format='parquet', partitioning=['p'], partitioning_flavor='hive')\n\
         con.execute(\"CREATE TABLE t AS SELECT * FROM (SELECT unnest(range(1, {n} + 1)) AS x, unnest(?::VARCHAR[]) AS p)\", [values])\n\
         con.execute(\"COPY t TO '{write_root}/by_duckdb' (FORMAT parquet, PARTITION_BY (p))\")\n\
         print('written')\n",
        prelude = prelude(None),
        values = values_json(),
        n = VALUES.len(),
    );
    if python(&write)?.is_none() {
        return Ok(());
    }
    // pyarrow's S3 paths are `bucket/key`; DuckDB takes the s3:// URL.
    let py_root = root.trim_start_matches("s3://");
    let (bucket, key) = py_root.split_once('/').unwrap_or((py_root, ""));
    if let Some(server) = server {
        server.upload_dir(staging.path(), bucket, key)?;
    }
    for writer in ["by_pyarrow", "by_duckdb"] {
        run(
            &mut s,
            &format!("CREATE EXTERNAL TABLE {writer} (x bigint) PARTITIONED BY (p string) STORED AS PARQUET LOCATION '{root}/{writer}/'"),
        )
        .await?;
        let (rows, _) = run(&mut s, &format!("SELECT x, p FROM {writer} ORDER BY x")).await?;
        // pyarrow and DuckDB write '' as the folder `p=`, which reads back as ''.
        assert_eq!(rows, expected_rows(""), "tarn reading {writer}'s folders");
        // Partition pruning decodes the folder names too: each escaped value finds its one row.
        for (i, value) in VALUES.iter().enumerate() {
            let Some(value) = value else { continue };
            let (rows, _) = run(
                &mut s,
                &format!("SELECT x FROM {writer} WHERE p = '{}'", value.replace('\'', "''")),
            )
            .await?;
            assert_eq!(rows, [[(i + 1).to_string()]], "{writer}: p = '{value}'");
        }
    }

    // tarn writes Hive's names, which the other readers decode to the same values tarn reads.
    let values_sql: Vec<String> = VALUES
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(v) => format!("({}, '{}')", i + 1, v.replace('\'', "''")),
            None => format!("({}, CAST(NULL AS varchar))", i + 1),
        })
        .collect();
    run(
        &mut s,
        &format!(
            "CREATE TABLE by_tarn WITH (external_location = '{root}/by_tarn/', partitioned_by = ARRAY['p']) AS \
             SELECT * FROM (VALUES {}) AS t(x, p)",
            values_sql.join(", ")
        ),
    )
    .await?;
    // Hive writes '' and NULL to its default partition, so both read back as NULL, in every engine.
    let (ours, _) = run(&mut s, "SELECT x, p FROM by_tarn ORDER BY x").await?;
    assert_eq!(ours, expected_rows("NULL"));
    // s3s-fs lists keys unencoded even when asked for `encoding-type=url`, which DuckDB then decodes (`%23` into a
    // `#` that names no object); there DuckDB reads the objects where the server keeps them, under the same names.
    let duckdb_root = match server.and_then(|s| s.local_path(bucket, key)) {
        Some(path) => path.display().to_string(),
        None => root.to_string(),
    };
    let read = format!(
        "{prelude}base = '{py_root}/by_tarn'\n\
         found = fs.get_file_info(pafs.FileSelector(base, recursive=True))\n\
         files = [i.path for i in found if i.type == pafs.FileType.File and '/_' not in i.path[len(base):]]\n\
         t = ds.dataset(files, format='parquet', partitioning='hive', partition_base_dir=base, filesystem=fs).to_table()\n\
         folders = sorted({{f[len(base) + 1:].split('/')[0] for f in files}})\n\
         duck = con.execute(\"SELECT x, p FROM read_parquet('{duckdb_root}/by_tarn/*/*.parquet', hive_partitioning = true)\").fetchall()\n\
         print(json.dumps([list(zip(t['x'].to_pylist(), t['p'].to_pylist())), duck, folders]))\n",
        prelude = prelude(server),
    );
    let Some(out) = python(&read)? else {
        return Ok(());
    };
    let (pyarrow, duckdb, folders): (serde_json::Value, serde_json::Value, Vec<String>) = serde_json::from_str(&out)?;
    assert_eq!(
        parse_rows(&pyarrow.to_string())?,
        ours,
        "pyarrow reading tarn's folders"
    );
    assert_eq!(parse_rows(&duckdb.to_string())?, ours, "DuckDB reading tarn's folders");
    let mut expected: Vec<String> = HIVE_FOLDERS.iter().map(|f| f.to_string()).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(folders, expected, "tarn's folder names are Hive's escapePathName");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hive_escaped_folders_round_trip_locally() -> TestResult {
    let dir = tempdir()?;
    let root = dir.path().join("lake");
    std::fs::create_dir_all(&root)?;
    let warehouse = dir.path().join("wh");
    round_trip(&root.display().to_string(), None, &warehouse.display().to_string()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hive_escaped_folders_round_trip_on_s3() -> TestResult {
    let server = S3Server::start()?;
    server.create_bucket("lake")?;
    round_trip("s3://lake/hive", Some(&server), "s3://lake/warehouse/").await
}

/// A local folder named with a `%` escape is that folder, read back under the same name: the name is neither
/// decoded (a `%2F` is not a `/`) nor escaped a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_folder_names_with_escapes_are_taken_literally() -> TestResult {
    let dir = tempdir()?;
    let table = dir.path().join("odd%20name").join("dt=2024-01-01%2010%3A00");
    write_parquet(&table.join("part-0.parquet"), 10, 10, 1)?;
    let mut s = open(&dir.path().join("wh").display().to_string()).await?;
    let location = dir_url(&dir.path().join("odd%20name"));
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE t (id bigint) PARTITIONED BY (dt string) STORED AS PARQUET LOCATION '{location}'"
        ),
    )
    .await?;
    assert_eq!(
        scalar(&mut s, "SELECT count(*) FROM t WHERE dt = '2024-01-01 10:00'").await?,
        "10"
    );
    let (partitions, _) = run(&mut s, "SHOW PARTITIONS t").await?;
    assert_eq!(partitions, [["dt=2024-01-01 10:00"]]);
    // A file:// URL of the same folder means the same folder.
    run(
        &mut s,
        &format!(
            "CREATE EXTERNAL TABLE u (id bigint) STORED AS PARQUET LOCATION 'file://{}'",
            table.display()
        ),
    )
    .await?;
    assert_eq!(scalar(&mut s, "SELECT count(*) FROM u").await?, "10");
    Ok(())
}

/// A partition value too long for a folder name is refused with the value and column, and the write leaves
/// nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_value_too_long_for_a_folder_name_is_named() -> TestResult {
    let dir = tempdir()?;
    let mut s = open(&dir.path().join("wh").display().to_string()).await?;
    let out = dir.path().join("out");
    let long = "x".repeat(300);
    let err = s
        .execute(&format!(
            "CREATE TABLE t WITH (external_location = '{}', partitioned_by = ARRAY['code']) AS \
             SELECT * FROM (VALUES (1, 'short'), (2, '{long}')) AS v(id, code)",
            dir_url(&out)
        ))
        .await
        .err()
        .ok_or("a 300-character partition value cannot be a folder name")?;
    let message = err.to_string();
    assert!(
        message
            .contains("partition value 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' (300 characters) of column 'code'")
            && message.contains("305 bytes long, over the 255 bytes a local file system allows"),
        "{message}"
    );
    let left: Vec<_> = tarn_fixtures::s3::walk(&out).unwrap_or_default();
    assert!(left.is_empty(), "files left behind: {left:?}");
    assert!(s.execute("SELECT * FROM t").await.is_err(), "no table was registered");
    Ok(())
}
