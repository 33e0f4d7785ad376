//! The lane of work that follows a photo's `ready`: its AVIF variants.
//!
//! A render makes a photo ready; the AVIF of its variants (libaom at the speed that
//! compresses best for the time, about 0.7 CPU-seconds a photo) only makes it lighter to
//! serve. So the job that rendered the photo hands the pixels to this lane and frees its slot
//! for the next photo, and the lane encodes one photo at a time on threads of the lowest CPU
//! priority: under load, renders come first and the AVIF catch up when the CPU is free. The
//! lane holds at most [`BACKLOG`] photos; past that, a job waits to hand its photo over, so a
//! sustained overload slows renders rather than growing the backlog without bound.
//!
//! What the lane holds is in memory only: a processor that stops drains it first, but one that
//! is killed loses it, and those photos stay ready without AVIF until they are reprocessed.

use catalog_images::Pixels;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Photos waiting for their AVIF at most (about 6 MiB of pixels each).
pub const BACKLOG: usize = 16;

/// A ready photo whose later formats are still to make.
#[derive(Debug)]
pub struct Later {
    pub photo: Uuid,
    /// Where its variants are: the later formats go beside them.
    pub prefix: String,
    pub pixels: Vec<Pixels>,
    pub correlation: String,
}

/// The lane's two ends.
pub fn lane() -> (mpsc::Sender<Later>, mpsc::Receiver<Later>) {
    mpsc::channel(BACKLOG)
}

/// Runs `work` on a new thread of the lowest CPU priority (the highest nice value; threads it
/// starts inherit it) and returns its result. A thread of its own, because lowering a
/// thread's priority cannot be undone without privileges: a pool's thread would keep it.
pub async fn at_lowest_priority<T, F>(work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("later-formats".into())
        .spawn(move || {
            if let Err(error) =
                thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
            {
                tracing::warn!(?error, "could not lower the priority of the AVIF encodes");
            }
            let _ = done.send(work());
        })?;
    Ok(result.await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's nice value, from `/proc` (the 19th field of its `stat`).
    fn nice() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        fields.get(16).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    #[tokio::test]
    async fn the_later_work_runs_at_the_lowest_priority_and_leaves_this_thread_as_it_was() {
        let before = nice();
        let (outer, inner) = at_lowest_priority(|| {
            let inner = std::thread::spawn(nice).join().unwrap_or(0);
            (nice(), inner)
        })
        .await
        .unwrap_or((0, 0));
        assert_eq!(outer, 19, "the lane's thread");
        assert_eq!(inner, 19, "a thread it starts");
        assert_eq!(nice(), before);
    }
}
