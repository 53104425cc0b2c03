//! `tarn crawl`: what the crawler found and did, one line per table.

use tarn_engine::{CrawlAction, CrawlReport, format_bytes};

/// The report as printed: a summary line, one aligned line per table, then the notes.
pub fn render(report: &CrawlReport) -> String {
    let mut out = String::new();
    let tables = report
        .tables
        .iter()
        .filter(|t| t.action != CrawlAction::Dropped)
        .count();
    out.push_str(&format!(
        "{}crawled {} table{} from {} file{} ({:.1} s, sampled {} in {} file{})\n",
        if report.dry_run { "dry run: " } else { "" },
        tables,
        if tables == 1 { "" } else { "s" },
        thousands(report.files),
        if report.files == 1 { "" } else { "s" },
        report.elapsed.as_secs_f64(),
        format_bytes(report.sampled_bytes),
        report.sampled_files,
        if report.sampled_files == 1 { "" } else { "s" },
    ));
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
                    thousands(t.partitions)
                )
            };
            [
                t.name.clone(),
                t.summary.clone(),
                format!("{} columns", t.columns),
                partitions,
                action(&t.action, report.dry_run),
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

fn action(action: &CrawlAction, dry_run: bool) -> String {
    let (done, would) = match action {
        CrawlAction::Created => ("created", "would create"),
        CrawlAction::Unchanged => ("unchanged", "unchanged"),
        CrawlAction::Dropped => ("dropped (its folder is gone)", "would drop (its folder is gone)"),
        CrawlAction::Skipped(why) => return format!("skipped: {why}"),
        CrawlAction::Updated {
            new_columns,
            new_partitions,
            removed_partitions,
        } => {
            let mut changes = Vec::new();
            if !new_columns.is_empty() {
                changes.push(format!(
                    "+{} ({})",
                    count(new_columns.len(), "column"),
                    new_columns.join(", ")
                ));
            }
            if !new_partitions.is_empty() {
                changes.push(format!(
                    "+{} ({})",
                    count(new_partitions.len(), "partition"),
                    first(new_partitions)
                ));
            }
            if !removed_partitions.is_empty() {
                changes.push(format!(
                    "-{} ({})",
                    count(removed_partitions.len(), "partition"),
                    first(removed_partitions)
                ));
            }
            let verb = if dry_run { "would update" } else { "updated" };
            return format!("{verb}: {}", changes.join(", "));
        }
    };
    if dry_run { would.into() } else { done.into() }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn first(items: &[String]) -> String {
    let mut text = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        text.push_str(&format!(", and {} more", items.len() - 3));
    }
    text
}

/// `1204` → `1,204`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_actions_read_well() {
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(12), "12");
        assert_eq!(thousands(1_000_000), "1,000,000");
        let updated = CrawlAction::Updated {
            new_columns: vec!["score double".into()],
            new_partitions: vec!["dt=2024-01-03".into()],
            removed_partitions: Vec::new(),
        };
        assert_eq!(
            action(&updated, false),
            "updated: +1 column (score double), +1 partition (dt=2024-01-03)"
        );
        assert_eq!(action(&CrawlAction::Created, true), "would create");
    }
}
