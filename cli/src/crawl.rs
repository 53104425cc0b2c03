//! `tarn crawl`: what the crawler found and did, one line per table.

#[cfg(test)]
use tarn_engine::CrawlAction;
use tarn_engine::{CrawlReport, format_count};

/// The report as printed: a summary line, one aligned line per table, then the notes.
pub fn render(report: &CrawlReport) -> String {
    let mut out = report.headline();
    out.push('\n');
    let rows: Vec<[String; 5]> = report
        .tables
        .iter()
        .map(|t| {
            let partitions = if t.partition_keys.is_empty() {
                String::new()
            } else {
                format!(
                    "partitions: {} ({})",
                    t.partition_keys.join(", "),
                    format_count(t.partitions as u64)
                )
            };
            [
                t.name.clone(),
                t.summary.clone(),
                format!("{} columns", t.columns),
                partitions,
                t.action.describe(report.dry_run),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let mut line = String::from(" ");
        for (i, cell) in row.iter().enumerate() {
            line.push(' ');
            line.push_str(cell);
            if i < 4 {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 1));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_well() {
        let updated = CrawlAction::Updated {
            new_columns: vec!["score double".into()],
            new_partitions: vec!["dt=2024-01-03".into()],
            removed_partitions: Vec::new(),
        };
        assert_eq!(
            updated.describe(false),
            "updated: +1 column (score double), +1 partition (dt=2024-01-03)"
        );
        assert_eq!(CrawlAction::Created.describe(true), "would create");
    }
}
