//! A proxy in front of the local stack that holds every request for a while before passing it
//! on: a call to AWS takes tens of milliseconds where moto on loopback answers in about one,
//! and what a client keeps in flight only shows against a service that takes its time. The
//! SDK reaches it as its endpoint ([`Latency::sdk`]), so the code under test is unchanged; it
//! can keep each call (when it came, when it was answered, its body) for a test to look into.
//!
//! For a benchmark it can also stand in for EventBridge's side of `PutEvents`
//! ([`Upstream::Accepting`]): it accepts every entry itself once the delay is over, as the bus
//! does before it routes anything, so that moto's CPU (a few milliseconds a call, on the
//! machine's own cores) is not what a client's figure measures. Nothing else is answered so.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// How long the n-th request (from 0) is held.
pub type Delay = Arc<dyn Fn(u64) -> Duration + Send + Sync>;

/// One request the proxy passed on.
#[derive(Debug, Clone)]
pub struct Call {
    pub received: Instant,
    pub answered: Instant,
    pub body: Bytes,
}

/// Where the held requests go.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Passed on to this endpoint (say, `AWS_ENDPOINT_URL`).
    Endpoint(String),
    /// `PutEvents` accepted by the proxy itself, every entry; anything else refused.
    Accepting,
}

/// The proxy, serving until the process ends.
pub struct Latency {
    /// Its endpoint, for the SDK.
    pub url: String,
    calls: Option<Arc<Mutex<Vec<Call>>>>,
}

struct Proxy {
    upstream: Upstream,
    http: reqwest::Client,
    delay: Delay,
    count: AtomicU64,
    calls: Option<Arc<Mutex<Vec<Call>>>>,
}

impl Latency {
    /// Starts one in front of `upstream`; keeps the calls if `keep`.
    pub async fn start(upstream: Upstream, delay: Delay, keep: bool) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let calls = keep.then(Arc::default);
        let proxy = Arc::new(Proxy {
            upstream,
            http: reqwest::Client::new(),
            delay,
            count: AtomicU64::new(0),
            calls: calls.clone(),
        });
        tokio::spawn(serve(listener, proxy));
        Ok(Self { url, calls })
    }

    /// The SDK's configuration from the environment, as `aws_config::load_from_env` makes it,
    /// but with this proxy as the endpoint. (Set on the loader, it is the clients' endpoint;
    /// set on a configuration made already, `AWS_ENDPOINT_URL` would still win.)
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::from_env().endpoint_url(&self.url).load().await
    }

    /// The calls passed on so far, in the order they were answered (empty unless kept).
    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .as_ref()
            .and_then(|calls| calls.lock().ok().map(|calls| calls.clone()))
            .unwrap_or_default()
    }
}

async fn serve(listener: tokio::net::TcpListener, proxy: Arc<Proxy>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let proxy = Arc::clone(&proxy);
                async move { Ok::<_, Infallible>(proxy.pass(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Headers of one hop, which the proxy's own connections set.
const HOP: [&str; 5] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
];

impl Proxy {
    /// Holds the request, then passes it on or answers it.
    async fn pass(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let received = Instant::now();
        let delay = (self.delay)(self.count.fetch_add(1, Ordering::Relaxed));
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        tokio::time::sleep(delay).await;
        let response = match &self.upstream {
            Upstream::Endpoint(upstream) => self.forward(upstream, parts, body.clone()).await,
            Upstream::Accepting => accept(&parts.headers, &body),
        };
        if let Some(calls) = &self.calls
            && let Ok(mut calls) = calls.lock()
        {
            calls.push(Call {
                received,
                answered: Instant::now(),
                body,
            });
        }
        response
    }

    /// Passes the request on, and answers with what came back (a 502 if nothing did).
    async fn forward(
        &self,
        upstream: &str,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        let mut headers = parts.headers;
        for hop in HOP {
            headers.remove(hop);
        }
        let answer = self
            .http
            .request(
                parts.method,
                format!("{}{path}", upstream.trim_end_matches('/')),
            )
            .headers(headers)
            .body(body)
            .send()
            .await;
        match answer {
            Ok(answer) => {
                let mut response = Response::builder().status(answer.status());
                for (name, value) in answer.headers() {
                    if !HOP.contains(&name.as_str()) {
                        response = response.header(name, value);
                    }
                }
                let bytes = answer.bytes().await.unwrap_or_default();
                response.body(Full::new(bytes)).unwrap_or_default()
            }
            Err(error) => Response::builder()
                .status(502)
                .body(Full::new(Bytes::from(error.to_string())))
                .unwrap_or_default(),
        }
    }
}

/// EventBridge's answer to a `PutEvents` that it accepted whole; a 400 to anything else.
fn accept(headers: &http::HeaderMap, body: &Bytes) -> Response<Full<Bytes>> {
    let put_events = headers
        .get("x-amz-target")
        .is_some_and(|target| target == "AWSEvents.PutEvents");
    let entries = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|request| request["Entries"].as_array().map(Vec::len));
    let (Some(entries), true) = (entries, put_events) else {
        return Response::builder()
            .status(400)
            .body(Full::new(Bytes::from_static(
                b"only PutEvents is answered here",
            )))
            .unwrap_or_default();
    };
    let accepted: Vec<serde_json::Value> = (0..entries)
        .map(|_| serde_json::json!({"EventId": uuid::Uuid::new_v4().to_string()}))
        .collect();
    let answer = serde_json::json!({"FailedEntryCount": 0, "Entries": accepted});
    Response::builder()
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(answer.to_string())))
        .unwrap_or_default()
}
