//! `tarn demo`: the case study on this machine. Generates a consumer-header delivery (gzip, pipe-delimited CSV
//! parts), registers it with the same script a user would run, and measures the case study's queries: result, time,
//! bytes scanned and what Athena would have billed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use comfy_table::{Cell, CellAlignment, Table};
use tarn_engine::{QueryStats, Session, SessionOptions, format_bytes, format_dollars, split_statements};

use tarn_fixtures::consumer_header::{COLUMN_COUNT, write_parts};

use crate::output::render_table;
use crate::script::substitute;

/// The case study's scripts, run as a user would run them.
const SCRIPTS: [(&str, Option<&str>, &str); 4] = [
    (
        "01_raw_table.sql",
        None,
        include_str!("../../queries/consumer_header/01_raw_table.sql"),
    ),
    (
        "03_parquet.sql",
        Some("consumer_2020_03_all_cols_parquet"),
        include_str!("../../queries/consumer_header/03_parquet.sql"),
    ),
    (
        "04_parquet_state_buckets.sql",
        Some("consumer_2020_03_parquet_state_buckets"),
        include_str!("../../queries/consumer_header/04_parquet_state_buckets.sql"),
    ),
    (
        "07_parquet_state_partitions.sql",
        Some("consumer_2020_03_parquet_by_state"),
        include_str!("../../queries/consumer_header/07_parquet_state_partitions.sql"),
    ),
];

/// The layouts the queries run on: label and table.
const LAYOUTS: [(&str, &str); 4] = [
    ("gzip CSV", "consumer_raw"),
    ("Parquet", "consumer_2020_03_all_cols_parquet"),
    ("Parquet, partitioned by state", "consumer_2020_03_parquet_by_state"),
    ("Parquet, 60 state buckets", "consumer_2020_03_parquet_state_buckets"),
];
const DATABASE: &str = "sf-digital-transformation";
const SEED: u64 = 202_003;
/// Marks a folder of generated data, so a re-run reuses it and tarn never writes into a folder of someone else's.
const MARKER: &str = "_tarn_demo.json";

pub struct DemoOptions {
    pub rows: usize,
    pub parts: usize,
    pub dir: PathBuf,
}

/// The measured queries: what the case study asked, and the SQL (`{table}` is each layout's table).
const QUERIES: [(&str, &str); 3] = [
    (
        "count all rows",
        "SELECT count(HouseholdID) FROM \"sf-digital-transformation\".\"{table}\"",
    ),
    (
        "count one state",
        "SELECT count(PersonID) FROM \"sf-digital-transformation\".\"{table}\" WHERE state = 'CA'",
    ),
    (
        "8 columns, one state",
        "SELECT count(DISTINCT HouseholdID) AS households, count(PersonID) AS people, count(FirstName) AS first, \
         count(LastName) AS last, count(HouseNumber) AS house, count(StreetName) AS street, count(City) AS city, \
         count(ZipCode) AS zip FROM \"sf-digital-transformation\".\"{table}\" WHERE state = 'CA'",
    ),
];

pub async fn run(options: DemoOptions) -> Result<(), String> {
    let intake = options.dir.join("intake");
    let warehouse = options.dir.join("warehouse");
    prepare_data(&intake, options.rows, options.parts)?;

    let mut session = Session::open(SessionOptions {
        warehouse: warehouse.display().to_string(),
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let tables = options.dir.join("tables");
    let vars: BTreeMap<String, String> = [
        ("location", format!("{}/", absolute(&intake)?.display())),
        ("parquet_location", format!("{}/parquet/", absolute(&tables)?.display())),
        ("buckets_location", format!("{}/buckets/", absolute(&tables)?.display())),
        (
            "partitions_location",
            format!("{}/by-state/", absolute(&tables)?.display()),
        ),
        ("database", DATABASE.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (name, creates, text) in SCRIPTS {
        if let Some(table) = creates
            && session
                .catalog()
                .get_table(DATABASE, table)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
        {
            eprintln!("reusing table {DATABASE}.{table}");
            continue;
        }
        let script = substitute(text, &vars).map_err(|(_, m)| format!("{name}: {m}"))?;
        for statement in split_statements(&script).map_err(|e| e.to_string())? {
            let result = session
                .execute(&statement.text)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let message = result.message().map(str::to_string);
            let (_, stats) = result.collect().await.map_err(|e| format!("{name}: {e}"))?;
            if let Some(m) = message {
                eprintln!("{m} · {:.2} s", stats.elapsed.as_secs_f64());
            }
        }
    }

    let mut measured: Vec<(&str, &str, String, QueryStats)> = Vec::new();
    for (label, template) in QUERIES {
        for (layout, table) in LAYOUTS {
            let sql = template.replace("{table}", table);
            let result = session.execute(&sql).await.map_err(|e| e.to_string())?;
            let schema = result.schema();
            let (batches, stats) = result.collect().await.map_err(|e| e.to_string())?;
            if layout == LAYOUTS[0].0 {
                println!("\n-- {label}\n{sql};");
                println!("{}", render_table(&schema, &batches).map_err(|e| e.to_string())?);
            }
            let first = batches
                .first()
                .filter(|b| b.num_rows() > 0)
                .and_then(|b| datafusion::arrow::util::display::array_value_to_string(b.column(0), 0).ok())
                .unwrap_or_default();
            let summary = if stats.rows == 1 {
                first
            } else {
                format!("{} rows", stats.rows)
            };
            measured.push((layout, label, summary, stats));
        }
    }

    let mut table = Table::new();
    table.load_preset("||--+-++|    ++++++");
    table.set_header(["format", "query", "result", "time", "scanned", "Athena would bill"]);
    for (layout, label, summary, stats) in &measured {
        table.add_row([
            Cell::new(layout),
            Cell::new(label),
            Cell::new(summary).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.2} s", stats.elapsed.as_secs_f64())).set_alignment(CellAlignment::Right),
            Cell::new(format_bytes(stats.bytes_scanned)).set_alignment(CellAlignment::Right),
            Cell::new(stats.bill.map(|b| format_dollars(b.dollars)).unwrap_or_default())
                .set_alignment(CellAlignment::Right),
        ]);
    }
    println!("\nThe case study on {} rows:\n{table}", options.rows);
    println!(
        "Over gzip CSV every query reads every byte, whatever it asks. Parquet reads only the columns a query names; \
         the bucketed table reads, for one state, only that state's bucket file. Athena bills those bytes, at least \
         10 MB a query.\n"
    );
    println!("Explore the tables the demo made in the shell (Tab completes tables and columns, \\? lists commands):");
    println!("  tarn --warehouse {} -d {DATABASE}", warehouse.display());
    println!("or run one query:");
    println!(
        "  tarn --warehouse {} -d {DATABASE} -c 'SELECT state, count(*) FROM consumer_raw GROUP BY 1 ORDER BY 2 DESC'",
        warehouse.display()
    );
    let _ = std::io::stdout().flush();
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Generates the delivery into `intake`, or reuses a previous demo's. Refuses a folder that holds anything else.
fn prepare_data(intake: &Path, rows: usize, parts: usize) -> Result<(), String> {
    let parts = parts.clamp(1, rows.max(1));
    let marker = format!("{{\"rows\": {rows}, \"parts\": {parts}, \"columns\": {COLUMN_COUNT}, \"seed\": {SEED}}}\n");
    let marker_path = intake.join(MARKER);
    if intake.exists() {
        match std::fs::read_to_string(&marker_path) {
            Ok(existing) if existing == marker => {
                eprintln!("reusing the demo data in {}", intake.display());
                return Ok(());
            }
            Ok(_) => {
                return Err(format!(
                    "{} holds demo data of another size; remove it or choose another --dir",
                    intake.display()
                ));
            }
            Err(_) => {
                return Err(format!(
                    "{} exists and was not written by tarn demo; choose another --dir (tarn never overwrites data \
                     it did not write)",
                    intake.display()
                ));
            }
        }
    }
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let files = write_parts(intake, rows as u64, parts as u64, SEED, threads)
        .map_err(|e| format!("cannot write demo data to {}: {e}", intake.display()))?;
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    std::fs::write(&marker_path, marker).map_err(|e| format!("{}: {e}", marker_path.display()))?;
    eprintln!(
        "generated {rows} rows x {COLUMN_COUNT} columns in {parts} gzip parts ({}) in {:.1} s under {}",
        format_bytes(bytes),
        started.elapsed().as_secs_f64(),
        intake.display()
    );
    Ok(())
}
