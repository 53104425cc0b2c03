//! The `WITH (...)` properties of CTAS and UNLOAD, checked as Athena checks them: unknown or conflicting properties
//! are errors that name the property.

use datafusion::parquet::basic::{Compression, GzipLevel, ZstdLevel};

use crate::bucket::BucketVersion;
use crate::error::{EngineError, Part, Result};
pub use crate::names::PropValue;
use crate::table::decode_delimiter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Parquet,
    Text,
    Json,
}

impl OutputKind {
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::Parquet => "PARQUET",
            OutputKind::Text => "TEXTFILE",
            OutputKind::Json => "JSON",
        }
    }
}

/// Codec of a text or JSON file written by tarn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextCodec {
    None,
    Gzip,
    Bzip2,
    Zstd(i32),
}

impl TextCodec {
    /// The file extension readers (Athena, tarn) use to pick the codec.
    pub fn extension(self) -> &'static str {
        match self {
            TextCodec::None => "",
            TextCodec::Gzip => ".gz",
            TextCodec::Bzip2 => ".bz2",
            TextCodec::Zstd(_) => ".zst",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TextCodec::None => "NONE",
            TextCodec::Gzip => "GZIP",
            TextCodec::Bzip2 => "BZIP2",
            TextCodec::Zstd(_) => "ZSTD",
        }
    }
}

/// How the files are encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FileEncoding {
    Parquet(Compression),
    Text { delimiter: u8, codec: TextCodec },
    Json(TextCodec),
}

impl FileEncoding {
    pub fn kind(&self) -> OutputKind {
        match self {
            FileEncoding::Parquet(_) => OutputKind::Parquet,
            FileEncoding::Text { .. } => OutputKind::Text,
            FileEncoding::Json(_) => OutputKind::Json,
        }
    }

    /// File name ending: `.parquet`, `.txt.gz`, `.json.zst`, ...
    pub fn extension(&self) -> String {
        match self {
            FileEncoding::Parquet(_) => ".parquet".into(),
            FileEncoding::Text { codec, .. } => format!(".txt{}", codec.extension()),
            FileEncoding::Json(codec) => format!(".json{}", codec.extension()),
        }
    }

    /// The name Athena uses for the codec (`write.compression` / `parquet.compression`).
    pub fn compression_name(&self) -> &'static str {
        match self {
            FileEncoding::Parquet(c) => match c {
                Compression::SNAPPY => "SNAPPY",
                Compression::GZIP(_) => "GZIP",
                Compression::ZSTD(_) => "ZSTD",
                Compression::LZ4_RAW | Compression::LZ4 => "LZ4",
                _ => "UNCOMPRESSED",
            },
            FileEncoding::Text { codec, .. } | FileEncoding::Json(codec) => codec.name(),
        }
    }
}

/// Everything a CTAS or UNLOAD asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    pub encoding: FileEncoding,
    pub location: Option<String>,
    pub partitioned_by: Vec<String>,
    pub bucketed_by: Vec<String>,
    pub bucket_count: Option<u32>,
    pub bucketing_version: BucketVersion,
    pub target_file_size: Option<u64>,
    /// `table_type = 'DELTA'` (or `format = 'DELTA'`): a Delta Lake table of Parquet files.
    pub delta: bool,
}

/// The `WITH (...)` properties of CREATE TABLE AS.
pub const CTAS_PROPERTIES: &[&str] = &[
    "table_type",
    "format",
    "external_location",
    "location",
    "is_external",
    "partitioned_by",
    "bucketed_by",
    "bucket_count",
    "bucketing_version",
    "write_compression",
    "parquet_compression",
    "compression_level",
    "field_delimiter",
    "write_target_data_file_size_bytes",
];

/// The `WITH (...)` properties of UNLOAD.
pub const UNLOAD_PROPERTIES: &[&str] = &[
    "format",
    "compression",
    "compression_level",
    "field_delimiter",
    "partitioned_by",
];

/// Properties Athena knows that tarn does not do, with the reason.
fn unsupported_property(key: &str) -> Option<&'static str> {
    Some(match key {
        "partitioning" => "Iceberg partition transforms are not supported; use partitioned_by",
        "orc_compression" => "ORC output is not supported yet",
        "ion_encoding" => "Ion output is not supported yet",
        k if k.starts_with("optimize_") || k.starts_with("vacuum_") => "it belongs to Iceberg tables",
        _ => return None,
    })
}

pub fn ctas_options(props: &[(String, PropValue)]) -> Result<WriteOptions> {
    parse(props, CTAS_PROPERTIES, "CREATE TABLE AS", false)
}

pub fn unload_options(props: &[(String, PropValue)]) -> Result<WriteOptions> {
    parse(props, UNLOAD_PROPERTIES, "UNLOAD", true)
}

fn bad(property: &str, value: &PropValue, why: &str) -> EngineError {
    EngineError::invalid(
        Part::Property,
        format!("property {property} = {}: {why}", value.describe()),
    )
}

fn text(property: &str, value: &PropValue) -> Result<String> {
    match value {
        PropValue::Text(t) => Ok(t.clone()),
        other => Err(bad(property, other, "expected a quoted string")),
    }
}

fn number(property: &str, value: &PropValue) -> Result<i64> {
    match value {
        PropValue::Number(n) => n.parse().map_err(|_| bad(property, value, "expected a whole number")),
        PropValue::Text(t) => t.parse().map_err(|_| bad(property, value, "expected a whole number")),
        other => Err(bad(property, other, "expected a number")),
    }
}

fn names(property: &str, value: &PropValue) -> Result<Vec<String>> {
    match value {
        PropValue::Array(items) => Ok(items.iter().map(|s| s.to_lowercase()).collect()),
        other => Err(bad(property, other, "expected ARRAY['column', ...]")),
    }
}

/// The properties given, checked against `allowed`, by lower-cased name.
type Props = std::collections::BTreeMap<String, PropValue>;

fn parse(props: &[(String, PropValue)], allowed: &[&str], statement: &str, unload: bool) -> Result<WriteOptions> {
    let props = checked(props, allowed, statement)?;
    let delta = is_delta(&props, unload)?;
    let location = location(&props, delta)?;
    if let Some(v) = props.get("is_external") {
        match v {
            PropValue::Bool(true) => {}
            PropValue::Text(t) if t.eq_ignore_ascii_case("true") => {}
            other => return Err(bad("is_external", other, "tarn's CTAS tables are external (true)")),
        }
    }
    let kind = output_kind(&props, unload, delta)?;
    let encoding = encoding(&props, kind)?;
    let (partitioned_by, bucketed_by, bucket_count) = layout(&props)?;
    let bucketing_version = match props.get("bucketing_version") {
        None => BucketVersion::V1,
        Some(v) => BucketVersion::from_parameter(Some(&number("bucketing_version", v)?.to_string()))?,
    };
    let target_file_size = props
        .get("write_target_data_file_size_bytes")
        .map(|v| {
            let n = number("write_target_data_file_size_bytes", v)?;
            if n < 1 << 20 {
                return Err(bad("write_target_data_file_size_bytes", v, "expected at least 1 MiB"));
            }
            Ok(n as u64)
        })
        .transpose()?;
    Ok(WriteOptions {
        encoding,
        location,
        partitioned_by,
        bucketed_by,
        bucket_count,
        bucketing_version,
        target_file_size,
        delta,
    })
}

/// Refuses properties Athena has and tarn does not do, unknown ones and repeated ones.
fn checked(props: &[(String, PropValue)], allowed: &[&str], statement: &str) -> Result<Props> {
    let mut seen = Props::new();
    for (key, value) in props {
        let key = key.to_ascii_lowercase();
        if let Some(why) = unsupported_property(&key) {
            return Err(EngineError::unsupported(format!("property {key}"), why));
        }
        if !allowed.contains(&key.as_str()) {
            return Err(EngineError::invalid(
                Part::Property,
                format!(
                    "unknown property '{key}' for {statement}; the properties are {}",
                    allowed.join(", ")
                ),
            ));
        }
        if seen.insert(key.clone(), value.clone()).is_some() {
            return Err(EngineError::invalid(
                Part::Property,
                format!("property {key} is given twice"),
            ));
        }
    }
    Ok(seen)
}

/// `table_type = 'DELTA'` or (for CTAS) `format = 'DELTA'`.
fn is_delta(props: &Props, unload: bool) -> Result<bool> {
    let get = |k: &str| props.get(k);
    let mut delta = false;
    if let Some(v) = get("table_type") {
        match text("table_type", v)?.to_ascii_uppercase().as_str() {
            "HIVE" => {}
            "DELTA" => delta = true,
            "ICEBERG" => {
                return Err(EngineError::unsupported(
                    format!("table_type {}", v.describe()),
                    "Iceberg tables are not supported; table_type 'DELTA' makes a Delta Lake table",
                ));
            }
            _ => return Err(bad("table_type", v, "expected 'HIVE' or 'DELTA'")),
        }
    }
    if let Some(v) = get("format")
        && !unload
        && text("format", v)?.eq_ignore_ascii_case("DELTA")
    {
        delta = true;
    }
    Ok(delta)
}

/// `external_location` (or, for Delta tables, `location`).
fn location(props: &Props, delta: bool) -> Result<Option<String>> {
    let get = |k: &str| props.get(k);
    Ok(match (get("location"), get("external_location")) {
        (Some(_), Some(_)) => {
            return Err(EngineError::invalid(
                Part::Property,
                "location and external_location cannot both be given (they set the same folder)",
            ));
        }
        (Some(v), None) if !delta => {
            return Err(bad(
                "location",
                v,
                "it belongs to Delta and Iceberg tables; use external_location",
            ));
        }
        (Some(v), None) | (None, Some(v)) => Some(text("external_location", v)?),
        (None, None) => None,
    })
}

/// `format`: Parquet unless said otherwise (UNLOAD must say).
fn output_kind(props: &Props, unload: bool, delta: bool) -> Result<OutputKind> {
    let get = |k: &str| props.get(k);
    let kind = match get("format") {
        None if unload => {
            return Err(EngineError::invalid(
                Part::Property,
                "UNLOAD needs WITH (format = 'PARQUET' | 'TEXTFILE' | 'JSON')",
            ));
        }
        None => OutputKind::Parquet,
        Some(v) => match text("format", v)?.to_ascii_uppercase().as_str() {
            "PARQUET" => OutputKind::Parquet,
            "DELTA" if delta => OutputKind::Parquet,
            "TEXTFILE" => OutputKind::Text,
            "JSON" => OutputKind::Json,
            "ORC" | "AVRO" | "ION" => {
                return Err(EngineError::unsupported(
                    format!("format {}", v.describe()),
                    "tarn writes PARQUET, TEXTFILE and JSON; ORC, AVRO and ION are not supported yet",
                ));
            }
            _ => return Err(bad("format", v, "expected PARQUET, TEXTFILE or JSON")),
        },
    };

    if delta
        && kind != OutputKind::Parquet
        && let Some(v) = get("format")
    {
        return Err(bad(
            "format",
            v,
            "a Delta table's files are Parquet; omit format or give 'PARQUET'",
        ));
    }
    Ok(kind)
}

/// How the files are encoded: the format's codec and level, and a text file's delimiter.
fn encoding(props: &Props, kind: OutputKind) -> Result<FileEncoding> {
    let get = |k: &str| props.get(k);
    let compression = match (get("write_compression"), get("parquet_compression"), get("compression")) {
        (Some(_), Some(_), _) => {
            return Err(EngineError::invalid(
                Part::Property,
                "write_compression and parquet_compression cannot both be given (they set the same codec)",
            ));
        }
        (_, Some(v), _) if kind != OutputKind::Parquet => {
            return Err(bad("parquet_compression", v, &format!("the format is {}", kind.name())));
        }
        (Some(v), None, _) | (None, Some(v), _) | (None, None, Some(v)) => {
            Some((text("compression", v)?.to_ascii_uppercase(), v.clone()))
        }
        (None, None, None) => None,
    };
    let level = match get("compression_level") {
        None => None,
        Some(v) => {
            let level = number("compression_level", v)?;
            if !(1..=22).contains(&level) {
                return Err(bad("compression_level", v, "ZSTD levels are 1 to 22"));
            }
            if compression.as_ref().map(|(c, _)| c.as_str()) != Some("ZSTD") {
                return Err(bad("compression_level", v, "it applies to ZSTD compression only"));
            }
            Some(level as i32)
        }
    };
    let zstd_level = level.unwrap_or(3);
    let text_codec = |name: Option<&(String, PropValue)>| -> Result<TextCodec> {
        match name {
            None => Ok(TextCodec::Gzip),
            Some((c, v)) => match c.as_str() {
                "GZIP" => Ok(TextCodec::Gzip),
                "BZIP2" => Ok(TextCodec::Bzip2),
                "ZSTD" => Ok(TextCodec::Zstd(zstd_level)),
                "NONE" | "UNCOMPRESSED" => Ok(TextCodec::None),
                "LZ4" | "SNAPPY" | "DEFLATE" => Err(EngineError::unsupported(
                    format!("{c} compression for {} output", kind.name()),
                    "tarn writes text as GZIP, BZIP2, ZSTD or NONE",
                )),
                _ => Err(bad("write_compression", v, "expected GZIP, BZIP2, ZSTD or NONE")),
            },
        }
    };
    let delimiter = match get("field_delimiter") {
        None => b'\x01',
        Some(v) if kind != OutputKind::Text => {
            return Err(bad(
                "field_delimiter",
                v,
                &format!("it applies to TEXTFILE, and the format is {}", kind.name()),
            ));
        }
        Some(v) => match decode_delimiter(&text("field_delimiter", v)?) {
            Some(c) if c.is_ascii() && c != '\n' && c != '\r' => c as u8,
            _ => {
                return Err(bad(
                    "field_delimiter",
                    v,
                    "expected one ASCII character (e.g. ',', '|', '\\t')",
                ));
            }
        },
    };
    Ok(match kind {
        OutputKind::Parquet => FileEncoding::Parquet(match compression.as_ref() {
            // Athena's default for Parquet.
            None => Compression::GZIP(GzipLevel::default()),
            Some((c, v)) => match c.as_str() {
                "GZIP" => Compression::GZIP(GzipLevel::default()),
                "SNAPPY" => Compression::SNAPPY,
                "ZSTD" => Compression::ZSTD(
                    ZstdLevel::try_new(zstd_level).map_err(|e| bad("compression_level", v, &e.to_string()))?,
                ),
                "LZ4" => Compression::LZ4_RAW,
                "NONE" | "UNCOMPRESSED" => Compression::UNCOMPRESSED,
                _ => return Err(bad("write_compression", v, "expected SNAPPY, GZIP, ZSTD, LZ4 or NONE")),
            },
        }),
        OutputKind::Text => FileEncoding::Text {
            delimiter,
            codec: text_codec(compression.as_ref())?,
        },
        OutputKind::Json => FileEncoding::Json(text_codec(compression.as_ref())?),
    })
}

/// `partitioned_by`, `bucketed_by` and `bucket_count`, which must agree.
fn layout(props: &Props) -> Result<(Vec<String>, Vec<String>, Option<u32>)> {
    let get = |k: &str| props.get(k);
    let partitioned_by = get("partitioned_by")
        .map(|v| names("partitioned_by", v))
        .transpose()?
        .unwrap_or_default();
    let bucketed_by = get("bucketed_by")
        .map(|v| names("bucketed_by", v))
        .transpose()?
        .unwrap_or_default();
    let bucket_count = match get("bucket_count") {
        None => None,
        Some(v) => {
            let n = number("bucket_count", v)?;
            if !(1..=100_000).contains(&n) {
                return Err(bad("bucket_count", v, "expected 1 to 100000"));
            }
            Some(n as u32)
        }
    };
    match (bucketed_by.is_empty(), bucket_count) {
        (false, None) => return Err(EngineError::invalid(Part::Property, "bucketed_by needs bucket_count")),
        (true, Some(_)) => return Err(EngineError::invalid(Part::Property, "bucket_count needs bucketed_by")),
        _ => {}
    }
    if let Some(both) = bucketed_by.iter().find(|b| partitioned_by.contains(b)) {
        return Err(EngineError::invalid(
            Part::Property,
            format!(
                "column '{both}' is in both partitioned_by and bucketed_by; a partition column has one value per folder"
            ),
        ));
    }
    Ok((partitioned_by, bucketed_by, bucket_count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> PropValue {
        PropValue::Text(s.into())
    }

    fn err(props: &[(&str, PropValue)]) -> String {
        let props: Vec<(String, PropValue)> = props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        ctas_options(&props).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn defaults_follow_athena() -> Result<()> {
        let o = ctas_options(&[])?;
        assert_eq!(
            o.encoding,
            FileEncoding::Parquet(Compression::GZIP(GzipLevel::default()))
        );
        let o = ctas_options(&[("format".into(), t("textfile"))])?;
        assert_eq!(
            o.encoding,
            FileEncoding::Text {
                delimiter: 1,
                codec: TextCodec::Gzip
            }
        );
        let o = ctas_options(&[
            ("format".into(), t("PARQUET")),
            ("parquet_compression".into(), t("SNAPPY")),
            ("bucketed_by".into(), PropValue::Array(vec!["State".into()])),
            ("bucket_count".into(), PropValue::Number("60".into())),
        ])?;
        assert_eq!(
            (o.encoding.compression_name(), o.bucketed_by, o.bucket_count),
            ("SNAPPY", vec!["state".to_string()], Some(60))
        );
        Ok(())
    }

    #[test]
    fn delta_is_a_table_type_or_a_format() -> Result<()> {
        for props in [
            vec![
                ("table_type".to_string(), t("DELTA")),
                ("location".into(), t("s3://b/t/")),
            ],
            vec![
                ("format".to_string(), t("delta")),
                ("external_location".into(), t("s3://b/t/")),
            ],
        ] {
            let o = ctas_options(&props)?;
            assert!(o.delta);
            assert_eq!(o.location.as_deref(), Some("s3://b/t/"));
        }
        assert!(!ctas_options(&[("format".into(), t("PARQUET"))])?.delta);
        Ok(())
    }

    #[test]
    fn bad_properties_are_named() {
        assert!(err(&[("fromat", t("PARQUET"))]).contains("unknown property 'fromat'"));
        assert!(err(&[("format", t("ORC"))]).contains("not supported yet"));
        assert!(err(&[("table_type", t("ICEBERG"))]).contains("table_type 'ICEBERG' is not supported"));
        assert!(err(&[("location", t("s3://b/p/"))]).contains("use external_location"));
        assert!(
            err(&[("table_type", t("DELTA")), ("format", t("JSON"))]).contains("a Delta table's files are Parquet")
        );
        assert!(
            err(&[
                ("table_type", t("DELTA")),
                ("location", t("/a/")),
                ("external_location", t("/b/"))
            ])
            .contains("cannot both be given")
        );
        assert!(
            err(&[("write_compression", t("GZIP")), ("parquet_compression", t("SNAPPY"))])
                .contains("cannot both be given")
        );
        assert!(err(&[("bucket_count", PropValue::Number("8".into()))]).contains("bucket_count needs bucketed_by"));
        assert!(err(&[("format", t("PARQUET")), ("field_delimiter", t("|"))]).contains("field_delimiter"));
        assert!(err(&[("compression_level", PropValue::Number("5".into()))]).contains("ZSTD compression only"));
        assert!(err(&[("format", t("TEXTFILE")), ("field_delimiter", t("||"))]).contains("one ASCII character"));
        assert!(err(&[("format", t("PARQUET")), ("format", t("JSON"))]).contains("given twice"));
    }
}
