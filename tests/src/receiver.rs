//! A webhook receiver on loopback, for the notifier's tests: it records what came and answers
//! from a script; a test checks each request's Standard Webhooks signature with the secrets it
//! chooses through the reference library (`standardwebhooks`, not the service's code).

use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Answers {
    /// These statuses in turn, then `200` for ever.
    Script(Vec<u16>),
    /// Never: it reads the request and keeps the connection open without a word.
    Never,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub webhook_id: String,
    pub headers: http::HeaderMap,
    /// The body as it came, and read as JSON.
    pub raw: Vec<u8>,
    pub body: Value,
    /// What it answered (`None`: nothing).
    pub answered: Option<u16>,
}

impl Received {
    /// Whether the request's signature verifies with `secret` (and its timestamp is recent).
    pub fn verifies_with(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret)
            .is_ok_and(|webhook| webhook.verify(&self.raw, &self.headers).is_ok())
    }
}

struct State {
    answers: Answers,
    /// While set, every request is answered `503`, whatever `answers` says (an endpoint down).
    down: std::sync::atomic::AtomicBool,
    received: Mutex<Vec<Received>>,
}

pub struct Receiver {
    /// Where to send webhooks: `http://127.0.0.1:<port>/hook`.
    pub url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl Receiver {
    pub async fn start(answers: Answers) -> anyhow::Result<Self> {
        let state = Arc::new(State {
            answers,
            down: std::sync::atomic::AtomicBool::new(false),
            received: Mutex::new(Vec::new()),
        });
        let shared = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/hook", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let port = server
            .addrs()
            .first()
            .map(|address| address.port())
            .ok_or_else(|| anyhow::anyhow!("the receiver bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
            handle,
        })
    }

    /// Takes the endpoint down (every request answered `503`) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.state
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every request so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .map(|received| received.clone())
            .unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn receive(state: web::Data<State>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let raw = body.to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let answer = {
        let Ok(mut received) = state.received.lock() else {
            return HttpResponse::InternalServerError().finish();
        };
        let answer = match &state.answers {
            _ if state.down.load(std::sync::atomic::Ordering::SeqCst) => Some(503),
            Answers::Script(statuses) => Some(statuses.get(received.len()).copied().unwrap_or(200)),
            Answers::Never => None,
        };
        received.push(Received {
            webhook_id,
            headers,
            raw,
            body,
            answered: answer,
        });
        answer
    };
    match answer.and_then(|status| actix_web::http::StatusCode::from_u16(status).ok()) {
        Some(status) => HttpResponse::build(status).finish(),
        None => std::future::pending().await,
    }
}
