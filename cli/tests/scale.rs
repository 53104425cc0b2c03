//! A CTAS into thousands of partitions in bounded memory: TPC-H lineitem-like rows partitioned by ship date, the
//! standard case that makes writers with one open file per partition run out of memory. Its own test binary, so
//! the peak RSS of child processes measured here is tarn's alone.

use std::io::Write;
use std::process::{Command, Stdio};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Dates from 1992-01-02 to 1998-12-01, as in TPC-H: 2,526 ship dates.
const DATES: i64 = 2_526;
/// The budget the README documents: 1 GiB query pool, 256 MiB of row groups, 64 uploads of 5 MiB, plus the runtime.
const PEAK_RSS_BUDGET: u64 = 2 << 30;

#[test]
fn ctas_into_2526_partitions_stays_under_the_memory_budget() -> TestResult {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("lineitem");
    std::fs::create_dir_all(&source)?;
    let start = chrono::NaiveDate::from_ymd_opt(1992, 1, 2).ok_or("date")?;
    let rows: i64 = 400_000;
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(source.join("lineitem.tbl.gz"))?,
        flate2::Compression::fast(),
    );
    for i in 0..rows {
        let date = start + chrono::Duration::days(i * 7_919 % DATES);
        writeln!(
            gz,
            "{}|{}|{}|{}.{:02}|{}|carefully final deposits detect slyly {i}|{date}",
            i / 4,
            i * 31 % 200_000,
            1 + i % 50,
            900 + i % 100_000,
            i % 100,
            ["A", "N", "R"][(i % 3) as usize]
        )?;
    }
    gz.finish()?;
    let warehouse = dir.path().join("warehouse");
    let tarn = |sql: &str| -> TestResult<std::process::Output> {
        Ok(Command::new(env!("CARGO_BIN_EXE_tarn"))
            .arg("--warehouse")
            .arg(&warehouse)
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()?)
    };
    let out = tarn(&format!(
        "CREATE EXTERNAL TABLE lineitem (l_orderkey bigint, l_partkey bigint, l_quantity int, \
         l_extendedprice double, l_returnflag string, l_comment string, l_shipdate date) \
         ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' LOCATION '{}/'",
        source.display()
    ))?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let target = dir.path().join("by_shipdate");
    let out = tarn(&format!(
        "CREATE TABLE lineitem_by_day WITH (format='PARQUET', parquet_compression='SNAPPY', \
         external_location='{}', partitioned_by=ARRAY['l_shipdate']) AS \
         SELECT l_orderkey, l_partkey, l_quantity, l_extendedprice, l_returnflag, l_comment, l_shipdate FROM lineitem",
        target.display()
    ))?;
    let peak = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?.max_rss() as u64 * 1024;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{rows} rows in {DATES} files")) && stderr.contains(&format!("{DATES} partitions")),
        "{stderr}"
    );
    eprintln!("peak RSS of the 2,526-partition CTAS: {} MiB", peak >> 20);
    assert!(peak < PEAK_RSS_BUDGET, "peak RSS {} MiB", peak >> 20);

    // One file per partition, all in their folders.
    let folders = std::fs::read_dir(&target)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("l_shipdate="))
        .count();
    assert_eq!(folders as i64, DATES);
    let out =
        tarn("SELECT count(*), count(DISTINCT l_shipdate) FROM lineitem_by_day WHERE l_shipdate >= DATE '1995-01-01'")?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}
