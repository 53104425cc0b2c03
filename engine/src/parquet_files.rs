//! Parquet scans whose failures name the file: DataFusion's Parquet source, with every error of a file (an
//! unreadable footer, a column the table types differently) given that file's URL. DataFusion reports such errors
//! without saying which of a table's files they come from.

use std::fmt;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::{
    FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::parquet::file::metadata::PageIndexPolicy;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_expr_common::sort_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::filter_pushdown::FilterPushdownPropagation;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use datafusion_datasource::morsel::{Morsel, MorselPlan, MorselPlanner, Morselizer};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};

use crate::error::DataFileError;
use crate::error::EngineError;

/// Parquet footers are read with one request of this size. Footers of tables with tens of columns fit; wider ones
/// take a second request. Larger hints make every small file look bigger in the bytes scanned (DataFusion's default,
/// 512 KiB, bills a whole small file for `count(*)`).
pub const PARQUET_FOOTER_HINT: usize = 16 * 1024;

/// DataFusion's [`ParquetSource`], its per-file errors named.
#[derive(Clone)]
pub struct ParquetFiles {
    inner: Arc<dyn FileSource>,
    /// `s3://bucket` or `file:`, to print object URLs.
    store_url: String,
    /// On a worker: the footers to fetch before the scan opens its files.
    warmup: Option<Arc<Warmup>>,
}

/// On a worker, the footers of a task's files, fetched into the task's cache before the scan opens any of them, the
/// way the planner fetches them in one process (`TarnTable::parquet_statistics`): otherwise a scan that opens byte
/// ranges of one file ahead of reading them misses the cache for each and fetches the footer each time, and the
/// task's bytes scanned exceed one session's.
pub(crate) struct Warmup {
    files: Vec<ObjectMeta>,
    store: Arc<dyn ObjectStore>,
    cache: Arc<FileMetadataCache>,
    done: tokio::sync::OnceCell<()>,
}

impl Warmup {
    pub(crate) fn new(files: Vec<ObjectMeta>, store: Arc<dyn ObjectStore>, cache: Arc<FileMetadataCache>) -> Self {
        Self {
            files,
            store,
            cache,
            done: tokio::sync::OnceCell::new(),
        }
    }

    /// Fetches the footers, once whoever asks first. A footer that cannot be read is left to the scan, which names
    /// the file in its error.
    async fn run(&self) {
        self.done
            .get_or_init(|| async {
                futures::stream::iter(&self.files)
                    .for_each_concurrent(WARMUP_CONCURRENCY, |meta| async move {
                        let _ = DFParquetMetadata::new(self.store.as_ref(), meta)
                            .with_metadata_size_hint(Some(PARQUET_FOOTER_HINT))
                            .with_page_index_policy(Some(PageIndexPolicy::Skip))
                            .with_file_metadata_cache(Some(Arc::clone(&self.cache)))
                            .fetch_metadata()
                            .await;
                    })
                    .await;
            })
            .await;
    }
}

/// Footers fetched at once by a warmup (DataFusion's `meta_fetch_concurrency` default).
const WARMUP_CONCURRENCY: usize = 32;

impl fmt::Debug for Warmup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Warmup").field("files", &self.files.len()).finish()
    }
}

impl ParquetFiles {
    /// `plan` (a Parquet `DataSourceExec`) with its source wrapped; any other plan as it is.
    pub fn wrap(plan: Arc<dyn ExecutionPlan>, store_url: &str) -> Arc<dyn ExecutionPlan> {
        let Some(exec) = plan.downcast_ref::<DataSourceExec>() else {
            return plan;
        };
        let Some((config, _)) = exec.downcast_to_file_source::<ParquetSource>() else {
            return plan;
        };
        let source = Self::new(Arc::clone(config.file_source()), store_url);
        let config = FileScanConfigBuilder::from(config.clone())
            .with_source(Arc::new(source))
            .build();
        Arc::new(DataSourceExec::clone(exec).with_data_source(Arc::new(config)))
    }

    /// `inner` (a Parquet source) with its errors naming files of `store_url`.
    pub(crate) fn new(inner: Arc<dyn FileSource>, store_url: &str) -> Self {
        Self {
            inner,
            store_url: store_url.trim_end_matches('/').to_string(),
            warmup: None,
        }
    }

    /// The same scan, fetching its files' footers as `warmup` says before it opens any.
    pub(crate) fn with_warmup(mut self, warmup: Warmup) -> Self {
        self.warmup = Some(Arc::new(warmup));
        self
    }

    pub(crate) fn store_url(&self) -> &str {
        &self.store_url
    }

    pub(crate) fn inner(&self) -> &Arc<dyn FileSource> {
        &self.inner
    }

    /// The Parquet source inside.
    pub fn parquet(&self) -> Option<&ParquetSource> {
        self.inner.downcast_ref::<ParquetSource>()
    }

    /// The same files read through `inner` (a changed Parquet source).
    pub fn with_inner(&self, inner: Arc<dyn FileSource>) -> Arc<dyn FileSource> {
        Arc::new(Self {
            inner,
            store_url: self.store_url.clone(),
            warmup: self.warmup.clone(),
        })
    }
}

/// The address of the file at `path` in the store `source` (`file:` or `s3://bucket`), as errors name it.
pub(crate) fn file_url(source: &str, path: &str) -> String {
    if source == "file:" {
        format!("file:///{path}")
    } else {
        format!("{source}/{path}")
    }
}

/// `e`, a failure reading the Parquet file at `url`, as an error naming it. tarn's own errors (the scan limit,
/// Ctrl-C) and storage failures pass as they are.
pub(crate) fn name_file(e: DataFusionError, url: &str) -> DataFusionError {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = current {
        let ours = err.downcast_ref::<EngineError>().is_some()
            || err.downcast_ref::<DataFileError>().is_some()
            || err.downcast_ref::<object_store::Error>().is_some()
            || matches!(err.downcast_ref::<DataFusionError>(), Some(DataFusionError::External(inner))
                if inner.downcast_ref::<EngineError>().is_some() || inner.downcast_ref::<DataFileError>().is_some());
        if ours {
            return e;
        }
        current = err.source();
    }
    let text = e.find_root().to_string();
    let message = if text.contains("Corrupt footer") || text.contains("Invalid Parquet file") || text.contains("magic")
    {
        "not a Parquet file (no Parquet footer); keep only Parquet files under the table's LOCATION".to_string()
    } else {
        clean(&text)
    };
    DataFusionError::External(Box::new(DataFileError {
        location: url.to_string(),
        line: None,
        message,
    }))
}

fn clean(message: &str) -> String {
    let mut m = message.trim();
    for prefix in [
        "External error: ",
        "Error during planning: ",
        "Execution error: ",
        "Arrow error: ",
        "Parquet error: ",
        "Cast error: ",
    ] {
        m = m.strip_prefix(prefix).unwrap_or(m);
    }
    m.to_string()
}

#[derive(Debug)]
struct NamedMorselizer {
    inner: Box<dyn Morselizer>,
    source: String,
    warmup: Option<Arc<Warmup>>,
}

impl fmt::Debug for ParquetFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParquetFiles")
            .field("store_url", &self.store_url)
            .finish()
    }
}

impl Morselizer for NamedMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> Result<Box<dyn MorselPlanner>> {
        let url = file_url(&self.source, file.path().as_ref());
        let inner = self.inner.plan_file(file).map_err(|e| name_file(e, &url))?;
        match &self.warmup {
            Some(warmup) => Ok(Box::new(WarmingPlanner {
                inner,
                url,
                warmup: Arc::clone(warmup),
            })),
            None => Ok(Box::new(NamedPlanner { inner, url })),
        }
    }
}

/// A file's planner that waits for the scan's [`Warmup`] before it starts.
#[derive(Debug)]
struct WarmingPlanner {
    inner: Box<dyn MorselPlanner>,
    url: String,
    warmup: Arc<Warmup>,
}

impl MorselPlanner for WarmingPlanner {
    fn plan(self: Box<Self>) -> Result<Option<MorselPlan>> {
        let Self { inner, url, warmup } = *self;
        Ok(Some(MorselPlan::new().with_pending_planner(async move {
            warmup.run().await;
            Ok(Box::new(NamedPlanner { inner, url }) as Box<dyn MorselPlanner>)
        })))
    }
}

#[derive(Debug)]
struct NamedPlanner {
    inner: Box<dyn MorselPlanner>,
    url: String,
}

impl MorselPlanner for NamedPlanner {
    fn plan(self: Box<Self>) -> Result<Option<MorselPlan>> {
        let url = self.url;
        let Some(mut plan) = self.inner.plan().map_err(|e| name_file(e, &url))? else {
            return Ok(None);
        };
        let morsels: Vec<Box<dyn Morsel>> = plan
            .take_morsels()
            .into_iter()
            .map(|inner| {
                Box::new(NamedMorsel {
                    inner,
                    url: url.clone(),
                }) as Box<dyn Morsel>
            })
            .collect();
        let planners: Vec<Box<dyn MorselPlanner>> = plan
            .take_ready_planners()
            .into_iter()
            .map(|inner| {
                Box::new(NamedPlanner {
                    inner,
                    url: url.clone(),
                }) as Box<dyn MorselPlanner>
            })
            .collect();
        let mut named = MorselPlan::new().with_morsels(morsels).with_planners(planners);
        if let Some(pending) = plan.take_pending_planner() {
            named.set_pending_planner(async move {
                match pending.await {
                    Ok(inner) => Ok(Box::new(NamedPlanner { inner, url }) as Box<dyn MorselPlanner>),
                    Err(e) => Err(name_file(e, &url)),
                }
            });
        }
        Ok(Some(named))
    }
}

#[derive(Debug)]
struct NamedMorsel {
    inner: Box<dyn Morsel>,
    url: String,
}

impl Morsel for NamedMorsel {
    fn into_stream(
        self: Box<Self>,
    ) -> futures::stream::BoxStream<'static, Result<datafusion::arrow::array::RecordBatch>> {
        let url = self.url;
        self.inner.into_stream().map_err(move |e| name_file(e, &url)).boxed()
    }
}

impl FileSource for ParquetFiles {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        self.inner.create_file_opener(object_store, base_config, partition)
    }

    fn create_morselizer(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Box<dyn Morselizer>> {
        Ok(Box::new(NamedMorselizer {
            inner: self.inner.create_morselizer(object_store, base_config, partition)?,
            source: self.store_url.clone(),
            warmup: self.warmup.clone(),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        self.inner.table_schema()
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        self.with_inner(self.inner.with_batch_size(batch_size))
    }

    fn filter(&self) -> Option<Arc<dyn PhysicalExpr>> {
        self.inner.filter()
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        self.inner.projection()
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        self.inner.metrics()
    }

    fn file_type(&self) -> &str {
        self.inner.file_type()
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.fmt_extra(t, f)
    }

    fn supports_repartitioning(&self) -> bool {
        self.inner.supports_repartitioning()
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        repartition_file_min_size: usize,
        output_ordering: Option<LexOrdering>,
        config: &FileScanConfig,
    ) -> Result<Option<FileScanConfig>> {
        self.inner
            .repartitioned(target_partitions, repartition_file_min_size, output_ordering, config)
    }

    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn FileSource>>> {
        let mut pushed = self.inner.try_pushdown_filters(filters, config)?;
        pushed.updated_node = pushed.updated_node.map(|inner| self.with_inner(inner));
        Ok(pushed)
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
        eq_properties: &EquivalenceProperties,
    ) -> Result<SortOrderPushdownResult<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_sort(order, eq_properties)?
            .map(|inner| self.with_inner(inner)))
    }

    fn reorder_files(&self, files: Vec<PartitionedFile>) -> Vec<PartitionedFile> {
        self.inner.reorder_files(files)
    }

    fn try_pushdown_projection(&self, projection: &ProjectionExprs) -> Result<Option<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_projection(projection)?
            .map(|inner| self.with_inner(inner)))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.inner.apply_expressions(f)
    }
}
