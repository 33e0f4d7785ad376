//! A stand-in for an OpenTelemetry collector: it takes OTLP/HTTP exports, keeps their bodies
//! (protobuf) for a test to look into, and answers each with success. The bench's stand-in
//! (`bench otlp-sink`) is the same server, keeping nothing.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the collector received: each export's path and body.
pub type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

/// A collector on a port of its own, serving until the process ends.
pub struct Collector {
    /// Its endpoint, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub url: String,
    received: Received,
}

impl Collector {
    /// Starts one that keeps what it receives.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let received = Received::default();
        tokio::spawn(serve(listener, Some(Arc::clone(&received))));
        Ok(Self { url, received })
    }

    /// The bodies of the trace exports received so far.
    pub fn traces(&self) -> Vec<Bytes> {
        self.received
            .lock()
            .map(|received| {
                received
                    .iter()
                    .filter(|(path, _)| path == "/v1/traces")
                    .map(|(_, body)| body.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Serves OTLP/HTTP on `listener`, answering every export with success; keeps the exports in
/// `keep` if given.
pub async fn serve(listener: tokio::net::TcpListener, keep: Option<Received>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let keep = keep.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let keep = keep.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    // Read the whole export, as a collector does, then acknowledge it.
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .map(http_body_util::Collected::to_bytes)
                        .unwrap_or_default();
                    if let Some(keep) = keep
                        && let Ok(mut kept) = keep.lock()
                    {
                        kept.push((path, body));
                    }
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/x-protobuf")
                            .body(Full::new(Bytes::new()))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
