//! tarn used as a hostile but realistic user would: machine-written SQL, kills and Ctrl-C during writes, bad files
//! and bad environments. Real processes, real files.

mod common;

use std::path::Path;

use common::*;

fn script(dir: &Path, name: &str, sql: &str) -> TestResult<String> {
    let path = dir.join(name);
    std::fs::write(&path, sql)?;
    Ok(path.display().to_string())
}

/// `parts` gzip parts of `rows` consumer rows each in `dir`, registered as the text table `name`.
fn consumer_table(tarn: &Tarn, name: &str, dir: &Path, parts: usize, rows: usize) -> TestResult {
    tarn_fixtures::data::write_consumer_csv_gz(dir, parts, rows, 5)?;
    let columns: Vec<String> = tarn_fixtures::data::CONSUMER_COLUMNS
        .iter()
        .zip(tarn_fixtures::data::CONSUMER_TYPES)
        .map(|(c, t)| format!("{c} {t}"))
        .collect();
    tarn.ok(&[
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE {name} ({}) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}' \
             TBLPROPERTIES ('skip.header.line.count'='1')",
            columns.join(", "),
            dir_url(dir)
        ),
    ])?;
    Ok(())
}

/// CSV output of a script that returns one value.
fn one_value(ran: &Ran) -> Option<&str> {
    let lines: Vec<&str> = ran.stdout.lines().collect();
    match lines.as_slice() {
        [_, value] => Some(value),
        _ => None,
    }
}

#[test]
fn machine_written_sql_gets_an_answer_or_a_clear_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tarn = Tarn::local(&dir.path().join("wh"));
    let or = (0..20_000).map(|i| format!("a = {i}")).collect::<Vec<_>>().join(" OR ");
    let cases = [
        (
            "or.sql",
            format!("SELECT count(*) FROM (VALUES (1), (2), (20001)) AS t(a) WHERE {or};"),
            "2",
        ),
        (
            "plus.sql",
            format!("SELECT {} AS s;", vec!["1"; 20_000].join("+")),
            "20000",
        ),
        (
            "sum.sql",
            format!(
                "SELECT sum({}) AS s FROM (VALUES (1), (2)) AS t(a);",
                vec!["a"; 20_000].join(" + ")
            ),
            "60000",
        ),
        (
            "parens.sql",
            format!("SELECT {}1{} AS x;", "(".repeat(2_000), ")".repeat(2_000)),
            "1",
        ),
    ];
    for (name, sql, expected) in cases {
        let ran = tarn.ok(&["--format", "csv", "-f", &script(dir.path(), name, &sql)?])?;
        assert_eq!(one_value(&ran), Some(expected), "{name}: {}", ran.stdout);
    }
    let too_deep = script(
        dir.path(),
        "deep.sql",
        &format!("SELECT {}1{};", "(".repeat(6_000), ")".repeat(6_000)),
    )?;
    let error = tarn.fails(&["-f", &too_deep])?;
    assert!(
        error
            .contains("deep.sql:1:1: the statement nests parentheses, subqueries or calls more than 5,000 levels deep"),
        "{error}"
    );
    Ok(())
}

/// Files under `dir` that belong to no committed write: anything in tarn's write records, hidden or staged files
/// (`.name`, `name#N`), files of a query id no table's files carry, and Parquet files no Delta log adds.
fn unreferenced_files(dir: &Path, committed_ids: &std::collections::BTreeSet<String>) -> TestResult<Vec<String>> {
    let mut found = Vec::new();
    let delta_added = delta_log_files(dir)?;
    for file in tarn_fixtures::s3::walk(dir)? {
        let relative = file.strip_prefix(dir)?.to_string_lossy().into_owned();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = query_id_in(&relative);
        let orphan = relative.contains("_tarn_writes")
            || name.starts_with('.')
            || name.contains('#')
            || match (&id, relative.contains("_delta_log")) {
                (_, true) => false,
                (Some(id), false) => !committed_ids.contains(id),
                // delta-rs names its files itself: a data file is referenced when a Delta log adds it.
                (None, false) => !delta_added.iter().any(|added| relative.ends_with(added.as_str())),
            };
        if orphan {
            found.push(relative);
        }
    }
    Ok(found)
}

/// tarn's query id in a path (`20261123_021500_00003_3f9a1`), if any.
fn query_id_in(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    (0..bytes.len().saturating_sub(26)).find_map(|i| {
        let candidate = &path[i..i + 27];
        let shape = candidate.bytes().enumerate().all(|(k, b)| match k {
            8 | 15 | 21 => b == b'_',
            22..=26 => b.is_ascii_hexdigit(),
            _ => b.is_ascii_digit(),
        });
        shape.then(|| candidate.to_string())
    })
}

/// The data files the Delta logs under `dir` add and do not remove, as paths relative to their table.
fn delta_log_files(dir: &Path) -> TestResult<Vec<String>> {
    let mut live = std::collections::BTreeSet::new();
    let mut logs: Vec<_> = tarn_fixtures::s3::walk(dir)?
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("_delta_log/") && p.extension().is_some_and(|e| e == "json"))
        .collect();
    logs.sort();
    for log in logs {
        for line in std::fs::read_to_string(&log)?.lines() {
            let action: serde_json::Value = serde_json::from_str(line)?;
            if let Some(path) = action["add"]["path"].as_str() {
                live.insert(path.to_string());
            }
            if let Some(path) = action["remove"]["path"].as_str() {
                live.remove(path);
            }
        }
    }
    Ok(live.into_iter().collect())
}

/// The query ids of the writes that committed: those in the files every registered table reads.
fn committed_ids(tarn: &Tarn, tables: &[&str]) -> TestResult<std::collections::BTreeSet<String>> {
    let mut ids = std::collections::BTreeSet::new();
    for table in tables {
        let ran = tarn.run(&[
            "--format",
            "csv",
            "-c",
            &format!("SELECT DISTINCT input_file_name() FROM {table}"),
        ])?;
        for line in ran.stdout.lines().skip(1) {
            ids.extend(query_id_in(line));
        }
        // A table's own query id, from its definition (a CTAS WITH NO DATA or of no rows has no files).
        let props = tarn.run(&[
            "--format",
            "csv",
            "-c",
            &format!("SHOW TBLPROPERTIES {table} ('tarn.query_id')"),
        ])?;
        ids.extend(props.stdout.lines().filter_map(query_id_in));
    }
    Ok(ids)
}

/// Kills (SIGKILL or SIGINT) writes at random moments and reruns them: afterwards every file under the warehouse
/// and the tables' locations belongs to a committed write, and every rerun succeeds.
#[test]
fn killed_and_cancelled_writes_leave_no_unreferenced_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let wh = dir.path().join("wh");
    let lake = dir.path().join("lake");
    let tarn = Tarn::local(&wh);
    consumer_table(&tarn, "raw", &dir.path().join("intake"), 4, 60_000)?;
    let select = "SELECT householdid, personid, income, state FROM raw";
    tarn.ok(&["-c", &format!(
        "CREATE TABLE target WITH (external_location = '{}', partitioned_by = ARRAY['state']) AS {select} WHERE false",
        dir_url(&lake.join("target"))
    )])?;
    let statements: Vec<(&str, String)> = vec![
        (
            "by_state",
            format!("CREATE TABLE by_state WITH (partitioned_by = ARRAY['state']) AS {select}"),
        ),
        (
            "outside",
            format!(
                "CREATE TABLE outside WITH (external_location = '{}', format = 'TEXTFILE', bucketed_by = ARRAY['householdid'], \
             bucket_count = 8) AS {select}",
                dir_url(&lake.join("outside"))
            ),
        ),
        ("target", format!("INSERT INTO target {select}")),
        (
            "delta",
            format!("CREATE TABLE delta WITH (table_type = 'DELTA', partitioned_by = ARRAY['state']) AS {select}"),
        ),
    ];
    let mut rng = tarn_fixtures::data::Lcg::new(42);
    let (mut kills, mut interrupts) = (0, 0);
    let mut inserted = 0u64;
    // How long each statement takes when it runs to its end (the shortest of its reruns): kills land at random
    // moments within that, whatever the machine's speed. The shortest, since a rerun slowed by other work on the
    // machine would put later kills after the statement's end.
    let mut took: Vec<Option<std::time::Duration>> = vec![None; statements.len()];
    for round in 0..24 {
        let which = round % statements.len();
        let (table, sql) = &statements[which];
        // The previous round's rerun made the table: dropping it with PURGE is how a CTAS is run again.
        if *table != "target" && tarn.run(&["-c", &format!("DESCRIBE {table}")])?.code == Some(0) {
            tarn.ok(&["-c", &format!("DROP TABLE {table} PURGE")])?;
        }
        let sigint = rng.below(3) == 0;
        let delay = took[which]
            .unwrap_or(std::time::Duration::from_millis(600))
            .mul_f64(0.05 + 0.85 * rng.below(1_000) as f64 / 1_000.0);
        let mut child = tarn
            .command()
            .args(["-c", sql])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        std::thread::sleep(delay);
        let finished_first = child.try_wait()?.is_some();
        if finished_first {
            // Too late to kill: it ran to its end.
        } else if sigint {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
        } else {
            child.kill()?;
        }
        let output = child.wait_with_output()?;
        kills += usize::from(!finished_first);
        interrupts += usize::from(!finished_first && sigint);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if sigint && !finished_first && output.status.code() != Some(0) {
            assert_eq!(output.status.code(), Some(130), "SIGINT exits 130: {stderr}");
            assert!(stderr.contains("error: cancelled"), "{stderr}");
        }
        // A write that got to its commit before the signal is a table (or rows) like any other.
        let exists = tarn.run(&["-c", &format!("DESCRIBE {table}")])?.code == Some(0);
        if *table == "target" {
            let count: u64 = tarn.value("SELECT count(*) FROM target")?.parse()?;
            assert_eq!(count % 240_000, 0, "an INSERT is all or nothing: {count}");
            inserted = count;
        } else if exists {
            tarn.ok(&["-c", &format!("DROP TABLE {table} PURGE")])?;
        }
        // The rerun succeeds.
        let started = std::time::Instant::now();
        tarn.ok(&["-c", sql])?;
        took[which] = Some(took[which].map_or(started.elapsed(), |t| t.min(started.elapsed())));
        if *table == "target" {
            inserted += 240_000;
            assert_eq!(tarn.value("SELECT count(*) FROM target")?, inserted.to_string());
        } else {
            assert_eq!(
                tarn.value(&format!("SELECT count(*) FROM {table}"))?,
                "240000",
                "{table}"
            );
        }
    }
    assert!(kills >= 20, "only {kills} of 24 writes were still running when killed");
    assert!(interrupts >= 4, "only {interrupts} Ctrl-Cs");
    let tables = ["by_state", "outside", "target", "delta"];
    let ids = committed_ids(&tarn, &tables)?;
    let mut orphans = unreferenced_files(&lake, &ids)?;
    orphans.extend(unreferenced_files(&wh.join("default.db"), &ids)?);
    assert!(orphans.is_empty(), "{} unreferenced files: {orphans:?}", orphans.len());
    // Only the current table's folder is left under the warehouse for each CTAS without a location.
    for table in ["by_state", "delta"] {
        let folders: Vec<_> = std::fs::read_dir(wh.join("default.db").join(table))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(folders.len(), 1, "{table}: {folders:?}");
    }
    Ok(())
}

/// Each error of the hostile-input battery: one `error:` line naming what and where, and exit code 1.
#[test]
fn errors_name_the_file_the_line_the_column_and_what_to_do() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tarn = Tarn::local(&dir.path().join("wh"));

    // A Parquet column of another type than declared: the file, the column, both types.
    let pq = dir.path().join("pq");
    std::fs::create_dir_all(&pq)?;
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import pyarrow as pa, pyarrow.parquet as pq\n\
             pq.write_table(pa.table({{'id': ['1', 'x'], 'v': [1, 2]}}), '{}/strings.parquet')",
            pq.display()
        ))
        .status();
    if status.is_ok_and(|s| s.success()) {
        tarn.ok(&[
            "-c",
            &format!(
                "CREATE EXTERNAL TABLE p (id bigint, v bigint) STORED AS PARQUET LOCATION '{}'",
                dir_url(&pq)
            ),
        ])?;
        assert_eq!(
            tarn.fails(&["-c", "SELECT sum(id) FROM p"])?,
            format!(
                "error: file://{}/strings.parquet: column 'id' is string in the file but bigint in the table; declare \
                 the column as string, or rewrite the file with bigint",
                pq.display()
            )
        );
    } else if std::env::var("CI").is_ok() {
        return Err("CI needs pyarrow".into());
    }

    // JSON lines: the file's line, both when the table is created (the sample) and when it is read.
    let json = dir.path().join("json");
    std::fs::create_dir_all(&json)?;
    std::fs::write(
        json.join("a.json"),
        "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"b\": \"y\"\n{\"a\": 3}\n",
    )?;
    let ddl = format!(
        "CREATE EXTERNAL TABLE j (a bigint, b string) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION '{}'",
        dir_url(&json)
    );
    let created = tarn.ok(&["-c", &ddl])?;
    assert!(created.stderr.contains("created table default.j"), "{}", created.stderr);
    let expected = format!(
        "error: file://{}/a.json:2: not valid JSON (EOF while parsing an object at column 17)",
        json.display()
    );
    assert_eq!(tarn.fails(&["-c", "SELECT * FROM j"])?, expected);
    let inferred = format!(
        "CREATE EXTERNAL TABLE j2 ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION '{}'",
        dir_url(&json)
    );
    assert_eq!(
        tarn.fails(&["-c", &inferred])?,
        format!(
            "error: file://{}/a.json:2: cannot infer the columns: not valid JSON (EOF while parsing an object at column 17)",
            json.display()
        )
    );
    std::fs::write(json.join("a.json"), "{\"a\": 1}\n{\"a\": \"two\"}\n")?;
    assert_eq!(
        tarn.fails(&["-c", "SELECT * FROM j"])?,
        format!(
            "error: file://{}/a.json:2: not a valid row of the table (whilst decoding field 'a': failed to parse \"two\" as Int64)",
            json.display()
        )
    );

    // Memory: what was over the limit and the settings that raise it, which work.
    consumer_table(&tarn, "r", &dir.path().join("rows"), 2, 40_000)?;
    let heavy = "SELECT state, cardinality(array_agg(firstname)) AS n FROM r GROUP BY state ORDER BY n DESC LIMIT 1";
    let error = tarn.fails(&["--memory-limit", "1MB", "-c", heavy])?;
    assert!(
        error.starts_with("error: out of memory: the query needs more than the memory limit of 1.00 MB (")
            && error.ends_with(
                "); raise the limit with --memory-limit SIZE, TARN_MEMORY_LIMIT=SIZE or SET tarn.memory_limit = 'SIZE', \
                 or make the query lighter"
            ),
        "{error}"
    );
    for set in [
        "SET tarn.memory_limit = '512MB'",
        "SET datafusion.runtime.memory_limit = '512MB'",
    ] {
        tarn.ok(&["--memory-limit", "1MB", "-c", &format!("{set}; {heavy}")])?;
    }

    // One damaged table document: the others are listed, and it is named.
    tarn.ok(&["-c", "CREATE EXTERNAL TABLE r2 (a string) LOCATION '/nonexistent/'"])?;
    let doc = dir
        .path()
        .join("wh/_catalog/default/tables/r2/v00000000000000000001.json");
    std::fs::write(&doc, "{ damaged")?;
    let shown = tarn.ok(&["--format", "csv", "-c", "SHOW TABLES"])?;
    assert_eq!(shown.stdout, "tab_name\nj\np\nr\n");
    assert!(
        shown.stderr.contains(&format!(
            "warning: not listed: catalog document file://{}/wh/_catalog/default/tables/r2/v00000000000000000001.json \
             is unreadable",
            dir.path().display()
        )),
        "{}",
        shown.stderr
    );
    Ok(())
}

/// A warehouse on S3 whose bucket is missing, or whose endpoint does not answer, says so in one line.
#[test]
fn an_s3_warehouse_that_cannot_be_reached_says_why() -> TestResult {
    let server = tarn_fixtures::s3::S3Server::start()?;
    let tarn = Tarn::s3("s3://no-such-bucket/wh/", &server);
    assert_eq!(
        tarn.fails(&["-c", "SHOW DATABASES"])?,
        "error: warehouse s3://no-such-bucket/wh/: the bucket does not exist (check the bucket name and AWS_ENDPOINT_URL)"
    );
    // Nothing listens on port 9 of 127.0.0.1.
    let mut down = Tarn::s3("s3://lake/wh/", &server);
    for (key, value) in down.env.iter_mut() {
        if key.starts_with("AWS_ENDPOINT_URL") {
            *value = "http://127.0.0.1:9".into();
        }
    }
    assert_eq!(
        down.fails(&["-c", "SHOW DATABASES"])?,
        "error: warehouse s3://lake/wh/: cannot reach the S3 endpoint (check AWS_ENDPOINT_URL and that the server is running)"
    );
    Ok(())
}

/// Eight processes racing to create the same table without a location: one table, and the losers' folders under
/// the warehouse are gone with their files.
#[test]
fn the_losers_of_a_ctas_race_leave_no_folders() -> TestResult {
    let dir = tempfile::tempdir()?;
    let wh = dir.path().join("wh");
    let tarn = Tarn::local(&wh);
    let ctas = "CREATE TABLE raced WITH (partitioned_by = ARRAY['p']) AS \
                SELECT value AS id, value % 3 AS p FROM range(200000) AS r(value)";
    let children: Vec<_> = (0..8)
        .map(|_| {
            tarn.command()
                .args(["-c", ctas])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let outcomes: Vec<std::process::Output> = children
        .into_iter()
        .map(|c| c.wait_with_output())
        .collect::<Result<_, _>>()?;
    let winners = outcomes.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1);
    for loser in outcomes.iter().filter(|o| !o.status.success()) {
        let stderr = String::from_utf8_lossy(&loser.stderr);
        assert!(stderr.contains("table 'default.raced' already exists"), "{stderr}");
    }
    let folders: Vec<String> = std::fs::read_dir(wh.join("default.db/raced"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders.len(), 1, "only the winner's folder: {folders:?}");
    assert_eq!(tarn.value("SELECT count(*) FROM raced")?, "200000");
    Ok(())
}
