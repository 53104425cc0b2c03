//! The PostgreSQL wire protocol front of `tarn serve`, on pgwire: a password exchange checked against the users
//! file, then each statement run by the connection's own tarn session (simple and extended protocol), its rows
//! encoded by arrow-pg, its message sent as a NOTICE, its error as an ErrorResponse with a SQLSTATE, and a record of it
//! in the history. Cancel requests interrupt the connection's statement.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, METADATA_DATABASE, METADATA_USER, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::data::DataRow;
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::startup::{Authentication, SecretKey};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tarn_engine::arrow::datatypes::SchemaRef;
use tarn_engine::{EngineError, Interrupt, QueryResult, ResultKind, Session};

use super::history::{Begun, History};
use super::params::bind_parameters;
use super::pg_catalog::{CatalogQueries, Failed};
use super::pg_types::PgShape;
use super::settings::Parameter;
use super::statement::{Authed, Ran, batches};
use super::users::Users;

/// What every connection shares.
pub struct Shared {
    /// Cloned for each connection: the catalog and stores are shared, the current database and settings are not.
    pub base: Session,
    pub users: Users,
    pub history: History,
    /// Backend key → the secret a cancel request must bring, and the statement it interrupts.
    cancels: Mutex<HashMap<i32, (SecretKey, Arc<Interrupt>)>>,
    keys: RandomPidSecretKeyGenerator,
    /// The runtime statements run on (not the one serving connections).
    pub queries: tokio::runtime::Handle,
    pub idle_timeout: Option<std::time::Duration>,
}

impl Shared {
    pub fn new(
        base: Session,
        users: Users,
        history: History,
        queries: tokio::runtime::Handle,
        idle_timeout: Option<std::time::Duration>,
    ) -> Self {
        Self {
            base,
            users,
            history,
            cancels: Mutex::new(HashMap::new()),
            keys: RandomPidSecretKeyGenerator::default(),
            queries,
            idle_timeout,
        }
    }
}

/// When a connection last did something, and whether it is doing something now (a statement running or its rows
/// being sent), for the idle timeout. Before its user is authenticated a connection is not idle: pgwire's startup
/// timeout bounds that phase.
#[derive(Debug)]
pub struct Activity {
    last: Mutex<std::time::Instant>,
    busy: AtomicI32,
    authenticated: std::sync::atomic::AtomicBool,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            last: Mutex::new(std::time::Instant::now()),
            busy: AtomicI32::new(0),
            authenticated: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn authenticated(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = std::time::Instant::now();
        }
        self.authenticated.store(true, Ordering::Relaxed);
    }

    /// How long the connection has done nothing; zero while it is busy.
    pub fn idle_for(&self) -> std::time::Duration {
        if self.busy.load(Ordering::Relaxed) > 0 || !self.authenticated.load(Ordering::Relaxed) {
            return std::time::Duration::ZERO;
        }
        self.last
            .lock()
            .map(|last| last.elapsed())
            .unwrap_or(std::time::Duration::ZERO)
    }

    fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }
}

/// Held while a connection works; when dropped, the connection's idle time starts again.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut last) = self.0.last.lock() {
            *last = std::time::Instant::now();
        }
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One client connection.
pub struct Conn {
    shared: Arc<Shared>,
    addr: SocketAddr,
    authed: tokio::sync::Mutex<Option<Authed>>,
    pid: AtomicI32,
    parser: Arc<Parser>,
    /// Made on the connection's first catalog query: most connections send none.
    catalog_queries: tokio::sync::OnceCell<Arc<CatalogQueries>>,
    activity: Arc<Activity>,
}

impl Conn {
    pub fn new(shared: Arc<Shared>, addr: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            shared,
            addr,
            authed: tokio::sync::Mutex::new(None),
            pid: AtomicI32::new(0),
            parser: Arc::new(Parser),
            catalog_queries: tokio::sync::OnceCell::new(),
            activity: Activity::new(),
        })
    }

    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let pid = self.pid.load(Ordering::Relaxed);
        if let Ok(mut cancels) = self.shared.cancels.lock() {
            cancels.remove(&pid);
        }
    }
}

/// The handlers pgwire asks a connection for: all of them are the connection.
pub struct Handlers(pub Arc<Conn>);

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.0)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.0)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.0)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.0)
    }
}

fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// The SQLSTATE of an engine error (PostgreSQL's codes, as drivers and BI tools classify them).
pub fn sqlstate(e: &EngineError) -> &'static str {
    use tarn_engine::catalog::CatalogError;
    match e {
        EngineError::Syntax { .. } => "42601",
        EngineError::TableNotFound { .. } => "42P01",
        EngineError::DatabaseNotFound { .. } => "3D000",
        EngineError::Catalog(c) => match c.as_ref() {
            CatalogError::DatabaseNotFound { .. } => "3D000",
            CatalogError::TableNotFound { .. } => "42P01",
            CatalogError::DatabaseExists { .. } => "42P04",
            CatalogError::TableExists { .. } => "42P07",
            CatalogError::DatabaseNotEmpty { .. } => "2BP01",
            CatalogError::ConcurrentModification { .. } | CatalogError::Contended { .. } => "40001",
            CatalogError::InvalidName { .. } | CatalogError::InvalidDefinition { .. } => "42602",
            _ => "58030",
        },
        EngineError::Unsupported { .. } => "0A000",
        EngineError::Invalid { .. } => "42000",
        EngineError::DataFile { .. } => "22P02",
        EngineError::ScanLimitExceeded { .. } => "54000",
        EngineError::CheckFailed { .. } => "23514",
        EngineError::Interrupted | EngineError::CancelledLate => "57014",
        EngineError::OutOfMemory { .. } => "53200",
        EngineError::Location { .. } | EngineError::Storage { .. } | EngineError::AwsConfig(_) => "58030",
        EngineError::WorkerUnreachable { .. } | EngineError::WorkerLost { .. } => "08006",
        _ => "XX000",
    }
}

fn engine_error(e: &EngineError) -> PgWireError {
    user_error(sqlstate(e), e.to_string())
}

#[async_trait]
impl StartupHandler for Conn {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(Authentication::CleartextPassword))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(pwd) => {
                let password = pwd.into_password()?.password;
                let name = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let Some(user) = self.shared.users.authenticate(&name, &password).cloned() else {
                    let workgroup = self.shared.users.get(&name).map(|u| u.workgroup.name.clone());
                    self.shared
                        .history
                        .refused_login(&name, workgroup.as_deref(), &self.addr.to_string())
                        .await;
                    // The same answer for an unknown user and a wrong password, as PostgreSQL gives.
                    return Err(user_error(
                        "28P01",
                        format!("password authentication failed for user \"{name}\""),
                    ));
                };
                let mut session = self.shared.base.clone();
                if let Some(db) = client.metadata().get(METADATA_DATABASE).filter(|d| *d != &name)
                    && let Err(e) = session.execute(&format!("USE \"{}\"", db.replace('"', "\"\""))).await
                {
                    return Err(user_error("3D000", e.to_string()));
                }
                let (pid, secret) = self.shared.keys.generate(client);
                client.set_pid_and_secret_key(pid, secret.clone());
                self.pid.store(pid, Ordering::Relaxed);
                if let Ok(mut cancels) = self.shared.cancels.lock() {
                    cancels.insert(pid, (secret, session.interrupt_handle()));
                }
                let mut parameters = DefaultServerParameterProvider::default();
                parameters.server_version = super::settings::SERVER_VERSION.to_string();
                parameters.search_path = session.current_database().to_string();
                parameters.is_superuser = false;
                parameters.default_transaction_read_only = user.role == super::users::Role::ReadOnly;
                parameters.time_zone = "UTC".to_string();
                *self.authed.lock().await = Some(Authed { user, session });
                finish_authentication(client, &parameters).await?;
                self.activity.authenticated();
            }
            _ => {}
        }
        Ok(())
    }
}

/// A cancel key as sent: a cancel request's 4 bytes are decoded as bytes, while the key was made as an `i32`.
fn key_bytes(key: &SecretKey) -> Vec<u8> {
    match key {
        SecretKey::I32(n) => n.to_be_bytes().to_vec(),
        SecretKey::Bytes(b) => b.to_vec(),
    }
}

#[async_trait]
impl CancelHandler for Conn {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let interrupt = self.shared.cancels.lock().ok().and_then(|cancels| {
            cancels
                .get(&request.pid)
                .filter(|(secret, _)| key_bytes(secret) == key_bytes(&request.secret_key))
                .map(|(_, interrupt)| Arc::clone(interrupt))
        });
        if let Some(interrupt) = interrupt {
            interrupt.interrupt();
        }
    }
}

/// What a statement sends back: rows (streamed), or a command tag with the statement's message as a NOTICE.
enum Reply {
    Rows(QueryResponse),
    Done { tag: Tag, notice: Option<String> },
}

impl Conn {
    /// Runs one statement for the connection's user: refused if their role or workgroup does not allow it, recorded
    /// in the history either way.
    async fn run(&self, sql: &str, format: &Format) -> PgWireResult<Reply> {
        let busy = self.activity.busy();
        if let Some(reply) = protocol_command(sql) {
            return Ok(reply);
        }
        let mut guard = self.authed.lock().await;
        let authed = guard.as_mut().ok_or_else(|| user_error("28000", "not authenticated"))?;
        if let Some(parameter) = super::settings::parse(sql) {
            return self.parameter(authed, sql, parameter, format).await;
        }
        if super::pg_catalog::wants(sql) {
            let session = authed.session.clone();
            drop(guard);
            return self.catalog_query(session, sql, format).await;
        }
        let ran = self.shared.run(authed, "postgres", &self.addr.to_string(), sql).await;
        if let Some(queries) = self.catalog_queries.get()
            && !tarn_engine::read_only(sql)
        {
            queries.forget();
        }
        match ran {
            Ok(Ran::Rows { result, begun }) => Ok(Reply::Rows(rows(
                result,
                format,
                begun,
                authed.session.interrupt_handle(),
                &self.shared.queries,
                busy,
            )?)),
            Ok(Ran::Done { kind, rows, message }) => Ok(Reply::Done {
                tag: command_tag(sql, kind, rows),
                notice: message,
            }),
            Err(refusal) => Err(user_error(refusal.sqlstate, refusal.message)),
        }
    }

    /// The schema a statement's rows will have, without running it where that is possible (queries are planned);
    /// `None` for statements that answer with a message.
    async fn describe(&self, sql: &str) -> PgWireResult<Option<SchemaRef>> {
        let _busy = self.activity.busy();
        let guard = self.authed.lock().await;
        let authed = guard.as_ref().ok_or_else(|| user_error("28000", "not authenticated"))?;
        if super::settings::parse(sql).is_some_and(|p| matches!(p, Parameter::Show { .. })) {
            return Ok(Some(setting_schema(sql)));
        }
        if super::pg_catalog::wants(sql) {
            let session = authed.session.clone();
            drop(guard);
            let queries = self.catalog_queries().await?;
            let sql = sql.to_string();
            return self
                .on_query_runtime(async move { queries.describe(&session, &sql).await })
                .await;
        }
        if !tarn_engine::read_only(sql) {
            return Ok(None);
        }
        // A read-only statement run on a copy of the session (a USE or SET there changes nothing here): a query
        // is planned and its stream dropped unread, a listing is read.
        let session = authed.session.clone();
        drop(guard);
        let (_, result) = self.shared.execute(&session, sql).await;
        let result = result.map_err(|e| engine_error(&e))?;
        Ok(matches!(result.kind(), ResultKind::Query | ResultKind::Listing).then(|| result.schema()))
    }
}

impl Conn {
    async fn catalog_queries(&self) -> PgWireResult<Arc<CatalogQueries>> {
        self.catalog_queries
            .get_or_try_init(|| async { CatalogQueries::new().map(Arc::new) })
            .await
            .cloned()
            .map_err(|e| user_error("XX000", format!("pg_catalog: {e}")))
    }

    /// Runs a catalog browser's query (see [`super::pg_catalog`]) on the query runtime. Not recorded in the
    /// history: it reads no data, as Glue calls in Athena's console are not queries.
    async fn catalog_query(&self, session: Session, sql: &str, format: &Format) -> PgWireResult<Reply> {
        let queries = self.catalog_queries().await?;
        let sql = sql.to_string();
        let ran = self
            .on_query_runtime(async move { queries.run(&session, &sql).await })
            .await?;
        match ran {
            Some((schema, batches)) => Ok(Reply::Rows(rows_of(&schema, batches, format)?)),
            None => Ok(Reply::Done {
                tag: Tag::new("SELECT").with_rows(0),
                notice: None,
            }),
        }
    }

    /// Catalog work on the query runtime, whose threads may be busy with queries: this connection's task answers a
    /// cancel request meanwhile.
    async fn on_query_runtime<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, Failed>> + Send + 'static,
    ) -> PgWireResult<T> {
        self.shared
            .queries
            .spawn(work)
            .await
            .map_err(|e| user_error("XX000", e.to_string()))?
            .map_err(|failed| user_error(failed.sqlstate, failed.message))
    }

    /// SET and SHOW of a PostgreSQL parameter (see [`super::settings`]); `SET search_path` is USE.
    async fn parameter(
        &self,
        authed: &mut Authed,
        sql: &str,
        parameter: Parameter,
        format: &Format,
    ) -> PgWireResult<Reply> {
        match parameter {
            Parameter::Ignored | Parameter::SearchPath(None) => Ok(Reply::Done {
                tag: Tag::new("SET"),
                notice: None,
            }),
            Parameter::SearchPath(Some(database)) => {
                let (session, result) = self
                    .shared
                    .execute(&authed.session, &format!("USE \"{}\"", database.replace('"', "\"\"")))
                    .await;
                result.map_err(|e| engine_error(&e))?;
                authed.session = session;
                Ok(Reply::Done {
                    tag: Tag::new("SET"),
                    notice: None,
                })
            }
            Parameter::Show { value, .. } => {
                let value = value.unwrap_or_else(|| authed.session.current_database().to_string());
                let schema = setting_schema(sql);
                let batch = tarn_engine::arrow::array::RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(tarn_engine::arrow::array::StringArray::from(vec![value]))],
                )
                .map_err(|e| user_error("XX000", e.to_string()))?;
                Ok(Reply::Rows(rows_of(&schema, vec![batch], format)?))
            }
        }
    }
}

/// The one text column SHOW of a parameter answers with, named as PostgreSQL names it.
fn setting_schema(sql: &str) -> SchemaRef {
    let name = match super::settings::parse(sql) {
        Some(Parameter::Show { name, .. }) => name,
        _ => "setting".to_string(),
    };
    Arc::new(tarn_engine::arrow::datatypes::Schema::new(vec![
        tarn_engine::arrow::datatypes::Field::new(name, tarn_engine::arrow::datatypes::DataType::Utf8, true),
    ]))
}

/// Rows already computed, as PostgreSQL data rows.
fn rows_of(
    schema: &SchemaRef,
    batches: Vec<tarn_engine::arrow::array::RecordBatch>,
    format: &Format,
) -> PgWireResult<QueryResponse> {
    let shape = PgShape::of(schema);
    let fields = Arc::new(arrow_pg::datatypes::arrow_schema_to_pg_fields(
        shape.schema(),
        format,
        None,
    )?);
    let mut rows: Vec<PgWireResult<DataRow>> = Vec::new();
    for batch in batches {
        let batch = shape.batch(batch).map_err(|e| user_error("XX000", e.to_string()))?;
        rows.extend(arrow_pg::datatypes::encode_recordbatch(Arc::clone(&fields), batch));
    }
    Ok(QueryResponse::new(fields, futures::stream::iter(rows)))
}

/// Statements drivers send on their own that tarn has nothing to do for, answered as PostgreSQL would: transactions
/// (tarn, like Athena, has none: each statement commits on its own; SQLAlchemy and JDBC wrap everything in
/// BEGIN/COMMIT) and the release of prepared statements (psycopg sends `DEALLOCATE ALL` after DDL).
fn protocol_command(sql: &str) -> Option<Reply> {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(2)
        .map(|w| w.trim_end_matches(';').to_uppercase())
        .collect();
    let tag = match words.first().map(String::as_str)? {
        "BEGIN" | "START" => "BEGIN",
        "COMMIT" | "END" => "COMMIT",
        "ROLLBACK" | "ABORT" => "ROLLBACK",
        "DEALLOCATE" => "DEALLOCATE",
        "DISCARD" => "DISCARD",
        _ => return None,
    };
    let tag = if tag == "DEALLOCATE" && words.get(1).is_some_and(|w| w == "ALL") {
        "DEALLOCATE ALL"
    } else {
        tag
    };
    Some(Reply::Done {
        tag: Tag::new(tag),
        notice: None,
    })
}

/// PostgreSQL's tag for a statement: `SELECT n` for rows and CTAS, `INSERT 0 n`, else its first words.
fn command_tag(sql: &str, kind: ResultKind, rows: u64) -> Tag {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(2)
        .map(|w| w.trim_end_matches(';').to_uppercase())
        .collect();
    let rows = usize::try_from(rows).unwrap_or(usize::MAX);
    match (kind, words.first().map(String::as_str)) {
        (ResultKind::Write, Some("INSERT")) => Tag::new("INSERT").with_oid(0).with_rows(rows),
        (ResultKind::Write, Some("CREATE")) => Tag::new("SELECT").with_rows(rows),
        (ResultKind::Write, Some("UNLOAD")) => Tag::new("UNLOAD").with_rows(rows),
        (_, Some("CREATE" | "DROP" | "ALTER" | "SHOW" | "DESCRIBE" | "MSCK")) => Tag::new(&words.join(" ")),
        (_, Some(first)) => Tag::new(first),
        (_, None) => Tag::new("OK"),
    }
}

/// Streams a result's rows as PostgreSQL data rows (see [`batches`]); a cancel request sets `interrupt`. The
/// connection is busy until the stream is dropped.
fn rows(
    result: QueryResult,
    format: &Format,
    begun: Begun,
    interrupt: Arc<Interrupt>,
    queries: &tokio::runtime::Handle,
    busy: Busy,
) -> PgWireResult<QueryResponse> {
    let shape = PgShape::of(&result.schema());
    let fields = Arc::new(arrow_pg::datatypes::arrow_schema_to_pg_fields(
        shape.schema(),
        format,
        None,
    )?);
    let encode_fields = Arc::clone(&fields);
    let stream = batches(result, begun, Some(interrupt), queries).flat_map(move |batch| {
        let _busy = &busy;
        let rows: Vec<PgWireResult<DataRow>> = match batch.map(|b| shape.batch(b)) {
            Ok(Ok(batch)) => arrow_pg::datatypes::encode_recordbatch(Arc::clone(&encode_fields), batch).collect(),
            Ok(Err(e)) => vec![Err(user_error("XX000", e.to_string()))],
            Err(e) => vec![Err(engine_error(&e))],
        };
        futures::stream::iter(rows)
    });
    Ok(QueryResponse::new(fields, stream))
}

fn describe_fields(schema: Option<SchemaRef>, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    match schema {
        Some(schema) => arrow_pg::datatypes::arrow_schema_to_pg_fields(PgShape::of(&schema).schema(), format, None),
        None => Ok(Vec::new()),
    }
}

async fn send_notice<C>(client: &mut C, message: &str) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let notice = ErrorInfo::new("NOTICE".into(), "00000".into(), message.to_string());
    client
        .send(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(notice)))
        .await?;
    Ok(())
}

async fn respond<C>(client: &mut C, reply: Reply) -> PgWireResult<Response>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    match reply {
        Reply::Rows(rows) => Ok(Response::Query(rows)),
        Reply::Done { tag, notice } => {
            if let Some(notice) = notice {
                send_notice(client, &notice).await?;
            }
            Ok(Response::Execution(tag))
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Conn {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut responses = Vec::new();
        // psql -c sends a script as one query: its statements run in order and the first error stops it, as in
        // PostgreSQL.
        let statements = tarn_engine::split_statements(query).map_err(|e| engine_error(&e))?;
        for statement in statements {
            let reply = self.run(&statement.text, &Format::UnifiedText).await?;
            responses.push(respond(client, reply).await?);
        }
        Ok(responses)
    }
}

/// A statement of the extended protocol is its text: tarn plans it when it is described or run, with its
/// parameters bound.
#[derive(Debug, Default)]
pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = String;

    async fn parse_sql<C>(&self, _client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<String>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Ok(Some(sql.to_string()))
    }

    fn get_parameter_types(&self, sql: &String) -> PgWireResult<Vec<Type>> {
        Ok(vec![Type::UNKNOWN; super::params::placeholders(sql)])
    }

    fn get_result_schema(&self, _sql: &String, _format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl ExtendedQueryHandler for Conn {
    type Statement = String;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<String>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let count = super::params::placeholders(&target.statement);
        let types: Vec<Type> = (0..count)
            .map(|i| {
                target
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or(Type::UNKNOWN)
            })
            .collect();
        // Before its parameters are bound, a statement is planned with NULL in their place: enough for the shape
        // of its rows.
        let sql = super::params::with_nulls(&target.statement);
        let schema = self.describe(&sql).await?;
        Ok(DescribeStatementResponse::new(
            types,
            describe_fields(schema, &Format::UnifiedText)?,
        ))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<String>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = bind_parameters(portal)?;
        let schema = self.describe(&sql).await?;
        Ok(DescribePortalResponse::new(describe_fields(
            schema,
            &portal.result_column_format,
        )?))
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<String>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = bind_parameters(portal)?;
        if sql.trim().is_empty() {
            return Ok(Response::EmptyQuery);
        }
        let reply = self.run(&sql, &portal.result_column_format).await?;
        respond(client, reply).await
    }
}
