//! Values as Athena (Trino) prints them, for every output that shows values as text: the CLI's table and CSV,
//! `CHECK` errors, `CAST(x AS varchar)` of temporal values, and later `tarn serve`.
//!
//! Arrow's display is kept for the types where it already is Trino's (integers, decimals, strings, dates, booleans)
//! and replaced where it is not:
//! - timestamps `2022-10-20 00:00:00.000` (Arrow: `2022-10-20T00:00:00`); with a zone, the zone's local time and the
//!   zone (`2022-10-20 05:30:00.000 Asia/Kolkata`). Athena's timestamps are `timestamp(3)`, so three fractional
//!   digits are always printed; a value with sub-millisecond digits (DataFusion computes in nanoseconds) keeps them,
//!   six or nine, rather than hide a difference;
//! - times `01:02:03.000`;
//! - intervals year to month `3-5`, day to second `0 01:30:00.000` (Arrow: `41 mons`, `PT5400S`);
//! - doubles as Java prints them: `1.0E7`, `1.0E-4`, `Infinity`, `NaN` (Arrow: `10000000.0`, `inf`);
//! - varbinary as spaced hex bytes `61 62 63`;
//! - arrays `[1, NULL]`, maps `{a=1, b=2}`, rows `{x=1, y=a}` (an anonymous row, whose fields DataFusion names
//!   `c0, c1, ...`, as `{1, a}`).

use std::fmt::Write as _;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, GenericListArray, MapArray, OffsetSizeTrait};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float32Type, Float64Type, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SECOND;

/// Prints the values of one array. Built once per array; `write` per value.
pub struct ValuePrinter<'a> {
    array: &'a dyn Array,
    /// Logical nulls, once: a `NullArray` (`SELECT NULL`) has no null buffer but is all NULL.
    nulls: Option<NullBuffer>,
    kind: Kind<'a>,
}

enum Kind<'a> {
    /// Nanoseconds since the epoch (or since midnight for times) are read per unit below.
    Timestamp(TimeUnit, Option<Tz>, Option<&'a str>),
    Time(TimeUnit),
    Interval(IntervalUnit),
    Duration(TimeUnit),
    Float64,
    Float32,
    Binary,
    List(Box<ValuePrinter<'a>>),
    Map(&'a MapArray, Box<ValuePrinter<'a>>, Box<ValuePrinter<'a>>),
    Struct(Vec<(Option<&'a str>, ValuePrinter<'a>)>),
    Arrow(ArrayFormatter<'a>),
}

impl<'a> ValuePrinter<'a> {
    pub fn try_new(array: &'a dyn Array) -> Result<Self, ArrowError> {
        let kind = match array.data_type() {
            DataType::Timestamp(unit, zone) => {
                let tz = zone.as_deref().map(str::parse::<Tz>).transpose()?;
                Kind::Timestamp(*unit, tz, zone.as_deref())
            }
            DataType::Time32(unit) | DataType::Time64(unit) => Kind::Time(*unit),
            DataType::Interval(unit) => Kind::Interval(*unit),
            DataType::Duration(unit) => Kind::Duration(*unit),
            DataType::Float64 => Kind::Float64,
            DataType::Float32 => Kind::Float32,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
                Kind::Binary
            }
            DataType::List(_) => Kind::List(Box::new(Self::try_new(array.as_list::<i32>().values().as_ref())?)),
            DataType::LargeList(_) => Kind::List(Box::new(Self::try_new(array.as_list::<i64>().values().as_ref())?)),
            DataType::FixedSizeList(_, _) => {
                Kind::List(Box::new(Self::try_new(array.as_fixed_size_list().values().as_ref())?))
            }
            DataType::Map(_, _) => {
                let map = array.as_map();
                Kind::Map(
                    map,
                    Box::new(Self::try_new(map.keys().as_ref())?),
                    Box::new(Self::try_new(map.values().as_ref())?),
                )
            }
            DataType::Struct(fields) => {
                let columns = array.as_struct();
                let anonymous = fields.iter().enumerate().all(|(i, f)| f.name() == &format!("c{i}"));
                Kind::Struct(
                    fields
                        .iter()
                        .zip(columns.columns())
                        .map(|(f, c)| Ok(((!anonymous).then_some(f.name().as_str()), Self::try_new(c.as_ref())?)))
                        .collect::<Result<_, ArrowError>>()?,
                )
            }
            _ => Kind::Arrow(ArrayFormatter::try_new(
                array,
                &FormatOptions::default().with_display_error(true),
            )?),
        };
        Ok(Self {
            array,
            nulls: array.logical_nulls(),
            kind,
        })
    }

    /// The value at `row`, or `None` for NULL.
    pub fn text(&self, row: usize) -> Option<String> {
        if self.is_null(row) {
            return None;
        }
        let mut out = String::new();
        self.write(row, &mut out);
        Some(out)
    }

    /// Writes the value at `row` (not NULL) to `out`.
    fn write(&self, row: usize, out: &mut String) {
        let a = self.array;
        match &self.kind {
            Kind::Timestamp(unit, tz, zone) => {
                let raw = match unit {
                    TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row),
                    TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(row),
                    TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
                    TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row),
                };
                write_timestamp(nanos(raw, *unit), tz.as_ref(), *zone, out);
            }
            Kind::Time(unit) => {
                let raw = match unit {
                    TimeUnit::Second => i64::from(a.as_primitive::<Time32SecondType>().value(row)),
                    TimeUnit::Millisecond => i64::from(a.as_primitive::<Time32MillisecondType>().value(row)),
                    TimeUnit::Microsecond => a.as_primitive::<Time64MicrosecondType>().value(row),
                    TimeUnit::Nanosecond => a.as_primitive::<Time64NanosecondType>().value(row),
                };
                let n = nanos(raw, *unit);
                write_clock(n.rem_euclid(NANOS_PER_DAY), out);
            }
            Kind::Interval(IntervalUnit::YearMonth) => {
                write_year_month(a.as_primitive::<IntervalYearMonthType>().value(row), out)
            }
            Kind::Interval(IntervalUnit::DayTime) => {
                let v = a.as_primitive::<IntervalDayTimeType>().value(row);
                write_day_second(
                    i128::from(v.days) * NANOS_PER_DAY + i128::from(v.milliseconds) * 1_000_000,
                    out,
                )
            }
            Kind::Interval(IntervalUnit::MonthDayNano) => {
                let v = a.as_primitive::<IntervalMonthDayNanoType>().value(row);
                let day_second = i128::from(v.days) * NANOS_PER_DAY + i128::from(v.nanoseconds);
                match (v.months, day_second) {
                    // A zero interval of no known kind: day to second, the kind DataFusion's arithmetic makes.
                    (0, 0) => write_day_second(0, out),
                    (months, 0) => write_year_month(months, out),
                    (0, day_second) => write_day_second(day_second, out),
                    // Trino has no interval of both kinds: print both parts.
                    (months, day_second) => {
                        write_year_month(months, out);
                        out.push(' ');
                        write_day_second(day_second, out);
                    }
                }
            }
            Kind::Duration(unit) => {
                let raw = match unit {
                    TimeUnit::Second => a.as_primitive::<DurationSecondType>().value(row),
                    TimeUnit::Millisecond => a.as_primitive::<DurationMillisecondType>().value(row),
                    TimeUnit::Microsecond => a.as_primitive::<DurationMicrosecondType>().value(row),
                    TimeUnit::Nanosecond => a.as_primitive::<DurationNanosecondType>().value(row),
                };
                write_day_second(nanos(raw, *unit), out)
            }
            Kind::Float64 => out.push_str(&java_double(a.as_primitive::<Float64Type>().value(row))),
            Kind::Float32 => out.push_str(&java_float(a.as_primitive::<Float32Type>().value(row))),
            Kind::Binary => {
                let bytes: &[u8] = match a.data_type() {
                    DataType::Binary => a.as_binary::<i32>().value(row),
                    DataType::LargeBinary => a.as_binary::<i64>().value(row),
                    DataType::BinaryView => a.as_binary_view().value(row),
                    _ => a.as_fixed_size_binary().value(row),
                };
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{b:02x}");
                }
            }
            Kind::List(items) => {
                let range = match a.data_type() {
                    DataType::List(_) => offsets(a.as_list::<i32>(), row),
                    DataType::LargeList(_) => offsets(a.as_list::<i64>(), row),
                    _ => {
                        let list = a.as_fixed_size_list();
                        let n = list.value_length() as usize;
                        row * n..(row + 1) * n
                    }
                };
                out.push('[');
                for (i, item) in range.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    items.write_or_null(item, out);
                }
                out.push(']');
            }
            Kind::Map(map, keys, values) => {
                let offsets = map.value_offsets();
                let range = offsets[row] as usize..offsets[row + 1] as usize;
                out.push('{');
                for (i, entry) in range.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    keys.write_or_null(entry, out);
                    out.push('=');
                    values.write_or_null(entry, out);
                }
                out.push('}');
            }
            Kind::Struct(fields) => {
                out.push('{');
                for (i, (name, field)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if let Some(name) = name {
                        out.push_str(name);
                        out.push('=');
                    }
                    field.write_or_null(row, out);
                }
                out.push('}');
            }
            Kind::Arrow(formatter) => {
                let _ = write!(out, "{}", formatter.value(row));
            }
        }
    }

    fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(row))
    }

    fn write_or_null(&self, row: usize, out: &mut String) {
        if self.is_null(row) {
            out.push_str("NULL");
        } else {
            self.write(row, out);
        }
    }
}

fn offsets<O: OffsetSizeTrait>(list: &GenericListArray<O>, row: usize) -> std::ops::Range<usize> {
    let offsets = list.value_offsets();
    offsets[row].as_usize()..offsets[row + 1].as_usize()
}

/// The printers of a batch's columns; `row` gives one row's values, NULL as `None`.
pub struct RowPrinter<'a> {
    columns: Vec<ValuePrinter<'a>>,
}

impl<'a> RowPrinter<'a> {
    pub fn try_new(columns: &'a [ArrayRef]) -> Result<Self, ArrowError> {
        Ok(Self {
            columns: columns
                .iter()
                .map(|c| ValuePrinter::try_new(c.as_ref()))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn row(&self, row: usize) -> Vec<Option<String>> {
        self.columns.iter().map(|c| c.text(row)).collect()
    }

    /// One row's values with NULL written as `null` (tables and messages print `NULL`).
    pub fn row_or(&self, row: usize, null: &str) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| c.text(row).unwrap_or_else(|| null.to_string()))
            .collect()
    }
}

fn nanos(raw: i64, unit: TimeUnit) -> i128 {
    let per = match unit {
        TimeUnit::Second => NANOS_PER_SECOND,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    i128::from(raw) * per
}

/// `2022-10-20 05:30:00.000[ zone]` from nanoseconds since the epoch.
pub(crate) fn write_timestamp(nanos: i128, tz: Option<&Tz>, zone: Option<&str>, out: &mut String) {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND);
    let fraction = nanos.rem_euclid(NANOS_PER_SECOND);
    let Some(utc) = i64::try_from(seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
    else {
        let _ = write!(out, "<timestamp out of range: {nanos} ns>");
        return;
    };
    let local = match tz {
        Some(tz) => utc.with_timezone(tz).naive_local(),
        None => utc.naive_utc(),
    };
    let _ = write!(out, "{}", local.format("%Y-%m-%d %H:%M:%S"));
    write_fraction(fraction, out);
    if let Some(zone) = zone {
        out.push(' ');
        out.push_str(zone);
    }
}

/// `.fff`, or six or nine digits when the value has them.
fn write_fraction(nanos: i128, out: &mut String) {
    if nanos % 1_000_000 == 0 {
        let _ = write!(out, ".{:03}", nanos / 1_000_000);
    } else if nanos % 1_000 == 0 {
        let _ = write!(out, ".{:06}", nanos / 1_000);
    } else {
        let _ = write!(out, ".{nanos:09}");
    }
}

fn write_clock(nanos: i128, out: &mut String) {
    let seconds = nanos / NANOS_PER_SECOND;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    write_fraction(nanos % NANOS_PER_SECOND, out);
}

/// Trino's `interval year to month`: `3-5`, `-1-2`.
fn write_year_month(months: i32, out: &mut String) {
    let sign = if months < 0 { "-" } else { "" };
    let m = i64::from(months).abs();
    let _ = write!(out, "{sign}{}-{}", m / 12, m % 12);
}

/// Trino's `interval day to second`: `0 01:30:00.000`, `-2 00:00:00.000`; milliseconds, as Trino keeps them.
fn write_day_second(nanos: i128, out: &mut String) {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.abs();
    let millis = n / 1_000_000;
    let seconds = millis / 1000;
    let _ = write!(
        out,
        "{sign}{} {:02}:{:02}:{:02}.{:03}",
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
        millis % 1000
    );
}

/// Java's `Double.toString`: plain between 10⁻³ and 10⁷, else `1.0E7`; the shortest digits that read back.
pub(crate) fn java_double(v: f64) -> String {
    java_text(
        v.is_nan(),
        v.is_infinite(),
        v.is_sign_negative(),
        v == 0.0,
        v.abs(),
        || (format!("{v}"), format!("{v:e}")),
    )
}

/// Java's `Float.toString`, by the same rules with a float's shortest digits.
pub(crate) fn java_float(v: f32) -> String {
    java_text(
        v.is_nan(),
        v.is_infinite(),
        v.is_sign_negative(),
        v == 0.0,
        f64::from(v.abs()),
        || (format!("{v}"), format!("{v:e}")),
    )
}

fn java_text(
    nan: bool,
    infinite: bool,
    negative: bool,
    zero: bool,
    magnitude: f64,
    text: impl Fn() -> (String, String),
) -> String {
    if nan {
        return "NaN".into();
    }
    if infinite {
        return if negative { "-Infinity" } else { "Infinity" }.into();
    }
    if zero {
        return if negative { "-0.0" } else { "0.0" }.into();
    }
    let (plain, scientific) = text();
    if (1e-3..1e7).contains(&magnitude) {
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
        if mantissa.contains('.') {
            format!("{mantissa}E{exponent}")
        } else {
            format!("{mantissa}.0E{exponent}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_prints_them() {
        let cases = [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (1e7, "1.0E7"),
            (1.5e10, "1.5E10"),
            (9_999_999.0, "9999999.0"),
            (0.001, "0.001"),
            (1e-4, "1.0E-4"),
            (-3.25e-5, "-3.25E-5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (-0.0, "-0.0"),
        ];
        for (v, text) in cases {
            assert_eq!(java_double(v), text, "{v}");
        }
        assert_eq!(java_float(0.1), "0.1");
        assert_eq!(java_float(1e8), "1.0E8");
    }

    #[test]
    fn intervals_print_as_trino_prints_them() {
        let mut out = String::new();
        write_year_month(41, &mut out);
        out.push('|');
        write_year_month(-14, &mut out);
        out.push('|');
        write_day_second(5_400 * NANOS_PER_SECOND, &mut out);
        out.push('|');
        write_day_second(-(2 * NANOS_PER_DAY + 1_500_000), &mut out);
        assert_eq!(out, "3-5|-1-2|0 01:30:00.000|-2 00:00:00.001");
    }
}
