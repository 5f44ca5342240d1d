//! One router, three ways to run it: Lambda streaming (Function URL), Lambda buffered (ALB),
//! or a local HTTP server.

use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;

use super::done_signal::signal_when_sent;
use crate::after_response::AfterResponse;
use crate::env::Environment;
use crate::lambda_extension::InvocationLayer;

/// How long a stopping local server waits for after-response work.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(3);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMode {
    /// Behind a Function URL with `InvokeMode: RESPONSE_STREAM`.
    LambdaStreaming,
    /// Behind an ALB (which cannot stream): a streamed answer arrives as one complete body.
    LambdaBuffered,
    /// Outside Lambda: `127.0.0.1:$PORT` (default 4000).
    Local(SocketAddr),
}

impl RunMode {
    /// Inside Lambda when `AWS_LAMBDA_RUNTIME_API` is set; `GATEWAY_LAMBDA_MODE=buffered` picks
    /// the ALB mode. Locally, `PORT` and `HOST` pick the address.
    pub fn from_env(env: &Environment) -> Result<RunMode, String> {
        if env.get("AWS_LAMBDA_RUNTIME_API").is_some() {
            return match env.get("GATEWAY_LAMBDA_MODE").unwrap_or("streaming") {
                "streaming" => Ok(RunMode::LambdaStreaming),
                "buffered" => Ok(RunMode::LambdaBuffered),
                other => Err(format!(
                    "GATEWAY_LAMBDA_MODE must be `streaming` or `buffered`, not `{other}`"
                )),
            };
        }
        let port: u16 = env
            .get("PORT")
            .unwrap_or("4000")
            .parse()
            .map_err(|_| "PORT must be a port number".to_owned())?;
        let host = env.get("HOST").unwrap_or("127.0.0.1");
        let ip = host
            .parse()
            .map_err(|_| format!("HOST must be an IP address, not `{host}`"))?;
        Ok(RunMode::Local(SocketAddr::new(ip, port)))
    }
}

/// Serves `router` in `mode`. In Lambda, the after-response extension is registered first (it
/// must be, before the runtime asks for its first invocation), and each response's end is
/// signalled to it.
pub async fn run(router: Router, mode: RunMode, after: AfterResponse) -> Result<(), BoxError> {
    match mode {
        RunMode::LambdaStreaming => {
            let router = in_lambda(router, &after).await;
            lambda_http::streaming_runtime(router)
                .layer(InvocationLayer::new(after))
                .run()
                .await
        }
        RunMode::LambdaBuffered => {
            let router = in_lambda(router, &after).await;
            // `lambda_http::runtime` wants a `Sync` response, which axum's is not; `run` does not.
            lambda_runtime::Runtime::new(lambda_http::Adapter::from(router))
                .layer(InvocationLayer::new(after))
                .run()
                .await
        }
        RunMode::Local(addr) => {
            after.batch_traces(crate::observability::trace_batch::TRACE_BATCH_WINDOW);
            let served = serve_local(router, addr).await;
            if tokio::time::timeout(SHUTDOWN_FLUSH, after.flush())
                .await
                .is_err()
            {
                tracing::warn!(stats = ?after.stats(), "stopped before all usage records were written");
            }
            served
        }
    }
}

async fn in_lambda(router: Router, after: &AfterResponse) -> Router {
    if crate::lambda_extension::register(after).await {
        signal_when_sent(router, after.clone())
    } else {
        router
    }
}

async fn serve_local(router: Router, addr: SocketAddr) -> Result<(), BoxError> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    // Stream chunks are small writes: without TCP_NODELAY, Nagle's algorithm holds each one back
    // until the client acknowledges the previous (up to 40 ms with delayed ACKs).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {err}");
        }
    });
    tracing::info!(url = %format!("http://{local}"), "gateway listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("gateway stopped");
    Ok(())
}

/// SIGTERM (what Lambda, containers and `kill` send) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
