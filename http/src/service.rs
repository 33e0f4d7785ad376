//! Builds an API server the way both APIs run: request ids and tracing, metrics, CORS, bearer
//! tokens, the service's state, its routes and its OpenAPI document, bound to its listener.

use std::net::TcpListener;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::auth::{AuthConfig, Authenticator};
use crate::cors::CorsConfig;
use crate::openapi::{self, Description, Routes};
use crate::ops;

/// An API bound to its port, not yet serving.
pub struct Service {
    port: u16,
    server: actix_web::dev::Server,
}

impl Service {
    /// Binds `listen` (port 0 picks a free one) and builds the server around `state`.
    pub fn bind<T: Send + Sync + 'static>(
        listen: &str,
        auth: &AuthConfig,
        cors: &CorsConfig,
        state: T,
        description: &Description,
        routes: Routes,
    ) -> anyhow::Result<Self> {
        let auth = web::Data::new(Authenticator::new(auth)?);
        let cors = cors.clone();
        let document = web::Data::new(openapi::document(description, routes));
        let state = web::Data::new(state);
        ops::metrics_handle();
        let listener = TcpListener::bind(listen)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            let document = document.clone();
            App::new()
                .wrap(cors.middleware())
                .wrap(from_fn(ops::observe))
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(auth.clone())
                .configure(|config| openapi::serve(config, document))
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
