//! The read model's hot keys against each DynamoDB partition's share: 1,000 write units and
//! 3,000 read units a second ("Best practices for designing and using partition keys
//! effectively", DynamoDB Developer Guide). What the figures these tests print mean for a
//! deployment is in docs/CAPACITY.md, "Hot keys".
//!
//! - A hot seller: a bulk import of 50,000 photos of one seller, each through its whole life
//!   (declared, uploaded, processing, ready, its AVIF, its webhook), folded with the one fold and
//!   encoded as the projector encodes it, which a write through the projector's own `item::put`
//!   into moto confirms byte for byte. Each write is counted on the partition keys of the table
//!   and of its indexes as DynamoDB counts index writes (one to put or update an entry, two when
//!   its key changes, one to remove it; a write unit per KB of the entry, and every index
//!   projects the whole item). Per key and photo, that is set against the seller's rate limit as
//!   the write API reads it from its environment: a photo takes at least one request the limit
//!   counts.
//! - A hot product: many buyers reading one product's gallery and the product through the read
//!   API. Every answer is the same for every caller and says how long a shared cache may keep it
//!   (`max-age`) and how to revalidate it (`ETag`, `304`), which the CDN's cache policy honours
//!   (infra-cdk/test/api-cdn.test.ts). So what reaches DynamoDB for one cache key is at most one
//!   read per CDN cache per `max-age`, however many buyers read it; the read units of each such
//!   read are counted from the items moto holds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::{
    AVIF, PhotoEvent, PhotoState, Placeholder, UploadRequested, Variant, VariantFormat,
    VariantName, WEBP, Webhook, WebhookKind,
};
use catalog_http::rate_limit::RateLimitConfig;
use catalog_projections::item::{self, Guard};
use catalog_read_model::{GALLERY_INDEX, GALLERY_KEY, Item, PHOTO_ID, PROJECTED_AT};
use catalog_tests::pipeline::{Pipeline, Stack};
use catalog_tests::{expect_json, expect_problem};
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use futures_util::StreamExt;
use reqwest::StatusCode;
use uuid::Uuid;

/// Write units a second one partition takes.
const WRITE_SHARE: f64 = 1_000.0;
/// Read units a second one partition takes.
const READ_SHARE: f64 = 3_000.0;
/// The photos of the hot seller's import, over as many products of 50 photos each.
const IMPORT: usize = 50_000;
const PHOTOS_PER_PRODUCT: usize = 50;
/// CDN caches that may each ask the origin for one cache key on their own: every CloudFront
/// point of presence (over 600 in 2024) when none goes through a regional edge cache; there are
/// 13 of those, which is what the origin sees when the points of presence go through them.
const EDGE_CACHES: f64 = 600.0;
const REGIONAL_EDGE_CACHES: f64 = 13.0;

/// DynamoDB's sizes of items and their capacity units ("Item sizes and capacity unit
/// consumption", DynamoDB Developer Guide).
mod units {
    use aws_sdk_dynamodb::types::AttributeValue;
    use catalog_read_model::Item;

    /// An item's size: its attributes' names and values.
    pub fn item_bytes(item: &Item) -> usize {
        item.iter()
            .map(|(name, value)| name.len() + value_bytes(value))
            .sum()
    }

    fn value_bytes(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(text) => text.len(),
            AttributeValue::N(number) => number_bytes(number),
            AttributeValue::B(blob) => blob.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(list) => 3 + list.iter().map(value_bytes).sum::<usize>(),
            AttributeValue::M(map) => 3 + item_bytes(map),
            AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
            AttributeValue::Ns(set) => set.iter().map(|n| number_bytes(n)).sum(),
            AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
            other => panic!("an attribute type the read model does not write: {other:?}"),
        }
    }

    /// A number: a byte per two significant digits, and one.
    fn number_bytes(number: &str) -> usize {
        let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
        significant.max(1).div_ceil(2) + 1
    }

    /// Write units of writing (or removing) an entry of `bytes`: one per KB begun.
    pub fn write_units(bytes: usize) -> u64 {
        bytes.div_ceil(1024).max(1) as u64
    }

    /// Read units of an eventually consistent read of `bytes`: half of one per 4 KB begun.
    pub fn read_units(bytes: usize) -> f64 {
        bytes.div_ceil(4096).max(1) as f64 / 2.0
    }
}

/// The partition key of each index, as resources.json declares them.
fn indexes() -> Vec<(String, String)> {
    catalog_events::resources::Resources::standard()
        .unwrap()
        .table
        .indexes
        .into_iter()
        .map(|index| (index.name, index.partition_key))
        .collect()
}

/// The item the projector stores for `state`: its encoding, and when it was written.
fn projected(state: &PhotoState) -> Item {
    let mut item = catalog_read_model::encode(state).unwrap();
    let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    item.insert(PROJECTED_AT.to_owned(), AttributeValue::S(at));
    item
}

fn key_of(item: &Item, attribute: &str) -> Option<String> {
    match item.get(attribute) {
        Some(AttributeValue::S(key)) => Some(key.clone()),
        _ => None,
    }
}

/// What replacing `before` with `after` (each with its size) costs each index partition key, in
/// write units, as DynamoDB counts writes to a global secondary index: one to put an entry, one
/// to update it (the larger of its sizes), two when its key changes (the old removed, the new
/// put), one to remove it. Each entry is the whole item: every index projects all of it.
fn index_writes<'a>(
    indexes: &'a [(String, String)],
    before: Option<(&Item, usize)>,
    (after, after_bytes): (&Item, usize),
) -> Vec<(&'a str, String, u64)> {
    let before_bytes = before.map_or(0, |(_, bytes)| bytes);
    let mut writes = Vec::new();
    for (index, attribute) in indexes {
        let old = before.and_then(|(item, _)| key_of(item, attribute));
        let new = key_of(after, attribute);
        match (old, new) {
            (Some(old), Some(new)) if old == new => {
                let bytes = before_bytes.max(after_bytes);
                writes.push((index.as_str(), new, units::write_units(bytes)));
            }
            (old, new) => {
                if let Some(old) = old {
                    writes.push((index.as_str(), old, units::write_units(before_bytes)));
                }
                if let Some(new) = new {
                    writes.push((index.as_str(), new, units::write_units(after_bytes)));
                }
            }
        }
    }
    writes
}

/// What a seller writes about a photo.
struct Details {
    filename: String,
    caption: String,
    alt_text: String,
    tags: Vec<String>,
    callback_url: String,
}

impl Details {
    /// What a seller's import typically carries.
    fn typical(n: usize) -> Self {
        Self {
            filename: format!("IMG_{n:05}.JPG"),
            caption: "Walnut side table, oiled finish, seen from the front in daylight".into(),
            alt_text: "A small walnut table with three legs on a pale wooden floor".into(),
            tags: ["walnut", "table", "living-room", "oiled"]
                .map(String::from)
                .into(),
            callback_url: "https://shop.example/hooks/catalog".into(),
        }
    }

    /// The most the write API takes (docs/API.md), in characters of three UTF-8 bytes.
    fn largest() -> Self {
        let wide = |chars: usize| "漢".repeat(chars);
        Self {
            filename: wide(255),
            caption: wide(2_000),
            alt_text: wide(500),
            tags: (0..20).map(|n| format!("{n:02}{}", wide(48))).collect(),
            callback_url: format!("https://hooks.example/{}", "a".repeat(2_048 - 22)),
        }
    }
}

/// A photo's events through its whole life as the services append them: declared, uploaded,
/// processing, ready (four variants, each with its WebP, and a placeholder), its AVIF, and the
/// webhook of its `ready` delivered.
fn life(seller: &str, product: &str, at: DateTime<Utc>, details: Details) -> Vec<PhotoEvent> {
    let photo_id = Uuid::now_v7();
    let folder = format!("variants/{photo_id}/1-{}", Uuid::now_v7());
    // A file of a variant, of `weight` bytes per pixel of the variant's longest side.
    let file = |name: VariantName, ext: &str, weight: u64| VariantFormat {
        key: format!("{folder}/{name}.{ext}"),
        bytes: u64::from(name.max_side()) * weight,
    };
    let variants: BTreeMap<VariantName, Variant> = VariantName::ALL
        .into_iter()
        .map(|name| {
            let variant = Variant {
                key: format!("{folder}/{name}.jpg"),
                width: name.max_side(),
                height: name.max_side() * 3 / 4,
                bytes: u64::from(name.max_side()) * 97,
                content_type: "image/jpeg".into(),
                formats: BTreeMap::from([(WEBP.to_owned(), file(name, "webp", 61))]),
            };
            (name, variant)
        })
        .collect();
    let requested = UploadRequested {
        occurred_at: at,
        photo_id,
        seller_id: seller.into(),
        product_id: product.into(),
        filename: details.filename,
        content_type: "image/jpeg".into(),
        size_bytes: 4_213_771,
        checksum_sha256: Some(catalog_tests::sha256_hex(photo_id.as_bytes())),
        caption: Some(details.caption),
        alt_text: Some(details.alt_text),
        tags: details.tags,
        callback_url: Some(details.callback_url),
        object_key: format!("originals/{photo_id}"),
    };
    vec![
        PhotoEvent::PhotoUploadRequested(requested),
        PhotoEvent::PhotoUploaded {
            occurred_at: at,
            size_bytes: 4_213_771,
        },
        PhotoEvent::PhotoProcessingStarted {
            occurred_at: at,
            attempt: 1,
        },
        PhotoEvent::PhotoProcessed {
            occurred_at: at,
            width: 4_000,
            height: 3_000,
            variants,
            placeholder: Some(Placeholder {
                dominant_color: "#a0522d".into(),
                thumbhash: "1QcSHQRnh493V4dIh4eXh1h4kJUI".into(),
            }),
            formats_tried: vec![WEBP.into()],
        },
        PhotoEvent::PhotoFormatAdded {
            occurred_at: at,
            format: AVIF.into(),
            files: VariantName::ALL
                .into_iter()
                .map(|name| (name, file(name, "avif", 49)))
                .collect(),
        },
        PhotoEvent::PhotoWebhookDelivered {
            occurred_at: at,
            webhook: Webhook {
                id: format!("msg_{}", Uuid::new_v4()),
                kind: WebhookKind::PhotoReady,
                for_sequence: 4,
            },
            attempts: 1,
            status: 200,
        },
    ]
}

/// Each state a photo's item holds through `events`, one per event (what the projector writes
/// when every event arrives on its own: it writes fewer when several come in one receive).
fn states(events: &[PhotoEvent]) -> Vec<PhotoState> {
    let mut state = None;
    events
        .iter()
        .map(|event| {
            PhotoState::apply(&mut state, event);
            state.clone().unwrap()
        })
        .collect()
}

/// What writing photos costs each partition key: write units, and the photos that wrote it.
#[derive(Default)]
struct Load {
    keys: HashMap<(String, String), Tally>,
    photos: usize,
}

#[derive(Default)]
struct Tally {
    units: u64,
    photos: u64,
    /// The last photo that wrote the key (counted from 1).
    last: usize,
}

impl Load {
    /// Counts every write of one photo's life.
    fn photo(&mut self, indexes: &[(String, String)], events: &[PhotoEvent]) {
        self.photos += 1;
        let mut before: Option<(Item, usize)> = None;
        for state in states(events) {
            let after = projected(&state);
            let after_bytes = units::item_bytes(&after);
            let table = before
                .as_ref()
                .map_or(0, |(_, bytes)| *bytes)
                .max(after_bytes);
            let id = key_of(&after, PHOTO_ID).unwrap();
            let before_item = before.as_ref().map(|(item, bytes)| (item, *bytes));
            let mut writes = index_writes(indexes, before_item, (&after, after_bytes));
            writes.push(("table", id, units::write_units(table)));
            for (index, key, units) in writes {
                let tally = self.keys.entry((index.to_owned(), key)).or_default();
                tally.units += units;
                if tally.last != self.photos {
                    tally.last = self.photos;
                    tally.photos += 1;
                }
            }
            before = Some((after, after_bytes));
        }
    }

    /// Per index (and the table), its key with the most write units per photo: the key, those
    /// units, and the photos that wrote it.
    fn hottest(&self) -> BTreeMap<String, (String, f64, u64)> {
        let mut hottest: BTreeMap<String, (String, f64, u64)> = BTreeMap::new();
        for ((index, key), tally) in &self.keys {
            let per_photo = tally.units as f64 / tally.photos as f64;
            let entry = hottest
                .entry(index.clone())
                .or_insert((key.clone(), 0.0, 0));
            if per_photo > entry.1 {
                *entry = (key.clone(), per_photo, tally.photos);
            }
        }
        hottest
    }

    /// Write units a photo cost `index` over all its keys: what its capacity must take.
    fn index_per_photo(&self, index: &str) -> f64 {
        let units: u64 = self
            .keys
            .iter()
            .filter(|((of, _), _)| of == index)
            .map(|(_, tally)| tally.units)
            .sum();
        units as f64 / self.photos as f64
    }

    /// Write units a photo that wrote `key` of `index` cost it.
    fn per_photo(&self, index: &str, key: &str) -> f64 {
        let tally = &self.keys[&(index.to_owned(), key.to_owned())];
        tally.units as f64 / tally.photos as f64
    }

    fn photos_of(&self, index: &str, key: &str) -> u64 {
        self.keys
            .get(&(index.to_owned(), key.to_owned()))
            .map_or(0, |tally| tally.photos)
    }
}

/// The write API's rate limits as it reads them from its environment.
#[derive(Parser)]
struct WriteApiLimits {
    #[command(flatten)]
    limits: RateLimitConfig,
}

/// One seller imports 50,000 photos as fast as the write API lets it. Its own keys (its
/// inventory, and its inventory in each status) carry the whole import, a product's only its
/// photos, a photo's item only its own life; per write API task, at the seller's rate limit,
/// none takes more than its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_import_of_50000_photos_keeps_each_key_within_its_share_per_write_api_task() {
    let indexes = indexes();
    let seller = "5f0c2b8e-4a1d-4c3e-9b7a-2d6e8f1a3c5b";
    let start = Utc::now();

    // What the projector's own write stores is what is counted here.
    let stack = Stack::create().await.unwrap();
    for state in states(&life(seller, "sku-check", start, Details::typical(0))) {
        item::put(
            &stack.dynamodb,
            &stack.resources.table.name,
            &state,
            Guard::Older,
        )
        .await
        .unwrap();
        let stored = stack
            .dynamodb
            .get_item()
            .table_name(&stack.resources.table.name)
            .key(PHOTO_ID, AttributeValue::S(state.photo_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert_eq!(
            units::item_bytes(&stored),
            units::item_bytes(&projected(&state)),
            "the item stored at {:?}",
            state.status
        );
    }

    let mut import = Load::default();
    for n in 0..IMPORT {
        let product = format!("sku-{:05}", n / PHOTOS_PER_PRODUCT);
        let at = start + TimeDelta::milliseconds(n as i64);
        import.photo(&indexes, &life(seller, &product, at, Details::typical(n)));
    }
    let mut largest = Load::default();
    for n in 0..PHOTOS_PER_PRODUCT {
        let at = start + TimeDelta::milliseconds(n as i64);
        largest.photo(
            &indexes,
            &life(seller, "sku-largest", at, Details::largest()),
        );
    }

    let limits = WriteApiLimits::parse_from(["write-api"]).limits;
    let per_sec = f64::from(limits.seller_per_sec);
    println!(
        "the write API lets one seller make {} requests at once, then {per_sec} a second, per task",
        limits.seller_burst
    );
    let hottest = import.hottest();
    for (index, (key, per_photo, photos)) in hottest.iter().filter(|(index, _)| *index != "table") {
        println!(
            "{index}: hottest key {key} ({photos} photos): {per_photo:.1} write units a photo, \
             {:.0} a second at {per_sec} photos a second",
            per_photo * per_sec
        );
    }
    for index in hottest.keys() {
        println!(
            "{index}: {:.1} write units a photo over all its keys",
            import.index_per_photo(index)
        );
    }
    for (index, (key, per_photo, _)) in largest.hottest() {
        println!(
            "photos as large as the API takes: {index} {key}: {per_photo:.1} write units a photo"
        );
    }

    // The whole import goes through the seller's own keys, and only through them.
    assert_eq!(import.photos_of("inventory", seller), IMPORT as u64);
    for status in ["pending_upload", "uploaded", "processing", "ready"] {
        assert_eq!(
            import.photos_of("inventory_status", &format!("{seller}#{status}")),
            IMPORT as u64,
            "{status}"
        );
    }
    for index in ["gallery", "product"] {
        assert_eq!(hottest[index].2, PHOTOS_PER_PRODUCT as u64, "{index}");
    }
    assert_eq!(
        hottest["table"].2, 1,
        "a photo's item is written by its own life alone"
    );
    let seller_units = import.per_photo("inventory", seller);
    assert!(
        hottest
            .values()
            .all(|(_, per_photo, _)| *per_photo <= seller_units),
        "the seller's inventory is as hot as any key"
    );

    // Per task, the seller's steady rate keeps every key within its share, and its burst
    // (declared and uploaded at once) within one second's.
    for (index, (key, per_photo, _)) in hottest.iter().filter(|(index, _)| *index != "table") {
        assert!(
            per_photo * per_sec <= WRITE_SHARE,
            "{index} {key}: {:.0} write units a second",
            per_photo * per_sec
        );
    }
    let first_two: u64 = states(&life(seller, "sku-burst", start, Details::typical(0)))
        .iter()
        .take(2)
        .map(|state| units::write_units(units::item_bytes(&projected(state))))
        .sum();
    assert!(f64::from(limits.seller_burst) * first_two as f64 <= WRITE_SHARE);

    println!(
        "one seller's import stays within its keys' share up to {} write API tasks; photos as \
         large as the API takes, up to {:.0} photos a second for the whole fleet",
        (WRITE_SHARE / (seller_units * per_sec)).floor(),
        (WRITE_SHARE / largest.per_photo("inventory", seller)).floor()
    );
}

/// The value of the `Cache-Control` directive `name` in an answer, if it has one.
fn directive(answer: &reqwest::Response, name: &str) -> Option<String> {
    let value = answer.headers().get("cache-control")?.to_str().ok()?;
    value.split(',').map(str::trim).find_map(|directive| {
        let (key, value) = directive.split_once('=').unwrap_or((directive, ""));
        (key == name).then(|| value.to_owned())
    })
}

/// Reads `path` as `buyers` buyers would, 16 at a time, some with a seller's token: every answer
/// is the same public one, which a shared cache may keep for its `max-age` and revalidate with its
/// `ETag` (`304`, no body). Returns the `max-age`.
async fn read_by_many(pipeline: &Pipeline, path: &str, buyers: usize) -> u32 {
    let url = pipeline.read(path);
    let token = pipeline.write.token("a-seller-browsing");
    let answers: Vec<(String, String, String)> = futures_util::stream::iter(0..buyers)
        .map(|n| {
            let mut request = pipeline.write.http.get(&url);
            if n % 4 == 0 {
                request = request.bearer_auth(&token);
            }
            async move {
                let answer = request.send().await.unwrap();
                assert_eq!(answer.status(), StatusCode::OK, "{path}");
                let header = |name: &str| answer.headers()[name].to_str().unwrap().to_owned();
                let (cache, tag) = (header("cache-control"), header("etag"));
                assert_eq!(directive(&answer, "public").as_deref(), Some(""), "{cache}");
                for stale in ["stale-while-revalidate", "stale-if-error"] {
                    assert!(directive(&answer, stale).is_some(), "{cache}");
                }
                assert!(
                    !cache.contains("private") && !cache.contains("no-"),
                    "{cache}"
                );
                (cache, tag, answer.text().await.unwrap())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let first = &answers[0];
    assert!(
        answers.iter().all(|answer| answer == first),
        "one answer for every caller, token or not: one CDN entry serves them all"
    );
    let revalidated = pipeline
        .write
        .http
        .get(&url)
        .header("If-None-Match", &first.1)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED, "{path}");
    assert!(revalidated.bytes().await.unwrap().is_empty());
    let max_age = first
        .0
        .split(',')
        .find_map(|directive| directive.trim().strip_prefix("max-age="))
        .unwrap();
    max_age.parse().unwrap()
}

/// The size of each photo of `product`'s gallery, in the gallery's order, as DynamoDB holds it.
async fn gallery_items(stack: &Stack, product: &str) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut start = None;
    loop {
        let page = stack
            .dynamodb
            .query()
            .table_name(&stack.resources.table.name)
            .index_name(GALLERY_INDEX)
            .key_condition_expression("#key = :value")
            .expression_attribute_names("#key", GALLERY_KEY)
            .expression_attribute_values(":value", AttributeValue::S(product.to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        sizes.extend(page.items().iter().map(units::item_bytes));
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return sizes,
        }
    }
}

/// Many buyers read one product's gallery and the product. Each answer is public, the same for
/// every caller, and revalidated by its `ETag`, so the CDN keeps one entry per cache key; what
/// reaches the gallery's key in DynamoDB is then at most one read per CDN cache per `max-age`,
/// whatever the buyers' number, and within the partition's share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_products_readers_reach_dynamodb_once_per_cdn_cache_per_max_age() {
    let pipeline = Pipeline::start_unlimited().await.unwrap();
    let product = "hot-product";
    let photos = 60;
    let start = Utc::now() - TimeDelta::hours(1);
    for n in 0..photos {
        let at = start + TimeDelta::seconds(n as i64);
        let settled = states(&life("hot-seller", product, at, Details::typical(n)))
            .pop()
            .unwrap();
        item::put(
            &pipeline.stack.dynamodb,
            &pipeline.stack.resources.table.name,
            &settled,
            Guard::Older,
        )
        .await
        .unwrap();
    }

    let gallery_age = read_by_many(&pipeline, &format!("/v1/products/{product}/photos"), 40).await;
    let product_age = read_by_many(&pipeline, &format!("/v1/products/{product}"), 40).await;
    // A query string the API does not know is refused before anything is read, so made-up ones
    // cannot turn the cache key's query strings into reads of the table.
    let unknown = pipeline
        .write
        .http
        .get(pipeline.read(&format!("/v1/products/{product}/photos?nocache=1")))
        .send()
        .await
        .unwrap();
    expect_problem(unknown, StatusCode::BAD_REQUEST)
        .await
        .unwrap();
    let page = expect_json(
        pipeline
            .write
            .http
            .get(pipeline.read(&format!("/v1/products/{product}/photos")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    let shown = page["items"].as_array().unwrap().len();

    // What one read of each costs the gallery's key: a page reads one photo more than it shows;
    // a product reads its first photo, then counts the gallery (every photo's whole item).
    let sizes = gallery_items(&pipeline.stack, product).await;
    assert_eq!(sizes.len(), photos);
    let page_units = units::read_units(sizes.iter().take(shown + 1).sum());
    let per_photo = sizes.iter().sum::<usize>() as f64 / photos as f64;
    let product_units = units::read_units(sizes[0]) + units::read_units(sizes.iter().sum());
    let per_second = |max_age: u32, caches: f64| caches / f64::from(max_age);
    let gallery_units = per_second(gallery_age, EDGE_CACHES) * page_units;
    let product_read_units = per_second(product_age, EDGE_CACHES) * product_units;
    println!(
        "gallery page: max-age {gallery_age} s, {page_units} read units a read, at most {:.1} \
         reads a second per cache key from {EDGE_CACHES} CDN caches ({:.2} from \
         {REGIONAL_EDGE_CACHES} regional ones): {gallery_units:.0} read units a second",
        per_second(gallery_age, EDGE_CACHES),
        per_second(gallery_age, REGIONAL_EDGE_CACHES),
    );
    println!(
        "product of {photos} photos: max-age {product_age} s, {product_units} read units a read: \
         {product_read_units:.0} read units a second; within the share up to {:.0} photos a \
         product ({:.0} from the regional caches alone)",
        largest_product(per_second(product_age, EDGE_CACHES), per_photo),
        largest_product(per_second(product_age, REGIONAL_EDGE_CACHES), per_photo),
    );
    assert!(gallery_units <= READ_SHARE, "{gallery_units}");
    assert!(product_read_units <= READ_SHARE, "{product_read_units}");
}

/// The most photos a product may show for `reads` reads of it a second to stay within its
/// gallery key's share, at `bytes` a photo: each read takes the first photo, then counts them all.
fn largest_product(reads: f64, bytes: f64) -> f64 {
    (READ_SHARE / reads - 0.5) * 2.0 * 4096.0 / bytes
}
