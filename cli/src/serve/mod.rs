//! `tarn serve`: the warehouse shared over the PostgreSQL wire protocol, with users, workgroups, scan limits and a
//! query history (see the README's "Serving" section).

mod flight;
mod history;
mod information_schema;
mod params;
mod pg;
mod pg_catalog;
mod pg_types;
mod settings;
mod statement;
pub mod users;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tarn_engine::Session;
use tokio::net::TcpListener;

pub struct ServeOptions {
    pub pg: String,
    /// Where to serve Arrow Flight SQL, if at all.
    pub flight: Option<String>,
    pub users: PathBuf,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_connections: usize,
    /// How long a connection, a Flight SQL token or result may go unused.
    pub idle_timeout: Option<std::time::Duration>,
}

/// Reads a PEM certificate chain and key into a TLS acceptor for pgwire.
fn tls_acceptor(cert: &PathBuf, key: &PathBuf) -> Result<pgwire::tokio::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(session: Session, options: ServeOptions) -> ExitCode {
    match serve(session, options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn serve(session: Session, options: ServeOptions) -> Result<(), String> {
    let users = users::Users::load(&options.users)?;
    let tls = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let history = history::History::open(&session).await.map_err(|e| e.to_string())?;
    // Queries run on this runtime; connections are served by one of their own, so that a query that keeps every
    // core busy cannot keep the server from accepting a connection or a cancel request.
    let queries = tokio::runtime::Handle::current();
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tarn-serve-io")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    let shared = Arc::new(pg::Shared::new(session, users, history, queries, options.idle_timeout));
    let served = io.spawn(accept(shared, options, tls)).await;
    io.shutdown_background();
    served.map_err(|e| format!("the server stopped: {e}"))?
}

async fn accept(
    shared: Arc<pg::Shared>,
    options: ServeOptions,
    tls: Option<pgwire::tokio::TlsAcceptor>,
) -> Result<(), String> {
    let listener = TcpListener::bind(&options.pg)
        .await
        .map_err(|e| format!("cannot listen on {} ({e}); is another server there?", options.pg))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    // The addresses a test or a supervisor waits for, on stdout; the rest of what the server says goes to stderr.
    println!("postgres://{address}/ (warehouse {})", shared.base.warehouse());
    if let Some(flight) = &options.flight {
        let listener = TcpListener::bind(flight)
            .await
            .map_err(|e| format!("cannot listen on {flight} ({e}); is another server there?"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        println!("grpc://{address} (Arrow Flight SQL)");
        let service = flight::Flight::service(Arc::clone(&shared));
        tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            if let Err(e) = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                eprintln!("tarn serve: the Flight SQL service stopped: {e}");
            }
        });
    }
    let stop = shutdown();
    tokio::pin!(stop);
    loop {
        let (socket, peer) = tokio::select! {
            _ = &mut stop => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("tarn serve: accept failed: {e}");
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            eprintln!(
                "tarn serve: refused a connection from {peer}: {} connections are open (--max-connections)",
                options.max_connections
            );
            drop(socket);
            continue;
        };
        let conn = pg::Conn::new(Arc::clone(&shared), peer);
        let activity = conn.activity();
        let handlers = pg::Handlers(conn);
        let tls = tls.clone();
        let served = tokio::spawn(async move {
            // A client that sends garbage or goes away ends only its own connection.
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                eprintln!("tarn serve: connection from {peer} ended: {e}");
            }
            drop(slot);
        });
        if let Some(limit) = options.idle_timeout {
            tokio::spawn(close_when_idle(served.abort_handle(), activity, limit, peer));
        }
    }
}

/// Ends a connection (its task, and with it the socket) once it has run nothing for `limit`; a statement that runs
/// or sends rows for longer is not idle.
async fn close_when_idle(
    served: tokio::task::AbortHandle,
    activity: Arc<pg::Activity>,
    limit: std::time::Duration,
    peer: std::net::SocketAddr,
) {
    let every = (limit / 10).clamp(std::time::Duration::from_millis(50), std::time::Duration::from_secs(5));
    loop {
        tokio::time::sleep(every).await;
        if served.is_finished() {
            return;
        }
        if activity.idle_for() >= limit {
            served.abort();
            eprintln!(
                "tarn serve: closed the connection from {peer}: idle for {} s (--idle-timeout)",
                limit.as_secs()
            );
            return;
        }
    }
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
