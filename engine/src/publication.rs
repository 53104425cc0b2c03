//! What readers need of tarn's write records (written by `write::commit`): which writes committed, and where a file
//! still under its staged name is published.
//!
//! An INSERT writes its files under staged names (`.name`, hidden from every Hive reader) and renames them into place
//! after its commit, one by one. A listing can catch some renamed and some not, and a process killed during the
//! renames leaves them so until the next write to the location completes them. A query therefore reads a staged file
//! whose write committed as if it were published: a write is wholly visible from its commit on.

use std::collections::HashSet;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::error::Result;
use crate::storage::Location;

/// The folder of write records under a write's root location.
pub const WRITES_DIR: &str = "_tarn_writes";
/// The renames of a write that committed: readers see its files from the moment this exists.
pub(crate) const COMMIT: &str = "commit.json";
/// The renames of a write waiting for a decision made elsewhere (an ingest batch's outcome, a compaction's record).
pub(crate) const STAGED: &str = "staged.json";
/// The write is complete.
pub(crate) const DONE: &str = "done.json";
/// The write was given up while workers may still be writing its files.
pub(crate) const ABORTED: &str = "aborted.json";

pub(crate) fn writes_dir(location: &Location) -> Path {
    location.prefix.clone().join(WRITES_DIR)
}

/// The tarn query id (`20261123_021500_00003_3f9a1`) an object's file name carries: the write that made it.
pub(crate) fn query_id_in(name: &str) -> Option<&str> {
    static QUERY_ID: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    QUERY_ID
        .get_or_init(|| regex::Regex::new(r"\d{8}_\d{6}_\d{5}_[0-9a-f]{5}").ok())
        .as_ref()
        .and_then(|re| re.find(name))
        .map(|m| m.as_str())
}

/// A write's file under its staged name (`.name`): the query id of its write and the path it is published at.
pub fn published_path(staged: &Path) -> Option<(String, Path)> {
    let (folder, name) = match staged.as_ref().rsplit_once('/') {
        Some((folder, name)) => (Some(folder), name),
        None => (None, staged.as_ref()),
    };
    let published = name.strip_prefix('.').filter(|n| !n.starts_with(['.', '_']))?;
    let query_id = query_id_in(published)?.to_string();
    let path = match folder {
        Some(folder) => Path::parse(format!("{folder}/{published}")).ok()?,
        None => Path::parse(published).ok()?,
    };
    Some((query_id, path))
}

/// The writes recorded at `root` whose files are part of the table, though some may still be staged: those whose
/// `commit.json` is there and that were not given up. One listing of the records, which are few: a finished write
/// removes its own. (A write removes `commit.json` only once all its files are renamed: a listing older than that
/// shows it all staged, and then a reader sees none of it, or shows some of it renamed, and then the reader lists
/// again.)
pub async fn committed_writes(store: &dyn ObjectStore, root: &Location) -> Result<HashSet<String>> {
    let records = writes_dir(root);
    let objects: Vec<Path> = store
        .list(Some(&records))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .map_err(|e| root.store_error(e))?;
    let (mut committed, mut aborted) = (HashSet::new(), HashSet::new());
    for path in &objects {
        let Some(parts) = path.prefix_match(&records) else {
            continue;
        };
        let parts: Vec<_> = parts.collect();
        let [query_id, name] = parts.as_slice() else {
            continue;
        };
        match name.as_ref() {
            COMMIT => committed.insert(query_id.as_ref().to_string()),
            ABORTED => aborted.insert(query_id.as_ref().to_string()),
            _ => false,
        };
    }
    committed.retain(|q| !aborted.contains(q));
    Ok(committed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_names_give_their_write_and_published_path() {
        let staged = Path::from("lake/t/state=CA/.000003_0_20261204_101010_00007_ab12c_0000001.parquet");
        let (query_id, published) = published_path(&staged).unwrap_or_default();
        assert_eq!(query_id, "20261204_101010_00007_ab12c");
        assert_eq!(
            published.as_ref(),
            "lake/t/state=CA/000003_0_20261204_101010_00007_ab12c_0000001.parquet"
        );
        // Escaped partition folders stay as they are.
        let escaped = Path::parse("lake/t/at=10%253A00/.20261204_101010_00007_ab12c_000_00000.gz").ok();
        let published = escaped.as_ref().and_then(published_path).map(|(_, p)| p.to_string());
        assert_eq!(
            published.as_deref(),
            Some("lake/t/at=10%253A00/20261204_101010_00007_ab12c_000_00000.gz")
        );
        for not_staged in [
            "lake/t/.part-0.crc",
            "lake/t/20261204_101010_00007_ab12c_000_00000.gz",
            "lake/t/._x",
        ] {
            assert!(published_path(&Path::from(not_staged)).is_none(), "{not_staged}");
        }
    }
}
