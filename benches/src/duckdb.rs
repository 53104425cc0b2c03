//! The `duckdb` command-line shell as the benches' reference: the same statements on the same files in the same run,
//! timed by the shell's own `.timer`, with the rows of the last run for the result check.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::BenchError;

/// Separates the fields of DuckDB's `-list` output: the ASCII unit separator, which no generated value contains
/// (TPC-H comments and addresses contain commas, pipes do not occur but may one day).
const SEPARATOR: &str = "\u{1f}";
/// What both engines' rows say for SQL NULL.
pub const NULL: &str = "NULL";

pub struct DuckDb {
    exe: PathBuf,
    pub version: String,
}

impl DuckDb {
    pub fn new(exe: &Path) -> Result<Self, BenchError> {
        let out = Command::new(exe)
            .arg("--version")
            .output()
            .map_err(|e| BenchError::DuckDb(format!("cannot run {}: {e}", exe.display())))?;
        Ok(Self {
            exe: exe.to_path_buf(),
            version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })
    }

    /// Runs the `setup` statements untimed, then `sql` `runs` times, in one in-memory DuckDB process (so its caches
    /// are as warm as tarn's session's); returns the rows of the last run and the sorted run times.
    pub fn time(
        &self,
        setup: &[String],
        sql: &str,
        runs: usize,
    ) -> Result<(Vec<Vec<String>>, Vec<Duration>), BenchError> {
        let mut command = Command::new(&self.exe);
        command.args([
            ":memory:",
            "-list",
            "-noheader",
            "-separator",
            SEPARATOR,
            "-nullvalue",
            NULL,
        ]);
        // The progress bar would land in the answer when a statement runs over two seconds.
        command.args(["-c", "SET enable_progress_bar = false"]);
        for statement in setup {
            command.args(["-c", statement]);
        }
        command.args(["-c", ".timer on"]);
        for _ in 0..runs.max(1) {
            command.args(["-c", sql]);
        }
        let out = command
            .output()
            .map_err(|e| BenchError::DuckDb(format!("cannot run {}: {e}", self.exe.display())))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(BenchError::DuckDb(format!(
                "{}{}",
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut times = Vec::new();
        let mut rows = Vec::new();
        let mut current = Vec::new();
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix("Run Time (s): real ") {
                let seconds: f64 = rest
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| BenchError::DuckDb(format!("unreadable timer line '{line}'")))?;
                times.push(Duration::from_secs_f64(seconds));
                rows = std::mem::take(&mut current);
            } else {
                current.push(line.split(SEPARATOR).map(str::to_string).collect());
            }
        }
        times.sort();
        Ok((rows, times))
    }
}

/// Whether two results agree: the same number of rows, and each value the same text or the same number to a cent (an
/// average is a decimal of six places in one engine and a double in the other; TPC-H's money is in cents). Rows are compared in
/// order, and if that fails, sorted: a `LIMIT` after an `ORDER BY` with ties may keep different rows in either, but
/// then their values still agree.
pub fn same_rows(tarn: &[Vec<String>], duckdb: &[Vec<String>]) -> bool {
    let agree = |a: &[Vec<String>], b: &[Vec<String>]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(u, v)| same_value(u, v)))
    };
    if agree(tarn, duckdb) {
        return true;
    }
    let sorted = |rows: &[Vec<String>]| {
        let mut rows = rows.to_vec();
        rows.sort();
        rows
    };
    agree(&sorted(tarn), &sorted(duckdb))
}

fn same_value(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            let diff = (x - y).abs();
            diff <= 0.01 || diff <= 1e-12 * x.abs().max(y.abs())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|row| row.iter().map(|v| v.to_string()).collect())
            .collect()
    }

    #[test]
    fn values_agree_as_text_or_as_numbers_to_a_cent() {
        assert!(same_rows(
            &rows(&[&["A", "25.522005"]]),
            &rows(&[&["A", "25.522005853257337"]])
        ));
        assert!(same_rows(&rows(&[&["7"]]), &rows(&[&["7.00"]])));
        assert!(!same_rows(&rows(&[&["7"]]), &rows(&[&["7.02"]])));
        assert!(!same_rows(&rows(&[&["a"]]), &rows(&[&["b"]])));
        assert!(!same_rows(&rows(&[&["1"], &["2"]]), &rows(&[&["1"]])));
        assert!(same_rows(
            &rows(&[&["1", "x"], &["1", "y"]]),
            &rows(&[&["1", "y"], &["1", "x"]])
        ));
        assert!(!same_rows(&rows(&[&["NULL"]]), &rows(&[&["0"]])));
    }
}
