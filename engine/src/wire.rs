//! tarn's plans as bytes, for running them on another machine.
//!
//! DataFusion's protobuf serializes its own file sources and falls back to an extension codec for any other. tarn's
//! scans are DataFusion sources wrapped in tarn's ([`TextSource`] over the CSV or JSON source, [`ParquetFiles`]
//! over the Parquet source), and the stock encoding of a file scan loses what those wrappers and the scan config
//! add: the compression of each text file (apache/datafusion#24180: a gzip scan decodes as uncompressed), the SerDe's
//! NULL rules and file:line errors, the case-insensitive column adapter, and the URLs errors name files by. So a
//! tarn scan travels as its inner source's stock encoding plus what tarn adds, and is decoded through the same
//! constructors the table provider uses: a decoded scan reads as the planner's would. tarn's write nodes
//! ([`crate::write::exec`]) travel as what they were made from.

use std::sync::Arc;

use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateDefaults;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{
    AsExecutionPlan, PhysicalExtensionCodec, PhysicalPlanNodeExt, PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf::PhysicalPlanNode;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::column_case::CaseInsensitiveColumns;
use crate::error::EngineError;
use crate::meter::ScanMeter;
use crate::parquet_files::{ParquetFiles, Warmup};
use crate::table::{ReadFormat, file_source};
use crate::text_source::TextSource;
use crate::write::exec::{BucketExec, WireBucketing, WireWrite, WriteExec};

/// What a tarn scan adds to its inner source, sent ahead of the inner scan's stock encoding.
#[derive(Debug, Serialize, Deserialize)]
struct ScanHeader {
    /// How the files are read, as the table's format says.
    format: ReadFormat,
    /// `s3://bucket` or `file:`, which errors name files by.
    store_url: String,
    /// `SET tarn.text.strict` as the query was planned: the runner's own session may say otherwise.
    strict: bool,
}

/// A tarn node on the wire: what it is, ahead of its inner scan's stock encoding for a scan. The inputs of the
/// others travel as DataFusion's protobuf sends any extension node's.
#[derive(Debug, Serialize, Deserialize)]
enum NodeHeader {
    Scan(ScanHeader),
    Write(WireWrite),
    Bucket(WireBucketing),
}

fn external(e: EngineError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Writes `header` (length-prefixed JSON) into `buf`.
fn put_header(header: &NodeHeader, buf: &mut Vec<u8>) -> Result<()> {
    let header = serde_json::to_vec(header).map_err(|e| DataFusionError::External(Box::new(e)))?;
    buf.extend_from_slice(&(header.len() as u32).to_le_bytes());
    buf.extend_from_slice(&header);
    Ok(())
}

/// The extension codec for tarn's plans, on the side that sends them and on the side that runs them.
#[derive(Debug, Default)]
pub struct TarnCodec;

impl PhysicalExtensionCodec for TarnCodec {
    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(write) = node.downcast_ref::<WriteExec>() {
            return put_header(&NodeHeader::Write(write.wire().map_err(external)?), buf);
        }
        if let Some(bucket) = node.downcast_ref::<BucketExec>() {
            return put_header(&NodeHeader::Bucket(bucket.wire()), buf);
        }
        let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
            return Err(unsupported(&node));
        };
        let (header, inner) = if let Some((config, text)) = exec.downcast_to_file_source::<TextSource>() {
            let header = ScanHeader {
                format: ReadFormat::of_text(text).map_err(external)?,
                store_url: text.store_url().to_string(),
                strict: text.strict(),
            };
            (header, with_source(exec, config, Arc::clone(text.inner())))
        } else if let Some((config, parquet)) = exec.downcast_to_file_source::<ParquetFiles>() {
            let header = ScanHeader {
                format: ReadFormat::Parquet,
                store_url: parquet.store_url().to_string(),
                strict: false,
            };
            (header, with_source(exec, config, Arc::clone(parquet.inner())))
        } else {
            return Err(unsupported(&node));
        };
        let inner = PhysicalPlanNode::try_from_physical_plan_with_converter(inner, self, converter)?;
        put_header(&NodeHeader::Scan(header), buf)?;
        inner
            .encode(buf)
            .map_err(|e| DataFusionError::Internal(format!("cannot encode a scan: {e}")))
    }

    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let malformed =
            |what: &str| DataFusionError::Internal(format!("a tarn scan from the wire is malformed: {what}"));
        let (length, rest) = buf.split_first_chunk::<4>().ok_or_else(|| malformed("no header"))?;
        let length = u32::from_le_bytes(*length) as usize;
        let (header, inner) = rest.split_at_checked(length).ok_or_else(|| malformed("short header"))?;
        let header = match serde_json::from_slice(header).map_err(|e| malformed(&e.to_string()))? {
            NodeHeader::Scan(header) => header,
            NodeHeader::Write(write) => {
                let [input] = inputs else {
                    return Err(malformed("a write without its one input"));
                };
                return Ok(Arc::new(
                    WriteExec::from_wire(&write, Arc::clone(input)).map_err(external)?,
                ));
            }
            NodeHeader::Bucket(bucketing) => {
                let [input] = inputs else {
                    return Err(malformed("a bucketing without its one input"));
                };
                return Ok(Arc::new(
                    BucketExec::from_wire(&bucketing, Arc::clone(input)).map_err(external)?,
                ));
            }
        };
        let inner = PhysicalPlanNode::decode(inner).map_err(|e| malformed(&e.to_string()))?;
        let inner = inner.try_into_physical_plan_with_converter(ctx, self, converter)?;
        let exec = inner
            .downcast_ref::<DataSourceExec>()
            .ok_or_else(|| malformed("the inner plan is not a file scan"))?;
        let config = exec
            .data_source()
            .downcast_ref::<FileScanConfig>()
            .ok_or_else(|| malformed("the inner plan is not a file scan"))?;
        let source: Arc<dyn FileSource> = match &header.format {
            ReadFormat::Delimited { .. } | ReadFormat::JsonLines { .. } => {
                // The runner's own meter counts the values its scans read as NULL.
                let meter = ctx.session_config().get_extension::<ScanMeter>();
                let rebuilt = file_source(
                    &header.format,
                    config.file_source().table_schema().clone(),
                    &header.store_url,
                    meter,
                );
                let text = rebuilt
                    .downcast_ref::<TextSource>()
                    .ok_or_else(|| malformed("a text format that is not read as text"))?;
                // The decoded inner source keeps the scan's projection and options; tarn's reading goes around it.
                text.with_strict(header.strict).rewrap(Arc::clone(config.file_source()))
            }
            ReadFormat::Parquet => {
                let parquet = config
                    .file_source()
                    .downcast_ref::<ParquetSource>()
                    .ok_or_else(|| malformed("a Parquet scan whose source is not Parquet"))?;
                // The stock decoding keeps the footer hint in the options but not in the source, which is what
                // reads footers: without it a worker fetches each footer in two requests and counts other bytes.
                let parquet = match parquet.table_parquet_options().global.metadata_size_hint {
                    Some(hint) => parquet.clone().with_metadata_size_hint(hint),
                    None => parquet.clone(),
                };
                // Nor the reader factory, which the planner gives the runtime's footer cache: without it every
                // byte range of a file reads the file's footer again.
                let store = ctx.runtime_env().object_store(config.object_store_url.clone())?;
                let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
                let parquet = parquet.with_parquet_file_reader_factory(Arc::new(CachedParquetFileReaderFactory::new(
                    Arc::clone(&store),
                    Arc::clone(&cache),
                )));
                let files = ParquetFiles::new(Arc::new(parquet), &header.store_url);
                // Files with statistics had their footers read by the planner; a worker reads them the same way.
                let all: Vec<_> = config.file_groups.iter().flat_map(|g| g.iter()).collect();
                if !all.is_empty() && all.iter().all(|f| f.statistics.is_some()) {
                    let mut metas: Vec<_> = all.iter().map(|f| f.object_meta.clone()).collect();
                    metas.sort_by(|a, b| a.location.cmp(&b.location));
                    metas.dedup_by(|a, b| a.location == b.location);
                    Arc::new(files.with_warmup(Warmup::new(metas, store, cache)))
                } else {
                    Arc::new(files)
                }
            }
        };
        // On a worker, the task's bytes scanned go back to the coordinator as a metric of one of its scans.
        if let Some(meter) = ctx.session_config().get_extension::<ScanMeter>() {
            meter.report_into(source.metrics());
        }
        let config = FileScanConfigBuilder::from(config.clone())
            .with_source(source)
            .with_expr_adapter(Some(Arc::new(CaseInsensitiveColumns)))
            .build();
        Ok(Arc::new(DataSourceExec::clone(exec).with_data_source(Arc::new(config))))
    }

    /// Functions travel by name and are found in the runner's registry, except DataFusion's own where tarn
    /// registers Trino's under the same name (`regexp_replace`, `split_part`, ...): planning rewrites Trino's into
    /// DataFusion's, so a plan holds DataFusion's, which the runner's registry would resolve to Trino's.
    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if datafusion_function(node).is_some() {
            buf.extend_from_slice(DATAFUSION_FUNCTION);
        }
        Ok(())
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        let found = (buf == DATAFUSION_FUNCTION)
            .then(|| {
                SessionStateDefaults::default_scalar_functions()
                    .into_iter()
                    .find(|f| f.name() == name)
            })
            .flatten();
        found.ok_or_else(|| DataFusionError::Plan(format!("the plan calls a function this tarn does not have: {name}")))
    }
}

/// Marks a function as DataFusion's own in a plan's bytes.
const DATAFUSION_FUNCTION: &[u8] = b"datafusion";

/// DataFusion's own scalar function of that name, if `udf` is it.
fn datafusion_function(udf: &ScalarUDF) -> Option<Arc<ScalarUDF>> {
    SessionStateDefaults::default_scalar_functions()
        .into_iter()
        .find(|f| f.name() == udf.name() && **f == *udf)
}

/// `exec` with `source` in place of its file source.
fn with_source(exec: &DataSourceExec, config: &FileScanConfig, source: Arc<dyn FileSource>) -> Arc<dyn ExecutionPlan> {
    let config = FileScanConfigBuilder::from(config.clone()).with_source(source).build();
    Arc::new(DataSourceExec::clone(exec).with_data_source(Arc::new(config)))
}

fn unsupported(node: &Arc<dyn ExecutionPlan>) -> DataFusionError {
    DataFusionError::NotImplemented(format!("tarn cannot send a {} to another machine", node.name()))
}

/// `plan` as bytes.
pub fn encode_plan(plan: Arc<dyn ExecutionPlan>) -> Result<Vec<u8>> {
    let node = PhysicalPlanNode::try_from_physical_plan(plan, &TarnCodec)?;
    Ok(node.encode_to_vec())
}

/// A plan from [`encode_plan`]'s bytes, to run with `ctx` (whose functions and object stores it uses).
pub fn decode_plan(bytes: &[u8], ctx: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
    let node = PhysicalPlanNode::decode(bytes)
        .map_err(|e| DataFusionError::Internal(format!("a plan from the wire is malformed: {e}")))?;
    node.try_into_physical_plan(ctx, &TarnCodec)
}
