//! Where the event store is, and how its credentials stay current.
//!
//! Three ways to say where, first match wins: a `postgres://` URL (`CATALOG_DATABASE_URL`,
//! what `./dev` sets); a Secrets Manager secret (`CATALOG_DATABASE_SECRET`, what ECS tasks
//! get: the JSON that RDS and its rotation keep, with `host`, `port`, `username`, `password`
//! and `dbname`); or libpq's variables (`PGHOST`, `PGUSER`, ...). libpq's `PGSSLMODE` applies
//! to the last two.
//!
//! A secret is read again every `secret_refresh_secs`, and new connections use what it holds
//! then: the rotation changes the password under running tasks, and connections already open
//! stay valid, so a pool that follows the secret never needs a restart.

use std::time::Duration;

use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

/// Where the event store is.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// A `postgres://` URL.
    #[arg(long = "database-url", env = "CATALOG_DATABASE_URL")]
    pub url: Option<String>,
    /// A Secrets Manager secret (name or ARN) holding the connection, as RDS keeps it.
    #[arg(long = "database-secret", env = "CATALOG_DATABASE_SECRET")]
    pub secret: Option<String>,
    /// How often the secret is read again, in seconds.
    #[arg(
        long = "database-secret-refresh-secs",
        env = "CATALOG_DATABASE_SECRET_REFRESH_SECS",
        default_value_t = 60
    )]
    pub secret_refresh_secs: u64,
    /// Connections in the pool of each process.
    #[arg(
        long = "database-max-connections",
        env = "CATALOG_DATABASE_MAX_CONNECTIONS",
        default_value_t = 32
    )]
    pub max_connections: u32,
    /// The key the photos' data keys are sealed with: what the event store's personal fields
    /// are read and written with ([`crate::personal`]).
    #[command(flatten)]
    pub data_key: crate::personal::DataKeyConfig,
}

/// The fields of an RDS database secret that a connection needs (no `Debug`: it holds the
/// password).
#[derive(Clone, PartialEq, Eq, Deserialize)]
struct DatabaseSecret {
    host: String,
    port: u16,
    username: String,
    password: String,
    dbname: Option<String>,
}

impl DatabaseSecret {
    fn options(&self) -> PgConnectOptions {
        let options = PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.username)
            .password(&self.password);
        match &self.dbname {
            Some(name) => options.database(name),
            None => options,
        }
    }
}

impl DatabaseConfig {
    /// Connects (and migrates) as configured; with a secret, keeps following it for as long
    /// as the pool is open.
    pub async fn connect(&self) -> anyhow::Result<PgPool> {
        crate::personal::install(&self.data_key).await?;
        let (Some(secret), None) = (&self.secret, &self.url) else {
            let options = match &self.url {
                Some(url) => url.parse()?,
                None => PgConnectOptions::new(),
            };
            return crate::store::connect_with(options, self.max_connections).await;
        };
        let sdk = aws_config::load_from_env().await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        let mut current = read_secret(&client, secret).await?;
        let pool = crate::store::connect_with(current.options(), self.max_connections).await?;
        let follower = pool.clone();
        let every = Duration::from_secs(self.secret_refresh_secs.max(1));
        let secret = secret.clone();
        tokio::spawn(async move {
            let closed = follower.close_event();
            tokio::pin!(closed);
            loop {
                tokio::select! {
                    () = &mut closed => return,
                    () = tokio::time::sleep(every) => {}
                }
                match read_secret(&client, &secret).await {
                    Ok(read) if read != current => {
                        tracing::info!("the database secret changed; new connections use it");
                        follower.set_connect_options(read.options());
                        current = read;
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "could not read the database secret"),
                }
            }
        });
        Ok(pool)
    }
}

async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
) -> anyhow::Result<DatabaseSecret> {
    let value = client.get_secret_value().secret_id(secret).send().await?;
    let text = value
        .secret_string()
        .ok_or_else(|| anyhow::anyhow!("the database secret {secret} holds no string"))?;
    serde_json::from_str(text).map_err(|error| {
        anyhow::anyhow!("the database secret {secret} is not a connection: {error}")
    })
}
