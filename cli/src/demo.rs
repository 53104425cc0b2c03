//! `tarn demo`: the case study on this machine. Generates a consumer-header delivery (gzip, pipe-delimited CSV
//! parts), registers it with the same script a user would run, and measures the case study's queries: result, time,
//! bytes scanned and what Athena would have billed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use comfy_table::{Cell, CellAlignment, Table};
use tarn_engine::{QueryStats, Session, SessionOptions, format_bytes, format_dollars, split_statements};

use crate::output::render_table;
use crate::script::substitute;

const RAW_TABLE_SQL: &str = include_str!("../../queries/consumer_header/01_raw_table.sql");
const DATABASE: &str = "sf-digital-transformation";
const SEED: u64 = 202_003;
/// Marks a folder of generated data, so a re-run reuses it and tarn never writes into a folder of someone else's.
const MARKER: &str = "_tarn_demo.json";

pub struct DemoOptions {
    pub rows: usize,
    pub parts: usize,
    pub dir: PathBuf,
}

/// The measured queries: what the case study asked, and the SQL.
const QUERIES: [(&str, &str); 3] = [
    (
        "count all rows",
        "SELECT count(HouseholdID) FROM \"sf-digital-transformation\".\"consumer_raw\"",
    ),
    (
        "count one state",
        "SELECT count(*) FROM \"sf-digital-transformation\".\"consumer_raw\" WHERE state = 'CA'",
    ),
    (
        "top states by income",
        "SELECT state, count(*) AS people, round(avg(income), 2) AS avg_income \
         FROM \"sf-digital-transformation\".\"consumer_raw\" GROUP BY state ORDER BY people DESC LIMIT 5",
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
    let vars: BTreeMap<String, String> = [
        ("location".to_string(), format!("{}/", absolute(&intake)?.display())),
        ("database".to_string(), DATABASE.to_string()),
    ]
    .into();
    let script = substitute(RAW_TABLE_SQL, &vars).map_err(|(_, m)| m)?;
    for statement in split_statements(&script).map_err(|e| e.to_string())? {
        let result = session.execute(&statement.text).await.map_err(|e| e.to_string())?;
        let message = result.message().map(str::to_string);
        result.collect().await.map_err(|e| e.to_string())?;
        if let Some(m) = message {
            eprintln!("{m}");
        }
    }

    let mut measured: Vec<(&str, String, QueryStats)> = Vec::new();
    for (label, sql) in QUERIES {
        println!("\n-- {label}\n{sql};");
        let result = session.execute(sql).await.map_err(|e| e.to_string())?;
        let schema = result.schema();
        let (batches, stats) = result.collect().await.map_err(|e| e.to_string())?;
        let table = render_table(&schema, &batches).map_err(|e| e.to_string())?;
        println!("{table}");
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
        measured.push((label, summary, stats));
    }

    let mut table = Table::new();
    table.load_preset("||--+-++|    ++++++");
    table.set_header(["format", "query", "result", "time", "scanned", "Athena would bill"]);
    for (label, summary, stats) in &measured {
        table.add_row([
            Cell::new("gzip CSV"),
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
        "Every query over gzip CSV reads every byte, whatever it asks; that is what Athena bills. Parquet, \
         partitioned, bucketed and Delta rows join this table as tarn learns to write them (CTAS).\n"
    );
    println!("Explore the tables the demo made:");
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
    let parts = parts.max(1);
    let rows_per_part = rows.div_ceil(parts);
    let marker = format!("{{\"rows_per_part\": {rows_per_part}, \"parts\": {parts}, \"seed\": {SEED}}}\n");
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
    let files = tarn_fixtures::data::write_consumer_csv_gz(intake, parts, rows_per_part, SEED)
        .map_err(|e| format!("cannot write demo data to {}: {e}", intake.display()))?;
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    std::fs::write(&marker_path, marker).map_err(|e| format!("{}: {e}", marker_path.display()))?;
    eprintln!(
        "generated {} rows in {parts} gzip parts ({}) in {:.1} s under {}",
        rows_per_part * parts,
        format_bytes(bytes),
        started.elapsed().as_secs_f64(),
        intake.display()
    );
    Ok(())
}
