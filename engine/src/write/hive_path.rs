//! Hive partition folder names: `key=value` escaped exactly as Hive's `FileUtils.escapePathName`, so Athena, Trino
//! and Spark find the same values tarn wrote, and no value can name a folder outside the table (`../x` becomes
//! `..%2Fx`, one segment).

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

use crate::error::{EngineError, Part, Result};
use crate::listing::HIVE_DEFAULT_PARTITION;
use crate::storage::Location;

/// Hive escapes control characters, `"#%'*/:=?\` DEL and `{[]^` as `%XX` (upper-case hex); everything else,
/// non-ASCII included, stays. NUL is escaped too, although Hive leaves it, because no file system accepts it.
pub fn escape_path_name(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let escape = matches!(
            c,
            '\u{0}'
                ..='\u{1f}'
                    | '"'
                    | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '\u{7f}'
                    | '{'
                    | '['
                    | ']'
                    | '^'
        );
        if escape {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// `key=value` for one partition column; NULL and the empty string become Hive's default partition.
pub fn partition_segment(key: &str, value: Option<&str>) -> String {
    let value = match value {
        Some(v) if !v.is_empty() => escape_path_name(v),
        _ => HIVE_DEFAULT_PARTITION.to_string(),
    };
    format!("{}={value}", escape_path_name(key))
}

/// The longest file or folder name local file systems accept (ext4, XFS, APFS, NTFS: 255 bytes).
pub const MAX_LOCAL_NAME_BYTES: usize = 255;
/// The longest S3 key.
pub const MAX_S3_KEY_BYTES: usize = 1024;

/// Checks that the folders of one partition (`k=v/k2=v2`, escaped) can be created under `location`, and otherwise
/// names the value and column at fault (the file system's own error would name a temporary file).
pub fn check_partition_folder(location: &Location, folder: &str, file_name_bytes: usize) -> Result<()> {
    let too_long = |segment: &str, limit: String| {
        let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
        let value = crate::listing::percent_decode(value);
        let shown: String = value.chars().take(40).collect();
        let ellipsis = if shown.len() < value.len() { "…" } else { "" };
        EngineError::invalid(
            Part::Column,
            format!(
                "partition value '{shown}{ellipsis}' ({} characters) of column '{}' makes the folder name {} bytes long, \
             over {limit}; partition by a shorter value (e.g. a hash or a prefix of it)",
                value.chars().count(),
                crate::listing::percent_decode(key),
                segment.len(),
            ),
        )
    };
    if location.is_s3() {
        let key_bytes = location.prefix.as_ref().len() + 1 + folder.len() + 1 + file_name_bytes;
        if key_bytes > MAX_S3_KEY_BYTES
            && let Some(longest) = folder.split('/').max_by_key(|s| s.len())
        {
            return Err(too_long(
                longest,
                format!("the {MAX_S3_KEY_BYTES} bytes an S3 key may have ({key_bytes} with the file name)"),
            ));
        }
        return Ok(());
    }
    match folder.split('/').find(|s| s.len() > MAX_LOCAL_NAME_BYTES) {
        Some(segment) => Err(too_long(
            segment,
            format!("the {MAX_LOCAL_NAME_BYTES} bytes a local file system allows in one name"),
        )),
        None => Ok(()),
    }
}

/// The text of each value of a partition column as Hive writes it in a folder name: integers in decimal, dates
/// `2024-01-31`, timestamps `2024-01-31 10:00:00` (with fractional seconds only when present).
pub fn partition_texts(array: &ArrayRef) -> Result<Vec<Option<String>>> {
    let strings = cast(array, &DataType::Utf8)
        .map_err(|e| EngineError::invalid(Part::Clause, format!("partition value: {e}")))?;
    let strings = strings.as_string::<i32>();
    let timestamp = matches!(array.data_type(), DataType::Timestamp(_, _));
    Ok((0..strings.len())
        .map(|i| {
            (!strings.is_null(i)).then(|| {
                let text = strings.value(i);
                if timestamp {
                    let text = text.replacen('T', " ", 1);
                    text.strip_suffix(".000").map(str::to_string).unwrap_or(text)
                } else {
                    text.to_string()
                }
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::parse_partition_segment;

    #[test]
    fn hostile_values_stay_one_segment_and_read_back() {
        for value in [
            "../x",
            "a/b",
            "..",
            ".",
            "100%",
            "k=v",
            "x:y",
            "tab\there",
            "naïve",
            "[a]{b}^",
            "#?*'\"\\",
        ] {
            let segment = partition_segment("dt", Some(value));
            assert!(!segment.contains('/'), "{segment}");
            assert_ne!(segment, "..");
            let (key, back) = parse_partition_segment(&segment).unwrap_or_default();
            assert_eq!((key.as_str(), back.as_deref()), ("dt", Some(value)), "{segment}");
        }
        assert_eq!(partition_segment("dt", Some("../x")), "dt=..%2Fx");
        assert_eq!(
            partition_segment("ts", Some("2024-01-31 10:00:00")),
            "ts=2024-01-31 10%3A00%3A00"
        );
        assert_eq!(partition_segment("s", None), "s=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(partition_segment("s", Some("")), "s=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(escape_path_name("naïve"), "naïve");
    }
}
