//! Decoders in a sandbox: the original is decoded in a process of its own, so that an exploit
//! of a decoder (libheif and libde265, libjpeg-turbo, libwebp, Little CMS, all C and all fed
//! bytes from anyone) finds nothing worth having and costs one photo.
//!
//! The image processor holds the database's and AWS's credentials and reaches the network;
//! the decoder process has none of it. [`Sandbox`] starts the same binary again with its
//! hidden subcommand ([`SUBCOMMAND`], which runs [`serve`]): no environment, `/` as its
//! folder, stdin, stdout and stderr as pipes and no other descriptor (what the processor opens
//! is closed on exec). The child reads the request (its limits) and confines itself before it
//! reads a byte of the original ([`confine`]: memory, CPU time and file descriptors limited,
//! no core dump, no new privileges, Landlock where the kernel has it, and a seccomp filter
//! that leaves reading the original, writing the answer, memory, threads and exiting); then it
//! decodes and writes the pixels back ([`wire`]), which become the same [`Decoded`] the
//! pipeline resizes.
//!
//! How the child ends decides the photo: an answer is the decode's own result (pixels, or a
//! refusal with its reason, as in-process); a crash (a signal, a panic, an answer out of
//! protocol) fails the photo with [`Rejection::DecoderCrashed`], an allocation past its memory
//! limit with [`Rejection::DecoderOutOfMemory`], and a decode past the timeout is killed and
//! fails it with [`Rejection::TooSlow`]. A child that could not start or confine itself is no
//! fault of the file: an error, the job tried again.
//!
//! What it costs: a process started, the original through one pipe and the pixels back
//! through another (`benches/sandbox.rs` measures it against the decode in-process).

mod child;
mod confine;
mod wire;

use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use child::serve;
pub use wire::{Confinement, Enforced};

use crate::decode::Decoded;
use crate::{Limits, Rejection};
use wire::Request;

/// The hidden subcommand of the binary that serves a decode ([`serve`]).
pub const SUBCOMMAND: &str = "decode-sandbox";

/// The most of the child's stderr kept for the log.
const MAX_REASON_BYTES: u64 = 4096;

/// What Rust prints when an allocation fails, before it aborts.
const ALLOCATION_FAILED: &str = "memory allocation of";

/// The size asked for the pipes of the original and the pixels: Linux's most for a process
/// without privileges (`/proc/sys/fs/pipe-max-size`), where the default is 64 KiB.
const PIPE_BYTES: usize = 1 << 20;

/// The memory and time of the child that [`Sandbox::check`] starts, which decodes nothing:
/// whatever a job's deadline.
const CHECK_MEMORY: u64 = 64 << 20;
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How originals are decoded in child processes: which program, and for how long at most.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// A binary whose [`SUBCOMMAND`] runs [`serve`]: the processor's own.
    program: PathBuf,
    /// How long a decode may take; past it its process is killed.
    timeout: Duration,
}

/// How the child confined itself, if it answered, and the decode's result.
type Ended = (Option<Confinement>, Result<Decoded, Rejection>);
/// An answer as the child wrote it.
type Answer = (Confinement, Result<Decoded, Rejection>);

impl Sandbox {
    pub fn new(program: PathBuf, timeout: Duration) -> Self {
        Self { program, timeout }
    }

    /// Starts a decoder process with nothing to decode: how it confines itself, or why it
    /// cannot.
    pub fn check(&self) -> io::Result<Confinement> {
        let limits = Limits { max_pixels: 1 };
        match self.run(&[], limits, 1, CHECK_MEMORY, CHECK_TIMEOUT)? {
            (Some(confinement), Err(Rejection::Empty)) => Ok(confinement),
            (_, other) => Err(io::Error::other(format!(
                "the decoder process answered {:?} to an empty file",
                other.map(|decoded| decoded.original)
            ))),
        }
    }

    /// Decodes `bytes` as [`crate::decode::decode`] does, in a child process that may take
    /// `memory` bytes of memory beyond what it holds when it starts; an error when the child
    /// could not start or confine itself.
    pub fn decode(
        &self,
        bytes: &[u8],
        limits: Limits,
        cover: u32,
        memory: u64,
    ) -> io::Result<Result<Decoded, Rejection>> {
        Ok(self.run(bytes, limits, cover, memory, self.timeout)?.1)
    }

    fn run(
        &self,
        bytes: &[u8],
        limits: Limits,
        cover: u32,
        memory: u64,
        timeout: Duration,
    ) -> io::Result<Ended> {
        let request = Request {
            memory,
            // Past the timeout the child is killed; this bounds its CPU should that fail.
            cpu_seconds: timeout.as_secs() + 1,
            max_pixels: limits.max_pixels,
            cover,
            length: bytes.len() as u64,
        };
        let mut child = Command::new(&self.program)
            .arg(SUBCOMMAND)
            .env_clear()
            // mimalloc reserves its arenas 1 GiB at a time by default: mapped before the
            // limit is set, they would hold the decode's allocations outside it.
            .env("MIMALLOC_ARENA_RESERVE", "0")
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(io::Error::other("the decoder process has no pipes"));
        };
        // Larger pipes, fewer turns between the processes (best effort: the pipes work as
        // they are).
        let _ = rustix::pipe::fcntl_setpipe_size(&stdin, PIPE_BYTES);
        let _ = rustix::pipe::fcntl_setpipe_size(&stdout, PIPE_BYTES);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                // A child that refused or crashed early reads no further: nothing to do then.
                let _ = request
                    .write(&mut stdin)
                    .and_then(|()| stdin.write_all(bytes));
            });
            let reason = scope.spawn(move || {
                let mut text = Vec::new();
                let _ = (&mut stderr).take(MAX_REASON_BYTES).read_to_end(&mut text);
                let _ = io::copy(&mut stderr, &mut io::sink());
                String::from_utf8_lossy(&text).trim().replace('\n', "; ")
            });
            let (sender, answered) = mpsc::channel();
            scope.spawn(move || {
                let answer = wire::read_answer(&mut stdout, limits);
                let _ = io::copy(&mut stdout, &mut io::sink());
                let _ = sender.send(answer);
            });
            let answer = answered.recv_timeout(timeout).ok();
            if answer.is_none() {
                let _ = child.kill();
            }
            let status = child.wait()?;
            let reason = reason.join().unwrap_or_default();
            Self::ended(answer, status, &reason, memory, timeout)
        })
    }

    /// The decode's result from how the child ended: `answer` is `None` if it was killed for
    /// taking longer than the timeout.
    fn ended(
        answer: Option<io::Result<Answer>>,
        status: ExitStatus,
        reason: &str,
        memory: u64,
        timeout: Duration,
    ) -> io::Result<Ended> {
        let too_slow = || Rejection::TooSlow {
            limit: format!("{timeout:?}"),
        };
        let crashed = |how: String| {
            tracing::warn!(%status, reason, "the decoder process crashed");
            Ok((None, Err(Rejection::DecoderCrashed(how))))
        };
        let Some(answer) = answer else {
            return Ok((None, Err(too_slow())));
        };
        if status.success() {
            return match answer {
                Ok((confinement, decoded)) => Ok((Some(confinement), decoded)),
                Err(error) => {
                    tracing::warn!(%error, "the decoder process answered out of protocol");
                    crashed("an answer out of protocol".into())
                }
            };
        }
        if status.code() == Some(child::UNCONFINED) {
            return Err(io::Error::other(format!(
                "the decoder process could not start: {reason}"
            )));
        }
        if status.signal() == Some(libc::SIGXCPU) {
            return Ok((None, Err(too_slow())));
        }
        if reason.contains(ALLOCATION_FAILED) {
            tracing::info!(reason, "the decoder process ran out of its memory");
            return Ok((
                None,
                Err(Rejection::DecoderOutOfMemory {
                    limit_mib: memory >> 20,
                }),
            ));
        }
        match (status.signal(), status.code()) {
            (Some(signal), _) => crashed(format!("signal {signal}")),
            (None, Some(code)) => crashed(format!("exit status {code}")),
            (None, None) => crashed("no exit status".into()),
        }
    }
}
