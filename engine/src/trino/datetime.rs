//! Trino's date and time functions that take format strings or units: `date_parse`/`date_format` (MySQL
//! specifiers), `parse_datetime`/`format_datetime` (Joda-Time patterns), `from_iso8601_timestamp`/`_date`,
//! `to_iso8601`, `date_add` and `date_diff`.
//!
//! Formats are translated into chrono's strftime items once per distinct format string. The session zone is UTC,
//! as in Athena: values with a zone are converted to UTC, and results are timestamps without a zone (Athena's
//! `timestamp(3) with time zone` results show the same instant in UTC).

use std::sync::Arc;

use chrono::format::{Parsed, StrftimeItems};
use chrono::{DateTime as ChronoDateTime, Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum DateFn {
    DateParse,
    DateFormat,
    ParseDatetime,
    FormatDatetime,
    FromIso8601Timestamp,
    FromIso8601Date,
    ToIso8601,
    DateAdd,
    DateDiff,
}

/// One of the functions above. `lenient` (set inside `try(...)`) turns a value that does not parse into NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct DateTime {
    name: &'static str,
    function: DateFn,
    signature: Signature,
    pub(super) lenient: bool,
}

impl DateTime {
    pub(super) fn new(name: &'static str, function: DateFn) -> Self {
        Self {
            name,
            function,
            signature: Signature::user_defined(Volatility::Immutable),
            lenient: false,
        }
    }

    pub(super) fn lenient(&self) -> Self {
        Self {
            lenient: true,
            ..Self::new(self.name, self.function)
        }
    }
}

const MICROS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);
const MILLIS: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

fn is_string(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

/// A date or timestamp argument: dates stay dates where Trino keeps them, timestamps become microseconds (UTC).
fn temporal(t: &DataType, keep_date: bool) -> DataType {
    match t {
        DataType::Date32 | DataType::Date64 if keep_date => DataType::Date32,
        _ => MICROS,
    }
}

impl ScalarUDFImpl for DateTime {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let n = args.len();
        let expect = |count: usize, shape: &str| super::arity(self.name, n, n == count, &count.to_string(), shape);
        match self.function {
            DateFn::DateParse | DateFn::ParseDatetime => {
                expect(2, "string, format")?;
                Ok(vec![DataType::Utf8, DataType::Utf8])
            }
            DateFn::DateFormat | DateFn::FormatDatetime => {
                expect(2, "timestamp, format")?;
                Ok(vec![MICROS, DataType::Utf8])
            }
            DateFn::FromIso8601Timestamp | DateFn::FromIso8601Date => {
                expect(1, "string")?;
                Ok(vec![DataType::Utf8])
            }
            DateFn::ToIso8601 => {
                expect(1, "date or timestamp")?;
                Ok(vec![match &args[0] {
                    DataType::Timestamp(_, Some(_)) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    t => temporal(t, true),
                }])
            }
            DateFn::DateAdd => {
                expect(3, "unit, value, date or timestamp")?;
                Ok(vec![DataType::Utf8, DataType::Int64, temporal(&args[2], true)])
            }
            DateFn::DateDiff => {
                expect(3, "unit, date or timestamp, date or timestamp")?;
                let both_dates = [&args[1], &args[2]]
                    .iter()
                    .all(|t| matches!(t, DataType::Date32 | DataType::Date64) || is_string(t));
                let t = if both_dates && !args[1..].iter().all(is_string) {
                    DataType::Date32
                } else {
                    MICROS
                };
                Ok(vec![DataType::Utf8, t.clone(), t])
            }
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match self.function {
            DateFn::DateParse | DateFn::ParseDatetime | DateFn::FromIso8601Timestamp => MILLIS,
            DateFn::FromIso8601Date => DataType::Date32,
            DateFn::DateFormat | DateFn::FormatDatetime | DateFn::ToIso8601 => DataType::Utf8,
            DateFn::DateAdd => args.get(2).cloned().unwrap_or(MICROS),
            DateFn::DateDiff => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out: ArrayRef = match self.function {
            DateFn::DateParse | DateFn::ParseDatetime => {
                let syntax = if self.function == DateFn::DateParse {
                    Syntax::MySql
                } else {
                    Syntax::Joda
                };
                let text = strings(&arrays[0])?;
                let formats = strings(&arrays[1])?;
                let mut cache = FormatCache::new(self.name, syntax, true);
                let mut out = Vec::with_capacity(rows);
                for i in 0..rows {
                    out.push(match (text[i], formats[i]) {
                        (Some(t), Some(f)) => self.or_null(parse_with(t, cache.get(f)?, f, self.name))?,
                        _ => None,
                    });
                }
                Arc::new(TimestampMillisecondArray::from(out))
            }
            DateFn::DateFormat | DateFn::FormatDatetime => {
                let syntax = if self.function == DateFn::DateFormat {
                    Syntax::MySql
                } else {
                    Syntax::Joda
                };
                let values = arrays[0].as_primitive::<TimestampMicrosecondType>();
                let formats = strings(&arrays[1])?;
                let mut cache = FormatCache::new(self.name, syntax, false);
                let mut out = Vec::with_capacity(rows);
                for (i, format) in formats.iter().enumerate().take(rows) {
                    out.push(match (values.is_valid(i), format) {
                        (true, Some(f)) => {
                            let at = micros_to_datetime(values.value(i))?;
                            Some(at.format_with_items(StrftimeItems::new(cache.get(f)?)).to_string())
                        }
                        _ => None,
                    });
                }
                Arc::new(StringArray::from(out))
            }
            DateFn::FromIso8601Timestamp => {
                Arc::new(TimestampMillisecondArray::from(self.each_string(&arrays[0], |t| {
                    iso8601_timestamp(t).map(|d| d.and_utc().timestamp_millis())
                })?))
            }
            DateFn::FromIso8601Date => Arc::new(Date32Array::from(
                self.each_string(&arrays[0], |t| iso8601_date(t).map(days_since_epoch))?,
            )),
            DateFn::ToIso8601 => to_iso8601(&arrays[0])?,
            DateFn::DateAdd => date_add(&arrays[0], &arrays[1], &arrays[2])?,
            DateFn::DateDiff => date_diff(&arrays[0], &arrays[1], &arrays[2])?,
        };
        Ok(ColumnarValue::Array(out))
    }
}

impl DateTime {
    /// `parse` applied to each string that is not NULL.
    fn each_string<T>(&self, text: &ArrayRef, parse: impl Fn(&str) -> Result<T>) -> Result<Vec<Option<T>>> {
        strings(text)?
            .into_iter()
            .map(|t| match t {
                Some(t) => self.or_null(parse(t)),
                None => Ok(None),
            })
            .collect()
    }

    fn or_null<T>(&self, value: Result<T>) -> Result<Option<T>> {
        match value {
            Ok(v) => Ok(Some(v)),
            Err(_) if self.lenient => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn strings(a: &ArrayRef) -> Result<Vec<Option<&str>>> {
    match a.data_type() {
        DataType::Utf8 => Ok(a.as_string::<i32>().iter().collect()),
        DataType::Null => Ok(vec![None; a.len()]),
        other => exec_err!("expected a string, got {other}"),
    }
}

fn micros_to_datetime(micros: i64) -> Result<NaiveDateTime> {
    ChronoDateTime::from_timestamp_micros(micros)
        .map(|d| d.naive_utc())
        .ok_or_else(|| DataFusionError::Execution(format!("timestamp out of range: {micros} µs")))
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::default()).num_days() as i32
}

fn date_from_days(days: i32) -> Result<NaiveDate> {
    NaiveDate::default()
        .checked_add_signed(TimeDelta::days(i64::from(days)))
        .ok_or_else(|| DataFusionError::Execution(format!("date out of range: {days} days")))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Syntax {
    MySql,
    Joda,
}

/// The chrono translation of the last format string seen (formats are nearly always constant).
struct FormatCache {
    function: &'static str,
    syntax: Syntax,
    parsing: bool,
    last: Option<(String, String)>,
}

impl FormatCache {
    fn new(function: &'static str, syntax: Syntax, parsing: bool) -> Self {
        Self {
            function,
            syntax,
            parsing,
            last: None,
        }
    }

    fn get(&mut self, format: &str) -> Result<&str> {
        if self.last.as_ref().is_none_or(|(f, _)| f != format) {
            let translated = match self.syntax {
                Syntax::MySql => mysql_to_chrono(format, self.parsing),
                Syntax::Joda => joda_to_chrono(format, self.parsing),
            }
            .map_err(|e| DataFusionError::Execution(format!("{}: {e} in format '{format}'", self.function)))?;
            self.last = Some((format.to_string(), translated));
        }
        Ok(self.last.as_ref().map(|(_, t)| t.as_str()).unwrap_or_default())
    }
}

fn literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// MySQL specifiers (Trino's `date_format`/`date_parse`) as chrono strftime items.
fn mysql_to_chrono(format: &str, parsing: bool) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            // `.%f` is a fraction after a dot: chrono's `%.f` parses any number of digits.
            if c == '.' && parsing && chars.peek() == Some(&'%') {
                let mut ahead = chars.clone();
                ahead.next();
                if ahead.peek() == Some(&'f') {
                    chars.next();
                    chars.next();
                    out.push_str("%.f");
                    continue;
                }
            }
            literal(&mut out, c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push_str("%%");
            break;
        };
        let item = match spec {
            'a' => "%a",
            'b' => "%b",
            'c' if parsing => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' if parsing => "%d",
            'e' => "%-d",
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' if parsing => "%H",
            'k' => "%-H",
            'l' if parsing => "%I",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'v' => "%V",
            'W' => "%A",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            'D' | 'U' | 'u' | 'V' | 'w' | 'X' => {
                return Err(format!(
                    "%{spec} is not supported (Trino supports neither %D, %U, %u, %V, %w nor %X)"
                ));
            }
            other => {
                // MySQL: any other character after % stands for itself.
                literal(&mut out, other);
                continue;
            }
        };
        out.push_str(item);
    }
    Ok(out)
}

/// Joda-Time patterns (Trino's `format_datetime`/`parse_datetime`) as chrono strftime items.
fn joda_to_chrono(format: &str, parsing: bool) -> std::result::Result<String, String> {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted text; '' is a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("an unterminated quote".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        out.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&q) => {
                        literal(&mut out, q);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        let padded = |two: &'static str, one: &'static str| if n >= 2 || parsing { two } else { one };
        let item = match c {
            'y' | 'Y' | 'u' if n == 2 => "%y",
            'y' | 'Y' | 'u' => "%Y",
            'x' if n == 2 => "%g",
            'x' => "%G",
            'w' => padded("%V", "%-V"),
            'e' => "%u",
            'E' if n >= 4 => "%A",
            'E' => "%a",
            'D' => "%j",
            'M' if n >= 4 => "%B",
            'M' if n == 3 => "%b",
            'M' => padded("%m", "%-m"),
            'd' => padded("%d", "%-d"),
            'a' => "%p",
            'h' => padded("%I", "%-I"),
            'H' => padded("%H", "%-H"),
            'm' => padded("%M", "%-M"),
            's' => padded("%S", "%-S"),
            'S' if n <= 3 => "%3f",
            'S' if n <= 6 => "%6f",
            'S' => "%9f",
            'Z' if n == 1 => "%z",
            'Z' if n == 2 => "%:z",
            'z' if !parsing => "UTC",
            other => return Err(format!("the pattern letter '{other}' is not supported")),
        };
        out.push_str(item);
    }
    Ok(out)
}

/// Parses `text` with chrono `items`; fields the format leaves out take Joda's defaults (1970-01-01 00:00:00).
fn parse_with(text: &str, items: &str, format: &str, function: &str) -> Result<i64> {
    let fail = || DataFusionError::Execution(format!("{function}: cannot parse '{text}' with format '{format}'"));
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, StrftimeItems::new(items)).map_err(|_| fail())?;
    let no_date_of_year =
        parsed.month().is_none() && parsed.day().is_none() && parsed.ordinal().is_none() && parsed.isoweek().is_none();
    if parsed.year().is_none() && parsed.year_mod_100().is_none() && parsed.isoyear().is_none() {
        parsed.set_year(1970).map_err(|_| fail())?;
    }
    if no_date_of_year {
        parsed.set_month(1).map_err(|_| fail())?;
        parsed.set_day(1).map_err(|_| fail())?;
    } else if parsed.day().is_none() && parsed.month().is_some() {
        parsed.set_day(1).map_err(|_| fail())?;
    }
    if parsed.hour_div_12().is_none() && parsed.hour_mod_12().is_none() {
        parsed.set_hour(0).map_err(|_| fail())?;
    } else if parsed.hour_div_12().is_none() {
        parsed.set_ampm(false).map_err(|_| fail())?;
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0).map_err(|_| fail())?;
    }
    let date = parsed.to_naive_date().map_err(|_| fail())?;
    let time = parsed.to_naive_time().map_err(|_| fail())?;
    let local = date.and_time(time);
    let utc = match parsed.offset() {
        Some(offset) => local - TimeDelta::seconds(i64::from(offset)),
        None => local,
    };
    Ok(utc.and_utc().timestamp_millis())
}

/// ISO 8601 dates: `2020-05-11`, week dates `2020-W10[-1]`, ordinal dates `2020-123`, and `2020-05` / `2020`.
fn iso8601_date(text: &str) -> Result<NaiveDate> {
    let fail = || DataFusionError::Execution(format!("from_iso8601_date: '{text}' is not an ISO 8601 date"));
    let t = text.trim();
    if let Some((year, week)) = t.split_once("-W") {
        let (week, day) = week.split_once('-').unwrap_or((week, "1"));
        let (year, week, day) = (
            year.parse::<i32>().map_err(|_| fail())?,
            week.parse::<u32>().map_err(|_| fail())?,
            day.parse::<u32>().map_err(|_| fail())?,
        );
        let weekday = match day {
            1 => chrono::Weekday::Mon,
            2 => chrono::Weekday::Tue,
            3 => chrono::Weekday::Wed,
            4 => chrono::Weekday::Thu,
            5 => chrono::Weekday::Fri,
            6 => chrono::Weekday::Sat,
            7 => chrono::Weekday::Sun,
            _ => return Err(fail()),
        };
        return NaiveDate::from_isoywd_opt(year, week, weekday).ok_or_else(fail);
    }
    let parts: Vec<&str> = t.split('-').collect();
    let number = |s: &str| s.parse::<u32>().map_err(|_| fail());
    let year = parts.first().and_then(|y| y.parse::<i32>().ok()).ok_or_else(fail)?;
    match parts.as_slice() {
        [_] => NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(fail),
        [_, ordinal] if ordinal.len() == 3 => NaiveDate::from_yo_opt(year, number(ordinal)?).ok_or_else(fail),
        [_, month] => NaiveDate::from_ymd_opt(year, number(month)?, 1).ok_or_else(fail),
        [_, month, day] => NaiveDate::from_ymd_opt(year, number(month)?, number(day)?).ok_or_else(fail),
        _ => Err(fail()),
    }
}

/// ISO 8601 timestamps: a date (as above), optionally `T` and a time with a fraction and a zone (`Z`, `+01:00`).
fn iso8601_timestamp(text: &str) -> Result<NaiveDateTime> {
    let fail = || DataFusionError::Execution(format!("from_iso8601_timestamp: '{text}' is not an ISO 8601 timestamp"));
    let t = text.trim();
    let (date, time) = t.split_once('T').unwrap_or((t, ""));
    let date = iso8601_date(date).map_err(|_| fail())?;
    if time.is_empty() {
        return Ok(date.and_time(NaiveTime::MIN));
    }
    let (clock, offset_seconds) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
        let (h, m) = match digits.len() {
            2 => (digits.parse::<i64>().map_err(|_| fail())?, 0),
            4 => (
                digits[..2].parse::<i64>().map_err(|_| fail())?,
                digits[2..].parse::<i64>().map_err(|_| fail())?,
            ),
            _ => return Err(fail()),
        };
        (clock, sign * (h * 3600 + m * 60))
    } else {
        (time, 0)
    };
    let clock = ["%H:%M:%S%.f", "%H:%M", "%H%M%S%.f", "%H"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(clock, f).ok())
        .or_else(|| clock.parse::<u32>().ok().and_then(|h| NaiveTime::from_hms_opt(h, 0, 0)))
        .ok_or_else(fail)?;
    Ok(date.and_time(clock) - TimeDelta::seconds(offset_seconds))
}

fn to_iso8601(values: &ArrayRef) -> Result<ArrayRef> {
    // Athena v3: no zone suffix on a timestamp without one.
    let format = match values.data_type() {
        DataType::Date32 => "%Y-%m-%d",
        DataType::Timestamp(_, Some(_)) => "%Y-%m-%dT%H:%M:%S%.3fZ",
        _ => "%Y-%m-%dT%H:%M:%S%.3f",
    };
    let out: Vec<Option<String>> = as_datetimes("to_iso8601", values)?
        .into_iter()
        .map(|d| d.map(|d| d.format(format).to_string()))
        .collect();
    Ok(Arc::new(StringArray::from(out)))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    fn parse(function: &str, text: &str) -> Result<Self> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "millisecond" => Unit::Millisecond,
            "second" => Unit::Second,
            "minute" => Unit::Minute,
            "hour" => Unit::Hour,
            "day" => Unit::Day,
            "week" => Unit::Week,
            "month" => Unit::Month,
            "quarter" => Unit::Quarter,
            "year" => Unit::Year,
            _ => {
                return exec_err!(
                    "{function}: '{text}' is not a valid unit (millisecond, second, minute, hour, day, week, month, \
                     quarter, year)"
                );
            }
        })
    }

    /// A fixed-length unit's size in microseconds.
    fn micros(self) -> Option<i64> {
        Some(match self {
            Unit::Millisecond => 1_000,
            Unit::Second => 1_000_000,
            Unit::Minute => 60_000_000,
            Unit::Hour => 3_600_000_000,
            Unit::Day => 86_400_000_000,
            Unit::Week => 604_800_000_000,
            _ => return None,
        })
    }

    fn months(self) -> Option<i64> {
        match self {
            Unit::Month => Some(1),
            Unit::Quarter => Some(3),
            Unit::Year => Some(12),
            _ => None,
        }
    }
}

fn add(at: NaiveDateTime, unit: Unit, n: i64) -> Option<NaiveDateTime> {
    match (unit.micros(), unit.months()) {
        (Some(size), _) => at.checked_add_signed(TimeDelta::microseconds(size.checked_mul(n)?)),
        (None, Some(months)) => {
            let total = months.checked_mul(n)?;
            let m = Months::new(u32::try_from(total.unsigned_abs()).ok()?);
            if total >= 0 {
                at.checked_add_months(m)
            } else {
                at.checked_sub_months(m)
            }
        }
        (None, None) => None,
    }
}

fn date_add(units: &ArrayRef, amounts: &ArrayRef, values: &ArrayRef) -> Result<ArrayRef> {
    let units = strings(units)?;
    let amounts = amounts.as_primitive::<Int64Type>();
    let is_date = values.data_type() == &DataType::Date32;
    let overflow = || DataFusionError::Execution("date_add: the result is out of range".into());
    let mut moved = Vec::with_capacity(values.len());
    for (i, at) in as_datetimes("date_add", values)?.into_iter().enumerate() {
        moved.push(match (units[i], at, amounts.is_valid(i)) {
            (Some(u), Some(at), true) => {
                let unit = Unit::parse("date_add", u)?;
                if is_date && matches!(unit, Unit::Millisecond | Unit::Second | Unit::Minute | Unit::Hour) {
                    return exec_err!("date_add: '{u}' is not a valid unit for a date (use day or larger)");
                }
                Some(add(at, unit, amounts.value(i)).ok_or_else(overflow)?)
            }
            _ => None,
        });
    }
    // The result has the input's type: a date stays a date.
    Ok(match values.data_type() {
        DataType::Timestamp(_, zone) => Arc::new(
            TimestampMicrosecondArray::from_iter(moved.iter().map(|d| d.map(|d| d.and_utc().timestamp_micros())))
                .with_timezone_opt(zone.clone()),
        ),
        _ => Arc::new(Date32Array::from_iter(
            moved.iter().map(|d| d.map(|d| days_since_epoch(d.date()))),
        )),
    })
}

/// Dates (at midnight) and microsecond timestamps (in UTC) as chrono values.
fn as_datetimes(function: &str, values: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    match values.data_type() {
        DataType::Date32 => {
            let dates = values.as_primitive::<Date32Type>();
            (0..dates.len())
                .map(|i| {
                    dates
                        .is_valid(i)
                        .then(|| date_from_days(dates.value(i)).map(|d| d.and_time(NaiveTime::MIN)))
                        .transpose()
                })
                .collect()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let ts = values.as_primitive::<TimestampMicrosecondType>();
            (0..ts.len())
                .map(|i| ts.is_valid(i).then(|| micros_to_datetime(ts.value(i))).transpose())
                .collect()
        }
        other => exec_err!("{function}() takes dates or timestamps, not {other}"),
    }
}

/// Joda's month difference (Trino's): whole months from `a` to `b`, where a month ending on the last day of a
/// shorter month counts as whole (`2020-01-31` to `2020-02-29` is one month).
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    if b < a {
        return -months_between(b, a);
    }
    let mut difference = i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month());
    let mut start = a;
    let last_day_of_b = last_day(b.year(), b.month());
    if b.day() == last_day_of_b && a.day() > b.day() {
        start = a.with_day(b.day()).unwrap_or(a);
    }
    let remainder = |d: NaiveDateTime| (d.day(), d.num_seconds_from_midnight(), d.nanosecond());
    if remainder(b) < remainder(start) {
        difference -= 1;
    }
    difference
}

fn last_day(year: i32, month: u32) -> u32 {
    let (y, m) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.day())
        .unwrap_or(28)
}

/// Joda's year difference: whole years, with February 29 balanced against non-leap years.
fn years_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    if b < a {
        return -years_between(b, a);
    }
    let since_new_year = |d: NaiveDateTime| {
        let start = NaiveDate::from_ymd_opt(d.year(), 1, 1)
            .unwrap_or_default()
            .and_time(NaiveTime::MIN);
        (d - start).num_microseconds().unwrap_or(0)
    };
    let leap = |y: i32| NaiveDate::from_ymd_opt(y, 2, 29).is_some();
    let feb_29 = (31 + 28) * 86_400_000_000i64;
    let (mut rem_b, mut rem_a) = (since_new_year(b), since_new_year(a));
    if rem_a >= feb_29 {
        if leap(a.year()) {
            if !leap(b.year()) {
                rem_a -= 86_400_000_000;
            }
        } else if leap(b.year()) {
            rem_b -= 86_400_000_000;
        }
    }
    let mut difference = i64::from(b.year() - a.year());
    if rem_b < rem_a {
        difference -= 1;
    }
    difference
}

fn date_diff(units: &ArrayRef, starts: &ArrayRef, ends: &ArrayRef) -> Result<ArrayRef> {
    let units = strings(units)?;
    let starts = as_datetimes("date_diff", starts)?;
    let ends = as_datetimes("date_diff", ends)?;
    let mut out = Vec::with_capacity(starts.len());
    for i in 0..starts.len() {
        out.push(match (units[i], starts[i], ends[i]) {
            (Some(u), Some(a), Some(b)) => {
                let unit = Unit::parse("date_diff", u)?;
                Some(match (unit.micros(), unit) {
                    (Some(size), _) => (b - a).num_microseconds().unwrap_or(i64::MAX) / size,
                    (None, Unit::Year) => years_between(a, b),
                    (None, _) => months_between(a, b) / unit.months().unwrap_or(1),
                })
            }
            _ => None,
        });
    }
    Ok(Arc::new(Int64Array::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_translate() -> std::result::Result<(), String> {
        assert_eq!(mysql_to_chrono("%Y-%m-%d %H:%i:%s", true)?, "%Y-%m-%d %H:%M:%S");
        assert_eq!(mysql_to_chrono("%H:%i:%s.%f", true)?, "%H:%M:%S%.f");
        assert_eq!(mysql_to_chrono("100%% %q", false)?, "100%% q");
        assert!(mysql_to_chrono("%D", false).is_err_and(|e| e.contains("%D is not supported")));
        assert_eq!(
            joda_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSS", false)?,
            "%Y-%m-%dT%H:%M:%S.%3f"
        );
        assert_eq!(joda_to_chrono("EEEE, MMMM d ''yy", false)?, "%A, %B %-d '%y");
        assert!(joda_to_chrono("G", false).is_err_and(|e| e.contains("'G'")));
        Ok(())
    }

    #[test]
    fn joda_differences() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_default();
        assert_eq!(months_between(at("2020-01-31 00:00:00"), at("2020-02-29 00:00:00")), 1);
        assert_eq!(months_between(at("2020-01-15 12:00:00"), at("2020-02-15 11:00:00")), 0);
        assert_eq!(months_between(at("2020-03-15 00:00:00"), at("2020-01-15 00:00:00")), -2);
        assert_eq!(years_between(at("2020-02-29 00:00:00"), at("2021-02-28 00:00:00")), 1);
        assert_eq!(years_between(at("2019-03-01 00:00:00"), at("2020-02-29 00:00:00")), 0);
    }
}
