//! Builds the write side from its settings. `catalog write-api` and the tests both call
//! [`Application::build`], so what is tested is what runs.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use catalog_http::auth::Authenticator;
use catalog_http::ops;

use crate::aggregate::PhotoServices;
use crate::api::{self, AppState};
use crate::config::WriteApiConfig;
use crate::originals::Originals;
use crate::store::{self, PhotoStore};

/// The write API, bound to its port, not yet serving.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
}

impl Application {
    /// Connects to Postgres (migrating it), S3 and binds the listener.
    pub async fn build(config: WriteApiConfig) -> anyhow::Result<Self> {
        let auth = web::Data::new(Authenticator::new(config.auth.jwt_secret.as_ref())?);
        let pool = store::connect(&config.database.url, config.database.max_connections).await?;
        let state = web::Data::new(AppState {
            store: PhotoStore::new(pool, PhotoServices::default()),
            originals: Originals::from_env(&config.originals)
                .await
                .map_err(|error| anyhow::anyhow!("S3: {error}"))?,
            max_upload_bytes: config.max_upload_bytes,
            presign_ttl: Duration::from_secs(config.presign_ttl_secs),
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
