//! The body of a multipart upload, metered as it arrives: the only way bytes reach the form
//! reader, so nothing a client sends escapes the count, whether it declared a `Content-Length`
//! or sent chunks.
//!
//! Three things cut a body off, each with its own answer:
//! - **too large**: more bytes than the file limit and the form's room together (`413`);
//! - **too much beside the file**: bytes the file did not take (part headers, boundaries,
//!   text fields, a preamble, a part header that never ends) past [`FORM_ROOM_BYTES`]. The
//!   multipart parser buffers what it has not handed on, so this bounds what one request can
//!   make the process hold besides the file's own part buffer (`413`);
//! - **too slow**: fewer bytes than the minimum rate in any window of time (at least
//!   `min_bytes_per_sec × window` bytes in every `window`), so a sender that trickles or stalls,
//!   even after a fast start, frees its slot long before the request deadline (`408`). A timer
//!   wakes the meter at the end of each window, so a sender that sends nothing at all is cut
//!   off too.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use catalog_http::problem::{Code, Problem};

/// Room for everything of a form that is not the file's bytes: its text fields (at most
/// [`MAX_FIELDS_BYTES`]), part headers and boundaries.
pub const FORM_ROOM_BYTES: u64 = 2 * MAX_FIELDS_BYTES as u64;
/// What may be on its way from the connection to the file between two reads of it: the
/// parser takes every chunk the connection has ready (actix holds up to 128 KiB unread)
/// before the file's reader takes any.
pub const IN_FLIGHT_BYTES: u64 = 512 * 1024;
/// The text fields of a form together.
pub const MAX_FIELDS_BYTES: usize = 64 * 1024;

/// How fast an upload must arrive.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Bytes a second an upload must average...
    pub min_bytes_per_sec: u64,
    /// ...over every window of this long.
    pub window: Duration,
}

impl Pace {
    /// The bytes each window must bring.
    fn per_window(self) -> u64 {
        (self.min_bytes_per_sec as f64 * self.window.as_secs_f64()) as u64
    }
}

/// Why a body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    TooLarge { limit: u64 },
    FormTooLarge,
    TooSlow { min_bytes_per_sec: u64 },
}

impl Cut {
    pub fn problem(self) -> Problem {
        match self {
            Self::TooLarge { limit } => Problem::new(
                Code::TooLarge,
                format!("the file is larger than the limit of {limit} bytes"),
            ),
            Self::FormTooLarge => Problem::new(
                Code::TooLarge,
                format!(
                    "the form's fields, part headers and boundaries are over {FORM_ROOM_BYTES} bytes"
                ),
            ),
            Self::TooSlow { min_bytes_per_sec } => Problem::new(
                Code::RequestTimeout,
                format!("the upload arrived slower than {min_bytes_per_sec} bytes a second"),
            ),
        }
    }
}

/// What the form reader and the meter share: how much came, how much the file took, and why
/// the body was cut off, if it was.
#[derive(Debug, Default)]
pub struct Meter {
    received: Cell<u64>,
    file: Cell<u64>,
    cut: Cell<Option<Cut>>,
}

impl Meter {
    /// The file field took `bytes` more of the body.
    pub fn took_file(&self, bytes: usize) {
        self.file.set(self.file.get() + bytes as u64);
    }

    /// Why the body was cut off, if it was: the reason a read of it failed.
    pub fn cut(&self) -> Option<Cut> {
        self.cut.get()
    }
}

/// The request's body, metered.
pub struct Metered<S> {
    body: S,
    meter: Rc<Meter>,
    file_limit: u64,
    pace: Pace,
    /// Bytes that came in the current window, which ends when `behind` fires.
    in_window: u64,
    behind: Pin<Box<Sleep>>,
}

impl<S> Metered<S> {
    pub fn new(body: S, meter: Rc<Meter>, file_limit: u64, pace: Pace) -> Self {
        Self {
            body,
            meter,
            file_limit,
            pace,
            in_window: 0,
            behind: Box::pin(tokio::time::sleep(pace.window)),
        }
    }

    fn cut_off(&self, cut: Cut) -> Poll<Option<Result<Bytes, PayloadError>>> {
        if self.meter.cut.get().is_none() {
            tracing::info!(
                ?cut,
                received = self.meter.received.get(),
                file = self.meter.file.get(),
                "an upload's body was cut off"
            );
        }
        self.meter.cut.set(Some(cut));
        let error = std::io::Error::other(format!("{cut:?}"));
        Poll::Ready(Some(Err(PayloadError::Io(error))))
    }
}

impl<S> Stream for Metered<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(cut) = this.meter.cut() {
            return this.cut_off(cut);
        }
        match Pin::new(&mut this.body).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let received = this.meter.received.get() + chunk.len() as u64;
                this.meter.received.set(received);
                if received > this.file_limit + FORM_ROOM_BYTES {
                    return this.cut_off(Cut::TooLarge {
                        limit: this.file_limit,
                    });
                }
                // What the file has not taken is held by the parser or is the form's own.
                if received - this.meter.file.get() > FORM_ROOM_BYTES + IN_FLIGHT_BYTES {
                    return this.cut_off(Cut::FormTooLarge);
                }
                // A window that brought its due starts the next one now.
                this.in_window += chunk.len() as u64;
                if this.in_window >= this.pace.per_window() {
                    this.in_window = 0;
                    this.behind
                        .as_mut()
                        .reset(Instant::now() + this.pace.window);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Pending => match this.behind.as_mut().poll(cx) {
                Poll::Ready(()) => this.cut_off(Cut::TooSlow {
                    min_bytes_per_sec: this.pace.min_bytes_per_sec,
                }),
                Poll::Pending => Poll::Pending,
            },
            done => done,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use futures_util::stream::{self, BoxStream};

    use super::*;

    const PACE: Pace = Pace {
        min_bytes_per_sec: 1000,
        window: Duration::from_secs(2),
    };

    fn chunks(sizes: &[usize]) -> BoxStream<'static, Result<Bytes, PayloadError>> {
        let chunks: Vec<_> = sizes.iter().map(|&n| Ok(Bytes::from(vec![0; n]))).collect();
        stream::iter(chunks).boxed()
    }

    async fn read(
        metered: &mut Metered<impl Stream<Item = Result<Bytes, PayloadError>> + Unpin>,
        meter: &Meter,
    ) -> Option<Cut> {
        while let Some(chunk) = metered.next().await {
            match chunk {
                Ok(chunk) => meter.took_file(chunk.len()),
                Err(_) => return meter.cut(),
            }
        }
        None
    }

    #[tokio::test]
    async fn a_body_within_the_limit_passes_whole() {
        let meter = Rc::new(Meter::default());
        let mut body = Metered::new(chunks(&[4000, 4000]), meter.clone(), 10_000, PACE);
        assert_eq!(read(&mut body, &meter).await, None);
        assert_eq!(meter.received.get(), 8000);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_cut_off_however_it_is_sent() {
        let meter = Rc::new(Meter::default());
        let sizes = vec![50_000; 10];
        let mut body = Metered::new(chunks(&sizes), meter.clone(), 100_000, PACE);
        assert_eq!(
            read(&mut body, &meter).await,
            Some(Cut::TooLarge { limit: 100_000 })
        );
    }

    #[tokio::test]
    async fn bytes_the_file_does_not_take_are_bounded() {
        let meter = Rc::new(Meter::default());
        let sizes = vec![10_000; 100];
        let mut body = Metered::new(chunks(&sizes), meter.clone(), 10_000_000, PACE);
        let mut cut = None;
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                cut = meter.cut();
                break;
            }
        }
        assert_eq!(cut, Some(Cut::FormTooLarge));
        // The room and what may be on its way, and the chunk that overflowed them.
        assert!(meter.received.get() <= FORM_ROOM_BYTES + IN_FLIGHT_BYTES + 10_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sender_that_stalls_after_a_fast_start_is_cut_off_within_a_window() {
        let meter = Rc::new(Meter::default());
        // A window's due and more at once, then 500 bytes, then nothing.
        let stalled = chunks(&[9000, 500]).chain(stream::pending()).boxed();
        let mut body = Metered::new(stalled, meter.clone(), 100_000, PACE);
        let started = Instant::now();
        assert_eq!(
            read(&mut body, &meter).await,
            Some(Cut::TooSlow {
                min_bytes_per_sec: 1000
            })
        );
        // The fast start bought one window, not the time its bytes would buy on average.
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }
}
