//! The decoder process: `catalog decode-sandbox`, which the image processor starts for each
//! original. It reads the request (its limits) from stdin, confines itself, and only then reads
//! the original, decodes it with [`crate::decode::decode`] and writes the answer to stdout. A
//! reason for its end other than an answer (it could not confine itself, a panic) goes to
//! stderr, which the parent logs.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};

use super::confine;
use super::wire::{self, Request};
use crate::{Limits, decode};

/// The exit status of a decoder process that could not confine itself, before it read any of
/// the original: not the file's doing.
pub(super) const UNCONFINED: i32 = 78;

/// Serves one request on stdin and stdout, and exits.
pub fn serve() -> ! {
    std::process::exit(match run() {
        Ok(()) => 0,
        Err((status, reason)) => {
            eprintln!("{reason}");
            status
        }
    })
}

fn run() -> Result<(), (i32, String)> {
    let unconfined = |error: &dyn std::fmt::Display| (UNCONFINED, error.to_string());
    // Unbuffered copies of stdin and stdout: the request is read to its last byte and no
    // further before the process is confined, and the pixels go out in one write.
    let mut input = File::from(
        io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| unconfined(&e))?,
    );
    let mut output = File::from(
        io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| unconfined(&e))?,
    );
    let request = Request::read(&mut input).map_err(|e| unconfined(&e))?;
    let confinement = confine::confine(
        request.memory,
        request.cpu_seconds,
        input.as_raw_fd(),
        output.as_raw_fd(),
    )
    .map_err(|error| unconfined(&format!("could not confine the decoder: {error}")))?;
    let length = usize::try_from(request.length).map_err(|e| unconfined(&e))?;
    let mut original = Vec::with_capacity(length);
    input
        .take(request.length)
        .read_to_end(&mut original)
        .map_err(|error| (1, format!("reading the original: {error}")))?;
    #[cfg(feature = "testing")]
    if original == crate::hostile::CRASHES_THE_DECODER {
        crash();
    }
    let limits = Limits {
        max_pixels: request.max_pixels,
    };
    let decoded = decode::decode(&original, limits, request.cover);
    drop(original);
    wire::write_answer(&mut output, confinement, &decoded)
        .and_then(|()| output.flush())
        .map_err(|error| (1, format!("writing the answer: {error}")))
}

/// Ends the process as a decoder whose memory was corrupted would: `SIGSEGV`. Twice: Rust's
/// handler (which tells a stack overflow) takes the first and gives the signal its default
/// action back, as it does for a real fault, which then comes again.
#[cfg(feature = "testing")]
fn crash() -> ! {
    use rustix::process::{Signal, getpid, kill_process};
    for _ in 0..2 {
        let _ = kill_process(getpid(), Signal::SEGV);
    }
    std::process::abort()
}
