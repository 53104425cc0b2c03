//! How long machine-written SQL takes to plan: chains of thousands of `OR`s, `AND`s and `+`s (BI tools and code
//! generators write them) and deeply nested parentheses, each run over a one-row table, so the time is the
//! statement's parsing, planning and optimisation. (`EXPLAIN` would add DataFusion's display of every
//! intermediate plan, which is itself quadratic in a long conjunction.)

use std::time::{Duration, Instant};

use tarn_engine::{Session, SessionOptions};

use crate::BenchError;

/// One statement shape at one size.
#[derive(Debug, Clone)]
pub struct PlanningMeasurement {
    pub shape: &'static str,
    pub terms: usize,
    /// Bytes of SQL text.
    pub sql_bytes: usize,
    /// Sorted times of the statement over one row.
    pub times: Vec<Duration>,
}

impl PlanningMeasurement {
    pub fn median(&self) -> Duration {
        self.times.get(self.times.len() / 2).copied().unwrap_or_default()
    }
}

/// The statement of `shape` with `terms` terms, over a table `t(a bigint, b double)`.
pub fn statement(shape: &str, terms: usize) -> String {
    let n = terms.max(1);
    match shape {
        "OR of equalities" => format!(
            "SELECT count(*) FROM t WHERE {}",
            (0..n).map(|i| format!("a = {i}")).collect::<Vec<_>>().join(" OR ")
        ),
        "AND of ranges" => format!(
            "SELECT count(*) FROM t WHERE {}",
            (0..n).map(|i| format!("a <> {i}")).collect::<Vec<_>>().join(" AND ")
        ),
        "sum of columns" => format!("SELECT sum({}) FROM t", vec!["a * 2 + b"; n.div_ceil(2)].join(" + ")),
        _ => format!("SELECT {}a{} FROM t", "(".repeat(n), ")".repeat(n)),
    }
}

pub const SHAPES: [&str; 4] = [
    "OR of equalities",
    "AND of ranges",
    "sum of columns",
    "nested parentheses",
];

/// Plans every shape at every size in `sizes` (parentheses at most 2,000 deep, Trino's documented example), `runs`
/// times each.
pub async fn run(sizes: &[usize], runs: usize) -> Result<Vec<PlanningMeasurement>, BenchError> {
    let dir = std::env::temp_dir().join(format!("tarn-bench-planning-{}", std::process::id()));
    let mut session = Session::open(SessionOptions {
        warehouse: dir.join("warehouse").display().to_string(),
        ..Default::default()
    })
    .await?;
    let data = dir.join("t");
    session
        .execute(&format!(
            "UNLOAD (SELECT CAST(1 AS bigint) AS a, CAST(1.5 AS double) AS b) TO '{}' WITH (format = 'PARQUET')",
            data.display()
        ))
        .await?;
    session
        .execute(&format!(
            "CREATE EXTERNAL TABLE t (a bigint, b double) STORED AS PARQUET LOCATION '{}'",
            data.display()
        ))
        .await?;
    let mut out = Vec::new();
    for shape in SHAPES {
        for &terms in sizes {
            let terms = if shape == "nested parentheses" {
                terms.min(2_000)
            } else {
                terms
            };
            if out
                .iter()
                .any(|m: &PlanningMeasurement| m.shape == shape && m.terms == terms)
            {
                continue;
            }
            let sql = statement(shape, terms);
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs.max(1) {
                let started = Instant::now();
                let planned = match session.execute(&sql).await {
                    Ok(result) => result.collect().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                planned.map_err(|source| BenchError::Planning { shape, terms, source })?;
                times.push(started.elapsed());
            }
            times.sort();
            out.push(PlanningMeasurement {
                shape,
                terms,
                sql_bytes: sql.len(),
                times,
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

/// The measurements as a Markdown table.
pub fn markdown(measurements: &[PlanningMeasurement]) -> String {
    let mut md =
        String::from("| statement | terms | SQL | median | fastest | slowest |\n|---|---:|---:|---:|---:|---:|\n");
    for m in measurements {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms |\n",
            m.shape,
            tarn_engine::format_count(m.terms as u64),
            tarn_engine::format_bytes(m.sql_bytes as u64),
            m.median().as_secs_f64() * 1000.0,
            m.times.first().copied().unwrap_or_default().as_secs_f64() * 1000.0,
            m.times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_shape_plans_and_is_reported() -> Result<(), Box<dyn std::error::Error>> {
        let measured = run(&[50, 3_000], 1).await?;
        assert_eq!(measured.len(), SHAPES.len() * 2);
        assert!(measured.iter().all(|m| m.times.len() == 1 && m.sql_bytes > m.terms));
        let md = markdown(&measured);
        assert!(md.contains("| OR of equalities | 3,000 |"), "{md}");
        assert!(md.contains("| nested parentheses | 2,000 |"), "{md}");
        Ok(())
    }
}
