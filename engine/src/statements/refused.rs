//! Statements tarn recognises and refuses, with what to do instead.

use crate::error::{EngineError, Result};

/// (first words, what, what to do instead).
const REFUSED: &[(&[&str], &str, &str)] = &[
    (
        &["CREATE", "UNBOUNDED", "EXTERNAL"],
        "CREATE UNBOUNDED EXTERNAL TABLE",
        "tarn tables are files in a folder; drop UNBOUNDED",
    ),
    (
        &["INSERT", "OVERWRITE"],
        "INSERT OVERWRITE",
        "tarn never overwrites data; INSERT INTO adds files, or create a new table with CTAS",
    ),
    (
        &["COPY"],
        "COPY",
        "it writes files outside the catalog; use UNLOAD (SELECT ...) TO '...' WITH (format = ...)",
    ),
    (
        &["PREPARE"],
        "prepared statements (PREPARE, EXECUTE, DEALLOCATE PREPARE)",
        "write the values into the statement, or use a script with `tarn run`",
    ),
    (
        &["EXECUTE"],
        "prepared statements (PREPARE, EXECUTE, DEALLOCATE PREPARE)",
        "write the values into the statement, or use a script with `tarn run`",
    ),
    (
        &["DEALLOCATE"],
        "prepared statements (PREPARE, EXECUTE, DEALLOCATE PREPARE)",
        "write the values into the statement, or use a script with `tarn run`",
    ),
    (
        &["TRUNCATE"],
        "TRUNCATE",
        "use DELETE FROM t on a Delta table; tables over files are read-only, as in Athena",
    ),
];

/// Refuses a statement that starts with `words` if tarn does not run it.
pub(super) fn check(words: &[String]) -> Result<()> {
    for (start, what, hint) in REFUSED {
        if start.len() <= words.len() && start.iter().zip(words).all(|(s, w)| s == w) {
            return Err(EngineError::unsupported(*what, *hint));
        }
    }
    Ok(())
}
