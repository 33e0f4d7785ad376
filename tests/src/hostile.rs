//! Attacks on the write API's uploads, as one seller would mount them over raw TCP (chunked
//! bodies, no `Content-Length`), shared by the attack suite and `./dev bench hostile`; and the
//! peak resident memory of a process, which is what such attacks would exhaust.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUNDARY: &str = "hostile-boundary";

/// How an attacking upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The API answered with this status (and the connection then closed or was dropped).
    Answered(u16),
    /// The attacker stopped first (its time was up), unanswered.
    Unanswered,
}

/// The status of the first answer on `stream`, if one comes within `within`.
async fn status(stream: &mut TcpStream, within: Duration) -> Option<u16> {
    let mut head = Vec::new();
    let mut buffer = [0_u8; 1024];
    let read = async {
        loop {
            let n = stream.read(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&buffer[..n]);
            if head.len() >= 12 {
                return std::str::from_utf8(&head[9..12]).ok()?.parse().ok();
            }
        }
    };
    tokio::time::timeout(within, read).await.ok().flatten()
}

/// Opens a chunked multipart upload to `address` as `token`'s seller, up to its first part.
async fn open(address: &str, token: &str) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(address).await?;
    let head = format!(
        "POST /v1/photos/upload HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    Ok(stream)
}

/// One chunk of a chunked body.
fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
    framed.extend_from_slice(bytes);
    framed.extend_from_slice(b"\r\n");
    framed
}

/// A slow upload: a JPEG's first `held` bytes at full speed (which the API buffers towards a
/// part), then a byte a second until `hold` has passed or the API answers.
pub async fn slow_upload(address: &str, token: &str, held: usize, hold: Duration) -> Ended {
    let Ok(mut stream) = open(address, token).await else {
        return Ended::Unanswered;
    };
    let mut start = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    start.extend_from_slice(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01");
    let _ = stream.write_all(&chunk(&start)).await;
    // An answer before any more is sent: refused at the door.
    if let Some(status) = status(&mut stream, Duration::from_millis(200)).await {
        return Ended::Answered(status);
    }
    let block = vec![0x55_u8; 64 * 1024];
    let mut sent = 0;
    while sent < held {
        let n = block.len().min(held - sent);
        if stream.write_all(&chunk(&block[..n])).await.is_err() {
            break;
        }
        sent += n;
    }
    let deadline = tokio::time::Instant::now() + hold;
    while tokio::time::Instant::now() < deadline {
        if let Some(status) = status(&mut stream, Duration::from_secs(1)).await {
            return Ended::Answered(status);
        }
        if stream.write_all(&chunk(b"\0")).await.is_err() {
            break;
        }
    }
    status(&mut stream, Duration::from_secs(1))
        .await
        .map_or(Ended::Unanswered, Ended::Answered)
}

/// A form of `parts` tiny `tags` fields, sent as fast as the API takes them; returns the
/// API's answer and how many parts had been sent when it came.
pub async fn tag_flood(address: &str, token: &str, parts: usize) -> (Ended, usize) {
    let Ok(stream) = open(address, token).await else {
        return (Ended::Unanswered, 0);
    };
    let (mut reading, mut writing) = stream.into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = sent.clone();
    let sender = tokio::spawn(async move {
        let part =
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nred\r\n");
        let batch = 100;
        let framed = chunk(part.repeat(batch).as_bytes());
        while counted.load(Ordering::Relaxed) < parts {
            if writing.write_all(&framed).await.is_err() {
                break;
            }
            counted.fetch_add(batch, Ordering::Relaxed);
        }
    });
    let mut head = [0_u8; 12];
    let answered = tokio::time::timeout(Duration::from_secs(60), reading.read_exact(&mut head))
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|_| std::str::from_utf8(&head[9..12]).ok()?.parse().ok());
    let sent = sent.load(Ordering::Relaxed);
    sender.abort();
    (answered.map_or(Ended::Unanswered, Ended::Answered), sent)
}

/// What one seller's attack on the uploads got, and what another seller got meanwhile.
#[derive(Debug)]
pub struct Report {
    /// The answer to 100,000 `tags` parts, and how many had been sent when it came.
    pub flood: (Ended, usize),
    /// How the 200 slow uploads ended: each ending, and how many ended so.
    pub slow: BTreeMap<String, usize>,
    /// The statuses of the other seller's uploads, made while the slow ones were open.
    pub honest: Vec<u16>,
}

/// The attack on the write API at `address` by `attacker` (a token): a flood of 100,000
/// `tags` parts, then 200 slow uploads, each holding 7 MiB towards a part before it trickles;
/// meanwhile `honest` (another seller's token) uploads `photo` three times.
pub async fn attack(address: &str, attacker: &str, honest: &str, photo: &[u8]) -> Report {
    let flood = tag_flood(address, attacker, 100_000).await;
    let slow: Vec<_> = (0..200)
        .map(|_| {
            let (address, attacker) = (address.to_owned(), attacker.to_owned());
            tokio::spawn(async move {
                slow_upload(&address, &attacker, 7 << 20, Duration::from_secs(60)).await
            })
        })
        .collect();
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 0..3 {
        let form = reqwest::multipart::Form::new()
            .text("product_id", format!("honest-{n}"))
            .part(
                "file",
                reqwest::multipart::Part::bytes(photo.to_vec()).file_name("honest.jpg"),
            );
        let answer = http
            .post(format!("http://{address}/v1/photos/upload"))
            .bearer_auth(honest)
            .multipart(form)
            .send()
            .await;
        statuses.push(answer.map_or(0, |answer| answer.status().as_u16()));
    }
    let mut endings = BTreeMap::new();
    for upload in slow {
        let ended = upload.await.unwrap_or(Ended::Unanswered);
        *endings.entry(format!("{ended:?}")).or_insert(0) += 1;
    }
    Report {
        flood,
        slow: endings,
        honest: statuses,
    }
}

/// The running `catalog` process of `part` (its command line holds it: `write-api`,
/// `process-images`...).
pub fn pid_of(part: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let mut args = cmdline.split(|b| *b == 0);
            let catalog = args.next()?.ends_with(b"catalog");
            (catalog && args.any(|arg| arg == part.as_bytes())).then_some(pid)
        })
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in bytes.
pub fn peak_memory(pid: u32) -> anyhow::Result<u64> {
    memory(pid, "VmHWM:")
}

/// The resident memory of process `pid` now (`VmRSS`), in bytes.
pub fn resident_memory(pid: u32) -> anyhow::Result<u64> {
    memory(pid, "VmRSS:")
}

fn memory(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .ok_or_else(|| anyhow::anyhow!("no {field} for process {pid}"))?;
    Ok(kib * 1024)
}
