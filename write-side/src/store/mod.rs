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
//! - [`OneStatementRepository`] appends a command's events with one multi-row `INSERT`, which
//!   is atomic on its own, where postgres-es wraps its inserts in `BEGIN`/`COMMIT`. Reads stay
//!   postgres-es's.
//!
//! Loading a photo reads its latest snapshot ([`snapshots`]) and the events after it (through
//! postgres-es), so a command's cost does not grow with the photo's age; a command that
//! leaves the photo [`snapshots::EVERY`] events past its snapshot keeps a new one.
//!
//! [`read`] reads many photos at once, folded, for the relay and the resync.

use std::collections::HashMap;
use std::time::Duration;

use catalog_events::{PhotoEvent, PhotoState, upcast};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{
    EventStoreAggregateContext, EventUpcaster, PersistedEventRepository, PersistedEventStore,
    PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::aggregate::{Fact, Photo, PhotoCommand, PhotoError, PhotoServices};

pub mod read;
pub mod snapshots;

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
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
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

/// One stored event, as the history shows it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub sequence: u64,
    /// The version the event was stored with (`event` is upcast to the current shape).
    pub event_version: String,
    pub event: PhotoEvent,
}

/// Runs commands against photos in the event store.
pub struct PhotoStore {
    pool: PgPool,
    store: PersistedEventStore<OneStatementRepository, Photo>,
    /// postgres-es's reads, for loading.
    reads: PostgresEventRepository,
    services: PhotoServices,
}

impl PhotoStore {
    pub fn new(pool: PgPool, services: PhotoServices) -> Self {
        let repository = OneStatementRepository {
            pool: pool.clone(),
            reads: PostgresEventRepository::new(pool.clone()),
        };
        let store = PersistedEventStore::new_event_store(repository);
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            pool,
            store,
            services,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Executes `command` on the photo and returns its state after (unchanged if the command
    /// was a harmless repeat). `correlation_id` is stored with every event it appends.
    pub async fn execute(
        &self,
        photo_id: Uuid,
        command: PhotoCommand,
        correlation_id: &str,
    ) -> Result<PhotoState, CommandError> {
        let id = photo_id.to_string();
        let mut attempt = 1;
        loop {
            // Only the first try of a creation may assume the photo is new.
            let fresh = attempt == 1 && command.creates_photo();
            match self
                .try_execute(&id, command.clone(), correlation_id, fresh)
                .await
            {
                Err(AggregateError::AggregateConflict) if attempt < CONFLICT_ATTEMPTS => {
                    tracing::debug!(%photo_id, attempt, "command lost a race; deciding again");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(error.into()),
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
        correlation_id: &str,
        fresh: bool,
    ) -> Result<Option<PhotoState>, AggregateError<PhotoError>> {
        let (mut context, snapshot_at) = if fresh {
            (empty_context(id), 0)
        } else {
            self.load_context(id).await?
        };
        let photo = context.aggregate();
        let sink = EventSink::default();
        photo
            .handle(command, &self.services, &sink)
            .await
            .map_err(AggregateError::UserError)?;
        let after = photo.state().cloned();
        let events = sink.collect().await;
        if !events.is_empty() {
            let metadata =
                HashMap::from([("correlation_id".to_owned(), correlation_id.to_owned())]);
            self.store.commit(events, context, metadata).await?;
            if let Some(after) = &after
                && after.version >= snapshot_at + snapshots::EVERY
            {
                snapshots::save(&self.pool, after).await;
            }
        }
        Ok(after)
    }

    /// The photo as its latest snapshot and the events after it make it, and the snapshot's
    /// sequence (0 without one).
    async fn load_context(
        &self,
        id: &str,
    ) -> Result<(EventStoreAggregateContext<Photo>, u64), AggregateError<PhotoError>> {
        let snapshot = snapshots::latest(&self.pool, id)
            .await
            .map_err(|error| AggregateError::DatabaseConnectionError(error.into()))?;
        let mut context = empty_context(id);
        let from = snapshot.as_ref().map_or(0, |snapshot| snapshot.sequence);
        if let Some(snapshot) = snapshot {
            context.aggregate = Photo::from(snapshot.state);
            context.current_sequence = usize::try_from(from).unwrap_or(usize::MAX);
        }
        let after = self
            .reads
            .get_last_events::<Photo>(id, context.current_sequence)
            .await?;
        for stored in after {
            let stored = if SchemaUpcaster.can_upcast(&stored.event_type, &stored.event_version) {
                SchemaUpcaster.upcast(stored)
            } else {
                stored
            };
            let fact: Fact = serde_json::from_value(stored.payload)
                .map_err(|error| AggregateError::DeserializationError(error.into()))?;
            context.current_sequence = stored.sequence;
            context.aggregate.apply(fact);
        }
        Ok((context, from))
    }

    /// The photo's current state, or `None` if it was never requested.
    pub async fn load(&self, photo_id: Uuid) -> Result<Option<PhotoState>, CommandError> {
        let (mut context, _) = self.load_context(&photo_id.to_string()).await?;
        Ok(context.aggregate().state().cloned())
    }

    /// The photo's owner and a page of its events after `after`, oldest first: at most
    /// `limit`, and whether more follow. `None` if the photo was never requested. It reads the
    /// page and the first event only, however long the photo's history is.
    pub async fn history(
        &self,
        photo_id: Uuid,
        after: u64,
        limit: u32,
    ) -> Result<Option<HistoryPage>, CommandError> {
        let rows: Vec<(i64, String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT sequence, event_type, event_version, payload FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND (sequence = 1 OR sequence > $3) \
             ORDER BY sequence LIMIT $4",
        )
        .bind(catalog_events::AGGREGATE_TYPE)
        .bind(photo_id.to_string())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit) + 2)
        .fetch_all(&self.pool)
        .await
        .map_err(|error| CommandError::Store(error.into()))?;
        let mut owner = None;
        let mut events = Vec::with_capacity(rows.len());
        for (sequence, event_type, event_version, payload) in rows {
            let event = upcast::decode(&event_type, &event_version, payload)
                .map_err(|error| CommandError::Store(error.into()))?;
            if let (1, PhotoEvent::PhotoUploadRequested(requested)) = (sequence, &event) {
                owner = Some(requested.seller_id.clone());
            }
            let sequence = u64::try_from(sequence).unwrap_or_default();
            if sequence > after {
                events.push(StoredEvent {
                    sequence,
                    event_version,
                    event,
                });
            }
        }
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        Ok(owner.map(|owner| HistoryPage {
            owner,
            events,
            more,
        }))
    }
}

/// A page of a photo's history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The seller the photo belongs to.
    pub owner: String,
    pub events: Vec<StoredEvent>,
    /// Whether events follow the last of this page.
    pub more: bool,
}

/// The context of a photo before its first event.
fn empty_context(id: &str) -> EventStoreAggregateContext<Photo> {
    EventStoreAggregateContext {
        aggregate_id: id.to_owned(),
        aggregate: Photo::default(),
        current_sequence: 0,
        current_snapshot: None,
    }
}

/// A short, growing, jittered pause before deciding a raced command again.
fn backoff(attempt: u32) -> Duration {
    let jitter = u64::from(Uuid::new_v4().as_bytes()[0] % 8);
    Duration::from_millis(u64::from(attempt) * 5 + jitter)
}

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

/// postgres-es for reading; one atomic multi-row `INSERT` for appending (see the module docs).
struct OneStatementRepository {
    pool: PgPool,
    reads: PostgresEventRepository,
}

impl PersistedEventRepository for OneStatementRepository {
    async fn get_events<A: Aggregate>(
        &self,
        id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_events::<A>(id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_last_events::<A>(id, last_sequence).await
    }

    /// Snapshots are the store's own (`photo_snapshots`), not postgres-es's.
    async fn get_snapshot<A: Aggregate>(
        &self,
        _: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        _: Option<(String, serde_json::Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let column =
            |field: fn(&SerializedEvent) -> String| events.iter().map(field).collect::<Vec<_>>();
        let sequences: Vec<i64> = events.iter().map(|event| event.sequence as i64).collect();
        let payloads: Vec<&serde_json::Value> = events.iter().map(|event| &event.payload).collect();
        let metadata: Vec<&serde_json::Value> =
            events.iter().map(|event| &event.metadata).collect();
        let inserted = sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])",
        )
        .bind(A::TYPE)
        .bind(column(|event| event.aggregate_id.clone()))
        .bind(sequences)
        .bind(column(|event| event.event_type.clone()))
        .bind(column(|event| event.event_version.clone()))
        .bind(payloads)
        .bind(metadata)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Err(PersistenceError::OptimisticLockError)
            }
            Err(error @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_))) => {
                Err(PersistenceError::ConnectionError(error.into()))
            }
            Err(error) => Err(PersistenceError::UnknownError(error.into())),
        }
    }

    async fn stream_events<A: Aggregate>(
        &self,
        id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_events::<A>(id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_all_events::<A>().await
    }
}
