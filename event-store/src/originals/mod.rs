//! The originals bucket, as the write side uses it: presigned PUT URLs for clients, a HEAD to
//! learn what a client uploaded, and a streamed upload for the multipart API.
//!
//! A presigned PUT stores the object with the unconfirmed-upload tag of `resources.json` until
//! upload-complete confirms it and removes the tag: the bucket's lifecycle (infra-cdk, from
//! the same file) expires objects still tagged after a few days, which are uploads no one
//! ever completed.
//!
//! This is the only module of the write side that speaks S3; the aggregate never does.

mod presign;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumMode, CompletedMultipartUpload, CompletedPart};
use aws_smithy_runtime_api::client::result::ConnectorError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use catalog_events::resources::Buckets;
use catalog_runtime::aws::S3Settings;

use self::presign::{Presigner, PutRequest};

/// Parts of a streamed upload (S3 wants at least 5 MiB for every part but the last): also
/// the most one upload holds in memory.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Whether an error of the bucket means it could not be reached (a connection refused or
/// reset, a connect timeout): a stand-in restarting, a network blip. The request may be
/// tried again shortly; anything else is a fault.
pub fn is_unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(connector) = error.downcast_ref::<ConnectorError>() {
            return connector.is_io() || connector.is_timeout();
        }
        next = error.source();
    }
    false
}

/// A URL a client PUTs the original to, with the headers it must send exactly.
#[derive(Debug, Clone)]
pub struct PresignedUpload {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// What a HEAD of an original showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub size_bytes: u64,
    /// Lower-case hex SHA-256, where the store keeps checksums (S3 does; some stand-ins not).
    pub checksum_sha256: Option<String>,
}

/// The originals bucket.
#[derive(Clone)]
pub struct Originals {
    client: Client,
    bucket: String,
    /// `x-amz-tagging` of presigned uploads.
    unconfirmed_tag: String,
    presigner: Arc<Presigner>,
}

impl Originals {
    /// An S3 client from the standard AWS configuration (`AWS_ENDPOINT_URL` and friends).
    pub async fn from_env(buckets: &Buckets, config: &S3Settings) -> Result<Self, Error> {
        let bucket = &buckets.originals;
        let shared = catalog_runtime::aws::sdk().await;
        let region = shared
            .region()
            .ok_or("no AWS region is configured (AWS_REGION)")?;
        let credentials = shared
            .credentials_provider()
            .ok_or("no AWS credentials provider is configured")?;
        let presigner = Presigner::new(
            bucket,
            region.as_ref(),
            shared.endpoint_url(),
            config.path_style,
            credentials,
        )
        .await?;
        Ok(Self {
            client: config.client(&shared),
            bucket: bucket.to_owned(),
            unconfirmed_tag: buckets.unconfirmed_upload_tag.header(),
            presigner: Arc::new(presigner),
        })
    }

    /// A PUT URL with content type, length and (when given) checksum signed in, so that S3
    /// refuses any other file.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size_bytes: u64,
        checksum_sha256_hex: Option<&str>,
        ttl: Duration,
    ) -> Result<PresignedUpload, Error> {
        let checksum = checksum_sha256_hex
            .map(|hex_digest| hex::decode(hex_digest).map(|digest| BASE64.encode(digest)))
            .transpose()?;
        let request = PutRequest {
            key,
            content_type,
            content_length: size_bytes,
            checksum_sha256: checksum.as_deref(),
            tagging: &self.unconfirmed_tag,
        };
        let now = SystemTime::now();
        let (url, headers) = self.presigner.put(&request, now, ttl).await?;
        Ok(PresignedUpload {
            url,
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            expires_at: DateTime::<Utc>::from(now) + ttl,
        })
    }

    /// What is stored under `key`, or `None` if nothing is.
    pub async fn head(&self, key: &str) -> Result<Option<StoredObject>, Error> {
        let answer = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let object = match answer {
            Ok(object) => object,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
        let checksum_sha256 = object
            .checksum_sha256()
            .and_then(|encoded| BASE64.decode(encoded).ok())
            .map(hex::encode);
        Ok(Some(StoredObject {
            size_bytes: u64::try_from(object.content_length().unwrap_or_default())?,
            checksum_sha256,
        }))
    }

    /// Removes the pending tag: the object is a confirmed original, kept.
    pub async fn keep(&self, key: &str) -> Result<(), Error> {
        self.client
            .delete_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await?;
        Ok(())
    }

    /// Whether the bucket answers (for `/readyz`).
    pub async fn check(&self) -> Result<(), Error> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await?;
        Ok(())
    }

    /// Starts a streamed upload to `key`.
    pub fn upload(&self, key: &str, content_type: &str) -> StreamedUpload {
        StreamedUpload {
            originals: self.clone(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            buffer: Vec::new(),
            multipart: None,
            hasher: Sha256::new(),
            size_bytes: 0,
        }
    }
}

/// An upload fed chunk by chunk: one `PutObject` if it fits in one part, a multipart upload
/// otherwise, holding at most one part in memory. Call [`StreamedUpload::abort`] on failure.
pub struct StreamedUpload {
    originals: Originals,
    key: String,
    content_type: String,
    buffer: Vec<u8>,
    multipart: Option<(String, Vec<CompletedPart>)>,
    hasher: Sha256,
    size_bytes: u64,
}

/// What a finished upload stored.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub size_bytes: u64,
    pub checksum_sha256: String,
}

impl StreamedUpload {
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Takes the next bytes of the file; the buffer never holds more than one part.
    pub async fn write(&mut self, mut chunk: &[u8]) -> Result<(), Error> {
        self.hasher.update(chunk);
        self.size_bytes += chunk.len() as u64;
        while !chunk.is_empty() {
            let room = PART_BYTES - self.buffer.len();
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            self.buffer.extend_from_slice(now);
            chunk = later;
            if self.buffer.len() == PART_BYTES {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Completes the upload. A multipart upload that fails here is left for the bucket's
    /// lifecycle rule, which aborts incomplete multipart uploads.
    pub async fn finish(mut self) -> Result<Uploaded, Error> {
        let client = self.originals.client.clone();
        if self.multipart.is_none() {
            client
                .put_object()
                .bucket(&self.originals.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .body(ByteStream::from(std::mem::take(&mut self.buffer)))
                .send()
                .await?;
        } else {
            if !self.buffer.is_empty() {
                self.send_part().await?;
            }
            let (upload_id, parts) = self
                .multipart
                .take()
                .ok_or("multipart upload lost its id")?;
            client
                .complete_multipart_upload()
                .bucket(&self.originals.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await?;
        }
        Ok(Uploaded {
            size_bytes: self.size_bytes,
            checksum_sha256: hex::encode(self.hasher.finalize()),
        })
    }

    /// Drops what was sent so far.
    pub async fn abort(self) {
        let client = &self.originals.client;
        let outcome = match &self.multipart {
            Some((upload_id, _)) => client
                .abort_multipart_upload()
                .bucket(&self.originals.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
                .await
                .map(drop)
                .map_err(Error::from),
            None => Ok(()),
        };
        if let Err(error) = outcome {
            tracing::warn!(key = %self.key, %error, "could not abort a streamed upload");
        }
    }

    async fn send_part(&mut self) -> Result<(), Error> {
        let client = &self.originals.client;
        if self.multipart.is_none() {
            let created = client
                .create_multipart_upload()
                .bucket(&self.originals.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .send()
                .await?;
            let upload_id = created
                .upload_id()
                .ok_or("S3 gave no upload id")?
                .to_owned();
            self.multipart = Some((upload_id, Vec::new()));
        }
        let Some((upload_id, parts)) = self.multipart.as_mut() else {
            return Err("multipart upload lost its id".into());
        };
        let part_number = i32::try_from(parts.len() + 1)?;
        let body = std::mem::take(&mut self.buffer);
        let part = client
            .upload_part()
            .bucket(&self.originals.bucket)
            .key(&self.key)
            .upload_id(upload_id.as_str())
            .part_number(part_number)
            .body(ByteStream::from(body))
            .send()
            .await?;
        parts.push(
            CompletedPart::builder()
                .part_number(part_number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }
}
