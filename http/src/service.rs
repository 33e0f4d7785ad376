//! Builds an API server the way both APIs run: request ids and traces, timing, CORS, bearer
//! tokens, the service's state, its routes and its OpenAPI document, bound to its listener.

use std::net::TcpListener;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::request_trace::TracedRootSpan;
use utoipa_actix_web::AppExt;

use crate::auth::{AuthConfig, Authenticator};
use crate::cors::CorsConfig;
use crate::openapi::{self, Description, Routes, ServerConfig};
use crate::ops::{self, Timeouts};
use crate::rate_limit::{self, CallerLimits, Limiter, RateLimitConfig};

/// What an API is, beside its state: its description and routes, and which rate limits it
/// applies.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    pub description: &'static Description,
    pub routes: Routes,
    /// Each seller's requests (the write API).
    pub limit_sellers: bool,
    /// Each caller's requests: by seller with a valid token, else by address (the read API).
    pub limit_callers: bool,
}

/// How an API is reached and protected.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub auth: &'a AuthConfig,
    pub cors: &'a CorsConfig,
    pub limits: &'a RateLimitConfig,
    pub timeouts: &'a Timeouts,
    /// Where clients reach it, as its OpenAPI document says.
    pub server: &'a ServerConfig,
}

/// An API bound to its port, not yet serving.
pub struct Service {
    port: u16,
    server: actix_web::dev::Server,
}

impl Service {
    /// Binds `listen` (port 0 picks a free one) and builds the server around `state`.
    pub fn bind<T: Send + Sync + 'static>(
        listen: &str,
        access: Access<'_>,
        state: T,
        api: Api,
    ) -> anyhow::Result<Self> {
        let mut authenticator = Authenticator::new(access.auth)?;
        if api.limit_sellers {
            let limits = access.limits;
            authenticator = authenticator.limit_sellers(Limiter::new(
                "seller",
                limits.seller_burst,
                limits.seller_per_sec,
            ));
        }
        let auth = web::Data::new(authenticator);
        let callers = api
            .limit_callers
            .then(|| web::Data::new(CallerLimits::new(access.limits)));
        let cors = access.cors.clone();
        let timeouts = web::Data::new(access.timeouts.clone());
        let routes = api.routes;
        let document = web::Data::new(openapi::document(api.description, routes, access.server));
        let state = web::Data::new(state);
        let listener = TcpListener::bind(listen)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            let document = document.clone();
            let callers = callers.clone();
            App::new()
                .wrap(from_fn(ops::deadline))
                .wrap(from_fn(rate_limit::by_caller))
                .wrap(cors.middleware())
                .wrap(from_fn(ops::observe))
                .wrap(TracingLogger::<TracedRootSpan>::new())
                .app_data(state.clone())
                .app_data(auth.clone())
                .app_data(timeouts.clone())
                .configure(|config| {
                    if let Some(callers) = callers {
                        config.app_data(callers);
                    }
                    openapi::serve(config, document);
                })
                .into_utoipa_app()
                .configure(routes)
                .into_app()
        })
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
