//! The Arrow Flight SQL front of `tarn serve` (arrow-flight's `flight-sql`): what ADBC's and the JDBC Flight SQL
//! driver speak. A handshake with the user's name and password gives a bearer token; a statement runs when its
//! FlightInfo is asked for (its result is kept under a handle until the client fetches it with DoGet, as Arrow);
//! catalogs, schemas and tables come from tarn's catalog.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTables, CommandPreparedStatementQuery, CommandStatementQuery,
    CommandStatementUpdate, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket, flight_service_server::FlightService,
};
use base64::Engine;
use futures::{Stream, TryStreamExt};
use prost::Message;
use tarn_engine::arrow::datatypes::{Schema, SchemaRef};
use tarn_engine::arrow::ipc::writer::IpcWriteOptions;
use tonic::{Request, Response, Status, Streaming};

use super::pg::Shared;
use super::statement::{Authed, Ran, Refusal};

/// A statement run for a FlightInfo, waiting for its DoGet.
struct Pending {
    schema: SchemaRef,
    ran: Ran,
}

/// Values under keys, each forgotten once unused for the server's idle timeout (Flight SQL has no connection whose
/// end would say a token or a result is no longer wanted).
struct Expiring<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    limit: Option<Duration>,
}

impl<V> Expiring<V> {
    fn new(limit: Option<Duration>) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            limit,
        }
    }

    fn insert(&self, key: String, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if let Some(limit) = self.limit {
                entries.retain(|_, (_, used)| used.elapsed() < limit);
            }
            entries.insert(key, (value, Instant::now()));
        }
    }

    fn remove(&self, key: &str) -> Option<V> {
        let (value, used) = self.entries.lock().ok()?.remove(key)?;
        self.fresh(used).then_some(value)
    }

    fn fresh(&self, used: Instant) -> bool {
        self.limit.is_none_or(|limit| used.elapsed() < limit)
    }
}

impl<V: Clone> Expiring<V> {
    /// The value under `key` if it has not expired; using it starts its time again.
    fn get(&self, key: &str) -> Option<V> {
        let mut entries = self.entries.lock().ok()?;
        let (value, used) = entries.get_mut(key)?;
        if !self.fresh(*used) {
            entries.remove(key);
            return None;
        }
        *used = Instant::now();
        Some(value.clone())
    }
}

pub struct Flight {
    shared: Arc<Shared>,
    /// Bearer token → the session it opened.
    sessions: Expiring<Arc<tokio::sync::Mutex<Authed>>>,
    pending: Expiring<Pending>,
}

impl Flight {
    pub fn service(shared: Arc<Shared>) -> FlightServiceServer<Self> {
        let limit = shared.idle_timeout;
        FlightServiceServer::new(Self {
            shared,
            sessions: Expiring::new(limit),
            pending: Expiring::new(limit),
        })
    }

    fn session<T>(&self, request: &Request<T>) -> Result<Arc<tokio::sync::Mutex<Authed>>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("no bearer token: authenticate with a handshake first"))?;
        self.sessions
            .get(token)
            .ok_or_else(|| Status::unauthenticated("unknown or expired token: authenticate again"))
    }

    fn client<T>(request: &Request<T>) -> String {
        request
            .remote_addr()
            .map(|a: SocketAddr| a.to_string())
            .unwrap_or_default()
    }

    /// Runs `sql` for the request's user and keeps its result for a DoGet; the FlightInfo names it.
    async fn run_for_info<T>(&self, request: &Request<T>, sql: &str) -> Result<FlightInfo, Status> {
        let session = self.session(request)?;
        let mut authed = session.lock().await;
        let ran = self
            .shared
            .run(&mut authed, "flight", &Self::client(request), sql)
            .await
            .map_err(status)?;
        let schema = match &ran {
            Ran::Rows { result, .. } => result.schema(),
            Ran::Done { .. } => Arc::new(Schema::empty()),
        };
        let handle = uuid::Uuid::new_v4().to_string();
        let ticket = TicketStatementQuery {
            statement_handle: handle.clone().into_bytes().into(),
        };
        self.pending.insert(
            handle,
            Pending {
                schema: Arc::clone(&schema),
                ran,
            },
        );
        let endpoint = FlightEndpoint::new().with_ticket(Ticket {
            ticket: ticket.as_any().encode_to_vec().into(),
        });
        FlightInfo::new()
            .try_with_schema(&schema)
            .map(|info| info.with_endpoint(endpoint))
            .map_err(|e| Status::internal(e.to_string()))
    }

    fn info_for<C: ProstMessageExt + Clone>(command: &C, schema: &Schema) -> Result<Response<FlightInfo>, Status> {
        let endpoint = FlightEndpoint::new().with_ticket(Ticket {
            ticket: command.as_any().encode_to_vec().into(),
        });
        Ok(Response::new(
            FlightInfo::new()
                .try_with_schema(schema)
                .map_err(|e| Status::internal(e.to_string()))?
                .with_endpoint(endpoint),
        ))
    }

    /// The databases' names, as the catalog lists them.
    async fn databases(&self) -> Result<Vec<String>, Status> {
        let databases = self
            .shared
            .base
            .catalog()
            .list_databases()
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(databases.into_iter().map(|d| d.name).collect())
    }
}

/// The catalog name tarn reports: one catalog, the warehouse, named as Athena names it (queries may use it).
const CATALOG: &str = tarn_engine::CATALOG_NAME;

fn status(refusal: Refusal) -> Status {
    let message = format!("{} (SQLSTATE {})", refusal.message, refusal.sqlstate);
    match refusal.sqlstate {
        "28P01" | "28000" => Status::unauthenticated(message),
        "42501" => Status::permission_denied(message),
        "54000" => Status::resource_exhausted(message),
        "57014" => Status::cancelled(message),
        "42P01" | "3D000" => Status::not_found(message),
        code if code.starts_with("42") || code.starts_with("22") || code == "0A000" => {
            Status::invalid_argument(message)
        }
        _ => Status::internal(message),
    }
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static>>;

fn encode(
    schema: SchemaRef,
    batches: impl Stream<Item = Result<tarn_engine::arrow::array::RecordBatch, FlightError>> + Send + 'static,
) -> Response<DoGetStream> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches)
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

#[tonic::async_trait]
impl FlightSqlService for Flight {
    type FlightService = Flight;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        let basic = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .ok_or_else(|| Status::unauthenticated("send the user's name and password (basic authentication)"))?;
        // Go's Flight client (ADBC's) leaves out the padding.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(basic))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Status::unauthenticated("malformed basic authentication"))?;
        let (name, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        let Some(user) = self.shared.users.authenticate(name, password).cloned() else {
            let workgroup = self.shared.users.get(name).map(|u| u.workgroup.name.clone());
            self.shared
                .history
                .refused_login(name, workgroup.as_deref(), &Self::client(&request))
                .await;
            return Err(Status::unauthenticated(format!(
                "password authentication failed for user \"{name}\" (SQLSTATE 28P01)"
            )));
        };
        let token = uuid::Uuid::new_v4().simple().to_string();
        let authed = Authed {
            user,
            session: self.shared.base.clone(),
        };
        self.sessions
            .insert(token.clone(), Arc::new(tokio::sync::Mutex::new(authed)));
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into_bytes().into(),
        };
        let mut response: Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>> =
            Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        let header = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("cannot make the token header"))?;
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let info = self.run_for_info(&request, &query.query).await?;
        Ok(Response::new(info.with_descriptor(request.into_inner())))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request)?;
        let handle = String::from_utf8_lossy(&ticket.statement_handle).to_string();
        let pending = self
            .pending
            .remove(&handle)
            .ok_or_else(|| Status::not_found("no result under this handle (fetched already, or expired)"))?;
        match pending.ran {
            Ran::Rows { result, begun } => {
                let batches = super::statement::batches(result, begun, None, &self.shared.queries)
                    .map_err(|e| FlightError::ExternalError(Box::new(e)));
                Ok(encode(pending.schema, batches))
            }
            Ran::Done { .. } => Ok(encode(pending.schema, futures::stream::empty())),
        }
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request)?;
        let mut authed = session.lock().await;
        let ran = self
            .shared
            .run(&mut authed, "flight", &Self::client(&request), &command.query)
            .await
            .map_err(status)?;
        match ran {
            Ran::Done { rows, .. } => Ok(i64::try_from(rows).unwrap_or(i64::MAX)),
            Ran::Rows { result, begun } => {
                // An update that returned rows (a query sent as an update): read them for its figures.
                let rows = super::statement::batches(result, begun, None, &self.shared.queries)
                    .try_fold(0usize, |n, b| async move { Ok(n + b.num_rows()) })
                    .await
                    .map_err(|e| status(Refusal::of(&e)))?;
                Ok(i64::try_from(rows).unwrap_or(i64::MAX))
            }
        }
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.session(&request)?;
        let copy = session.lock().await.session.clone();
        // Only read-only statements are described (by running them on a copy of the session): a write is described
        // as having no rows.
        let schema = if tarn_engine::read_only(&query.query) {
            let (_, result) = self.shared.execute(&copy, &query.query).await;
            let result = result.map_err(|e| status(Refusal::of(&e)))?;
            result.schema()
        } else {
            Arc::new(Schema::empty())
        };
        let IpcMessage(dataset_schema) = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(|e: tarn_engine::arrow::error::ArrowError| Status::internal(e.to_string()))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: query.query.into_bytes().into(),
            dataset_schema,
            parameter_schema: Default::default(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        Ok(())
    }

    async fn get_flight_info_prepared_statement(
        &self,
        command: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let sql = String::from_utf8_lossy(&command.prepared_statement_handle).to_string();
        let info = self.run_for_info(&request, &sql).await?;
        Ok(Response::new(info.with_descriptor(request.into_inner())))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.into_builder().schema();
        Self::info_for(&query, &schema)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request)?;
        let mut builder = query.into_builder();
        builder.append(CATALOG);
        let schema = builder.schema();
        let batch = builder.build();
        Ok(encode(schema, futures::stream::once(async { batch })))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::info_for(&query, &schema)
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request)?;
        let databases = self.databases().await?;
        let mut builder = query.into_builder();
        for db in databases {
            builder.append(CATALOG, db);
        }
        let schema = builder.schema();
        let batch = builder.build();
        Ok(encode(schema, futures::stream::once(async { batch })))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::info_for(&query, &schema)
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request)?;
        let tables = self
            .shared
            .base
            .tables_with_columns()
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let mut builder = query.into_builder();
        for table in tables {
            let kind = match table.kind {
                tarn_engine::catalog::TableKind::View => "VIEW",
                _ => "TABLE",
            };
            builder
                .append(CATALOG, &table.database, &table.name, kind, &table.schema)
                .map_err(Status::from)?;
        }
        let schema = builder.schema();
        let batch = builder.build();
        Ok(encode(schema, futures::stream::once(async { batch })))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
