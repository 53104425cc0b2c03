//! How numbers read in messages and figures: sizes, counts, dollars. A leaf: everything may use it.

/// Dollars with four significant digits, so both $0.1503 and $0.00004768 say something.
pub fn format_dollars(dollars: f64) -> String {
    if dollars == 0.0 {
        return "$0".to_string();
    }
    let digits = (3 - dollars.abs().log10().floor() as i32).clamp(2, 12) as usize;
    format!("${dollars:.digits$}")
}

const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];

/// Sizes in 1024-based units, labelled as the Athena console labels them (`30.85 GB`).
pub fn format_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// `1 partition`, `1,204 partitions`: for messages.
pub(crate) fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", format_count(n as u64))
    }
}

/// The first few of `items`, and how many more: for messages that name what they changed.
pub(crate) fn first_few(items: &[String]) -> String {
    const NAMED: usize = 5;
    let mut text = items.iter().take(NAMED).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > NAMED {
        text.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    text
}

/// `1204` → `1,204`.
pub fn format_count(n: u64) -> String {
    group_thousands(&n.to_string())
}

/// A run of digits with a comma before each group of three from the right: `1234567` → `1,234,567`.
pub(crate) fn group_thousands(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration as a user writes one: `30s`, `5m`, `500ms`, `1h`, or seconds without a unit.
pub fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (e.g. 30s, 5m, 500ms)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit '{other}' in '{text}' (use ms, s, m or h)")),
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' is not a duration"))
}
