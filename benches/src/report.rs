//! What a bench run leaves behind, the same for every bench: `results.json` (every figure), `report.md` (tables a
//! person reads: per query, totals per format or layout, writes) and `chart.svg`.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tarn_engine::{format_bytes, format_dollars};

use crate::{BenchError, Measurement, Report, median, ms};

/// What a bench says about itself in its report.
pub struct Header {
    pub title: String,
    /// One sentence: what was measured, how often.
    pub description: String,
    /// What the second column is: a format or a layout.
    pub group_label: &'static str,
    /// The run's parameters, copied into `results.json`.
    pub parameters: serde_json::Value,
}

pub fn write(out: &Path, header: &Header, report: &Report) -> Result<(), BenchError> {
    let results: Vec<_> = report
        .measurements
        .iter()
        .map(|m| {
            json!({
                header.group_label: m.format,
                "query": m.query,
                "answer": m.answer,
                "bytes_scanned": m.bytes_scanned,
                "athena_dollars": m.dollars,
                "median_ms": ms(m.median()),
                "min_ms": m.times.first().map(|t| ms(*t)),
                "max_ms": m.times.last().map(|t| ms(*t)),
                "runs": m.times.len(),
                "duckdb_median_ms": (!m.duckdb_times.is_empty()).then(|| ms(median(&m.duckdb_times))),
                "tarn_over_duckdb": m.ratio_to_duckdb(),
            })
        })
        .collect();
    let totals: Vec<_> = totals(&report.measurements)
        .iter()
        .map(|t| {
            json!({
                header.group_label: t.group,
                "queries": t.queries,
                "tarn_ms": ms(t.tarn),
                "duckdb_ms": ms(t.duckdb),
                "tarn_over_duckdb": t.ratio(),
                "geometric_mean_ratio": t.geometric_mean,
                "worst_query": t.worst.0,
                "worst_ratio": t.worst.1,
            })
        })
        .collect();
    let writes: Vec<_> = report
        .writes
        .iter()
        .map(|w| {
            json!({
                "name": w.name,
                "rows": w.rows,
                "input_bytes": w.input_bytes,
                "seconds": w.elapsed.as_secs_f64(),
                "rows_per_second": w.rows as f64 / w.elapsed.as_secs_f64().max(1e-9),
                "input_mb_per_second": w.input_bytes as f64 / 1e6 / w.elapsed.as_secs_f64().max(1e-9),
                "partitions": w.partitions,
                "peak_rss_bytes": w.peak_rss,
                "duckdb_seconds": w.duckdb_elapsed.map(|d| d.as_secs_f64()),
                "tarn_over_duckdb": w.ratio_to_duckdb(),
            })
        })
        .collect();
    let doc = json!({
        "bench": header.title,
        "parameters": header.parameters,
        "duckdb": report.duckdb_version,
        "results": results,
        "totals": totals,
        "writes": writes,
    });
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(out.join("report.md"), markdown(header, report))?;
    std::fs::write(out.join("chart.svg"), crate::chart::svg(&report.measurements)?)?;
    Ok(())
}

/// The queries tarn and DuckDB both ran in one format or layout, summed.
pub struct Total {
    pub group: String,
    pub queries: usize,
    pub tarn: Duration,
    pub duckdb: Duration,
    /// The geometric mean of the per-query ratios (each query counts the same, however long it runs).
    pub geometric_mean: f64,
    pub worst: (String, f64),
}

impl Total {
    pub fn ratio(&self) -> f64 {
        self.tarn.as_secs_f64() / self.duckdb.as_secs_f64().max(1e-9)
    }
}

pub fn totals(measurements: &[Measurement]) -> Vec<Total> {
    let mut groups: Vec<&str> = Vec::new();
    for m in measurements {
        if !groups.contains(&m.format.as_str()) {
            groups.push(&m.format);
        }
    }
    groups
        .into_iter()
        .filter_map(|group| {
            let compared: Vec<(&Measurement, f64)> = measurements
                .iter()
                .filter(|m| m.format == group)
                .filter_map(|m| Some((m, m.ratio_to_duckdb()?)))
                .collect();
            let worst = compared
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(m, r)| (m.query.clone(), *r))?;
            Some(Total {
                group: group.to_string(),
                queries: compared.len(),
                tarn: compared.iter().map(|(m, _)| m.median()).sum(),
                duckdb: compared.iter().map(|(m, _)| median(&m.duckdb_times)).sum(),
                geometric_mean: (compared.iter().map(|(_, r)| r.ln()).sum::<f64>() / compared.len() as f64).exp(),
                worst,
            })
        })
        .collect()
}

/// The report as Markdown.
pub fn markdown(header: &Header, report: &Report) -> String {
    let compared = report.duckdb_version.is_some();
    let group = header.group_label;
    let mut md = format!(
        "# {}\n\n{}{}.\n\n![median time (tarn and DuckDB) and bytes scanned per query](chart.svg)\n\n\
         | query | {group} | median | min–max | scanned | Athena would bill |{}\n|---|---|---:|---:|---:|---:|{}\n",
        header.title,
        header.description,
        report
            .duckdb_version
            .as_ref()
            .map(|v| format!("; DuckDB {v} on the same files in the same run"))
            .unwrap_or_default(),
        if compared {
            " DuckDB median | tarn ÷ DuckDB |"
        } else {
            ""
        },
        if compared { "---:|---:|" } else { "" },
    );
    for m in &report.measurements {
        md.push_str(&format!(
            "| {} | {} | {:.0} ms | {:.0}–{:.0} ms | {} | {} |",
            m.query,
            m.format,
            ms(m.median()),
            m.times.first().map(|t| ms(*t)).unwrap_or_default(),
            m.times.last().map(|t| ms(*t)).unwrap_or_default(),
            format_bytes(m.bytes_scanned),
            format_dollars(m.dollars)
        ));
        if compared {
            md.push_str(&match m.ratio_to_duckdb() {
                Some(ratio) => format!(" {:.0} ms | {ratio:.2} |", ms(median(&m.duckdb_times))),
                None => " – | – |".to_string(),
            });
        }
        md.push('\n');
    }
    let totals = totals(&report.measurements);
    if !totals.is_empty() {
        md.push_str(&format!(
            "\n| {group} | queries | tarn total | DuckDB total | tarn ÷ DuckDB | geometric mean | worst |\n\
             |---|---:|---:|---:|---:|---:|---|\n"
        ));
        for t in &totals {
            md.push_str(&format!(
                "| {} | {} | {:.0} ms | {:.0} ms | {:.2} | {:.2} | {} {:.2} |\n",
                t.group,
                t.queries,
                ms(t.tarn),
                ms(t.duckdb),
                t.ratio(),
                t.geometric_mean,
                t.worst.0,
                t.worst.1
            ));
        }
    }
    if !report.writes.is_empty() {
        md.push_str(
            "\n| write | rows | input | time | rows/s | input MB/s | partitions | peak memory | DuckDB | tarn ÷ DuckDB |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for w in &report.writes {
            let seconds = w.elapsed.as_secs_f64().max(1e-9);
            md.push_str(&format!(
                "| {} | {} | {} | {:.1} s | {:.0} | {:.1} | {} | {} | {} | {} |\n",
                w.name,
                w.rows,
                format_bytes(w.input_bytes),
                seconds,
                w.rows as f64 / seconds,
                w.input_bytes as f64 / 1e6 / seconds,
                w.partitions.map(|p| p.to_string()).unwrap_or_default(),
                w.peak_rss.map(format_bytes).unwrap_or_default(),
                w.duckdb_elapsed
                    .map(|d| format!("{:.1} s", d.as_secs_f64()))
                    .unwrap_or_else(|| "–".into()),
                w.ratio_to_duckdb()
                    .map(|r| format!("{r:.2}"))
                    .unwrap_or_else(|| "–".into()),
            ));
        }
    }
    md
}
