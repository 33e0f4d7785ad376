//! The photos the relay's rounds in flight hold. A round claims only events of photos no other
//! round of the relay holds, and holds its own until its transaction is over: a photo's later
//! event, appended or left over while a round sends its earlier ones, waits for the next round,
//! so a photo's events go out one round at a time, in commit order. Claims take turns, so that
//! each sees what the ones before it took.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub struct Held {
    claiming: tokio::sync::Mutex<()>,
    photos: Mutex<HashSet<String>>,
}

impl Held {
    /// A turn to claim: the claim, and holding what it claimed, happen while it is kept.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.claiming.lock().await
    }

    /// The photos held now.
    pub fn photos(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    /// Nothing held yet; what it holds is let go when it is dropped.
    pub fn holding(&self) -> Holding<'_> {
        Holding {
            held: self,
            photos: Vec::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        // The set stays whole whatever panicked while it was locked.
        self.photos.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one round holds.
#[derive(Debug)]
pub struct Holding<'a> {
    held: &'a Held,
    photos: Vec<String>,
}

impl Holding<'_> {
    pub fn hold(&mut self, photos: impl IntoIterator<Item = String>) {
        let mut held = self.held.lock();
        for photo in photos {
            if held.insert(photo.clone()) {
                self.photos.push(photo);
            }
        }
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        let mut held = self.held.lock();
        for photo in &self.photos {
            held.remove(photo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_holds_its_photos_until_it_is_over() {
        let held = Held::default();
        let mut first = held.holding();
        first.hold(["a".into(), "b".into(), "a".into()]);
        {
            let mut second = held.holding();
            second.hold(["c".into()]);
            let mut photos = held.photos();
            photos.sort();
            assert_eq!(photos, ["a", "b", "c"]);
        }
        let mut photos = held.photos();
        photos.sort();
        assert_eq!(photos, ["a", "b"]);
        drop(first);
        assert!(held.photos().is_empty());
    }
}
