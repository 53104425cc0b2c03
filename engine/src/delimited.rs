//! Delimited text read the way Athena reads it, and accounted for better than Athena does.
//!
//! * Values are decoded as text first, then converted to the column's type. A value that does not convert (`abc`
//!   in a `bigint` column) reads as NULL, as Athena's LazySimpleSerDe reads it, and is counted per column with one
//!   example `file:line`, which the figures line reports (Athena says nothing). `SET tarn.text.strict = true` makes
//!   it an error naming the file, line, column and value instead.
//! * LazySimpleSerDe: the table's `serialization.null.format` (default `\N`) is NULL in every column; an empty field
//!   is an empty string in a string column and NULL in any other. OpenCSVSerde has no NULL: every field is text,
//!   `\N` included, and an empty field is an empty string in a string column and NULL in any other (Athena fails the
//!   query there; tarn reads NULL). OpenCSVSerde dates may be days since 1970 and timestamps milliseconds since it,
//!   as Athena documents, as well as ISO text.
//! * Invalid UTF-8 is replaced with U+FFFD, as Athena does, and counted the same way.
//! * Lines are numbered as the file numbers them (blank lines and the header included), so every error and example
//!   gives the line a text editor shows.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::csv::reader::Decoder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::CsvOptions;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileOpenFuture, FileOpener};
use datafusion::error::{DataFusionError, Result};
use datafusion_datasource::boundary_stream::AlignedBoundaryStream;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt};

use crate::codec::Codec;
use crate::error::DataFileError;
use crate::meter::ScanMeter;

/// How a SerDe turns fields into values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TextSerde {
    /// LazySimpleSerDe: `null_format` is NULL in every column.
    LazySimple { null_format: String },
    /// OpenCSVSerde: no NULL marker; typed columns take days/milliseconds since 1970 for dates/timestamps too.
    OpenCsv,
}

/// What one delimited scan needs to read a file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DelimitedFormat {
    pub delimiter: u8,
    pub quote: Option<u8>,
    pub escape: Option<u8>,
    pub header_lines: u64,
    pub pad_short_rows: bool,
    pub serde: TextSerde,
}

impl DelimitedFormat {
    /// DataFusion's CSV options for these rules (its source keeps a scan's projection, and its reader infers types
    /// when crawling). LazySimpleSerDe has no quoting; NUL never occurs in text data, so it disables it.
    pub(crate) fn csv_options(&self) -> CsvOptions {
        CsvOptions {
            has_header: Some(self.header_lines > 0),
            delimiter: self.delimiter,
            quote: self.quote.unwrap_or(0),
            escape: self.escape,
            ..Default::default()
        }
    }
}

/// Opens one file of a delimited scan: the columns `projection` selects from `file_schema`, typed.
pub struct DelimitedOpener {
    pub format: DelimitedFormat,
    /// The table's columns as they are in the files.
    pub file_schema: SchemaRef,
    /// Indices into `file_schema` to read, ascending.
    pub projection: Vec<usize>,
    pub batch_size: usize,
    pub codec: Codec,
    pub store: Arc<dyn ObjectStore>,
    /// The file's URL, for messages.
    pub url: String,
    /// Where the values read as NULL are counted (the query's meter).
    pub meter: Option<Arc<ScanMeter>>,
    /// Such values fail the query instead (`SET tarn.text.strict = true`).
    pub strict: bool,
}

const READ_CHUNK: usize = 1 << 20;

/// Bytes of decompressed text, from a local file (read in place) or a stream (S3, or a byte range).
enum Input {
    Read(Box<dyn Read + Send>),
    Stream(BoxStream<'static, Result<Bytes>>),
}

impl Input {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        match self {
            Input::Read(reader) => {
                let mut buffer = Vec::with_capacity(READ_CHUNK);
                reader
                    .by_ref()
                    .take(READ_CHUNK as u64)
                    .read_to_end(&mut buffer)
                    .map_err(DataFusionError::IoError)?;
                Ok((!buffer.is_empty()).then(|| Bytes::from(buffer)))
            }
            Input::Stream(stream) => stream.try_next().await,
        }
    }
}

fn compression(codec: Codec) -> FileCompressionType {
    match codec {
        Codec::None => FileCompressionType::UNCOMPRESSED,
        Codec::Gzip => FileCompressionType::GZIP,
        Codec::Bzip2 => FileCompressionType::BZIP2,
        Codec::Zstd => FileCompressionType::ZSTD,
        Codec::Xz => FileCompressionType::XZ,
    }
}

impl FileOpener for DelimitedOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let location = file.object_meta.location.clone();
        let size = file.object_meta.size;
        let range = file
            .range
            .as_ref()
            .map(|r| (r.start.max(0) as u64, r.end.max(0) as u64));
        let codec = compression(self.codec);
        let store = Arc::clone(&self.store);
        let context = FileContext {
            url: self.url.clone(),
            path: location.clone(),
            store: Arc::clone(&self.store),
            range_start: range.map(|(start, _)| start).unwrap_or(0),
            lines_before: None,
        };
        let string_schema = Arc::new(Schema::new(
            self.file_schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let mut builder = datafusion::arrow::csv::ReaderBuilder::new(string_schema)
            .with_delimiter(self.format.delimiter)
            .with_header(false)
            .with_batch_size(self.batch_size)
            .with_projection(self.projection.clone())
            .with_truncated_rows(self.format.pad_short_rows)
            // The decoder's NULL is an empty field; the SerDe decides below what that and every other field is.
            .with_quote(self.format.quote.unwrap_or(0));
        if let Some(escape) = self.format.escape {
            builder = builder.with_escape(escape);
        }
        let decoder = builder.build_decoder();
        let targets: Vec<Field> = self
            .projection
            .iter()
            .map(|&i| self.file_schema.field(i).clone())
            .collect();
        let output = Arc::new(Schema::new(targets.clone()));
        let state = ReadState {
            input: None,
            carry: BytesMut::new(),
            eof: false,
            next_line: 1,
            header_left: if context.range_start == 0 {
                self.format.header_lines
            } else {
                0
            },
            decoder,
            batch_size: self.batch_size,
            pending: VecDeque::new(),
            fields: VecDeque::new(),
            format: self.format.clone(),
            targets,
            projection: self.projection.clone(),
            output,
            meter: self.meter.clone(),
            strict: self.strict,
            context,
            invalid_utf8: None,
        };
        Ok(Box::pin(async move {
            let input = match range {
                Some((start, end)) => {
                    let aligned = AlignedBoundaryStream::new(Arc::clone(&store), location, start, end, size, b'\n')
                        .await?
                        .map_err(DataFusionError::from);
                    Input::Stream(codec.convert_stream(aligned.boxed())?)
                }
                None => match store.get(&location).await?.payload {
                    GetResultPayload::File(file, _) => Input::Read(codec.convert_read(file)?),
                    GetResultPayload::Stream(stream) => {
                        Input::Stream(codec.convert_stream(stream.map_err(DataFusionError::from).boxed())?)
                    }
                },
            };
            let state = ReadState {
                input: Some(input),
                ..state
            };
            Ok(futures::stream::try_unfold(state, |mut state| async move {
                let batch = state.next_batch().await?;
                Ok(batch.map(|b| (b, state)))
            })
            .boxed())
        }))
    }
}

/// Where the lines being read are, for messages. A byte range numbers its lines from its start until a message
/// needs the file's numbering; then the lines before the range are counted once.
struct FileContext {
    url: String,
    path: Path,
    store: Arc<dyn ObjectStore>,
    range_start: u64,
    lines_before: Option<Option<u64>>,
}

impl FileContext {
    /// `url:line` (or the range's own numbering when counting the lines before it is too costly).
    async fn place(&mut self, line: u64) -> (Option<u64>, String) {
        if self.range_start == 0 {
            return (Some(line), String::new());
        }
        if self.lines_before.is_none() {
            self.lines_before = Some(crate::codec::count_lines_before(&self.store, &self.path, self.range_start).await);
        }
        match self.lines_before.flatten() {
            Some(before) => (Some(before + line), String::new()),
            None => (
                None,
                format!(" (line {line} of the block starting at byte {})", self.range_start),
            ),
        }
    }

    async fn error(&mut self, line: u64, message: String) -> DataFusionError {
        let (line, suffix) = self.place(line).await;
        DataFusionError::External(Box::new(DataFileError {
            location: self.url.clone(),
            line,
            message: format!("{message}{suffix}"),
        }))
    }
}

struct ReadState {
    input: Option<Input>,
    /// Bytes after the last complete line read so far.
    carry: BytesMut,
    eof: bool,
    /// The number the next line read will have (from 1, in the file or range).
    next_line: u64,
    header_left: u64,
    decoder: Decoder,
    batch_size: usize,
    /// Line numbers of the records the decoder holds and has not flushed, as runs of consecutive lines.
    pending: VecDeque<(u64, u64)>,
    /// Field counts of those records, when short rows are padded.
    fields: VecDeque<usize>,
    format: DelimitedFormat,
    targets: Vec<Field>,
    projection: Vec<usize>,
    output: SchemaRef,
    meter: Option<Arc<ScanMeter>>,
    /// Unreadable values fail the query instead of reading as NULL.
    strict: bool,
    context: FileContext,
    /// Strict mode: the first line with invalid UTF-8, not reported yet.
    invalid_utf8: Option<u64>,
}

impl ReadState {
    fn strict(&self) -> bool {
        self.strict
    }

    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.decoder.capacity() == 0 || (self.eof && self.carry.is_empty()) {
                return self.flush().await;
            }
            if let Some(lines) = self.take_lines(self.decoder.capacity()) {
                self.feed(lines).await?;
                continue;
            }
            let chunk = match self.input.as_mut() {
                Some(input) => input.next_chunk().await?,
                None => None,
            };
            match chunk {
                Some(bytes) => self.carry.extend_from_slice(&bytes),
                None => {
                    self.eof = true;
                    // The last line need not end in a newline.
                    if !self.carry.is_empty() && !self.carry.ends_with(b"\n") {
                        self.carry.extend_from_slice(b"\n");
                    }
                }
            }
        }
    }

    /// Up to `max` complete lines from what has been read, as one buffer of records, with their line numbers noted
    /// in `pending`; blank lines and header lines are skipped (and numbered). `None` when no complete line is read.
    /// The records are handed over without copying unless a line in their midst is skipped.
    fn take_lines(&mut self, max: usize) -> Option<Bytes> {
        let mut taken = 0;
        let mut consumed = 0;
        // The records kept so far are `carry[kept_start..kept_end]`, or `copied` once a skipped line split them.
        let (mut kept_start, mut kept_end) = (0, 0);
        let mut copied: Option<Vec<u8>> = None;
        for end in memchr::memchr_iter(b'\n', &self.carry) {
            let line_start = consumed;
            let number = self.next_line;
            self.next_line += 1;
            consumed = end + 1;
            let mut line = &self.carry[line_start..end];
            // A byte-order mark (Excel, Windows tools) is not part of the first field.
            if number == 1 && self.context.range_start == 0 && line.starts_with(b"\xEF\xBB\xBF") {
                line = &line[3..];
                kept_start = line_start + 3;
                kept_end = kept_start;
            }
            let skip = if self.header_left > 0 {
                self.header_left -= 1;
                true
            } else {
                line.is_empty() || line == b"\r"
            };
            if skip {
                if copied.is_none() && kept_end == kept_start {
                    // Nothing kept yet: the records start after this line.
                    (kept_start, kept_end) = (consumed, consumed);
                } else if copied.is_none() {
                    copied = Some(self.carry[kept_start..kept_end].to_vec());
                }
                continue;
            }
            match &mut copied {
                Some(buffer) => {
                    buffer.extend_from_slice(line);
                    buffer.push(b'\n');
                }
                None => kept_end = consumed,
            }
            match self.pending.back_mut() {
                Some((first, count)) if *first + *count == number => *count += 1,
                _ => self.pending.push_back((number, 1)),
            }
            if self.format.pad_short_rows {
                self.fields
                    .push_back(count_fields(line, self.format.delimiter, self.format.escape));
            }
            taken += 1;
            if taken == max {
                break;
            }
        }
        if consumed == 0 {
            return None;
        }
        let chunk = self.carry.split_to(consumed).freeze();
        Some(match copied {
            Some(buffer) => Bytes::from(buffer),
            None => chunk.slice(kept_start..kept_end),
        })
    }

    /// Hands complete lines to the decoder, replacing invalid UTF-8 first.
    async fn feed(&mut self, lines: Bytes) -> Result<()> {
        let lines = match std::str::from_utf8(&lines) {
            Ok(_) => lines,
            Err(_) => Bytes::from(self.repair_utf8(&lines).await?),
        };
        let mut offset = 0;
        while offset < lines.len() {
            match self.decoder.decode(&lines[offset..]) {
                Ok(0) => break,
                Ok(n) => offset += n,
                Err(e) => return Err(self.decode_error(e).await),
            }
        }
        Ok(())
    }

    /// The records of `lines` (all complete) with each invalid UTF-8 sequence replaced by U+FFFD, counted; in strict
    /// mode, an error naming the first such line.
    async fn repair_utf8(&mut self, lines: &[u8]) -> Result<Vec<u8>> {
        let numbers: Vec<u64> = self.record_numbers().collect();
        let start = numbers.len() - memchr::memchr_iter(b'\n', lines).count();
        let mut repaired = Vec::with_capacity(lines.len() + 16);
        let mut replaced = 0u64;
        let mut first = None;
        for (i, line) in lines.split_inclusive(|b| *b == b'\n').enumerate() {
            match std::str::from_utf8(line) {
                Ok(_) => repaired.extend_from_slice(line),
                Err(_) => {
                    let fixed = String::from_utf8_lossy(line);
                    replaced += fixed.matches('\u{FFFD}').count() as u64;
                    first.get_or_insert(numbers.get(start + i).copied().unwrap_or_default());
                    repaired.extend_from_slice(fixed.as_bytes());
                }
            }
        }
        let line = first.unwrap_or_default();
        if self.strict() {
            // Reported when its batch is converted, so an unreadable value on an earlier line comes first.
            self.invalid_utf8.get_or_insert(line);
            return Ok(repaired);
        }
        let (number, suffix) = self.context.place(line).await;
        if let Some(meter) = &self.meter {
            meter.note_invalid_utf8(replaced, &format!("{}{}{suffix}", self.context.url, at_line(number)));
        }
        Ok(repaired)
    }

    /// Line numbers of the records the decoder holds, in order.
    fn record_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.iter().flat_map(|(first, count)| *first..*first + *count)
    }

    async fn decode_error(&mut self, e: ArrowError) -> DataFusionError {
        // The failing record is the first the decoder has not taken into its batch.
        let held = self.batch_size.saturating_sub(self.decoder.capacity());
        let line = self.record_numbers().nth(held).unwrap_or(self.next_line);
        let text = e.to_string();
        let message = match text.split_once(", expected ") {
            Some((_, rest)) if text.contains("incorrect number of fields") => {
                let (expected, found) = rest.split_once(" got ").unwrap_or((rest, "?"));
                format!(
                    "expected {expected} fields, found {found}; check the table's delimiter and header setting, or fix \
                     the row"
                )
            }
            _ => text
                .trim_start_matches("Csv error: ")
                .trim_start_matches("Parser error: ")
                .to_string(),
        };
        self.context.error(line, message).await
    }

    /// The decoder's batch, typed: each text column converted as the SerDe says.
    async fn flush(&mut self) -> Result<Option<RecordBatch>> {
        let Some(batch) = self.decoder.flush()? else {
            return Ok(None);
        };
        let rows = batch.num_rows();
        let mut lines = Vec::with_capacity(rows);
        while lines.len() < rows {
            let Some((first, count)) = self.pending.pop_front() else {
                break;
            };
            let need = (rows - lines.len()) as u64;
            if count > need {
                lines.extend(first..first + need);
                self.pending.push_front((first + need, count - need));
            } else {
                lines.extend(first..first + count);
            }
        }
        let field_counts: Vec<usize> = if self.format.pad_short_rows {
            self.fields.drain(..rows.min(self.fields.len())).collect()
        } else {
            Vec::new()
        };
        let mut columns = Vec::with_capacity(batch.num_columns());
        // Strict mode reports the first problem of the batch in file order.
        let mut first_error: Option<(u64, String)> = self.invalid_utf8.take().map(|line| {
            (
                line,
                "the line is not valid UTF-8; fix the file, or SET tarn.text.strict = false to read such bytes as \
                 U+FFFD as Athena does"
                    .to_string(),
            )
        });
        for (position, (column, target)) in batch.columns().iter().zip(&self.targets).enumerate() {
            let text = column.as_string::<i32>();
            let missing = |row: usize| {
                field_counts
                    .get(row)
                    .is_some_and(|&n| n <= self.projection.get(position).copied().unwrap_or(0))
            };
            let (array, bad) = convert(text, target.data_type(), &self.format.serde, missing)?;
            if let Some(&row) = bad.first() {
                let line = lines.get(row).copied().unwrap_or_default();
                let value = text.value(row).to_string();
                let hive =
                    crate::types::arrow_to_hive(target.data_type()).unwrap_or_else(|_| target.data_type().to_string());
                if self.strict() {
                    if first_error.as_ref().is_none_or(|(earliest, _)| line < *earliest) {
                        first_error = Some((
                            line,
                            format!(
                                "value '{value}' is not valid for column '{}' ({hive}); fix the file, or SET \
                                 tarn.text.strict = false to read such values as NULL as Athena does",
                                target.name()
                            ),
                        ));
                    }
                    continue;
                }
                let (number, suffix) = self.context.place(line).await;
                if let Some(meter) = &self.meter {
                    meter.note_unreadable_values(
                        target.name(),
                        bad.len() as u64,
                        &format!("'{value}' at {}{}{suffix}", self.context.url, at_line(number)),
                    );
                }
            }
            columns.push(array);
        }
        if let Some((line, message)) = first_error {
            return Err(self.context.error(line, message).await);
        }
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&self.output),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        Ok(Some(batch))
    }
}

fn at_line(line: Option<u64>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// Fields in one line of text without quotes: delimiters not escaped, plus one.
fn count_fields(line: &[u8], delimiter: u8, escape: Option<u8>) -> usize {
    let Some(escape) = escape else {
        return memchr::memchr_iter(delimiter, line).count() + 1;
    };
    let mut fields = 1;
    let mut escaped = false;
    for &b in line {
        if escaped {
            escaped = false;
        } else if b == escape {
            escaped = true;
        } else if b == delimiter {
            fields += 1;
        }
    }
    fields
}

fn is_text(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// One text column as `target`, and the rows whose value could not be read as one (they are NULL).
/// `missing(row)`: the row was short and has no field for this column (NULL, as Hive reads it).
fn convert(
    text: &StringArray,
    target: &DataType,
    serde: &TextSerde,
    missing: impl Fn(usize) -> bool,
) -> Result<(ArrayRef, Vec<usize>)> {
    let null_format = match serde {
        TextSerde::LazySimple { null_format } => Some(null_format.as_str()),
        TextSerde::OpenCsv => None,
    };
    // NULL before conversion: the SerDe's marker, fields a short row lacks, and empty fields of non-text columns.
    // (The decoder reads an empty field as NULL, with an empty value behind it.) Only a validity mask is made; the
    // text stays where the decoder put it.
    let text_column = is_text(target);
    let empty_is_null = !text_column || null_format == Some("");
    let valid: Vec<bool> = (0..text.len())
        .map(|row| {
            if missing(row) {
                false
            } else if text.is_null(row) {
                !empty_is_null
            } else {
                null_format != Some(text.value(row))
            }
        })
        .collect();
    let nulls = (!valid.iter().all(|v| *v)).then(|| NullBuffer::from(valid));
    let cleaned = StringArray::new(text.offsets().clone(), text.values().clone(), nulls);
    if text_column {
        let array: ArrayRef = if target == &DataType::Utf8 {
            Arc::new(cleaned)
        } else {
            cast_with_options(&cleaned, target, &CastOptions::default())?
        };
        return Ok((array, Vec::new()));
    }
    let converted = match (serde, target) {
        (TextSerde::OpenCsv, DataType::Date32) => open_csv_dates(&cleaned)?,
        (TextSerde::OpenCsv, DataType::Timestamp(unit, zone)) => open_csv_timestamps(&cleaned, *unit, zone.clone())?,
        _ => cast_with_options(
            &cleaned,
            target,
            &CastOptions {
                safe: true,
                ..Default::default()
            },
        )?,
    };
    let bad: Vec<usize> = (0..cleaned.len())
        .filter(|&row| cleaned.is_valid(row) && converted.is_null(row))
        .collect();
    Ok((converted, bad))
}

/// OpenCSVSerde dates: days since 1970-01-01 (what Athena documents), or ISO text.
fn open_csv_dates(text: &StringArray) -> Result<ArrayRef> {
    let iso = cast_with_options(
        text,
        &DataType::Date32,
        &CastOptions {
            safe: true,
            ..Default::default()
        },
    )?;
    let iso = iso.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
    let days: datafusion::arrow::array::Date32Array = (0..text.len())
        .map(|row| {
            if text.is_null(row) {
                return None;
            }
            text.value(row)
                .trim()
                .parse::<i32>()
                .ok()
                .or_else(|| iso.is_valid(row).then(|| iso.value(row)))
        })
        .collect();
    Ok(Arc::new(days))
}

/// OpenCSVSerde timestamps: milliseconds since 1970 (what Athena documents), or ISO text.
fn open_csv_timestamps(text: &StringArray, unit: TimeUnit, zone: Option<Arc<str>>) -> Result<ArrayRef> {
    let target = DataType::Timestamp(unit, zone);
    let iso = cast_with_options(
        text,
        &target,
        &CastOptions {
            safe: true,
            ..Default::default()
        },
    )?;
    let millis: datafusion::arrow::array::Int64Array = (0..text.len())
        .map(|row| {
            if text.is_null(row) {
                return None;
            }
            text.value(row).trim().parse::<i64>().ok()
        })
        .collect();
    let per_milli = match unit {
        TimeUnit::Second => None,
        TimeUnit::Millisecond => Some(1),
        TimeUnit::Microsecond => Some(1_000),
        TimeUnit::Nanosecond => Some(1_000_000),
    };
    let from_millis: datafusion::arrow::array::Int64Array = (0..text.len())
        .map(|row| {
            if !millis.is_valid(row) {
                return None;
            }
            let m = millis.value(row);
            match per_milli {
                Some(k) => m.checked_mul(k),
                None => Some(m / 1_000),
            }
        })
        .collect();
    let from_millis = cast_with_options(&from_millis, &iso.data_type().clone(), &CastOptions::default())?;
    let merged = datafusion::arrow::compute::kernels::zip::zip(
        &datafusion::arrow::array::BooleanArray::from(
            (0..text.len()).map(|row| millis.is_valid(row)).collect::<Vec<_>>(),
        ),
        &from_millis,
        &iso,
    )?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields as the decoder gives them: an empty one is NULL.
    fn texts(values: &[&str]) -> StringArray {
        values.iter().map(|v| (!v.is_empty()).then_some(*v)).collect()
    }

    fn lazy() -> TextSerde {
        TextSerde::LazySimple {
            null_format: "\\N".into(),
        }
    }

    #[test]
    fn lazy_simple_reads_bad_values_as_null_and_names_them() -> Result<()> {
        let (ints, bad) = convert(
            &texts(&["1", "abc", "", "\\N", "-7"]),
            &DataType::Int64,
            &lazy(),
            |_| false,
        )?;
        assert_eq!(bad, [1], "only 'abc' is unreadable; empty and \\N are NULL by rule");
        let ints = ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(
            (0..5)
                .map(|i| ints.is_valid(i).then(|| ints.value(i)))
                .collect::<Vec<_>>(),
            [Some(1), None, None, None, Some(-7)]
        );
        let (strings, bad) = convert(&texts(&["a", "", "\\N"]), &DataType::Utf8, &lazy(), |_| false)?;
        assert!(bad.is_empty());
        let strings = strings.as_string::<i32>();
        assert_eq!(
            (strings.value(1), strings.is_null(2)),
            ("", true),
            "empty is '', \\N is NULL"
        );
        Ok(())
    }

    #[test]
    fn open_csv_has_no_null_marker_and_epoch_dates() -> Result<()> {
        let (strings, _) = convert(&texts(&["", "\\N"]), &DataType::Utf8, &TextSerde::OpenCsv, |_| false)?;
        let strings = strings.as_string::<i32>();
        assert_eq!((strings.value(0), strings.value(1)), ("", "\\N"));
        let (dates, bad) = convert(
            &texts(&["18276", "2020-01-15", "x"]),
            &DataType::Date32,
            &TextSerde::OpenCsv,
            |_| false,
        )?;
        let dates = dates.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        assert_eq!((dates.value(0), dates.value(1), bad), (18276, 18276, vec![2]));
        let (ts, _) = convert(
            &texts(&["1579059880000"]),
            &DataType::Timestamp(TimeUnit::Millisecond, None),
            &TextSerde::OpenCsv,
            |_| false,
        )?;
        assert_eq!(
            ts.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
                .value(0),
            1579059880000
        );
        Ok(())
    }

    #[test]
    fn fields_are_counted_past_escapes() {
        assert_eq!(count_fields(b"a|b|c", b'|', None), 3);
        assert_eq!(count_fields(b"a\\|b|c", b'|', Some(b'\\')), 2);
    }
}
