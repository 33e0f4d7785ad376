//! `catalog backfill`: ready photos get what their render lacks. A photo rendered before WebP
//! or the placeholder existed is rendered again (a reprocess: its variants stay served until
//! the new ones replace them); one whose AVIF was never settled (rendered before AVIF
//! existed, or its processor stopped between the photo's `ready` and its AVIF) has it made
//! (`PhotoFormatsRequested`: the image processor renders it again for the pixels and hands
//! them to its AVIF lane, at the lowest CPU priority).
//!
//! What is missing is read off each photo's state ([`PhotoState::lacks`], its placeholder),
//! folded from the event store, so a backfill that was killed is simply run again: photos it
//! finished no longer lack anything. New uploads stay first: the backfill asks for a photo
//! only while the images queue has no message waiting, and keeps at most `--in-flight` photos
//! asked for and not yet finished. It prints its progress as it goes and a report at the end.
//!
//! The nightly resync hands the photos it finds lacking their AVIF to the same request
//! (`PhotoCommand::RequestFormats`).

use std::fmt;
use std::time::{Duration, Instant};

use catalog_event_store::aggregate::PhotoCommand;
use catalog_event_store::store::read::{self, Photos};
use catalog_event_store::store::{CommandError, PhotoStore};
use catalog_events::{AVIF, PhotoState, PhotoStatus, WEBP};
use catalog_runtime::queue::Queue;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use uuid::Uuid;

/// How often the photos in flight are looked at, and the queue asked.
const TICK: Duration = Duration::from_millis(500);
/// How often the progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What `catalog backfill` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Webp,
    Avif,
}

/// Settings of `catalog backfill`.
#[derive(Debug, Clone, clap::Args)]
pub struct BackfillConfig {
    /// The formats to make where a ready photo lacks them (`webp,avif`). Without this and
    /// without `--placeholder`, all of them and the placeholder.
    #[arg(long, value_delimiter = ',')]
    pub formats: Vec<Format>,
    /// Make the placeholder of ready photos that have none.
    #[arg(long)]
    pub placeholder: bool,
    /// Only photos created at or after this moment (RFC 3339).
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    /// Photos asked for and not yet finished, at most.
    #[arg(long, default_value_t = 2)]
    pub in_flight: usize,
    /// How long one photo may take before the backfill stops waiting for it.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub photo_deadline: Duration,
}

/// What one photo needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// A new render (its WebP or its placeholder is missing): a reprocess.
    Render,
    /// Its AVIF only.
    Avif,
}

/// What a backfill found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackfillReport {
    /// Ready photos looked at (created since `--since`).
    pub ready: u64,
    pub lacking_webp: u64,
    pub lacking_avif: u64,
    pub lacking_placeholder: u64,
    /// Photos rendered again, and those whose AVIF was made (offered, or none lighter).
    pub rendered: u64,
    pub avif_made: u64,
    /// Photos that failed, or moved on (deleted, reprocessed by their seller) meanwhile.
    pub failed: u64,
    pub moved_on: u64,
    /// Photos not finished within `--photo-deadline` (run again to retry them).
    pub timed_out: u64,
    pub elapsed: Duration,
}

impl BackfillReport {
    /// Photos finished, however.
    pub fn finished(&self) -> u64 {
        self.rendered + self.avif_made + self.failed + self.moved_on + self.timed_out
    }

    /// Photos made an hour, at this run's pace.
    pub fn per_hour(&self) -> f64 {
        let made = (self.rendered + self.avif_made) as f64;
        made * 3600.0 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

impl fmt::Display for BackfillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "backfill: {} ready photo(s) looked at; lacking WebP {}, AVIF {}, placeholder {}",
            self.ready, self.lacking_webp, self.lacking_avif, self.lacking_placeholder
        )?;
        write!(
            f,
            "rendered again {}, AVIF made {}; failed {}, moved on {}, timed out {}; {:.1} s, {:.0} photos an hour",
            self.rendered,
            self.avif_made,
            self.failed,
            self.moved_on,
            self.timed_out,
            self.elapsed.as_secs_f64(),
            self.per_hour()
        )
    }
}

/// A photo asked for and not finished yet.
struct InFlight {
    photo: Uuid,
    need: Need,
    /// Its version when it was asked for.
    asked_at: u64,
    since: Instant,
}

/// Runs a backfill to its end: every ready photo that lacks what `config` asks for gets it,
/// or is reported.
pub async fn backfill(
    store: &PhotoStore,
    images: &Queue,
    config: &BackfillConfig,
) -> anyhow::Result<BackfillReport> {
    let started = Instant::now();
    let all = config.formats.is_empty() && !config.placeholder;
    let wants = |format| all || config.formats.contains(&format);
    let placeholder = all || config.placeholder;
    let mut report = BackfillReport::default();
    let mut work = Vec::new();
    let mut photos = std::pin::pin!(read::latest(store.pool(), Photos::All));
    while let Some(state) = photos.next().await {
        let state = match state {
            Ok(state) => state,
            Err(error) if error.event().is_some() => {
                tracing::warn!(%error, "backfill: a photo that cannot be read is passed over");
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        if state.status != PhotoStatus::Ready
            || config.since.is_some_and(|since| state.created_at < since)
        {
            continue;
        }
        report.ready += 1;
        let lacks_webp = wants(Format::Webp) && state.lacks(WEBP);
        let lacks_avif = wants(Format::Avif) && state.lacks(AVIF);
        let lacks_placeholder = placeholder && state.placeholder.is_none();
        report.lacking_webp += u64::from(lacks_webp);
        report.lacking_avif += u64::from(lacks_avif);
        report.lacking_placeholder += u64::from(lacks_placeholder);
        if lacks_webp || lacks_placeholder {
            work.push((state, Need::Render));
        } else if lacks_avif {
            work.push((state, Need::Avif));
        }
    }
    let total = work.len();
    let mut queued = work.into_iter();
    let mut flying: Vec<InFlight> = Vec::new();
    let mut printed = Instant::now();
    loop {
        let mut still = Vec::with_capacity(flying.len());
        for asked in flying {
            match settled(store, &asked, config.photo_deadline).await? {
                Some(outcome) => outcome.count(&mut report),
                None => still.push(asked),
            }
        }
        flying = still;
        // Uploads first: nothing is asked for while a message waits in the images queue.
        while flying.len() < config.in_flight.max(1) && images.waiting().await? == 0 {
            let Some((state, need)) = queued.next() else {
                break;
            };
            match ask(store, &state, need).await? {
                Some(asked_at) => flying.push(InFlight {
                    photo: state.photo_id,
                    need,
                    asked_at,
                    since: Instant::now(),
                }),
                None => report.moved_on += 1,
            }
        }
        if printed.elapsed() >= PROGRESS_EVERY {
            printed = Instant::now();
            report.elapsed = started.elapsed();
            eprintln!("{}", progress(&report, total, flying.len()));
        }
        if flying.is_empty() && queued.len() == 0 {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One line of progress.
fn progress(report: &BackfillReport, total: usize, flying: usize) -> String {
    let done = report.finished();
    let percent = if total == 0 {
        100
    } else {
        done * 100 / total as u64
    };
    let left = total as u64 - done.min(total as u64);
    let rate = report.per_hour();
    let eta = if rate > 0.0 {
        humantime::format_duration(Duration::from_secs((left as f64 * 3600.0 / rate) as u64))
            .to_string()
    } else {
        "unknown".to_owned()
    };
    let filled = (percent / 5) as usize;
    format!(
        "backfill [{}{}] {done}/{total} ({percent}%), {flying} in flight, {} failed, {rate:.0}/h, {eta} left",
        "#".repeat(filled),
        ".".repeat(20 - filled),
        report.failed
    )
}

/// Asks for what the photo needs; its version then, or `None` if it moved on meanwhile.
async fn ask(store: &PhotoStore, state: &PhotoState, need: Need) -> anyhow::Result<Option<u64>> {
    let command = match need {
        Need::Render => PhotoCommand::RequestReprocess {
            seller_id: state.seller_id.clone(),
        },
        Need::Avif => PhotoCommand::RequestFormats {
            formats: vec![AVIF.to_owned()],
        },
    };
    match store
        .execute(state.photo_id, command, "catalog backfill")
        .await
    {
        Ok(after) => Ok(Some(after.version)),
        Err(CommandError::Refused(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// How one photo ended.
enum Settled {
    Rendered,
    AvifMade,
    Failed,
    MovedOn,
    TimedOut,
}

impl Settled {
    fn count(self, report: &mut BackfillReport) {
        match self {
            Self::Rendered => report.rendered += 1,
            Self::AvifMade => report.avif_made += 1,
            Self::Failed => report.failed += 1,
            Self::MovedOn => report.moved_on += 1,
            Self::TimedOut => report.timed_out += 1,
        }
    }
}

/// How the photo asked for ended, or `None` while it is still being made.
async fn settled(
    store: &PhotoStore,
    asked: &InFlight,
    deadline: Duration,
) -> anyhow::Result<Option<Settled>> {
    let Some(state) = store.load(asked.photo).await? else {
        return Ok(Some(Settled::MovedOn));
    };
    let outcome = match (asked.need, state.status) {
        (_, PhotoStatus::Deleted) => Some(Settled::MovedOn),
        (_, PhotoStatus::Failed) => Some(Settled::Failed),
        (Need::Avif, PhotoStatus::Ready) if !state.lacks(AVIF) => Some(Settled::AvifMade),
        (Need::Avif, status) if status != PhotoStatus::Ready => Some(Settled::MovedOn),
        // A new render is done once it is ready again and its AVIF settled.
        (Need::Render, PhotoStatus::Ready)
            if state.version > asked.asked_at && !state.lacks(AVIF) =>
        {
            Some(Settled::Rendered)
        }
        _ => None,
    };
    Ok(outcome.or_else(|| (asked.since.elapsed() > deadline).then_some(Settled::TimedOut)))
}
