//! Who may start a multipart upload now: each seller has a few uploads in progress at most,
//! and all uploads of the process share a memory budget, so that no seller (nor all of them
//! together) can make the write API hold more than the budget for uploads.
//!
//! An upload reserves, before it reads a byte, the most it can hold at once: its file's part
//! buffer (no more than the body it declared), the form's room, and what the parser may hold
//! on its way to the file. A seller over the cap gets
//! `429` with `Retry-After`; when the budget is spent, `503` with `Retry-After`: another
//! seller's uploads are not refused because one seller keeps many open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use catalog_event_store::originals::PART_BYTES;
use catalog_http::problem::{Code, Problem};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::body::{FORM_ROOM_BYTES, IN_FLIGHT_BYTES};

/// How many uploads may be in progress at once.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadAdmission {
    /// Multipart uploads one seller may have in progress at once on one write API process.
    #[arg(long, env = "CATALOG_UPLOADS_PER_SELLER", default_value_t = 8)]
    pub uploads_per_seller: u32,
    /// Memory all uploads in progress may hold together, in MiB (each holds at most one part
    /// of its file, 8 MiB, and its form's fields).
    #[arg(long, env = "CATALOG_UPLOAD_MEMORY_MIB", default_value_t = 256)]
    pub upload_memory_mib: u32,
    /// Bytes a second an upload must average over every `CATALOG_UPLOAD_RATE_WINDOW_SECS`;
    /// a slower sender is cut off with `408`.
    #[arg(long, env = "CATALOG_UPLOAD_MIN_BYTES_PER_SEC", default_value_t = 8 * 1024)]
    pub upload_min_bytes_per_sec: u64,
    #[arg(long, env = "CATALOG_UPLOAD_RATE_WINDOW_SECS", default_value_t = 15)]
    pub upload_rate_window_secs: u64,
}

impl Default for UploadAdmission {
    fn default() -> Self {
        Self {
            uploads_per_seller: 8,
            upload_memory_mib: 256,
            upload_min_bytes_per_sec: 8 * 1024,
            upload_rate_window_secs: 15,
        }
    }
}

/// Seconds a refused upload is asked to wait before it tries again.
const RETRY_AFTER_SECS: u64 = 5;

/// The uploads in progress, per seller and in memory.
pub struct Admission {
    per_seller: u32,
    budget_kib: u32,
    sellers: Mutex<HashMap<String, u32>>,
    memory: Arc<Semaphore>,
}

/// An upload let in: it holds its seller's slot and its memory until dropped.
pub struct Admitted {
    admission: Arc<Admission>,
    seller: String,
    _memory: OwnedSemaphorePermit,
}

impl Admission {
    pub fn new(config: &UploadAdmission) -> Arc<Self> {
        let budget_kib = config.upload_memory_mib.saturating_mul(1024).max(1);
        Arc::new(Self {
            per_seller: config.uploads_per_seller.max(1),
            budget_kib,
            sellers: Mutex::new(HashMap::new()),
            memory: Arc::new(Semaphore::new(budget_kib as usize)),
        })
    }

    /// Lets an upload of `seller` in, whose body declares `declared` bytes if it said.
    pub fn admit(
        self: &Arc<Self>,
        seller: &str,
        declared: Option<u64>,
    ) -> Result<Admitted, Problem> {
        let buffered = declared.map_or(PART_BYTES as u64, |length| length.min(PART_BYTES as u64));
        let kib = u32::try_from((buffered + FORM_ROOM_BYTES + IN_FLIGHT_BYTES).div_ceil(1024))
            .unwrap_or(u32::MAX)
            .min(self.budget_kib);
        {
            let mut sellers = self
                .sellers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let open = sellers.entry(seller.to_owned()).or_default();
            if *open >= self.per_seller {
                metrics::counter!("catalog_uploads_refused_total", "reason" => "seller")
                    .increment(1);
                let mut problem = Problem::new(
                    Code::RateLimited,
                    format!(
                        "{} uploads of this seller are in progress, the most at once; try again when one ends",
                        self.per_seller
                    ),
                );
                problem.retry_after_secs = Some(RETRY_AFTER_SECS);
                return Err(problem);
            }
            *open += 1;
        }
        let admitted = |memory| Admitted {
            admission: self.clone(),
            seller: seller.to_owned(),
            _memory: memory,
        };
        match self.memory.clone().try_acquire_many_owned(kib) {
            Ok(memory) => {
                metrics::gauge!("catalog_uploads_in_progress").increment(1);
                Ok(admitted(memory))
            }
            Err(_) => {
                self.release(seller);
                metrics::counter!("catalog_uploads_refused_total", "reason" => "memory")
                    .increment(1);
                let mut problem = Problem::new(
                    Code::Unavailable,
                    "the write API holds as many uploads as its memory allows; try again shortly",
                );
                problem.retry_after_secs = Some(RETRY_AFTER_SECS);
                Err(problem)
            }
        }
    }

    fn release(&self, seller: &str) {
        let mut sellers = self
            .sellers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(open) = sellers.get_mut(seller) {
            *open -= 1;
            if *open == 0 {
                sellers.remove(seller);
            }
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.release(&self.seller);
        metrics::gauge!("catalog_uploads_in_progress").decrement(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(per_seller: u32, memory_mib: u32) -> Arc<Admission> {
        Admission::new(&UploadAdmission {
            uploads_per_seller: per_seller,
            upload_memory_mib: memory_mib,
            upload_min_bytes_per_sec: 1,
            upload_rate_window_secs: 1,
        })
    }

    #[test]
    fn a_seller_has_a_few_uploads_at_once_and_others_are_not_held_up() {
        let admission = admission(2, 1024);
        let first = admission.admit("a", None).unwrap();
        let _second = admission.admit("a", None).unwrap();
        let refused = admission.admit("a", None).err().unwrap();
        assert_eq!((refused.status, refused.retry_after_secs), (429, Some(5)));
        admission.admit("b", None).unwrap();
        drop(first);
        admission.admit("a", None).unwrap();
    }

    #[test]
    fn the_memory_budget_bounds_all_uploads_together() {
        // 64 MiB: a little under eight uploads of undeclared length, each a part, the form and
        // what is on its way.
        let admission = admission(100, 64);
        let held: Vec<_> = (0..7)
            .map(|n| admission.admit(&n.to_string(), None).unwrap())
            .collect();
        let refused = admission.admit("late", None).err().unwrap();
        assert_eq!((refused.status, refused.retry_after_secs), (503, Some(5)));
        // A small declared body reserves what it declared, not a whole part.
        admission.admit("small", Some(100 * 1024)).unwrap();
        drop(held);
        let _late = admission.admit("late", None).unwrap();
        assert!(admission.sellers.lock().unwrap().contains_key("late"));
    }
}
