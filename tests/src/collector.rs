//! A stand-in OTLP/HTTP collector: answers `POST /v1/traces` after a set delay and keeps every
//! body it received (protobuf carries strings as plain UTF-8, so tests can scan them), or a
//! dead address where nothing listens.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

#[derive(Default)]
struct Received {
    bodies: Mutex<Vec<Bytes>>,
    /// Each export's `authorization` header, if any.
    authorizations: Mutex<Vec<Option<String>>>,
}

pub struct Collector {
    addr: SocketAddr,
    received: Arc<Received>,
}

impl Collector {
    /// A collector that answers each export after `delay`.
    pub async fn start(delay: Duration) -> Collector {
        let received = Arc::new(Received::default());
        let app = Router::new()
            .route(
                "/v1/traces",
                post(
                    move |State(r): State<Arc<Received>>, headers: HeaderMap, body: Bytes| async move {
                        tokio::time::sleep(delay).await;
                        let authorization = headers
                            .get(header::AUTHORIZATION)
                            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                        r.authorizations.lock().unwrap().push(authorization);
                        r.bodies.lock().unwrap().push(body);
                        (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, "application/x-protobuf")],
                            Vec::<u8>::new(),
                        )
                            .into_response()
                    },
                ),
            )
            .with_state(Arc::clone(&received));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Collector { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Export requests received so far.
    pub fn exports(&self) -> usize {
        self.received.bodies.lock().unwrap().len()
    }

    /// Each export's `authorization` header, in order (`None` where there was none).
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.received.authorizations.lock().unwrap().clone()
    }

    /// Every body received, lossily as text.
    pub fn text(&self) -> String {
        self.received
            .bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// An address where nothing listens (bound, then closed).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
