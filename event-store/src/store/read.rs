//! Photos read out of the event store in bulk, folded: every stored event with the photo's
//! state after it. The outbox relay (the envelopes of what it publishes) and the resync (each
//! photo's latest state) both read through here, so they fold alike, with the one fold of
//! `catalog-events`. [`known`] tells the resync which photos exist.
//!
//! Rows arrive photo by photo in sequence order and are folded as they stream, so memory holds
//! one photo's state at a time, however many photos there are. An event that cannot be read is
//! an error item of its own ([`ReadError::event`] names it); the stream goes on past it, folding
//! the photo's later events without it, for a reader that sets such events aside.

use std::collections::{HashMap, HashSet};

use catalog_events::{AGGREGATE_TYPE, PhotoEvent, PhotoState, TraceParent, upcast};
use futures_util::future::ready;
use futures_util::{Stream, StreamExt, TryStreamExt};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::snapshots::Snapshot;
use crate::personal::{self, DataKey, KeyError};

/// One stored event, with the photo's state after it.
#[derive(Debug, Clone)]
pub struct FoldedEvent {
    pub photo_id: Uuid,
    pub sequence: u64,
    pub event: PhotoEvent,
    /// The request (or job) that caused it.
    pub correlation_id: Option<String>,
    /// The trace it was appended under.
    pub traceparent: Option<TraceParent>,
    pub after: PhotoState,
}

/// Why the event store could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the event store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event {sequence} of photo {photo_id} cannot be read: {source}")]
    Undecodable {
        photo_id: String,
        sequence: i64,
        source: upcast::DecodeError,
    },
    #[error(
        "event {sequence} of photo {photo_id} folds into no photo (its first is not an upload request)"
    )]
    NoPhoto { photo_id: String, sequence: i64 },
    #[error("event {sequence} of photo {photo_id} cannot be opened: {source}")]
    Sealed {
        photo_id: String,
        sequence: i64,
        source: KeyError,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl ReadError {
    /// The stored event this error is about (photo id, sequence), when it is about one event
    /// and the rest of the stream can still be read.
    pub fn event(&self) -> Option<(&str, i64)> {
        match self {
            Self::Undecodable {
                photo_id, sequence, ..
            }
            | Self::NoPhoto { photo_id, sequence }
            | Self::Sealed {
                photo_id, sequence, ..
            } => Some((photo_id, *sequence)),
            Self::Database(_) | Self::Key(_) => None,
        }
    }
}

/// Which photos to read.
#[derive(Debug, Clone, Copy)]
pub enum Photos<'a> {
    /// Every photo, each from its first event.
    All,
    /// These photos, each from its snapshot when it has one (then only the events after it).
    These(&'a [Start]),
}

/// Where reading one photo starts, and ends.
#[derive(Debug, Clone)]
pub struct Start {
    pub photo_id: String,
    pub snapshot: Option<Snapshot>,
    /// The last sequence to read (`None`: to the photo's latest event).
    pub until: Option<u64>,
}

impl Start {
    /// From the photo's first event to its latest.
    pub fn first(photo_id: impl Into<String>) -> Self {
        Self {
            photo_id: photo_id.into(),
            snapshot: None,
            until: None,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    correlation_id: Option<String>,
    traceparent: Option<String>,
    /// The photo's sealed data key, if it has one.
    data_key: Option<Vec<u8>>,
}

/// The events of `photos`, photo by photo in sequence order, each with the state after it.
pub fn events<'e>(
    executor: impl PgExecutor<'e> + 'e,
    photos: Photos<'e>,
) -> impl Stream<Item = Result<FoldedEvent, ReadError>> + Send + 'e {
    let mut folder = Folder::default();
    let rows = match photos {
        Photos::All => sqlx::query_as::<_, Row>(
            "SELECT e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, \
                    e.metadata->>'correlation_id' AS correlation_id, \
                    e.metadata->>'traceparent' AS traceparent, k.sealed AS data_key \
             FROM events e LEFT JOIN photo_keys k ON k.photo_id = e.aggregate_id \
             WHERE e.aggregate_type = $1 ORDER BY e.aggregate_id, e.sequence",
        )
        .bind(AGGREGATE_TYPE)
        .fetch(executor),
        Photos::These(starts) => {
            let mut ids = Vec::with_capacity(starts.len());
            let mut after = Vec::with_capacity(starts.len());
            let mut until = Vec::with_capacity(starts.len());
            for start in starts {
                ids.push(start.photo_id.clone());
                after.push(start.snapshot.as_ref().map_or(0, |snapshot| {
                    i64::try_from(snapshot.sequence).unwrap_or(i64::MAX)
                }));
                until.push(
                    start
                        .until
                        .map_or(i64::MAX, |until| i64::try_from(until).unwrap_or(i64::MAX)),
                );
                if let Some(snapshot) = &start.snapshot {
                    folder
                        .starts
                        .insert(start.photo_id.clone(), snapshot.state.clone());
                }
            }
            sqlx::query_as::<_, Row>(
                "SELECT e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, \
                        e.metadata->>'correlation_id' AS correlation_id, \
                        e.metadata->>'traceparent' AS traceparent, k.sealed AS data_key \
                 FROM events e \
                 JOIN UNNEST($2::text[], $3::bigint[], $4::bigint[]) AS s(photo_id, after, until) \
                   ON e.aggregate_id = s.photo_id AND e.sequence > s.after \
                  AND e.sequence <= s.until \
                 LEFT JOIN photo_keys k ON k.photo_id = e.aggregate_id \
                 WHERE e.aggregate_type = $1 ORDER BY e.aggregate_id, e.sequence",
            )
            .bind(AGGREGATE_TYPE)
            .bind(ids)
            .bind(after)
            .bind(until)
            .fetch(executor)
        }
    };
    rows.map_err(ReadError::from)
        .and_then(move |row| ready(folder.fold(row)))
}

/// What [`at`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// The events asked for that could be read, each with the state after it, in no
    /// particular order.
    pub events: Vec<FoldedEvent>,
    /// The events asked for that cannot be read (each names its event, [`ReadError::event`]).
    pub unreadable: Vec<ReadError>,
}

/// The events at `wanted` (photo, sequence), each with its photo's state after it: each photo
/// is folded from its snapshot before the first event wanted, if it has one, up to the last
/// one wanted. An event asked for that does not exist is not in the answer.
pub async fn at(
    connection: &mut sqlx::PgConnection,
    wanted: &[(String, u64)],
) -> Result<Found, ReadError> {
    let mut span: HashMap<&str, (u64, u64)> = HashMap::new();
    for (photo, sequence) in wanted {
        let (first, last) = span.entry(photo).or_insert((*sequence, *sequence));
        *first = (*first).min(*sequence);
        *last = (*last).max(*sequence);
    }
    let (photos, firsts): (Vec<String>, Vec<i64>) = span
        .iter()
        .map(|(photo, (first, _))| {
            (
                (*photo).to_owned(),
                i64::try_from(*first).unwrap_or(i64::MAX),
            )
        })
        .unzip();
    let mut snapshots: HashMap<String, Snapshot> =
        super::snapshots::before(&mut *connection, &photos, &firsts)
            .await?
            .into_iter()
            .collect();
    let starts: Vec<Start> = photos
        .into_iter()
        .map(|photo_id| Start {
            snapshot: snapshots.remove(&photo_id),
            until: span.get(photo_id.as_str()).map(|(_, last)| *last),
            photo_id,
        })
        .collect();
    let wanted: HashSet<(&str, u64)> = wanted
        .iter()
        .map(|(photo, sequence)| (photo.as_str(), *sequence))
        .collect();
    let mut found = Found::default();
    let mut events = std::pin::pin!(events(&mut *connection, Photos::These(&starts)));
    while let Some(folded) = events.next().await {
        match folded {
            Ok(folded) => {
                let photo = folded.photo_id.to_string();
                if wanted.contains(&(photo.as_str(), folded.sequence)) {
                    found.events.push(folded);
                }
            }
            Err(error) => match error.event() {
                Some((photo, sequence))
                    if wanted.contains(&(photo, u64::try_from(sequence).unwrap_or_default())) =>
                {
                    found.unreadable.push(error);
                }
                Some(_) => {}
                None => return Err(error),
            },
        }
    }
    Ok(found)
}

/// Each photo's latest state, photo by photo. A photo with an event that cannot be read comes
/// as an error item in its place (naming it, through [`ReadError::event`]) and the stream goes
/// on with the next photo; only a database error ends it.
pub fn latest<'e>(
    executor: impl PgExecutor<'e> + 'e,
    photos: Photos<'e>,
) -> impl Stream<Item = Result<PhotoState, ReadError>> + Send + 'e {
    let events = events(executor, photos).boxed();
    futures_util::stream::unfold(Latest::new(events), Latest::next)
}

/// The state of [`latest`]'s stream.
struct Latest<S> {
    events: S,
    /// The photo being folded, its state so far.
    held: Option<PhotoState>,
    /// A photo found unreadable: the rest of its events are passed over.
    broken: Option<String>,
    /// An item to give after the one given now.
    queued: Option<Result<PhotoState, ReadError>>,
    ended: bool,
}

impl<S> Latest<S>
where
    S: Stream<Item = Result<FoldedEvent, ReadError>> + Unpin,
{
    fn new(events: S) -> Self {
        Self {
            events,
            held: None,
            broken: None,
            queued: None,
            ended: false,
        }
    }

    async fn next(mut self) -> Option<(Result<PhotoState, ReadError>, Self)> {
        if let Some(item) = self.queued.take() {
            return Some((item, self));
        }
        while !self.ended {
            match self.events.next().await {
                Some(Ok(event)) => {
                    let id = event.photo_id.to_string();
                    if self.broken.as_ref() == Some(&id) {
                        continue;
                    }
                    if let Some(done) = self.held.replace(event.after)
                        && done.photo_id != event.photo_id
                    {
                        return Some((Ok(done), self));
                    }
                }
                Some(Err(error)) => {
                    let Some((photo, _)) = error.event() else {
                        self.ended = true;
                        return Some((Err(error), self));
                    };
                    if self.broken.as_deref() == Some(photo) {
                        continue;
                    }
                    let photo = photo.to_owned();
                    // The photo held before it, if another, is whole: it goes first.
                    let before = self
                        .held
                        .take()
                        .filter(|held| held.photo_id.to_string() != photo);
                    self.broken = Some(photo);
                    return Some(match before {
                        Some(before) => {
                            self.queued = Some(Err(error));
                            (Ok(before), self)
                        }
                        None => (Err(error), self),
                    });
                }
                None => self.ended = true,
            }
        }
        self.held.take().map(|last| (Ok(last), self))
    }
}

/// Which of `ids` the event store holds a photo under.
pub async fn known<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[String],
) -> Result<HashSet<String>, ReadError> {
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = ANY($2)",
    )
    .bind(AGGREGATE_TYPE)
    .bind(ids)
    .fetch_all(executor)
    .await?;
    Ok(known.into_iter().collect())
}

/// The fold of rows that come photo by photo in sequence order.
#[derive(Default)]
struct Folder {
    /// The photo being folded: its id, its data key, its state so far.
    photo: Option<(String, Option<DataKey>, Option<PhotoState>)>,
    /// The states photos start from (their snapshots), when not from their first event.
    starts: HashMap<String, PhotoState>,
}

impl Folder {
    fn fold(&mut self, row: Row) -> Result<FoldedEvent, ReadError> {
        let (photo_id, sequence) = (row.aggregate_id.clone(), row.sequence);
        let sealed = |source| ReadError::Sealed {
            photo_id: photo_id.clone(),
            sequence,
            source,
        };
        if self
            .photo
            .as_ref()
            .is_none_or(|(photo, _, _)| *photo != row.aggregate_id)
        {
            let start = self.starts.remove(&row.aggregate_id);
            let key = personal::data_key(&row.aggregate_id, row.data_key.as_deref());
            self.photo = Some((row.aggregate_id.clone(), key.map_err(sealed)?, start));
        }
        let no_photo = || ReadError::NoPhoto {
            photo_id: photo_id.clone(),
            sequence,
        };
        let Some((_, key, state)) = self.photo.as_mut() else {
            return Err(no_photo());
        };
        let mut payload = row.payload;
        personal::open(&mut payload, &row.aggregate_id, key.as_ref()).map_err(sealed)?;
        let event =
            upcast::decode(&row.event_type, &row.event_version, payload).map_err(|source| {
                ReadError::Undecodable {
                    photo_id: row.aggregate_id.clone(),
                    sequence: row.sequence,
                    source,
                }
            })?;
        PhotoState::apply(state, &event);
        let after = state.clone().ok_or_else(no_photo)?;
        Ok(FoldedEvent {
            photo_id: after.photo_id,
            sequence: u64::try_from(row.sequence).unwrap_or_default(),
            event,
            correlation_id: row.correlation_id,
            traceparent: row.traceparent.and_then(|trace| trace.parse().ok()),
            after,
        })
    }
}
