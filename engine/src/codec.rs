//! Text compression codecs: which one a file has, and reading a file's text back to locate an error in it.

use std::sync::Arc;

use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::error::DataFusionError;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// Beyond this offset, counting the lines before a failing byte range costs too much; the error then gives the byte
/// offset instead.
const MAX_LINE_COUNT_PREFIX: u64 = 256 << 20;

/// Text compression codecs, chosen from a file's extension (Athena's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Codec {
    None,
    Gzip,
    Bzip2,
    Zstd,
    Xz,
}

impl Codec {
    pub(crate) const ALL: [Codec; 5] = [Codec::None, Codec::Gzip, Codec::Bzip2, Codec::Zstd, Codec::Xz];

    pub(crate) fn datafusion(self) -> FileCompressionType {
        match self {
            Codec::None => FileCompressionType::UNCOMPRESSED,
            Codec::Gzip => FileCompressionType::GZIP,
            Codec::Bzip2 => FileCompressionType::BZIP2,
            Codec::Zstd => FileCompressionType::ZSTD,
            Codec::Xz => FileCompressionType::XZ,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Bzip2 => "bzip2",
            Codec::Zstd => "zstd",
            Codec::Xz => "xz",
        }
    }

    /// Parses a codec name as written in TBLPROPERTIES or OPTIONS.
    pub fn parse(name: &str) -> Option<Codec> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "" | "none" | "uncompressed" => Codec::None,
            "gzip" | "gz" => Codec::Gzip,
            "bzip2" | "bz2" => Codec::Bzip2,
            "zstd" | "zst" => Codec::Zstd,
            "xz" => Codec::Xz,
            _ => return None,
        })
    }

    /// The codec for a file name: by extension (case-insensitively, which Athena does not do but nobody wants
    /// `.GZ` read as text), else `default`. Extensions of codecs tarn cannot read are an error rather than garbage.
    pub fn for_file(name: &str, default: Codec) -> Result<Codec, String> {
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
        Ok(match ext {
            "gz" | "gzip" => Codec::Gzip,
            "bz2" => Codec::Bzip2,
            "zst" | "zstd" => Codec::Zstd,
            "xz" => Codec::Xz,
            "lz4" | "snappy" | "deflate" | "zz" | "br" | "lzo" | "zip" => {
                return Err(format!(
                    "files compressed with '{ext}' cannot be read yet (tarn reads gzip, bzip2, zstd and xz text files)"
                ));
            }
            _ => default,
        })
    }
}

/// The lines of `path` before the first line of a byte range starting at `range_start` (`None` when that prefix
/// is too long to read just for a message). A range starts after the first newline at or after `range_start - 1`.
pub(crate) async fn count_lines_before(store: &Arc<dyn ObjectStore>, path: &Path, range_start: u64) -> Option<u64> {
    let end = range_start.checked_sub(1)?;
    if end > MAX_LINE_COUNT_PREFIX {
        return None;
    }
    let bytes = store.get_range(path, 0..end).await.ok()?;
    Some(bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1)
}

/// The magic bytes a file compressed with `codec` starts with.
pub(crate) fn magic(codec: Codec) -> &'static [u8] {
    match codec {
        Codec::None => b"",
        Codec::Gzip => &[0x1f, 0x8b],
        Codec::Bzip2 => b"BZh",
        Codec::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
        Codec::Xz => &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
    }
}

/// The decompressed text of `path` (at most [`MAX_LINE_COUNT_PREFIX`] bytes of it stored), for locating an error.
pub(crate) async fn file_text(store: &Arc<dyn ObjectStore>, path: &Path, codec: Codec) -> Option<Vec<u8>> {
    let raw = store.get(path).await.ok()?.bytes().await.ok()?;
    if raw.len() as u64 > MAX_LINE_COUNT_PREFIX {
        return None;
    }
    if codec == Codec::None {
        return Some(raw.to_vec());
    }
    let stream = futures::stream::once(async move { Ok::<_, DataFusionError>(raw) }).boxed();
    let decompressed = codec.datafusion().convert_stream(stream).ok()?;
    let chunks: Vec<bytes::Bytes> = decompressed.try_collect().await.ok()?;
    Some(chunks.concat())
}
