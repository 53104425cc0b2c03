//! Hive bucketing, bit for bit as Hive, Trino and Athena compute it, so tables tarn writes are read correctly by
//! them and the other way round.
//!
//! `bucket = (hash & 0x7FFFFFFF) % bucket_count`, where the row hash folds the bucket columns in order with
//! `h = 31 * h + hash(value)` (Java `int` arithmetic, NULL hashes to 0). Version 1 (Hive's
//! `ObjectInspectorUtils.hashCode`, what Athena and Trino assume when `bucketing_version` is absent) and version 2
//! (Hive 3's Murmur3) differ only in the per-value hash.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
};
use datafusion::common::ScalarValue;

use crate::error::{EngineError, Part, Result};

/// Table parameter that selects the hash (absent means 1, as in Trino).
pub const BUCKETING_VERSION: &str = "bucketing_version";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketVersion {
    V1,
    V2,
}

impl BucketVersion {
    pub fn from_parameter(value: Option<&String>) -> Result<Self> {
        match value.map(|v| v.trim()) {
            None | Some("1") => Ok(BucketVersion::V1),
            Some("2") => Ok(BucketVersion::V2),
            Some(other) => Err(EngineError::unsupported(
                format!("{BUCKETING_VERSION} '{other}'"),
                "Hive bucketing versions are 1 and 2",
            )),
        }
    }

    pub fn number(self) -> u8 {
        match self {
            BucketVersion::V1 => 1,
            BucketVersion::V2 => 2,
        }
    }
}

/// How one bucket column hashes: its Arrow type plus the Hive distinction between `string` and `varchar` (v1
/// hashes them from different seeds).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketColumn {
    pub name: String,
    pub data_type: DataType,
    pub varchar: bool,
}

impl BucketColumn {
    pub fn new(name: &str, hive_type: &str) -> Result<Self> {
        let lower = hive_type.trim().to_ascii_lowercase();
        let data_type = crate::types::hive_to_arrow(&lower)?;
        let hashable = matches!(
            data_type,
            DataType::Boolean
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Float32
                | DataType::Float64
                | DataType::Utf8
                | DataType::Date32
        );
        if !hashable {
            return Err(EngineError::unsupported(
                format!("bucketing on column '{name}' of type {hive_type}"),
                "Hive buckets on boolean, integer, float, double, string, varchar and date columns",
            ));
        }
        Ok(Self {
            name: name.to_string(),
            data_type,
            varchar: lower.starts_with("varchar") || lower.starts_with("char"),
        })
    }
}

/// The bucket of every row, given the bucket columns' arrays (in declared order).
pub fn bucket_ids(
    columns: &[ArrayRef],
    spec: &[BucketColumn],
    count: u32,
    version: BucketVersion,
) -> Result<Int32Array> {
    let rows = columns.first().map(|c| c.len()).unwrap_or(0);
    let mut hashes = vec![0i32; rows];
    for (array, column) in columns.iter().zip(spec) {
        let array = if array.data_type() == &column.data_type {
            array.clone()
        } else {
            datafusion::arrow::compute::cast(array, &column.data_type)
                .map_err(|e| EngineError::invalid(Part::Column, format!("bucket column '{}': {e}", column.name)))?
        };
        for (row, h) in hashes.iter_mut().enumerate() {
            let value = if array.is_null(row) {
                0
            } else {
                hash_value(&array, row, column, version)?
            };
            *h = h.wrapping_mul(31).wrapping_add(value);
        }
    }
    let count = count.max(1) as i32;
    Ok(Int32Array::from_iter_values(
        hashes.into_iter().map(|h| (h & 0x7FFF_FFFF) % count),
    ))
}

/// The bucket of one combination of values (for pruning), or `None` when a value cannot be hashed exactly.
pub fn bucket_of_values(
    values: &[ScalarValue],
    spec: &[BucketColumn],
    count: u32,
    version: BucketVersion,
) -> Option<u32> {
    let arrays = values
        .iter()
        .zip(spec)
        .map(|(v, c)| v.cast_to(&c.data_type).ok()?.to_array().ok())
        .collect::<Option<Vec<ArrayRef>>>()?;
    let ids = bucket_ids(&arrays, spec, count, version).ok()?;
    (ids.len() == 1).then(|| ids.value(0) as u32)
}

fn hash_value(array: &ArrayRef, row: usize, column: &BucketColumn, version: BucketVersion) -> Result<i32> {
    let v1 = version == BucketVersion::V1;
    Ok(match array.data_type() {
        DataType::Boolean => array.as_boolean().value(row) as i32,
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row) as i32,
        DataType::Int16 => {
            let v = array.as_primitive::<Int16Type>().value(row);
            if v1 { v as i32 } else { murmur3_32(&v.to_be_bytes()) }
        }
        DataType::Int32 => {
            let v = array.as_primitive::<Int32Type>().value(row);
            if v1 { v } else { murmur3_32(&v.to_be_bytes()) }
        }
        DataType::Date32 => {
            let v = array.as_primitive::<Date32Type>().value(row);
            if v1 { v } else { murmur3_32(&v.to_be_bytes()) }
        }
        DataType::Int64 => {
            let v = array.as_primitive::<Int64Type>().value(row);
            if v1 {
                (v ^ ((v as u64) >> 32) as i64) as i32
            } else {
                murmur3_32(&v.to_be_bytes())
            }
        }
        DataType::Float32 => {
            let v = array.as_primitive::<Float32Type>().value(row);
            // Java's floatToIntBits canonicalises NaN.
            let bits = if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() as i32 };
            // Hive v2 converts those bits numerically back to a float before hashing its raw bits (Trino keeps
            // the quirk: `floatToRawIntBits((float) floatToIntBits(v))`).
            if v1 {
                bits
            } else {
                murmur3_32(&(bits as f32).to_bits().to_be_bytes())
            }
        }
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            let bits = if v.is_nan() {
                0x7ff8_0000_0000_0000
            } else {
                v.to_bits() as i64
            };
            if v1 {
                (bits ^ ((bits as u64) >> 32) as i64) as i32
            } else {
                murmur3_32(&(bits as f64).to_bits().to_be_bytes())
            }
        }
        DataType::Utf8 => {
            let bytes = array.as_string::<i32>().value(row).as_bytes();
            if v1 {
                java_bytes_hash(bytes, if column.varchar { 1 } else { 0 })
            } else {
                murmur3_32(bytes)
            }
        }
        other => {
            return Err(EngineError::invalid(
                Part::Column,
                format!("cannot bucket on values of type {other} (column '{}')", column.name),
            ));
        }
    })
}

/// `h = 31 * h + b` over signed bytes: Hive v1's hash of a `string` (seed 0) or `varchar` (seed 1, Hadoop's
/// `WritableComparator.hashBytes`).
fn java_bytes_hash(bytes: &[u8], seed: i32) -> i32 {
    bytes
        .iter()
        .fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(*b as i8 as i32))
}

/// Hive's `Murmur3.hash32` (seed 104729). Standard MurmurHash3 x86_32 except that the tail bytes are sign-extended,
/// which changes the hash of text ending in non-ASCII bytes; Hive's quirk is kept.
pub fn murmur3_32(data: &[u8]) -> i32 {
    const SEED: i32 = 104_729;
    const C1: i32 = 0xcc9e_2d51_u32 as i32;
    const C2: i32 = 0x1b87_3593;
    const M: i32 = 5;
    const N: i32 = 0xe654_6b64_u32 as i32;
    let mut hash = SEED;
    let blocks = data.len() / 4;
    for i in 0..blocks {
        let b = &data[i * 4..i * 4 + 4];
        let mut k = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        hash ^= k;
        hash = hash.rotate_left(13).wrapping_mul(M).wrapping_add(N);
    }
    let tail = &data[blocks * 4..];
    let mut k1 = 0i32;
    if tail.len() == 3 {
        k1 ^= (tail[2] as i8 as i32) << 16;
    }
    if tail.len() >= 2 {
        k1 ^= (tail[1] as i8 as i32) << 8;
    }
    if !tail.is_empty() {
        k1 ^= tail[0] as i8 as i32;
        k1 = k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        hash ^= k1;
    }
    hash ^= data.len() as i32;
    hash ^= ((hash as u32) >> 16) as i32;
    hash = hash.wrapping_mul(0x85eb_ca6b_u32 as i32);
    hash ^= ((hash as u32) >> 13) as i32;
    hash = hash.wrapping_mul(0xc2b2_ae35_u32 as i32);
    hash ^= ((hash as u32) >> 16) as i32;
    hash
}

/// The bucket number a file belongs to, from its name, with the patterns Trino uses when reading (Hive's
/// `000123_0...`, legacy Presto `..._bucket-00123`, Hive ACID `bucket_00123`).
pub fn bucket_from_file_name(name: &str) -> Option<u32> {
    let name = name.trim_start_matches('.');
    // Trino tries the legacy Presto pattern first: its query-id prefix would otherwise read as a bucket.
    if let Some(pos) = name.find("_bucket-") {
        let n: String = name[pos + 8..].chars().take_while(|c| c.is_ascii_digit()).collect();
        return n.parse().ok();
    }
    // Hive / Trino: digits, '_', digits, anything.
    let digits: String = name.chars().take_while(|c| c.is_ascii_digit()).collect();
    if !digits.is_empty() {
        let rest = &name[digits.len()..];
        if rest.starts_with('_') && rest[1..].chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return digits.parse().ok();
        }
    }
    if let Some(rest) = name.strip_prefix("bucket_") {
        let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        return n.parse().ok();
    }
    None
}

/// The buckets a scan with `filters` can find rows in, by Trino's rule: every bucket column must be fixed to a
/// finite set of values by the filters (`c = v`, `c IN (...)`, `c = a OR c = b`), and the combinations must number
/// at most `max(4 * count, 1000)`. `None` means every bucket.
pub fn buckets_for_filters(
    filters: &[datafusion::logical_expr::Expr],
    spec: &[BucketColumn],
    count: u32,
    version: BucketVersion,
) -> Option<std::collections::BTreeSet<u32>> {
    let mut sets: Vec<Vec<ScalarValue>> = Vec::with_capacity(spec.len());
    for column in spec {
        let values = filters.iter().find_map(|f| discrete_values(f, &column.name))?;
        sets.push(values);
    }
    let combinations = sets.iter().try_fold(1usize, |n, s| n.checked_mul(s.len()))?;
    if combinations > (4 * count as usize).max(1000) {
        return None;
    }
    let mut buckets = std::collections::BTreeSet::new();
    let mut index = vec![0usize; sets.len()];
    loop {
        let values: Vec<ScalarValue> = index.iter().zip(&sets).map(|(i, s)| s[*i].clone()).collect();
        buckets.insert(bucket_of_values(&values, spec, count, version)?);
        // Next combination, odometer-style.
        let mut position = 0;
        loop {
            if position == index.len() {
                return Some(buckets);
            }
            index[position] += 1;
            if index[position] < sets[position].len() {
                break;
            }
            index[position] = 0;
            position += 1;
        }
    }
}

/// The literal values `expr` restricts `column` to, if it does.
fn discrete_values(expr: &datafusion::logical_expr::Expr, column: &str) -> Option<Vec<ScalarValue>> {
    use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
    let is_column = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column);
    let literal = |e: &Expr| match e {
        Expr::Literal(v, _) if !v.is_null() => Some(v.clone()),
        _ => None,
    };
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            if is_column(left) {
                literal(right).map(|v| vec![v])
            } else if is_column(right) {
                literal(left).map(|v| vec![v])
            } else {
                None
            }
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut values = discrete_values(left, column)?;
            values.extend(discrete_values(right, column)?);
            Some(values)
        }
        Expr::InList(list) if !list.negated && is_column(&list.expr) => list.list.iter().map(literal).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Float32Array, Float64Array, Int8Array, Int16Array, Int64Array, StringArray,
    };
    use std::sync::Arc;

    fn hash_of(array: ArrayRef, hive: &str, version: BucketVersion) -> Result<i32> {
        hash_value(&array, 0, &BucketColumn::new("c", hive)?, version)
    }

    fn both(array: ArrayRef, hive: &str) -> Result<(i32, i32)> {
        Ok((
            hash_of(array.clone(), hive, BucketVersion::V1)?,
            hash_of(array, hive, BucketVersion::V2)?,
        ))
    }

    /// Trino's `TestHiveBucketing.testHashingCompare` vectors (re-verified in the reference).
    #[test]
    fn trino_reference_vectors() -> Result<()> {
        let s = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
        assert_eq!(both(s("Trino rocks"), "string")?, (1132136730, -399107423));
        assert_eq!(both(s(""), "string")?, (0, -965378730));
        assert_eq!(both(s(""), "varchar(15)")?, (1, -965378730));
        assert_eq!(both(s("test string"), "string")?, (-318923937, -138301454));
        assert_eq!(both(s("test string"), "varchar(15)")?, (-189841218, -138301454));
        let han = "\u{5f3a}\u{5927}\u{7684}Trino\u{5f15}\u{64ce}";
        assert_eq!(both(s(han), "string")?, (1688501507, 1784416344));
        assert_eq!(both(s(han), "varchar(15)")?, (1899852420, 1784416344));
        let b = |v: bool| Arc::new(BooleanArray::from(vec![v])) as ArrayRef;
        assert_eq!(
            (both(b(true), "boolean")?, both(b(false), "boolean")?),
            ((1, 1), (0, 0))
        );
        let t = |v: i8| Arc::new(Int8Array::from(vec![v])) as ArrayRef;
        assert_eq!(
            (both(t(5), "tinyint")?, both(t(-128), "tinyint")?),
            ((5, 5), (-128, -128))
        );
        let sm = |v: i16| Arc::new(Int16Array::from(vec![v])) as ArrayRef;
        assert_eq!(both(sm(300), "smallint")?, (300, 2107031704));
        assert_eq!(both(sm(-32768), "smallint")?, (-32768, 1342976838));
        assert_eq!(both(sm(32767), "smallint")?, (32767, -684075052));
        let i = |v: i32| Arc::new(Int32Array::from(vec![v])) as ArrayRef;
        assert_eq!(both(i(300000), "int")?, (300000, -678663480));
        assert_eq!(both(i(i32::MIN), "int")?, (-2147483648, 1194881028));
        assert_eq!(both(i(i32::MAX), "int")?, (2147483647, 1133859967));
        let l = |v: i64| Arc::new(Int64Array::from(vec![v])) as ArrayRef;
        assert_eq!(both(l(300000000000), "bigint")?, (-647710651, -888935297));
        assert_eq!(both(l(i64::MIN), "bigint")?, (-2147483648, 1728983947));
        assert_eq!(both(l(i64::MAX), "bigint")?, (-2147483648, -536577852));
        let f = |v: f32| Arc::new(Float32Array::from(vec![v])) as ArrayRef;
        assert_eq!(both(f(12.34), "float")?, (1095069860, -381747602));
        assert_eq!(both(f(f32::NAN), "float")?, (2143289344, -480354314));
        let d = |v: f64| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
        assert_eq!(both(d(12.34), "double")?, (986311098, -2070733568));
        assert_eq!(both(d(f64::NAN), "double")?, (2146959360, 1138026565));
        let date = |v: i32| Arc::new(Date32Array::from(vec![v])) as ArrayRef;
        assert_eq!(both(date(0), "date")?, (0, 1362653161));
        assert_eq!(both(date(16758), "date")?, (16758, 8542395));
        assert_eq!(both(date(-6983), "date")?, (-6983, -431619185));
        Ok(())
    }

    #[test]
    fn buckets_of_rows() -> Result<()> {
        // 'Trino rocks' with 4 buckets: v1 bucket 2, v2 bucket 1.
        let col = vec![Arc::new(StringArray::from(vec!["Trino rocks"])) as ArrayRef];
        let spec = vec![BucketColumn::new("c", "string")?];
        assert_eq!(bucket_ids(&col, &spec, 4, BucketVersion::V1)?.value(0), 2);
        assert_eq!(bucket_ids(&col, &spec, 4, BucketVersion::V2)?.value(0), 1);
        // The reference's extra vectors, 8 buckets.
        let strings = vec![Arc::new(StringArray::from(vec!["a", "abc", "c123"])) as ArrayRef];
        let v1: Vec<i32> = bucket_ids(&strings, &spec, 8, BucketVersion::V1)?.values().to_vec();
        let v2: Vec<i32> = bucket_ids(&strings, &spec, 8, BucketVersion::V2)?.values().to_vec();
        assert_eq!((v1, v2), (vec![1, 2, 7], vec![2, 1, 5]));
        let ints = vec![Arc::new(Int32Array::from(vec![1, -1])) as ArrayRef];
        let ispec = vec![BucketColumn::new("i", "int")?];
        assert_eq!(
            bucket_ids(&ints, &ispec, 8, BucketVersion::V1)?.values().to_vec(),
            vec![1, 7]
        );
        assert_eq!(
            bucket_ids(&ints, &ispec, 8, BucketVersion::V2)?.values().to_vec(),
            vec![5, 5]
        );
        // Two columns, Trino's testBucketFilterFromDiscreteSets: (int in [1, 10]) x (tinyint in [5, 6]), 8 buckets.
        let spec2 = vec![BucketColumn::new("a", "int")?, BucketColumn::new("b", "tinyint")?];
        let mut v1 = std::collections::BTreeSet::new();
        let mut v2 = std::collections::BTreeSet::new();
        for a in [1, 10] {
            for b in [5i8, 6] {
                let values = [ScalarValue::Int32(Some(a)), ScalarValue::Int8(Some(b))];
                v1.extend(bucket_of_values(&values, &spec2, 8, BucketVersion::V1));
                v2.extend(bucket_of_values(&values, &spec2, 8, BucketVersion::V2));
            }
        }
        assert_eq!(v1.into_iter().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(v2.into_iter().collect::<Vec<_>>(), vec![0, 1, 5, 6]);
        Ok(())
    }

    #[test]
    fn pruning_follows_trino() -> Result<()> {
        use datafusion::logical_expr::{col, lit};
        let spec = vec![BucketColumn::new("a", "int")?, BucketColumn::new("b", "tinyint")?];
        let filters = vec![
            col("a").in_list(vec![lit(1i32), lit(10i32)], false),
            col("b").eq(lit(5i8)).or(col("b").eq(lit(6i8))),
        ];
        let v1 = buckets_for_filters(&filters, &spec, 8, BucketVersion::V1);
        assert_eq!(v1.map(|s| s.into_iter().collect::<Vec<_>>()), Some(vec![3, 4, 5]));
        // A bucket column without a value set: no pruning.
        assert_eq!(buckets_for_filters(&filters[..1], &spec, 8, BucketVersion::V1), None);
        let strings = vec![BucketColumn::new("state", "string")?];
        let ca = buckets_for_filters(&[lit("a").eq(col("state"))], &strings, 8, BucketVersion::V1);
        assert_eq!(ca.map(|s| s.into_iter().collect::<Vec<_>>()), Some(vec![1]));
        Ok(())
    }

    #[test]
    fn bucket_numbers_from_file_names() {
        assert_eq!(
            bucket_from_file_name("000017_0_20261122_101010_00001_abcde_0001.parquet"),
            Some(17)
        );
        assert_eq!(bucket_from_file_name("000003_0"), Some(3));
        assert_eq!(
            bucket_from_file_name("20180102_030405_00641_x1y2z_bucket-00012.orc"),
            Some(12)
        );
        assert_eq!(bucket_from_file_name("bucket_00005"), Some(5));
        assert_eq!(bucket_from_file_name("part-00000.parquet"), None);
        assert_eq!(bucket_from_file_name("12345.parquet"), None);
    }
}
