//! Builds the read API from its settings. `catalog read-api` and the tests both call
//! [`ReadApi::build`].

use std::net::TcpListener;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use catalog_events::resources::Resources;
use catalog_http::auth::Authenticator;
use catalog_http::ops;
use tracing_actix_web::TracingLogger;

use crate::api::{self, ReadState};
use crate::config::ReadApiConfig;

/// The read API, bound to its port, not yet serving.
pub struct ReadApi {
    port: u16,
    server: actix_web::dev::Server,
}

impl ReadApi {
    pub async fn build(config: ReadApiConfig, resources: &Resources) -> anyhow::Result<Self> {
        let auth = web::Data::new(Authenticator::new(config.auth.jwt_secret.as_ref())?);
        let sdk = aws_config::load_from_env().await;
        let state = web::Data::new(ReadState {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            table: resources.table.name.clone(),
            variants_base_url: config.variants_base_url,
            consistency_wait: Duration::from_millis(config.consistency_wait_ms),
        });
        ops::metrics_handle();
        let listener = TcpListener::bind(&config.listen)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(ops::observe))
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(auth.clone())
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    catalog_http::Problem::malformed(format!("bad query: {error}")).into()
                }))
                .configure(api::routes)
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
