//! How one round's entries go out in several `PutEvents` calls at once and still reach the bus
//! in each photo's commit order.
//!
//! The entries are split into lanes: all of a photo's entries go to one lane (the one with the
//! fewest entries so far, so that the lanes come out even), and each lane is cut, in commit
//! order, into calls of at most 10 entries and 256 KB. The lanes run side by side and a lane
//! sends its calls one after another, so a call that holds a photo's later event is sent only
//! once the call with its earlier one was answered. A lane stops at the first call that leaves
//! an entry unaccepted (a failed call, a throttled entry): its later calls may hold a later
//! event of that photo, which must not overtake the one that will be sent again. What a lane
//! did not send stays unpublished for the next round, in order.

use std::collections::HashMap;

use futures_util::future::join_all;

/// Entries per `PutEvents` call, and the most bytes a call may carry (EventBridge's limits).
pub const ENTRIES_PER_CALL: usize = 10;
pub const BYTES_PER_CALL: usize = 256 * 1024;

/// One call: the indices of its entries.
pub type Call = Vec<usize>;

/// What the bus did with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    /// Refused for good (the reason): sending it again cannot change it.
    Refused(String),
    /// Not accepted this time (the call failed, or the entry was throttled): sent again later.
    Failed,
}

/// Splits entries, each its photo and size, in commit order, into at most `lanes` lanes of
/// calls (indices into `entries`). Every entry must fit a call on its own.
pub fn split(entries: &[(&str, usize)], lanes: usize) -> Vec<Vec<Call>> {
    let mut photos: Vec<Vec<usize>> = Vec::new();
    let mut photo_of: HashMap<&str, usize> = HashMap::new();
    for (index, (photo, _)) in entries.iter().enumerate() {
        let slot = *photo_of.entry(photo).or_insert_with(|| {
            photos.push(Vec::new());
            photos.len() - 1
        });
        photos[slot].push(index);
    }
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); lanes.clamp(1, photos.len().max(1))];
    for indices in photos {
        if let Some(queue) = queues.iter_mut().min_by_key(|queue| queue.len()) {
            queue.extend(indices);
        }
    }
    queues
        .into_iter()
        .filter(|queue| !queue.is_empty())
        .map(|mut queue| {
            queue.sort_unstable();
            let mut calls: Vec<Call> = Vec::new();
            let mut bytes = 0;
            for index in queue {
                let size = entries[index].1;
                let full = calls.last().is_none_or(|call| {
                    call.len() == ENTRIES_PER_CALL || bytes + size > BYTES_PER_CALL
                });
                if full {
                    calls.push(Vec::new());
                    bytes = 0;
                }
                bytes += size;
                if let Some(call) = calls.last_mut() {
                    call.push(index);
                }
            }
            calls
        })
        .collect()
}

/// Sends the lanes side by side, each lane's calls one after another, with `put` (which
/// answers for each entry of the call it is given, in its order); a lane stops at the first
/// call that left an entry [`Answer::Failed`]. Returns the answer of every entry sent.
pub async fn send<F, Fut>(lanes: Vec<Vec<Call>>, put: F) -> Vec<(usize, Answer)>
where
    F: Fn(Call) -> Fut,
    Fut: Future<Output = Vec<Answer>>,
{
    let put = &put;
    let lanes = join_all(lanes.into_iter().map(|calls| async move {
        let mut answered = Vec::new();
        for call in calls {
            let answers = put(call.clone()).await;
            let stop = answers.len() < call.len() || answers.contains(&Answer::Failed);
            answered.extend(call.into_iter().zip(answers));
            if stop {
                break;
            }
        }
        answered
    }))
    .await;
    lanes.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use proptest::prelude::*;
    use tokio::time::Instant;

    use super::*;

    /// Entries of a few photos, interleaved as a round claims them, of sizes up to a fifth of
    /// a call.
    fn round() -> impl Strategy<Value = Vec<(String, usize)>> {
        prop::collection::vec(
            (0..6usize, 1..BYTES_PER_CALL / 5)
                .prop_map(|(photo, size)| (format!("p{photo}"), size)),
            0..120,
        )
    }

    fn borrowed(entries: &[(String, usize)]) -> Vec<(&str, usize)> {
        entries
            .iter()
            .map(|(photo, size)| (photo.as_str(), *size))
            .collect()
    }

    proptest! {
        /// Every entry is in exactly one call; calls keep EventBridge's limits; a photo's
        /// entries are all in one lane, in commit order; there are at most `lanes` lanes.
        #[test]
        fn a_photo_keeps_to_one_lane_in_order(entries in round(), lanes in 1..12usize) {
            let entries = borrowed(&entries);
            let split = split(&entries, lanes);
            prop_assert!(split.len() <= lanes);
            let mut seen: Vec<usize> = split.iter().flatten().flatten().copied().collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..entries.len()).collect::<Vec<_>>());
            let mut lane_of: HashMap<&str, usize> = HashMap::new();
            for (lane, calls) in split.iter().enumerate() {
                let order: Vec<usize> = calls.iter().flatten().copied().collect();
                prop_assert!(order.is_sorted(), "a lane out of commit order: {order:?}");
                for call in calls {
                    prop_assert!(!call.is_empty() && call.len() <= ENTRIES_PER_CALL);
                    let bytes: usize = call.iter().map(|&index| entries[index].1).sum();
                    prop_assert!(bytes <= BYTES_PER_CALL);
                    for &index in call {
                        let photo = entries[index].0;
                        prop_assert_eq!(*lane_of.entry(photo).or_insert(lane), lane);
                    }
                }
            }
        }
    }

    /// One photo each: as many lanes as asked, each a single full call.
    #[test]
    fn distinct_photos_fill_one_call_per_lane() {
        let photos: Vec<String> = (0..100).map(|n| format!("p{n}")).collect();
        let entries: Vec<(&str, usize)> = photos.iter().map(|p| (p.as_str(), 1000)).collect();
        let split = split(&entries, 10);
        assert_eq!(split.len(), 10);
        assert!(
            split
                .iter()
                .all(|calls| calls.len() == 1 && calls[0].len() == 10)
        );
    }

    /// What a fake bus saw of one call.
    #[derive(Debug)]
    struct Seen {
        call: Call,
        sent: Instant,
        answered: Instant,
    }

    /// With the lanes in flight at once on a bus whose calls take uneven times, a call that
    /// holds a photo's event is sent only after every call with its earlier events was
    /// answered, and several calls are in flight at once.
    #[tokio::test(start_paused = true)]
    async fn a_photos_calls_never_overlap_while_lanes_do() {
        let photos: Vec<String> = (0..300).map(|n| format!("p{}", n % 7)).collect();
        let entries: Vec<(&str, usize)> = photos.iter().map(|p| (p.as_str(), 1000)).collect();
        let seen = Mutex::new(Vec::new());
        let answers = send(split(&entries, 4), |call| {
            let seen = &seen;
            async move {
                let sent = Instant::now();
                let took = 5 + (call[0] * 7919) % 23;
                tokio::time::sleep(Duration::from_millis(took as u64)).await;
                let answers = vec![Answer::Accepted; call.len()];
                let answered = Instant::now();
                seen.lock().unwrap().push(Seen {
                    call,
                    sent,
                    answered,
                });
                answers
            }
        })
        .await;
        assert_eq!(answers.len(), entries.len());
        let seen = seen.into_inner().unwrap();
        let overlap = |a: &Seen, b: &Seen| a.sent < b.answered && b.sent < a.answered;
        let mut overlapping = 0;
        for (n, a) in seen.iter().enumerate() {
            for b in &seen[n + 1..] {
                if !overlap(a, b) {
                    continue;
                }
                overlapping += 1;
                for &x in &a.call {
                    assert!(
                        b.call.iter().all(|&y| entries[x].0 != entries[y].0),
                        "two calls of photo {} in flight at once",
                        entries[x].0
                    );
                }
            }
        }
        assert!(overlapping > 0, "the lanes never ran at once");
        // Each photo's entries were answered in commit order.
        let mut last: HashMap<&str, usize> = HashMap::new();
        let mut by_answer: Vec<&Seen> = seen.iter().collect();
        by_answer.sort_by_key(|seen| seen.answered);
        for seen in by_answer {
            for &index in &seen.call {
                let photo = entries[index].0;
                if let Some(before) = last.insert(photo, index) {
                    assert!(before < index, "{photo}: {index} after {before}");
                }
            }
        }
    }

    /// A lane stops at the first call with an entry not accepted; the other lanes go on, and
    /// an entry refused for good does not stop its lane.
    #[tokio::test]
    async fn a_lane_stops_at_its_first_failure() {
        let photos: Vec<String> = (0..40).map(|n| format!("p{}", n % 2)).collect();
        let entries: Vec<(&str, usize)> = photos.iter().map(|p| (p.as_str(), 1000)).collect();
        let lanes = split(&entries, 2);
        assert_eq!(lanes.len(), 2);
        assert!(lanes.iter().all(|calls| calls.len() == 2));
        let failing = lanes[0][0][3];
        let refused = lanes[1][0][0];
        let answers = send(lanes, |call| async move {
            call.iter()
                .map(|&index| match index {
                    index if index == failing => Answer::Failed,
                    index if index == refused => Answer::Refused("malformed".into()),
                    _ => Answer::Accepted,
                })
                .collect()
        })
        .await;
        // The failing lane sent its first call only; the other sent both.
        assert_eq!(answers.len(), 30);
        assert!(answers.contains(&(failing, Answer::Failed)));
        assert!(answers.contains(&(refused, Answer::Refused("malformed".into()))));
    }
}
