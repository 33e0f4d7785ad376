//! The Postgres event store: postgres-es under cqrs-es, our migrations, and the executor
//! that runs a command against a photo and answers with the photo's state after it.
//!
//! The executor is cqrs-es's load → handle → commit, without the in-process query dispatch
//! (the outbox relay publishes from the table instead) and with a bounded retry when two
//! commands race on one photo: the primary key on (type, id, sequence) makes the loser's
//! commit fail whole, so an event is never lost or duplicated, and the loser decides again
//! against the winner's events.
//!
//! Two things keep a command to the fewest round trips (creating a photo takes one):
//! - a command that creates a photo under a fresh id skips the load: nothing can be stored
//!   under an id just drawn, and if something were, the insert conflicts and the retry loads;
//! - a command's events are appended with one multi-row `INSERT`, atomic on its own, where
//!   postgres-es wraps its inserts in `BEGIN`/`COMMIT`. Reads stay postgres-es's.
//!
//! A request under an `Idempotency-Key` passes a [`Receipt`]: its answer is stored by the same
//! statement that appends its events, and only while the key is still unanswered. A retry
//! after any crash finds both or neither, and two runs of one key (a retry that took over a
//! claim) never both append: the second finds the key answered and appends nothing
//! ([`CommandError::AnsweredElsewhere`]).
//!
//! Loading a photo reads its latest snapshot ([`snapshots`]) and the events after it (through
//! postgres-es), so a command's cost does not grow with the photo's age; a command that
//! leaves the photo [`snapshots::EVERY`] events past its snapshot keeps a new one.
//!
//! A product belongs to the seller whose photo of it first had its file recorded (a multipart
//! upload, an upload-complete, S3's report of a presigned upload, or a reprocess): the
//! statement that appends that event claims the product in the same breath. A photo only
//! declared claims nothing (a script cannot squat product ids), but one for a product another
//! seller owns is refused ([`PhotoError::ProductOwned`]) with nothing appended; a declared
//! photo whose product another seller claimed before its file arrived fails with that reason. [`products`] reorders a product's
//! gallery.
//!
//! [`read`] reads many photos at once, folded, for the relay and the resync; [`changes`] is a
//! seller's change feed and a photo as it was at a moment; [`erase`] a seller's erasure.
//!
//! Every event is stored with its [`Cause`]: the request or job behind it and the photo's
//! trace. Each command runs in a `command` span with the photo's id and trace id, and logs
//! what it appended.

use std::time::Duration;

use catalog_events::{PhotoState, PhotoStatus, upcast};
use catalog_runtime::backoff::Backoff;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventUpcaster, PersistedEventRepository, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, DomainEvent};
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tracing::Instrument;
use uuid::Uuid;

use crate::aggregate::{Fact, Photo, PhotoCommand, PhotoError, PhotoServices};
use crate::personal::{self, DataKey, KeyError};

mod append;
mod cause;
pub mod changes;
pub mod erase;
mod history;
pub mod outbox;
pub mod products;
pub mod read;
pub mod snapshots;

use append::{Claim, append_statement};
pub use cause::Cause;
pub use history::{HistoryPage, StoredEvent};

/// How one try of a command ended, when it did not succeed.
enum Attempt {
    /// Another command on the photo committed first: decide again.
    Lost,
    Failed(CommandError),
}

impl From<AggregateError<PhotoError>> for Attempt {
    fn from(error: AggregateError<PhotoError>) -> Self {
        match error {
            AggregateError::AggregateConflict => Self::Lost,
            error => Self::Failed(error.into()),
        }
    }
}

/// How many times a command is tried when another command on the same photo commits first.
const CONFLICT_ATTEMPTS: u32 = 5;

/// Connects to Postgres and brings the schema up to date. Safe to run from every process at
/// once: sqlx serialises migrations with an advisory lock and skips those already applied.
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_with(database_url.parse()?, max_connections).await
}

/// [`connect`] with options built otherwise (say, from libpq's variables).
pub async fn connect_with(
    options: PgConnectOptions,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // Each pooled connection is checked as it is taken (in the one round trip sqlx's own
        // check costs): one that is dead, or whose server no longer takes writes, is closed and
        // another made. After a failover, connections to the old writer, or made to its
        // address before the name moved, fail every write with SQLSTATE 25006; without this
        // they would stay in the pool until they aged out.
        .test_before_acquire(false)
        .before_acquire(|connection, _| Box::pin(writable(connection)))
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Whether the server of `connection` answers and takes writes now.
async fn writable(connection: &mut sqlx::PgConnection) -> Result<bool, sqlx::Error> {
    let read_only: String = sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
        .fetch_one(connection)
        .await?;
    Ok(read_only == "off")
}

/// Why a command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The aggregate refused it: the caller's to fix.
    #[error(transparent)]
    Refused(#[from] PhotoError),
    /// Other commands on the same photo kept winning; try again shortly.
    #[error("the photo is being changed by another request")]
    Conflict,
    /// The request's idempotency key was answered by another run of it; nothing was appended.
    #[error("another run of this request was answered first")]
    AnsweredElsewhere,
    #[error("event store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<AggregateError<PhotoError>> for CommandError {
    fn from(error: AggregateError<PhotoError>) -> Self {
        match error {
            AggregateError::UserError(refusal) => Self::Refused(refusal),
            AggregateError::AggregateConflict => Self::Conflict,
            AggregateError::DatabaseConnectionError(source)
            | AggregateError::DeserializationError(source)
            | AggregateError::UnexpectedError(source) => Self::Store(source),
        }
    }
}

impl From<sqlx::Error> for CommandError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

/// Where a request's answer is kept, with the events it appends: its idempotency key.
pub struct Receipt<'a> {
    pub seller_id: &'a str,
    pub key: &'a str,
    pub answer: &'a dyn Answerer,
}

/// Makes a request's answer (its status and body) from the photo's state after the command.
pub trait Answerer: Sync {
    fn answer(&self, after: &PhotoState) -> (u16, serde_json::Value);
}

/// Whether `error` (or an error under it) says the database cannot be reached right now: a
/// connection refused or dropped, no connection in time, the server shutting down or not yet
/// accepting connections, or a server that takes no writes (SQLSTATE 25006: the writer failed
/// over, and the connection reached the old one; it is closed before its next use).
pub fn is_unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(error) = error.downcast_ref::<sqlx::Error>() {
            return match error {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(error) => error.code().is_some_and(|code| {
                    code.starts_with("08") || code.starts_with("57P") || code == "25006"
                }),
                _ => false,
            };
        }
        if error.is::<std::io::Error>() {
            return true;
        }
        next = error.source();
    }
    false
}

/// Events as the columns of one multi-row `INSERT` (one array per column).
#[derive(Default)]
struct Columns {
    sequences: Vec<i64>,
    types: Vec<String>,
    versions: Vec<String>,
    payloads: Vec<serde_json::Value>,
    metadata: Vec<serde_json::Value>,
}

impl Columns {
    /// Adds `fact`, its personal fields sealed under the photo's `key` (see [`personal`]).
    fn push(
        &mut self,
        sequence: u64,
        fact: &Fact,
        metadata: &serde_json::Value,
        sealing: (&str, Option<&DataKey>),
    ) -> Result<(), CommandError> {
        let mut payload =
            serde_json::to_value(fact).map_err(|error| CommandError::Store(error.into()))?;
        if let (photo, Some(key)) = sealing {
            personal::seal(&mut payload, photo, key)
                .map_err(|error| CommandError::Store(error.into()))?;
        }
        self.sequences
            .push(i64::try_from(sequence).unwrap_or(i64::MAX));
        self.types.push(fact.event_type());
        self.versions.push(fact.event_version());
        self.payloads.push(payload);
        self.metadata.push(metadata.clone());
        Ok(())
    }
}

/// The sealed data key of a photo being created, kept with its first events.
struct NewKey<'a> {
    sealed: &'a [u8],
    seller_id: &'a str,
}

/// A photo as loaded, before a command is decided on it.
struct Decided {
    photo: Photo,
    /// Its data key (`None` for a photo stored before personal fields were sealed, or one
    /// forgotten).
    key: Option<DataKey>,
    /// The sequence of the photo's last stored event.
    sequence: u64,
    /// The sequence of the snapshot it was loaded from (0 without one).
    snapshot_at: u64,
}

/// Runs commands against photos in the event store.
pub struct PhotoStore {
    pool: PgPool,
    /// postgres-es's reads, for loading.
    reads: PostgresEventRepository,
    services: PhotoServices,
}

impl PhotoStore {
    pub fn new(pool: PgPool, services: PhotoServices) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            pool,
            services,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the database answers now.
    pub async fn reachable(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Returns once the database answers again, checking ever less often (up to every 10 s).
    pub async fn until_reachable(&self) {
        let mut attempt = 0;
        while !self.reachable().await {
            attempt += 1;
            REACHABLE_BACKOFF.wait(attempt).await;
        }
    }

    /// Executes `command` on the photo and returns its state after (unchanged if the command
    /// was a harmless repeat). `cause` is stored with every event it appends.
    pub async fn execute(
        &self,
        photo_id: Uuid,
        command: PhotoCommand,
        cause: impl Into<Cause>,
    ) -> Result<PhotoState, CommandError> {
        self.execute_with(photo_id, command, cause, None).await
    }

    /// [`PhotoStore::execute`], keeping the request's answer with the events it appends.
    pub async fn execute_with(
        &self,
        photo_id: Uuid,
        command: PhotoCommand,
        cause: impl Into<Cause>,
        receipt: Option<&Receipt<'_>>,
    ) -> Result<PhotoState, CommandError> {
        self.execute_if(photo_id, command, cause, receipt, None)
            .await
    }

    /// [`PhotoStore::execute_with`], only while the photo is at one of `versions` when the
    /// command is decided (an `If-Match` a client sent with what it read): otherwise
    /// [`PhotoError::VersionMoved`], and nothing is appended. The photo is judged at the
    /// version its events are appended after, so a change committed meanwhile is seen.
    pub async fn execute_if(
        &self,
        photo_id: Uuid,
        command: PhotoCommand,
        cause: impl Into<Cause>,
        receipt: Option<&Receipt<'_>>,
        versions: Option<&[u64]>,
    ) -> Result<PhotoState, CommandError> {
        let cause = cause.into();
        let trace = self
            .trace_for(photo_id, &cause, command.creates_photo())
            .await?;
        let span = tracing::info_span!("command", %photo_id, trace_id = tracing::field::Empty);
        catalog_runtime::trace::follow(&span, &trace);
        let metadata = cause.metadata(&catalog_runtime::trace::handed_on(&span, &trace));
        self.execute_traced(photo_id, command, &metadata, receipt, versions)
            .instrument(span)
            .await
    }

    async fn execute_traced(
        &self,
        photo_id: Uuid,
        command: PhotoCommand,
        metadata: &serde_json::Value,
        receipt: Option<&Receipt<'_>>,
        versions: Option<&[u64]>,
    ) -> Result<PhotoState, CommandError> {
        let id = photo_id.to_string();
        let mut command = command;
        let mut attempt = 1;
        loop {
            // Only the first try of a creation may assume the photo is new.
            let fresh = attempt == 1 && command.creates_photo();
            match self
                .try_execute(&id, command.clone(), metadata, fresh, receipt, versions)
                .await
            {
                Err(Attempt::Lost) if attempt < CONFLICT_ATTEMPTS => {
                    tracing::debug!(%photo_id, attempt, "command lost a race; deciding again");
                    RACE_BACKOFF.wait(attempt).await;
                    attempt += 1;
                }
                Err(Attempt::Lost) => return Err(CommandError::Conflict),
                // The file of a photo whose product another seller took meanwhile: the photo
                // fails, and says why.
                Err(Attempt::Failed(CommandError::Refused(PhotoError::ProductOwned(product))))
                    if matches!(command, PhotoCommand::ConfirmUpload { .. }) =>
                {
                    command = PhotoCommand::RefuseUpload {
                        reason: format!(
                            "product {product:?} was claimed by another seller before this photo's file arrived"
                        ),
                    };
                }
                Err(Attempt::Failed(error)) => return Err(error),
                Ok(Some(state)) => return Ok(state),
                // Only a command that creates a photo can succeed on nothing, and it creates it.
                Ok(None) => return Err(PhotoError::NotFound.into()),
            }
        }
    }

    async fn try_execute(
        &self,
        id: &str,
        command: PhotoCommand,
        metadata: &serde_json::Value,
        fresh: bool,
        receipt: Option<&Receipt<'_>>,
        versions: Option<&[u64]>,
    ) -> Result<Option<PhotoState>, Attempt> {
        let Decided {
            mut photo,
            mut key,
            sequence,
            snapshot_at,
        } = if fresh {
            Decided {
                photo: Photo::default(),
                key: None,
                sequence: 0,
                snapshot_at: 0,
            }
        } else {
            self.load_photo(id).await?
        };
        // A photo being created gets its data key, kept by the statement that appends its
        // first events.
        let mut sealed_key = None;
        if let (None, Some(request)) = (&key, command.upload_request()) {
            let (created, sealed) = personal::new_data_key(id)
                .map_err(|error| Attempt::Failed(CommandError::Store(error.into())))?;
            key = Some(created);
            sealed_key = Some((sealed, request.seller_id.clone()));
        }
        let claim = Claim::of(&command, photo.state());
        let sink = EventSink::default();
        photo
            .handle(command, &self.services, &sink)
            .await
            .map_err(|refusal| Attempt::Failed(refusal.into()))?;
        // Judged once the command was taken, so that only the photo's owner learns its version.
        if let Some(versions) = versions
            && !versions.contains(&sequence)
        {
            return Err(Attempt::Failed(
                PhotoError::VersionMoved { current: sequence }.into(),
            ));
        }
        let after = photo.state().cloned();
        let events = sink.collect().await;
        if let (false, Some(state)) = (events.is_empty(), &after) {
            let receipt = receipt.map(|receipt| (receipt, receipt.answer.answer(state)));
            let mut columns = Columns::default();
            for (n, fact) in (1..).zip(&events) {
                columns
                    .push(sequence + n, fact, metadata, (id, key.as_ref()))
                    .map_err(Attempt::Failed)?;
            }
            let new_key = sealed_key
                .as_ref()
                .map(|(sealed, seller_id)| NewKey { sealed, seller_id });
            self.append(id, columns, claim.as_ref(), receipt, new_key)
                .await?;
            let appended: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
            tracing::info!(?appended, version = state.version, "events appended");
            if state.status == PhotoStatus::Deleted {
                // The photo's personal fields go with it; the image processor's purge of its
                // files forgets it again, should this process stop right here.
                if let Err(error) = personal::forget(&self.pool, id).await {
                    tracing::warn!(%error, "a deleted photo's data key is left to its purge");
                }
            } else if state.version >= snapshot_at + snapshots::EVERY {
                snapshots::save(&self.pool, state, key.as_ref()).await;
            }
        }
        Ok(after)
    }

    /// Appends the `columns` of a photo's events in one statement, claiming the product of a
    /// new photo and keeping the answer of `receipt` if given (see [`append_statement`]).
    async fn append(
        &self,
        id: &str,
        columns: Columns,
        claim: Option<&Claim>,
        receipt: Option<(&Receipt<'_>, (u16, serde_json::Value))>,
        new_key: Option<NewKey<'_>>,
    ) -> Result<(), Attempt> {
        let kind = claim.map(|claim| claim.kind);
        let statement = append_statement(kind, receipt.is_some(), new_key.is_some());
        let mut query = sqlx::query(statement)
            .bind(catalog_events::AGGREGATE_TYPE)
            .bind(id)
            .bind(columns.sequences)
            .bind(columns.types)
            .bind(columns.versions)
            .bind(columns.payloads)
            .bind(columns.metadata);
        if let Some(claim) = claim {
            query = query.bind(&claim.product_id).bind(&claim.seller_id);
        }
        if let Some((receipt, (status, body))) = receipt {
            query = query
                .bind(i16::try_from(status).unwrap_or(500))
                .bind(body)
                .bind(receipt.seller_id)
                .bind(receipt.key);
        }
        if let Some(new_key) = new_key {
            query = query.bind(new_key.sealed).bind(new_key.seller_id);
        }
        match query.execute(&self.pool).await {
            Ok(done) if done.rows_affected() == 0 => Err(Attempt::Failed(match claim {
                Some(claim) if self.owned_elsewhere(claim).await? => {
                    CommandError::Refused(PhotoError::ProductOwned(claim.product_id.clone()))
                }
                _ => CommandError::AnsweredElsewhere,
            })),
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(Attempt::Lost),
            Err(error) => Err(Attempt::Failed(error.into())),
        }
    }
    /// Whether another seller than the claim's owns its product.
    async fn owned_elsewhere(&self, claim: &Claim) -> Result<bool, Attempt> {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT seller_id FROM products WHERE product_id = $1")
                .bind(&claim.product_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|error| Attempt::Failed(error.into()))?;
        Ok(owner.is_some_and(|owner| owner != claim.seller_id))
    }

    /// The photo as its latest snapshot and the events after it make it.
    async fn load_photo(&self, id: &str) -> Result<Decided, AggregateError<PhotoError>> {
        let snapshots::Start { key, snapshot } =
            snapshots::latest(&self.pool, id)
                .await
                .map_err(|error| match error {
                    KeyError::Database(error) => {
                        AggregateError::DatabaseConnectionError(error.into())
                    }
                    error => AggregateError::UnexpectedError(error.into()),
                })?;
        let snapshot_at = snapshot.as_ref().map_or(0, |snapshot| snapshot.sequence);
        let mut photo =
            snapshot.map_or_else(Photo::default, |snapshot| Photo::from(snapshot.state));
        let mut sequence = snapshot_at;
        let after = self
            .reads
            .get_last_events::<Photo>(id, usize::try_from(sequence).unwrap_or(usize::MAX))
            .await?;
        for stored in after {
            let stored = if SchemaUpcaster.can_upcast(&stored.event_type, &stored.event_version) {
                SchemaUpcaster.upcast(stored)
            } else {
                stored
            };
            let mut payload = stored.payload;
            personal::open(&mut payload, id, key.as_ref())
                .map_err(|error| AggregateError::UnexpectedError(error.into()))?;
            let fact: Fact = serde_json::from_value(payload)
                .map_err(|error| AggregateError::DeserializationError(error.into()))?;
            sequence = stored.sequence as u64;
            photo.apply(fact);
        }
        Ok(Decided {
            photo,
            key,
            sequence,
            snapshot_at,
        })
    }

    /// The photo's current state, or `None` if it was never requested.
    pub async fn load(&self, photo_id: Uuid) -> Result<Option<PhotoState>, CommandError> {
        let loaded = self.load_photo(&photo_id.to_string()).await?;
        Ok(loaded.photo.state().cloned())
    }
}

/// A short, growing, jittered pause before deciding a raced command again.
const RACE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(80));
/// The checks of a database that does not answer: ever less often, up to every 10 s.
const REACHABLE_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(500), Duration::from_secs(10));

/// Brings stored events of older versions to the current shape as cqrs-es loads them.
struct SchemaUpcaster;

impl EventUpcaster for SchemaUpcaster {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        upcast::needs_upcast(event_type, event_version)
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        event.payload = upcast::upcast(&event.event_type, &event.event_version, event.payload);
        event.event_version = upcast::current_version(&event.event_type).to_owned();
        event
    }
}
