//! The catalog as one query sees it: exactly the tables the statement names, loaded from tarn's catalog before
//! planning. DataFusion gets no schema it could register tables in.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider};
use datafusion::datasource::TableProvider;

use crate::context::CATALOG_NAME;

#[derive(Debug)]
pub(crate) struct SnapshotCatalogList {
    pub(crate) catalog: Arc<dyn CatalogProvider>,
}

impl SnapshotCatalogList {
    /// A catalog with no tables, for statements that read none through SQL.
    pub(crate) fn empty() -> Self {
        Self {
            catalog: Arc::new(SnapshotCatalog {
                schemas: HashMap::new(),
            }),
        }
    }
}

impl CatalogProviderList for SnapshotCatalogList {
    fn register_catalog(&self, _: String, _: Arc<dyn CatalogProvider>) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![CATALOG_NAME.to_string()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        (name == CATALOG_NAME).then(|| Arc::clone(&self.catalog))
    }
}

#[derive(Debug)]
pub(crate) struct SnapshotCatalog {
    pub(crate) schemas: HashMap<String, Arc<dyn SchemaProvider>>,
}

impl CatalogProvider for SnapshotCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.schemas.get(name).cloned()
    }
}

#[derive(Debug)]
pub(crate) struct SnapshotSchema {
    pub(crate) tables: HashMap<String, Arc<dyn TableProvider>>,
}

#[async_trait]
impl SchemaProvider for SnapshotSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.tables.get(name).cloned())
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}
