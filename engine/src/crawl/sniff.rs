//! What one file is: its format, compression, delimiter, header and column types, from a bounded sample (the first
//! MiB of a text file, decompressed; a Parquet file's footer).
//!
//! Glue's CSV classifier finds a header only when some data column is not a string, so an all-string CSV gets
//! `col0, col1, ...` and its header row is read as data. Here a first row also counts as a header when every field
//! is a plausible column name, none of them recurs in its column, and the data values are not name-like (they hold
//! spaces, digits, `@`, `-`, ...), which is how a person tells `customer_id|email` from `C-0001|ana@example.com`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::text_source::Codec;
use crate::types::arrow_to_hive;

/// Bytes of a text file read to sniff it (Glue reads the first MiB too).
pub(crate) const SAMPLE_BYTES: u64 = 1 << 20;
/// Rows used for type inference per file (Glue uses the first 1,000 records).
const SAMPLE_ROWS: usize = 1000;
/// Delimiters tried, in Glue's order: comma, pipe, tab, semicolon, Ctrl-A.
const DELIMITERS: [char; 5] = [',', '|', '\t', ';', '\u{1}'];

/// A column's type as inferred; merged across values and files by widening.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// Only empty values / JSON nulls seen so far.
    Null,
    Boolean,
    Bigint,
    /// Decimal literals (`19.99`): digits before the point and after it.
    Decimal {
        int_digits: u32,
        scale: u32,
    },
    Double,
    Date,
    Timestamp,
    String,
    /// A type read from file metadata (Parquet), kept as written.
    Exact(String),
    Array(Box<Kind>),
    Struct(Vec<(String, Kind)>),
}

impl Kind {
    /// The Hive type name (`string` for a column that was always empty).
    pub(crate) fn hive(&self) -> String {
        match self {
            Kind::Null | Kind::String => "string".into(),
            Kind::Boolean => "boolean".into(),
            Kind::Bigint => "bigint".into(),
            Kind::Decimal { int_digits, scale } => {
                // Room for larger values than the sample's, within a 64-bit decimal where possible.
                let precision = (int_digits + scale).clamp(18, 38);
                format!("decimal({precision},{scale})")
            }
            Kind::Double => "double".into(),
            Kind::Date => "date".into(),
            Kind::Timestamp => "timestamp".into(),
            Kind::Exact(t) => t.clone(),
            Kind::Array(e) => format!("array<{}>", e.hive()),
            Kind::Struct(fields) => format!(
                "struct<{}>",
                fields
                    .iter()
                    .map(|(n, k)| format!("{n}:{}", k.hive()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    /// The narrowest type holding both; `None` when only `string` does (a conflict worth reporting).
    pub(crate) fn merge(&self, other: &Kind) -> Option<Kind> {
        use Kind::*;
        Some(match (self, other) {
            (a, b) if a == b => a.clone(),
            (Null, k) | (k, Null) => k.clone(),
            (Bigint, Decimal { int_digits, scale }) | (Decimal { int_digits, scale }, Bigint) => Decimal {
                int_digits: (*int_digits).max(18),
                scale: *scale,
            },
            (
                Decimal {
                    int_digits: a,
                    scale: s,
                },
                Decimal {
                    int_digits: b,
                    scale: t,
                },
            ) => Decimal {
                int_digits: (*a).max(*b),
                scale: (*s).max(*t),
            },
            (Double, Bigint | Decimal { .. }) | (Bigint | Decimal { .. }, Double) => Double,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            (Array(a), Array(b)) => Array(Box::new(a.merge(b)?)),
            (Struct(a), Struct(b)) => {
                let mut fields = a.clone();
                for (name, kind) in b {
                    match fields.iter_mut().find(|(n, _)| n == name) {
                        Some((_, existing)) => *existing = existing.merge(kind)?,
                        None => fields.push((name.clone(), kind.clone())),
                    }
                }
                Struct(fields)
            }
            _ => return None,
        })
    }

    /// The type of one text value. Integers with a leading zero (`02134`) stay strings: they are codes, not numbers.
    pub(crate) fn of_text(value: &str) -> Kind {
        let v = value.trim();
        if v.is_empty() {
            return Kind::Null;
        }
        if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
            return Kind::Boolean;
        }
        let digits = v.strip_prefix('-').unwrap_or(v);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if digits.len() > 1 && digits.starts_with('0') {
                return Kind::String;
            }
            return if digits.len() <= 18 { Kind::Bigint } else { Kind::String };
        }
        if let Some((int, frac)) = digits.split_once('.')
            && !int.is_empty()
            && !frac.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(int.len() > 1 && int.starts_with('0'))
        {
            let (int_digits, scale) = (int.len() as u32, frac.len() as u32);
            return if scale <= 6 && int_digits + scale <= 38 {
                Kind::Decimal { int_digits, scale }
            } else {
                Kind::Double
            };
        }
        if v.parse::<f64>().is_ok_and(f64::is_finite) && v.bytes().any(|b| b == b'e' || b == b'E') {
            return Kind::Double;
        }
        if v.len() == 10 && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() {
            return Kind::Date;
        }
        if v.len() >= 19
            && (chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").is_ok()
                || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").is_ok())
        {
            return Kind::Timestamp;
        }
        Kind::String
    }

    fn of_json(value: &serde_json::Value) -> Kind {
        use serde_json::Value;
        match value {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Boolean,
            Value::Number(n) if n.is_i64() => Kind::Bigint,
            Value::Number(_) => Kind::Double,
            Value::String(_) => Kind::String,
            Value::Array(items) => Kind::Array(Box::new(
                items
                    .iter()
                    .map(Kind::of_json)
                    .fold(Kind::Null, |acc, k| acc.merge(&k).unwrap_or(Kind::String)),
            )),
            Value::Object(map) => Kind::Struct(map.iter().map(|(k, v)| (k.to_lowercase(), Kind::of_json(v))).collect()),
        }
    }
}

/// The format of a file as sniffed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Format {
    Csv {
        delimiter: char,
        header: bool,
        /// Fields in double quotes: read with OpenCSVSerde.
        quoted: bool,
    },
    Json,
    Parquet {
        /// The first column chunk's codec (`snappy`, `zstd`, ...), for the summary.
        compression: String,
    },
}

impl Format {
    /// Files of one table must agree on this.
    pub(crate) fn signature(&self) -> String {
        match self {
            Format::Csv {
                delimiter,
                header,
                quoted,
            } => format!("csv {delimiter:?} header={header} quoted={quoted}"),
            Format::Json => "json".into(),
            Format::Parquet { .. } => "parquet".into(),
        }
    }
}

/// What one file holds.
#[derive(Debug, Clone)]
pub(crate) struct FileSchema {
    pub format: Format,
    /// For text files: the codec, and whether the file name says so (Athena reads codecs from extensions only).
    pub codec: Codec,
    pub codec_in_name: bool,
    /// Column names (lower-cased) with their types, in file order.
    pub columns: Vec<(String, Kind)>,
    /// JSON keys as the file spells them, where that differs from the column name.
    pub spellings: BTreeMap<String, String>,
    pub sampled_bytes: u64,
}

/// Sniffs `meta` with at most two range requests. `Err` says why the file is not a table file tarn can read.
pub(crate) async fn sniff(store: &Arc<dyn ObjectStore>, meta: &ObjectMeta) -> Result<FileSchema, String> {
    let head_len = meta.size.min(SAMPLE_BYTES);
    let head = store
        .get_range(&meta.location, 0..head_len)
        .await
        .map_err(|e| format!("cannot read it ({e})"))?;
    if head.starts_with(b"PAR1") {
        return sniff_parquet(store, &meta.location, meta.size, head_len).await;
    }
    let name = meta.location.filename().unwrap_or_default();
    let by_name = Codec::for_file(name, Codec::None)?;
    let by_magic = codec_by_magic(&head);
    let codec = if by_name == Codec::None { by_magic } else { by_name };
    let (text, complete) = decompress(&head, codec, head_len == meta.size)?;
    let mut schema = sniff_text(&text, complete)?;
    schema.codec = codec;
    schema.codec_in_name = by_name != Codec::None || codec == Codec::None;
    schema.sampled_bytes = head_len;
    Ok(schema)
}

fn codec_by_magic(head: &[u8]) -> Codec {
    if head.starts_with(&[0x1f, 0x8b]) {
        Codec::Gzip
    } else if head.starts_with(b"BZh") {
        Codec::Bzip2
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Codec::Zstd
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Codec::Xz
    } else {
        Codec::None
    }
}

/// Decompresses as much of a (possibly truncated) compressed prefix as decodes; returns the text and whether it is
/// the whole file.
fn decompress(head: &[u8], codec: Codec, whole_file: bool) -> Result<(String, bool), String> {
    let mut out = Vec::new();
    let limit = 4 * SAMPLE_BYTES;
    let result = match codec {
        Codec::None => {
            out.extend_from_slice(head);
            Ok(0)
        }
        Codec::Gzip => flate2::read::MultiGzDecoder::new(head)
            .take(limit)
            .read_to_end(&mut out),
        Codec::Bzip2 => bzip2::read::MultiBzDecoder::new(head).take(limit).read_to_end(&mut out),
        Codec::Zstd => zstd::stream::read::Decoder::new(head).and_then(|d| d.take(limit).read_to_end(&mut out)),
        Codec::Xz => liblzma::read::XzDecoder::new_multi_decoder(head)
            .take(limit)
            .read_to_end(&mut out),
    };
    // A truncated stream ends in an error after the decodable part: keep that part.
    if result.is_err() && out.is_empty() {
        return Err(format!("it is not valid {} data", codec.name()));
    }
    let complete = whole_file && result.is_ok() && (out.len() as u64) < limit;
    if out.contains(&0) && !out.contains(&b'\n') {
        return Err("it is binary, not text, JSON or Parquet".into());
    }
    Ok((String::from_utf8_lossy(&out).into_owned(), complete))
}

async fn sniff_parquet(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    size: u64,
    head_len: u64,
) -> Result<FileSchema, String> {
    let bad = |what: &str| format!("it starts like Parquet but {what}");
    if size < 12 {
        return Err(bad("is too short"));
    }
    let tail: Bytes = store
        .get_range(path, size - 8..size)
        .await
        .map_err(|e| format!("cannot read its footer ({e})"))?;
    if &tail[4..8] != b"PAR1" {
        return Err(bad("has no Parquet footer (truncated?)"));
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 8 > size {
        return Err(bad("its footer length is larger than the file"));
    }
    let footer = store
        .get_range(path, size - 8 - len..size - 8)
        .await
        .map_err(|e| format!("cannot read its footer ({e})"))?;
    let metadata =
        ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| bad(&format!("its footer is invalid ({e})")))?;
    let file = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| bad(&format!("its schema cannot be read ({e})")))?;
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let hive = arrow_to_hive(f.data_type()).map_err(|e| format!("column '{}': {e}", f.name()))?;
            Ok((f.name().to_lowercase(), Kind::Exact(hive)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let compression = metadata
        .row_groups()
        .first()
        .and_then(|rg| rg.columns().first())
        .map(|c| {
            let text = format!("{:?}", c.compression()).to_lowercase();
            text.split('(').next().unwrap_or_default().to_string()
        })
        .unwrap_or_else(|| "none".into());
    Ok(FileSchema {
        format: Format::Parquet { compression },
        codec: Codec::None,
        codec_in_name: true,
        columns,
        spellings: BTreeMap::new(),
        sampled_bytes: head_len.min(4) + 8 + len,
    })
}

/// Sniffs decompressed text: JSON lines, or delimited text.
pub(crate) fn sniff_text(text: &str, complete: bool) -> Result<FileSchema, String> {
    // Excel and many Windows tools start UTF-8 files with a byte-order mark; it is not part of the first field.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    // The sample may end inside a line.
    if !complete && lines.len() > 1 {
        lines.pop();
    }
    let lines: Vec<&str> = lines
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .take(SAMPLE_ROWS + 1)
        .collect();
    let Some(first) = lines.first() else {
        return Err("it holds no data rows".into());
    };
    if first.trim_start().starts_with('{') {
        return sniff_json(&lines);
    }
    sniff_csv(&lines)
}

fn sniff_json(lines: &[&str]) -> Result<FileSchema, String> {
    let mut columns: Vec<(String, Kind)> = Vec::new();
    let mut spellings = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let OrderedObject(map) = serde_json::from_str(line).map_err(|e| {
            format!(
                "line {} is not a JSON object ({e}); tarn reads one JSON object per line",
                i + 1
            )
        })?;
        for (key, v) in &map {
            let name = column_name(key);
            if &name != key {
                spellings.entry(name.clone()).or_insert_with(|| key.clone());
            }
            let kind = Kind::of_json(v);
            match columns.iter_mut().find(|(n, _)| *n == name) {
                Some((_, existing)) => *existing = existing.merge(&kind).unwrap_or(Kind::String),
                None => columns.push((name, kind)),
            }
        }
    }
    Ok(FileSchema {
        format: Format::Json,
        codec: Codec::None,
        codec_in_name: true,
        columns,
        spellings,
        sampled_bytes: 0,
    })
}

/// A JSON object's members in file order (`serde_json::Value` sorts them), so columns keep the files' order.
struct OrderedObject(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(OrderedObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Splits a line on `delimiter`, honouring double quotes when `quotes`.
fn split(line: &str, delimiter: char, quotes: bool) -> Vec<String> {
    if !quotes {
        return line.split(delimiter).map(str::to_string).collect();
    }
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => in_quotes = !in_quotes,
            c if c == delimiter && !in_quotes => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn sniff_csv(lines: &[&str]) -> Result<FileSchema, String> {
    let quotes = lines.iter().take(20).any(|l| l.trim_start().starts_with('"'));
    // The delimiter that splits every sampled line into the same number (>= 2) of fields; the most fields wins.
    let mut best: Option<(char, usize)> = None;
    for delimiter in DELIMITERS {
        let counts: Vec<usize> = lines.iter().map(|l| split(l, delimiter, quotes).len()).collect();
        let n = counts[0];
        if n >= 2 && counts.iter().all(|&c| c == n) && best.is_none_or(|(_, m)| n > m) {
            best = Some((delimiter, n));
        }
    }
    let Some((delimiter, width)) = best else {
        return Err(
            "no delimiter among , | tab ; Ctrl-A splits its lines into the same number of fields (2 or more)".into(),
        );
    };
    let rows: Vec<Vec<String>> = lines.iter().map(|l| split(l, delimiter, quotes)).collect();
    let header = rows.len() >= 2 && is_header(&rows[0], &rows[1..]);
    let data = if header { &rows[1..] } else { &rows[..] };
    let names: Vec<String> = if header {
        column_names(&rows[0])
    } else {
        (0..width).map(|i| format!("col{i}")).collect()
    };
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let kind = data
                .iter()
                .map(|r| Kind::of_text(&r[i]))
                .fold(Kind::Null, |acc, k| acc.merge(&k).unwrap_or(Kind::String));
            (name, kind)
        })
        .collect();
    Ok(FileSchema {
        format: Format::Csv {
            delimiter,
            header,
            quoted: quotes,
        },
        codec: Codec::None,
        codec_in_name: true,
        columns,
        spellings: BTreeMap::new(),
        sampled_bytes: 0,
    })
}

fn is_name(field: &str) -> bool {
    let f = field.trim();
    !f.is_empty()
        && f.len() < 150
        && f.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '-' | '.'))
}

fn is_header(first: &[String], data: &[Vec<String>]) -> bool {
    let mut seen = std::collections::HashSet::new();
    if !first.iter().all(|f| is_name(f) && seen.insert(f.trim().to_lowercase())) {
        return false;
    }
    let data_kinds: Vec<Kind> = (0..first.len())
        .map(|i| {
            data.iter()
                .map(|r| Kind::of_text(&r[i]))
                .fold(Kind::Null, |acc, k| acc.merge(&k).unwrap_or(Kind::String))
        })
        .collect();
    // Glue's rule: a typed data column under a string header field.
    if data_kinds.iter().any(|k| !matches!(k, Kind::String | Kind::Null)) {
        return true;
    }
    // All strings. A header's values do not recur in their column...
    if (0..first.len()).any(|i| data.iter().any(|r| r[i].trim() == first[i].trim())) {
        return false;
    }
    // ...and a column's first value tells itself apart from the column's data the way a person sees it: it is a
    // word columns are named with (`city`, `first_name`), or it is written differently from every value below it
    // (`city` over `Paris` and `Sao Paulo`, `attr1` over `red`, `code` over `X12`). A first row written like the rows
    // below it is data. Each column votes; a tie is data, as a wrong header loses a row where a missed one only
    // misnames columns.
    let (mut header, mut data_like) = (0, 0);
    for (i, field) in first.iter().enumerate() {
        let shapes: std::collections::HashSet<String> = data
            .iter()
            .map(|r| r[i].trim())
            .filter(|v| !v.is_empty())
            .map(shape)
            .collect();
        if is_column_word(field) || !shapes.contains(&shape(field.trim())) {
            header += 1;
        } else {
            data_like += 1;
        }
    }
    header > data_like
}

/// How a value is written: runs of upper-case letters as `A`, lower-case as `a`, digits as `9`, white space as one
/// space, anything else as itself (`Sao Paulo` → `Aa Aa`, `first_name` → `a_a`, `C-0001` → `A-9`).
fn shape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        let class = if c.is_uppercase() {
            'A'
        } else if c.is_lowercase() {
            'a'
        } else if c.is_ascii_digit() {
            '9'
        } else if c.is_whitespace() {
            ' '
        } else {
            c
        };
        if !out.ends_with(class) || !matches!(class, 'A' | 'a' | '9' | ' ') {
            out.push(class);
        }
    }
    out
}

/// Words tables name their columns with, in English; a field made only of them (`first_name`, `CustomerCity`,
/// `Job Title`) reads as a header.
const COLUMN_WORDS: &[&str] = &[
    "id",
    "key",
    "uuid",
    "name",
    "first",
    "last",
    "middle",
    "full",
    "given",
    "family",
    "surname",
    "email",
    "mail",
    "phone",
    "mobile",
    "fax",
    "address",
    "street",
    "line",
    "city",
    "town",
    "state",
    "province",
    "county",
    "country",
    "region",
    "zip",
    "postal",
    "postcode",
    "code",
    "iso",
    "lat",
    "lon",
    "lng",
    "latitude",
    "longitude",
    "date",
    "time",
    "timestamp",
    "datetime",
    "year",
    "month",
    "day",
    "week",
    "hour",
    "created",
    "updated",
    "modified",
    "at",
    "on",
    "start",
    "end",
    "amount",
    "price",
    "cost",
    "total",
    "sum",
    "qty",
    "quantity",
    "count",
    "number",
    "num",
    "no",
    "status",
    "state",
    "type",
    "kind",
    "category",
    "class",
    "group",
    "segment",
    "tier",
    "level",
    "grade",
    "rank",
    "score",
    "rating",
    "description",
    "desc",
    "title",
    "job",
    "role",
    "department",
    "dept",
    "company",
    "employer",
    "organization",
    "org",
    "product",
    "item",
    "sku",
    "brand",
    "model",
    "color",
    "colour",
    "size",
    "weight",
    "height",
    "width",
    "length",
    "unit",
    "currency",
    "value",
    "label",
    "tag",
    "tags",
    "notes",
    "note",
    "comment",
    "comments",
    "url",
    "link",
    "path",
    "method",
    "host",
    "ip",
    "user",
    "username",
    "login",
    "account",
    "customer",
    "client",
    "order",
    "invoice",
    "payment",
    "channel",
    "source",
    "medium",
    "campaign",
    "gender",
    "sex",
    "age",
    "birth",
    "birthdate",
    "dob",
    "income",
    "salary",
    "household",
    "person",
    "member",
    "owner",
    "manager",
    "parent",
    "flag",
    "is",
    "has",
    "yes",
    "of",
    "to",
    "from",
    "by",
    "per",
    "and",
];

fn is_column_word(field: &str) -> bool {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in field.trim().chars() {
        if c == '_' || c == ' ' || c == '-' || c == '.' {
            words.push(std::mem::take(&mut word));
            previous_lower = false;
            continue;
        }
        // camelCase: a capital after a small letter starts a word.
        if c.is_uppercase() && previous_lower {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    let words: Vec<&String> = words.iter().filter(|w| !w.is_empty()).collect();
    !words.is_empty()
        && words
            .iter()
            .all(|w| COLUMN_WORDS.contains(&w.as_str()) || w.bytes().all(|b| b.is_ascii_digit()))
}

/// A column (or table) name for a header field, JSON key or folder: lower-cased, characters other than letters, digits and `_` as
/// `_` (a JSON key keeps its spelling through OpenX's `mapping.<column>`).
pub(super) fn column_name(text: &str) -> String {
    let name: String = text
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if name.is_empty() { "_col".into() } else { name }
}

/// Header fields as column names, duplicates numbered.
fn column_names(header: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for field in header {
        let mut name = column_name(field);
        if names.contains(&name) {
            let base = name.clone();
            let mut n = 2;
            while names.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
        }
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<FileSchema, String> {
        sniff_text(text, true)
    }

    fn types(schema: &FileSchema) -> Vec<(String, String)> {
        schema.columns.iter().map(|(n, k)| (n.clone(), k.hive())).collect()
    }

    #[test]
    fn delimiters_headers_and_types() -> Result<(), String> {
        let s = csv(
            "id|amount|day|seen|zip|ok\n1|19.99|2024-01-01|2024-01-01 10:00:00|02134|true\n2|5.5|2024-01-02|2024-01-02 11:00:00.123|10001|false\n",
        )?;
        assert_eq!(
            s.format,
            Format::Csv {
                delimiter: '|',
                header: true,
                quoted: false
            }
        );
        assert_eq!(
            types(&s),
            [
                ("id".into(), "bigint".into()),
                ("amount".into(), "decimal(18,2)".into()),
                ("day".into(), "date".into()),
                ("seen".into(), "timestamp".into()),
                ("zip".into(), "string".into()),
                ("ok".into(), "boolean".into())
            ]
        );
        let tab = csv("a\tb\n1\t2.5e3\n")?;
        assert_eq!(types(&tab)[1].1, "double");
        let ctrl_a = csv("x\u{1}y\u{1}z\n1\u{1}2\u{1}3\n")?;
        assert!(matches!(
            ctrl_a.format,
            Format::Csv {
                delimiter: '\u{1}',
                header: true,
                ..
            }
        ));
        Ok(())
    }

    #[test]
    fn all_string_csv_header_is_found_where_glue_misses_it() -> Result<(), String> {
        let with_header =
            csv("customer_id,email,city\nC-0001,ana@example.com,Sao Paulo\nC-0002,bo@example.com,Lima\n")?;
        assert!(matches!(with_header.format, Format::Csv { header: true, .. }));
        assert_eq!(with_header.columns[1].0, "email");
        // Name-like data: no header, generic names, the first row is data.
        let without = csv("alice,paris\nbob,lyon\n")?;
        assert!(matches!(without.format, Format::Csv { header: false, .. }));
        assert_eq!(without.columns[0].0, "col0");
        // A first row whose values recur below is data.
        let repeated = csv("gold,EU-1\ngold,EU-2\n")?;
        assert!(matches!(repeated.format, Format::Csv { header: false, .. }));
        Ok(())
    }

    #[test]
    fn json_lines_and_nesting() -> Result<(), String> {
        let s = sniff_text(
            "{\"Id\": 1, \"tags\": [\"a\"], \"geo\": {\"lat\": 1.5}}\n{\"Id\": 2, \"extra\": null, \"user.name\": \"x\"}\n",
            true,
        )?;
        assert_eq!(s.format, Format::Json);
        assert_eq!(
            types(&s),
            [
                ("id".into(), "bigint".into()),
                ("tags".into(), "array<string>".into()),
                ("geo".into(), "struct<lat:double>".into()),
                ("extra".into(), "string".into()),
                ("user_name".into(), "string".into())
            ]
        );
        assert_eq!(s.spellings.get("id").map(String::as_str), Some("Id"));
        assert_eq!(s.spellings.get("user_name").map(String::as_str), Some("user.name"));
        Ok(())
    }

    #[test]
    fn widening_and_conflicts() {
        let int = Kind::of_text("7");
        let dec = Kind::of_text("1.25");
        assert_eq!(int.merge(&dec).map(|k| k.hive()), Some("decimal(20,2)".into()));
        assert_eq!(dec.merge(&Kind::Double), Some(Kind::Double));
        assert_eq!(Kind::Date.merge(&Kind::Timestamp), Some(Kind::Timestamp));
        assert_eq!(Kind::Boolean.merge(&Kind::Bigint), None);
        assert_eq!(Kind::of_text("not a number"), Kind::String);
    }

    /// The corpus in `fixtures/headers/`: deliveries with and without a header line, most of them all text (names,
    /// cities, codes), where Glue's rule cannot tell. Returns (files, right, the files it got wrong).
    fn header_corpus_score() -> Result<(usize, usize, Vec<String>), String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/headers");
        let expected = std::fs::read_to_string(dir.join("expected.tsv")).map_err(|e| e.to_string())?;
        let (mut total, mut right, mut wrong) = (0, 0, Vec::new());
        for line in expected.lines().skip(1) {
            let (file, header) = line.split_once('\t').ok_or("bad expected.tsv")?;
            let text = std::fs::read_to_string(dir.join(file)).map_err(|e| e.to_string())?;
            let found = matches!(csv(&text)?.format, Format::Csv { header: true, .. });
            total += 1;
            if found == (header == "yes") {
                right += 1;
            } else {
                wrong.push(file.to_string());
            }
        }
        Ok((total, right, wrong))
    }

    /// DuckDB's sniffer on the same corpus (`sniff_csv(...).HasHeader`), when its Python package is installed.
    fn duckdb_header_score() -> Option<usize> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/headers");
        let script = "import duckdb, sys\n\
            duckdb.sql('SET enable_progress_bar = false')\n\
            rows = open('expected.tsv').read().splitlines()[1:]\n\
            print(sum(duckdb.sql(f\"SELECT HasHeader FROM sniff_csv('{f}')\").fetchall()[0][0] == (h == 'yes') \
            for f, h in (r.split('\\t') for r in rows)))";
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .output()
            .ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    }

    #[test]
    fn headers_are_found_at_least_as_well_as_duckdb_finds_them() -> Result<(), String> {
        let (total, right, wrong) = header_corpus_score()?;
        assert!(total >= 30, "{total} files");
        eprintln!("header corpus: tarn {right}/{total}");
        match duckdb_header_score() {
            Some(duck) => {
                eprintln!("header corpus: DuckDB {duck}/{total}");
                assert!(right >= duck, "tarn {right}, DuckDB {duck}; tarn got wrong: {wrong:?}");
            }
            None if std::env::var("CI").is_ok() => return Err("CI needs the duckdb Python package".into()),
            None => eprintln!("duckdb is not installed: its score is not compared"),
        }
        assert!(wrong.is_empty(), "tarn got wrong: {wrong:?}");
        Ok(())
    }

    #[test]
    fn unreadable_text_says_why() {
        let e = csv("just one column\nanother\n").err().unwrap_or_default();
        assert!(e.contains("no delimiter"), "{e}");
        let e = sniff_text("{\"a\": 1}\n{broken\n", true).err().unwrap_or_default();
        assert!(e.contains("line 2 is not a JSON object"), "{e}");
        let e = sniff_text("{\"a\": 1}\n[1, 2]\n", true).err().unwrap_or_default();
        assert!(e.contains("line 2 is not a JSON object"), "{e}");
    }
}
