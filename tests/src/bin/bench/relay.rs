//! `bench relay`: the outbox relay draining a backlog of events to the bus, beside raw
//! `PutEvents` of the same entries through the same SDK client, 10 entries a call and as many
//! calls in flight as the relay may have, as a client that only has to put them on the bus
//! would; and the relay one round at a time, as it was before it kept rounds in flight. Then
//! all again
//! with a latency added to every call (a proxy in front of moto, `catalog_tests::latency`):
//! EventBridge answers in tens of milliseconds, moto on loopback in about one, and what a
//! client keeps in flight only shows against the first. Last, with the proxy accepting the calls
//! itself after the same latency: moto spends a few milliseconds of CPU on each call, on the
//! same two cores, and caps both clients; EventBridge's cost to its caller is the latency.
//!
//! The events are appended through the event store, as the write API appends them, and each
//! run marks them all unpublished again, so the relay reads them exactly as it reads a backlog.
//! The bus is one of the bench's own with no rules: EventBridge routes after it has accepted a
//! call, where moto routes inside it, and the bench measures what a call costs its caller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use catalog_event_store::aggregate::{PhotoCommand, PhotoServices};
use catalog_event_store::store::read::{self, Photos};
use catalog_event_store::store::{self, PhotoStore};
use catalog_events::EventEnvelope;
use catalog_events::resources::Resources;
use catalog_relay::{Relay, RelayConfig};
use catalog_tests::latency::{Latency, Upstream};
use catalog_tests::{fresh_database, resource_prefix, stack_env, upload_request};
use futures_util::{StreamExt, TryStreamExt};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::drive;

/// What one bench run is given.
pub struct Settings {
    pub events: usize,
    pub photos: usize,
    pub latency: Duration,
    /// Calls the raw reference keeps in flight, if not as many as the relays may have.
    pub raw_in_flight: Option<usize>,
    /// Relays running at once, each with `relay`'s settings.
    pub relays: usize,
    pub relay: RelayConfig,
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let Settings {
        events,
        photos,
        latency,
        raw_in_flight,
        relays,
        relay,
    } = settings;
    // An expert client of the bus keeps as many calls in flight as the bus takes: here, as
    // many as the relays may have at once.
    let batch = usize::try_from(relay.batch)?;
    let raw_in_flight =
        raw_in_flight.unwrap_or(relays.max(1) * relay.in_flight.max(1) * batch.div_ceil(10));
    let started = Instant::now();
    let store = stored(events, photos).await?;
    let envelopes = envelopes(store.pool()).await?;
    println!(
        "relay: {} events of {photos} photos appended through the event store in {:.0} s; \
         {relays} relay(s), each batch {} and {} round(s) in flight",
        envelopes.len(),
        started.elapsed().as_secs_f64(),
        relay.batch,
        relay.in_flight,
    );
    let sdk = aws_config::load_from_env().await;
    let resources = bus(&sdk).await?;
    let moto = Upstream::Endpoint(stack_env("AWS_ENDPOINT_URL")?);
    let ms = latency.as_millis();
    let setups = [
        (
            "moto as it answers".to_owned(),
            Duration::ZERO,
            moto.clone(),
        ),
        (
            format!("{ms} ms added to every call, moto behind"),
            latency,
            moto,
        ),
        (
            format!("{ms} ms a call, the bus's acceptance alone (moto's CPU out of the way)"),
            latency,
            Upstream::Accepting,
        ),
    ];
    for (setup, delay, upstream) in setups {
        println!("{setup}:");
        let (sdk, _proxy) = if matches!(upstream, Upstream::Accepting) || !delay.is_zero() {
            let proxy = Latency::start(upstream, Arc::new(move |_| delay), false).await?;
            (proxy.sdk().await, Some(proxy))
        } else {
            (sdk.clone(), None)
        };
        let raw = put(&sdk, &resources, &envelopes, raw_in_flight).await?;
        println!(
            "  {raw:>8.0} events/s  raw PutEvents, 10 entries a call, {raw_in_flight} calls in \
             flight (reference)"
        );
        // One round at a time, as the relay ran before it kept rounds in flight, beside the
        // settings given.
        let one = RelayConfig {
            in_flight: 1,
            ..relay.clone()
        };
        let runs = if relay.in_flight > 1 && relays == 1 {
            vec![(1, &one), (1, &relay)]
        } else {
            vec![(relays, &relay)]
        };
        for (relays, config) in runs {
            let relayed = drain(&store, &sdk, &resources, relays, config).await?;
            println!(
                "  {relayed:>8.0} events/s  {relays} relay(s), {} round(s) in flight: {:.2} of \
                 the reference",
                config.in_flight,
                relayed / raw
            );
        }
    }
    Ok(())
}

/// `events` events of `photos` photos (a declaration, then edits of the caption, the photos
/// interleaved as sellers work on many at once) in a fresh event store.
async fn stored(events: usize, photos: usize) -> anyhow::Result<Arc<PhotoStore>> {
    anyhow::ensure!(
        photos > 0 && events >= photos,
        "each photo has an event at least"
    );
    let pool = store::connect(&fresh_database().await?, 16).await?;
    let store = Arc::new(PhotoStore::new(pool, PhotoServices::default()));
    let ids: Arc<Vec<Uuid>> = Arc::new((0..photos).map(|_| Uuid::now_v7()).collect());
    let writer = Arc::clone(&store);
    // A photo's next event is `photos` appends after its last: with fewer appends in flight,
    // no two of them are of one photo.
    drive(events, photos.min(16), move |n| {
        let (store, ids) = (Arc::clone(&writer), Arc::clone(&ids));
        async move {
            let photo = ids[n % ids.len()];
            let seller = format!("seller-{}", n % ids.len() % 50);
            let command = if n < ids.len() {
                let product = format!("sku-of-{seller}");
                PhotoCommand::RequestUpload(upload_request(photo, &seller, &product))
            } else {
                PhotoCommand::UpdateDetails {
                    seller_id: seller,
                    caption: Some(format!("A product photo, edited ({n})")),
                    alt_text: None,
                    tags: None,
                }
            };
            store.execute(photo, command, "bench").await?;
            Ok(())
        }
    })
    .await?;
    sqlx::query("VACUUM ANALYZE events")
        .execute(store.pool())
        .await?;
    Ok(store)
}

/// Every stored event's envelope, as the relay builds it (the photo folded up to the event).
async fn envelopes(pool: &PgPool) -> anyhow::Result<Vec<EventEnvelope>> {
    read::events(pool, Photos::All)
        .map_ok(|folded| {
            EventEnvelope::new(
                folded.photo_id,
                folded.sequence,
                folded.event,
                folded.correlation_id,
                folded.traceparent,
                folded.after,
            )
        })
        .try_collect()
        .await
        .map_err(Into::into)
}

/// The resources' names with a bus of the bench's own, which nothing routes from.
async fn bus(sdk: &aws_config::SdkConfig) -> anyhow::Result<Resources> {
    let resources = Resources::standard()?.prefixed(&resource_prefix());
    aws_sdk_eventbridge::Client::new(sdk)
        .create_event_bus()
        .name(&resources.bus)
        .send()
        .await?;
    Ok(resources)
}

/// Marks every event unpublished, runs `relays` of `catalog relay` until none is left:
/// events/s.
async fn drain(
    store: &PhotoStore,
    sdk: &aws_config::SdkConfig,
    resources: &Resources,
    relays: usize,
    config: &RelayConfig,
) -> anyhow::Result<f64> {
    let pool = store.pool();
    let events = sqlx::query("UPDATE events SET published_at = NULL")
        .execute(pool)
        .await?
        .rows_affected();
    sqlx::query("VACUUM ANALYZE events").execute(pool).await?;
    let stop = CancellationToken::new();
    let started = Instant::now();
    let running: Vec<_> = (0..relays.max(1))
        .map(|_| {
            let relay = Relay::new(pool.clone(), sdk, resources, config.clone());
            let stop = stop.clone();
            tokio::spawn(async move { relay.run(stop).await })
        })
        .collect();
    let deadline = started + Duration::from_secs(900);
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE published_at IS NULL AND quarantined_at IS NULL",
        )
        .fetch_one(pool)
        .await?;
        if left == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline && !running.iter().any(|relay| relay.is_finished()),
            "the relay left {left} events unpublished"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    for relay in running {
        relay.await??;
    }
    let aside: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE quarantined_at IS NOT NULL")
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(aside == 0, "the relay set {aside} events aside");
    Ok(events as f64 / elapsed.as_secs_f64())
}

/// The reference: the envelopes' entries (built before the clock starts) put on the bus 10 a
/// call, `in_flight` calls at a time: events/s.
async fn put(
    sdk: &aws_config::SdkConfig,
    resources: &Resources,
    envelopes: &[EventEnvelope],
    in_flight: usize,
) -> anyhow::Result<f64> {
    let bus = aws_sdk_eventbridge::Client::new(sdk);
    let entries = envelopes
        .iter()
        .map(|envelope| {
            catalog_relay::entry(&resources.bus, &resources.event_source, envelope)
                .map(|(entry, _)| entry)
        })
        .collect::<Result<Vec<PutEventsRequestEntry>, _>>()?;
    let calls: Vec<Vec<PutEventsRequestEntry>> = entries.chunks(10).map(<[_]>::to_vec).collect();
    let started = Instant::now();
    futures_util::stream::iter(calls)
        .map(|call| {
            let bus = bus.clone();
            async move {
                let answer = bus.put_events().set_entries(Some(call)).send().await?;
                anyhow::ensure!(
                    answer.failed_entry_count == 0,
                    "the bus refused {} entries",
                    answer.failed_entry_count
                );
                Ok(())
            }
        })
        .buffer_unordered(in_flight)
        .try_collect::<()>()
        .await?;
    Ok(entries.len() as f64 / started.elapsed().as_secs_f64())
}
