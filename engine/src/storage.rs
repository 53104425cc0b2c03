//! Where data lives: parsing LOCATIONs, AWS settings from the standard environment, and the registry that hands
//! DataFusion an object store per URL (one local store, one S3 client per bucket, built on first use).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion::execution::object_store::{ObjectStoreRegistry, ObjectStoreUrl};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use url::Url;

pub(crate) use crate::error::describe_store_error;
use crate::error::{EngineError, Result};

/// A folder in a store: `s3://bucket/prefix/` or a local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `s3://bucket` or `file://`.
    pub store_url: ObjectStoreUrl,
    /// The folder inside the store (no leading or trailing `/`).
    pub prefix: Path,
    /// Canonical text form, always ending in `/`: `s3://bucket/prefix/` or `file:///abs/dir/`.
    pub url: String,
}

impl Location {
    /// Parses a LOCATION as a user writes it: `s3://bucket/prefix`, `s3a://...`, `file:///abs/path`, or a local path
    /// (relative paths are resolved against the current directory, so the catalog records where the data really is).
    ///
    /// The path after the bucket (or after `file://`) is taken literally, as the AWS CLI and Athena take an S3 URI:
    /// `s3://b/dt=2024-01-01%2010%3A00/` is the folder Hive wrote for `2024-01-01 10:00`, not a URL to decode.
    pub fn parse(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        let bad = |message: &str| EngineError::Location {
            location: input.to_string(),
            message: message.to_string(),
        };
        if trimmed.is_empty() {
            return Err(bad("empty location"));
        }
        if let Some((scheme, rest)) = trimmed.split_once("://") {
            return match scheme.to_ascii_lowercase().as_str() {
                "s3" | "s3a" => {
                    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                    if bucket.is_empty() {
                        return Err(bad("no bucket name; write s3://bucket/prefix/"));
                    }
                    if !bucket
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                    {
                        return Err(bad(&format!("'{bucket}' is not a bucket name")));
                    }
                    // Athena collapses `//`; an empty key segment names nothing.
                    let segments: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
                    let prefix = Path::parse(segments.join("/")).map_err(|e| bad(&format!("invalid path ({e})")))?;
                    Self::new(&format!("s3://{bucket}"), prefix)
                }
                "file" => {
                    if !rest.starts_with('/') {
                        return Err(bad("a file:// URL needs an absolute path (file:///dir/)"));
                    }
                    Self::local(PathBuf::from(rest), input)
                }
                other => Err(bad(&format!(
                    "the '{other}' scheme is not supported; use s3://bucket/prefix/ or a local path"
                ))),
            };
        }
        Self::local(PathBuf::from(trimmed), input)
    }

    fn local(path: PathBuf, input: &str) -> Result<Self> {
        let absolute = std::path::absolute(&path).map_err(|e| EngineError::Location {
            location: input.to_string(),
            message: format!("cannot resolve the path ({e})"),
        })?;
        let prefix = Path::from_absolute_path(&absolute).map_err(|e| EngineError::Location {
            location: input.to_string(),
            message: format!("invalid local path ({e})"),
        })?;
        Self::new("file://", prefix)
    }

    fn new(store: &str, prefix: Path) -> Result<Self> {
        let store_url = ObjectStoreUrl::parse(store).map_err(|e| EngineError::Location {
            location: store.to_string(),
            message: format!("not a valid store URL ({e})"),
        })?;
        let url = if prefix.as_ref().is_empty() {
            format!("{}/", store.trim_end_matches('/'))
        } else if store == "file://" {
            format!("file:///{}/", prefix.as_ref())
        } else {
            format!("{store}/{}/", prefix.as_ref())
        };
        Ok(Self { store_url, prefix, url })
    }

    /// The URL of an object under this store, for messages.
    pub fn object_url(&self, path: &Path) -> String {
        let store = self.store_url.as_str().trim_end_matches('/');
        if store == "file:" {
            format!("file:///{}", path.as_ref())
        } else {
            format!("{store}/{}", path.as_ref())
        }
    }

    /// The URL of a folder, ending in `/`, as the catalog records partition folders: under this location, the
    /// folder names are written as stored (Hive-escaped `p=a%2Fb` stays so), and [`Location::folder_path`] gives
    /// back exactly `path`. (A URL would decode `%2F` into a `/`.)
    pub fn folder_url(&self, path: &Path) -> String {
        match path.prefix_match(&self.prefix) {
            Some(parts) => {
                let mut url = self.url.clone();
                for part in parts {
                    url.push_str(part.as_ref());
                    url.push('/');
                }
                url
            }
            None => format!("{}/", self.object_url(path)),
        }
    }

    /// The folder a catalog URL names: under this location, stored names as [`Location::folder_url`] writes them;
    /// elsewhere, a LOCATION as a user writes it, which must be in the same store (one scan reads one store).
    pub fn folder_path(&self, url: &str) -> Result<Path> {
        if let Some(rest) = url.strip_prefix(&self.url) {
            return rest
                .split('/')
                .filter(|s| !s.is_empty())
                .try_fold(self.prefix.clone(), |parent, raw| self.child(&parent, raw));
        }
        let other = Location::parse(url)?;
        if other.store_url != self.store_url {
            return Err(EngineError::Location {
                location: url.to_string(),
                message: format!(
                    "a partition must be in the table's bucket ({}); move it or register it in another table",
                    self.store_url
                ),
            });
        }
        Ok(other.prefix)
    }

    /// The path of `raw` under `parent`, where `raw` is the object's name exactly as stored: an S3 key segment,
    /// or a file name. object_store keeps a parsed path's text as it is on both stores (a local file `p=a%2Fb` is
    /// the path part `p=a%2Fb`), where `Path::join` would percent-encode the `%` a second time.
    pub fn child(&self, parent: &Path, raw: &str) -> Result<Path> {
        let joined = if parent.as_ref().is_empty() {
            raw.to_string()
        } else {
            format!("{}/{raw}", parent.as_ref())
        };
        Path::parse(&joined).map_err(|e| EngineError::Location {
            location: self.url.clone(),
            message: format!("'{raw}' cannot be an object name ({e})"),
        })
    }

    pub fn is_s3(&self) -> bool {
        self.store_url.as_str().starts_with("s3://")
    }

    /// A storage failure under this location, in words a user can act on, naming the location.
    pub(crate) fn store_error(&self, e: object_store::Error) -> EngineError {
        match crate::error::describe_store_error(&e) {
            EngineError::Storage { message, .. } => EngineError::Storage {
                location: self.url.clone(),
                message,
            },
            other => other,
        }
    }

    /// The local directory, for file:// locations.
    pub fn local_dir(&self) -> Option<PathBuf> {
        (!self.is_s3()).then(|| PathBuf::from(format!("/{}", self.prefix.as_ref())))
    }
}

/// AWS settings from the standard environment and shared config files. Values are never printed.
#[derive(Clone, Default)]
pub struct AwsSettings {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
}

impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("has_credentials", &self.access_key_id.is_some())
            .finish()
    }
}

impl AwsSettings {
    /// Settings given in code (tests, embedding applications) instead of the environment.
    pub fn new(endpoint: Option<&str>, region: Option<&str>) -> Self {
        Self {
            endpoint: endpoint.map(str::to_string),
            region: region.map(str::to_string),
            ..Default::default()
        }
    }

    pub fn with_credentials(
        mut self,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.to_string());
        self.secret_access_key = Some(secret_access_key.to_string());
        self.session_token = session_token.map(str::to_string);
        self
    }

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
    /// `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, then fills what is missing from the profile `AWS_PROFILE` (default
    /// `default`) in `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE`/`AWS_CONFIG_FILE`),
    /// with the same precedence as the AWS CLI: environment first, then credentials file, then config file.
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut s = AwsSettings {
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
        };
        let explicit_profile = var("AWS_PROFILE");
        let profile = explicit_profile.clone().unwrap_or_else(|| "default".to_string());
        let home = dirs_home();
        let credentials_file = var("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws/credentials")));
        let config_file = var("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws/config")));

        let mut found_profile = false;
        for (file, section) in [
            (credentials_file, profile.clone()),
            (
                config_file,
                if profile == "default" {
                    profile.clone()
                } else {
                    format!("profile {profile}")
                },
            ),
        ] {
            let Some(file) = file.filter(|f| f.exists()) else {
                continue;
            };
            let ini = ini::Ini::load_from_file(&file)
                .map_err(|e| EngineError::AwsConfig(format!("cannot read {}: {e}", file.display())))?;
            let Some(props) = ini.section(Some(section.as_str())) else {
                continue;
            };
            found_profile = true;
            let get = |k: &str| props.get(k).map(str::to_string).filter(|v| !v.is_empty());
            if s.access_key_id.is_none() && s.secret_access_key.is_none() {
                s.access_key_id = get("aws_access_key_id");
                s.secret_access_key = get("aws_secret_access_key");
                s.session_token = s.session_token.take().or_else(|| get("aws_session_token"));
            }
            s.region = s.region.take().or_else(|| get("region"));
            s.endpoint = s.endpoint.take().or_else(|| get("endpoint_url"));
        }
        if let Some(profile) = explicit_profile
            && !found_profile
        {
            return Err(EngineError::AwsConfig(format!(
                "AWS_PROFILE={profile} but no [{profile}] profile is in ~/.aws/credentials or ~/.aws/config"
            )));
        }
        if s.access_key_id.is_some() != s.secret_access_key.is_some() {
            return Err(EngineError::AwsConfig(
                "an access key id needs its secret access key (set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                    .to_string(),
            ));
        }
        Ok(s)
    }

    fn build_s3(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        // from_env keeps every other AWS_* option object_store understands (AWS_SKIP_SIGNATURE,
        // AWS_VIRTUAL_HOSTED_STYLE_REQUEST, ...); the settings above take precedence.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(self.region.clone().unwrap_or_else(|| "us-east-1".to_string()))
            // Without limits a wrong endpoint retries for minutes; a user waiting at a prompt wants an answer.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
                ..Default::default()
            })
            .with_client_options(ClientOptions::new().with_connect_timeout(Duration::from_secs(5)));
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(key), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            builder = builder.with_access_key_id(key).with_secret_access_key(secret);
            if let Some(token) = &self.session_token {
                builder = builder.with_token(token);
            }
        }
        let store = builder
            .build()
            .map_err(|e| EngineError::AwsConfig(format!("cannot configure S3 for bucket {bucket}: {e}")))?;
        Ok(Arc::new(store))
    }
}

fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Hands DataFusion (and the catalog) the store for a URL. S3 clients are made on first use, per bucket, so a
/// session that only touches local files never reads AWS settings.
#[derive(Debug, Default)]
pub struct StoreRegistry {
    local: OnceLock<Arc<dyn ObjectStore>>,
    aws: OnceLock<std::result::Result<AwsSettings, String>>,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl StoreRegistry {
    /// A registry whose S3 clients read the standard AWS environment on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry whose S3 clients use `settings` instead of the environment.
    pub fn with_aws(settings: AwsSettings) -> Self {
        let registry = Self::default();
        let _ = registry.aws.set(Ok(settings));
        registry
    }

    /// The store for `url`'s scheme and bucket.
    pub fn store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match url.scheme() {
            "file" => {
                Ok(Arc::clone(self.local.get_or_init(|| {
                    Arc::new(LocalFileSystem::new()) as Arc<dyn ObjectStore>
                })))
            }
            "s3" | "s3a" => {
                let bucket = url.host_str().unwrap_or_default().to_string();
                let key = format!("s3://{bucket}");
                let mut stores = self
                    .stores
                    .lock()
                    .map_err(|_| EngineError::internal("store registry poisoned"))?;
                if let Some(store) = stores.get(&key) {
                    return Ok(Arc::clone(store));
                }
                let settings = self
                    .aws
                    .get_or_init(|| AwsSettings::from_env().map_err(|e| e.to_string()))
                    .as_ref()
                    .map_err(|e| EngineError::AwsConfig(e.trim_start_matches("AWS configuration: ").to_string()))?;
                let store = settings.build_s3(&bucket)?;
                stores.insert(key, Arc::clone(&store));
                Ok(store)
            }
            other => {
                // Stores registered by name (delta-rs registers `delta-rs://<table>` for some operations).
                let key = format!("{other}://{}", url.host_str().unwrap_or_default());
                let stores = self
                    .stores
                    .lock()
                    .map_err(|_| EngineError::internal("store registry poisoned"))?;
                stores.get(&key).cloned().ok_or_else(|| EngineError::Location {
                    location: url.to_string(),
                    message: format!("the '{other}' scheme is not supported"),
                })
            }
        }
    }

    pub fn store_for(&self, location: &Location) -> Result<Arc<dyn ObjectStore>> {
        self.store(location.store_url.as_ref())
    }

    /// Writes `bytes` as the object `name` in the folder or prefix `location`, refusing to replace one that exists
    /// (for tools that make files: the data generator).
    pub async fn put_new(&self, location: &Location, name: &str, bytes: Vec<u8>) -> Result<()> {
        let store = self.store_for(location)?;
        let path = location.child(&location.prefix, name)?;
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        store
            .put_opts(&path, bytes.into(), options)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                object_store::Error::AlreadyExists { .. } => EngineError::Location {
                    location: location.object_url(&path),
                    message: "already exists; tarn does not overwrite files (choose an empty folder)".into(),
                },
                other => describe_store_error(&other),
            })
    }
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        let key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        self.stores.lock().ok()?.insert(key, store)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.store(url).map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_canonical() -> Result<()> {
        let s3 = Location::parse("s3://consumer/intake")?;
        assert_eq!(s3.url, "s3://consumer/intake/");
        assert_eq!(s3.prefix.as_ref(), "intake");
        assert_eq!(s3.store_url.as_str(), "s3://consumer/");
        assert_eq!(Location::parse("s3a://b/x/y/")?.url, "s3://b/x/y/");
        let local = Location::parse("/tmp/data/")?;
        assert_eq!(local.url, "file:///tmp/data/");
        assert_eq!(local.local_dir(), Some(PathBuf::from("/tmp/data")));
        assert_eq!(Location::parse("file:///tmp/data")?.url, "file:///tmp/data/");
        let relative = Location::parse("rel/dir")?;
        assert!(relative.url.starts_with("file:///") && relative.url.ends_with("/rel/dir/"));
        // Paths are taken as written: Hive's escapes name folders, they are not URL escapes.
        let hive = Location::parse("s3://b/t/dt=2024-01-01%2010%3A00/")?;
        assert_eq!(hive.prefix.as_ref(), "t/dt=2024-01-01%2010%3A00");
        assert_eq!(hive.url, "s3://b/t/dt=2024-01-01%2010%3A00/");
        assert_eq!(Location::parse("s3://b//x//y")?.prefix.as_ref(), "x/y");
        let local = Location::parse("file:///tmp/p=a%2Fb/")?;
        assert_eq!(local.local_dir(), Some(PathBuf::from("/tmp/p=a%2Fb")));
        assert_eq!(local.child(&local.prefix, "q=c%3Dd")?.as_ref(), "tmp/p=a%2Fb/q=c%3Dd");
        for bad in ["gs://b/x", "s3:///x", "", "file://relative/x", "s3://bad bucket/x"] {
            assert!(
                matches!(Location::parse(bad), Err(EngineError::Location { .. })),
                "{bad}"
            );
        }
        Ok(())
    }
}
