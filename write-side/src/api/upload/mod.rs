//! `POST /v1/photos/upload`: a photo and its original in one multipart request.
//!
//! The file is streamed to S3 as it arrives (at most one 8 MiB part in memory) and counted:
//! past `CATALOG_MAX_UPLOAD_BYTES` the request is refused with `413` as soon as the count
//! passes it (at once when `Content-Length` already says so). Its first bytes decide its type
//! (JPEG, PNG, WebP or HEIC, else `415`). The object is removed again whenever the photo is not
//! created from it.
//!
//! What one seller can make the process hold is bounded: [`admission`] lets a few uploads per
//! seller in, within a memory budget for all; [`body`] meters every byte of the body, cuts off
//! a form whose fields outgrow their room and a sender slower than the minimum rate; the form
//! reader refuses a 21st tag at once.

mod admission;
mod body;

pub use admission::{Admission, UploadAdmission};
pub use body::Pace;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, HttpResponse, post, web};
use catalog_events::PhotoState;
use futures_util::TryStreamExt;
use uuid::Uuid;

use catalog_http::auth::Seller;
use catalog_http::problem::{Code, FieldError, Problem};

use super::bodies::PhotoSummary;
use super::idempotency::{self, IdempotencyKey};
use super::photos::{original_key, upload_requested};
use super::validate::{self, NewPhoto, SUPPORTED_TYPES};
use super::{Answering, AppState, bucket_problem};
use catalog_event_store::aggregate::PhotoCommand;
use catalog_event_store::originals::{StreamedUpload, Uploaded};
use catalog_events::media::MediaType;

/// Largest text field.
const MAX_FIELD_BYTES: usize = 16 * 1024;
/// The most `tags` fields a form may hold (as many as a photo may have tags).
const MAX_TAG_FIELDS: usize = 20;
/// Bytes needed to tell the image type.
const SNIFF_BYTES: usize = 12;

/// The content type of a file's first bytes, if it is one the API takes.
fn sniff(head: &[u8]) -> Option<&'static str> {
    MediaType::sniff(head)
        .map(MediaType::content_type)
        .filter(|content_type| SUPPORTED_TYPES.contains(content_type))
}

/// Upload a photo and its original in one request (up to `CATALOG_MAX_UPLOAD_BYTES`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // the form is read field by field as it streams; this describes it
pub struct UploadForm {
    /// The image: JPEG, PNG, WebP or HEIC (HEIF), told by its bytes.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    product_id: String,
    /// Defaults to the file's name.
    filename: Option<String>,
    /// Lower-case hex SHA-256 of the file; refused if it does not match.
    checksum_sha256: Option<String>,
    caption: Option<String>,
    alt_text: Option<String>,
    /// Repeat the field for several tags.
    tags: Option<Vec<String>>,
    callback_url: Option<String>,
}

/// A form read whole, its file already in the bucket.
struct Form {
    fields: BTreeMap<String, String>,
    tags: Vec<String>,
    file: ReceivedFile,
}

struct ReceivedFile {
    upload: Uploaded,
    content_type: &'static str,
    filename: Option<String>,
}

#[utoipa::path(
    operation_id = "uploadPhoto",
    tag = "photos",
    security(("bearer" = [])),
    params(IdempotencyKey),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = CREATED, description = "The photo is created with its file stored, `uploaded`", body = PhotoSummary),
        (status = 400, description = "A malformed multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The product is another seller's, or a request with this Idempotency-Key is in progress", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        (status = 408, description = "The body arrived slower than the minimum rate (`CATALOG_UPLOAD_MIN_BYTES_PER_SEC`), or not whole within the upload deadline", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is over the limit, or the form's other fields together over 64 KiB (counted as the body arrives, with or without `Content-Length`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The file is not a JPEG, PNG, WebP or HEIC image", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (a 21st `tags` field is refused as it arrives), or the Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The seller has as many uploads in progress as one may (`CATALOG_UPLOADS_PER_SELLER`), or is over its rate limit", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        (status = 503, description = "The process holds as many uploads as its memory budget allows", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    )
)]
#[post("/v1/photos/upload")]
pub async fn upload(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let limit = state.max_upload_bytes;
    let declared = content_length(&request);
    if declared.is_some_and(|length| length > limit + body::FORM_ROOM_BYTES) {
        return Err(body::Cut::TooLarge { limit }.problem());
    }
    let _admitted = state.uploads.admit(&seller.0, declared)?;
    let meter = Rc::new(body::Meter::default());
    let metered = body::Metered::new(payload, meter.clone(), limit, state.upload_pace);
    let mut form = Multipart::new(request.headers(), metered);
    let photo_id = Uuid::now_v7();
    let key = original_key(photo_id);
    let mut fields = BTreeMap::new();
    let mut fields_bytes = 0;
    let mut tags = Vec::new();
    let mut file = None;
    let received = async {
        while let Some(field) = form
            .try_next()
            .await
            .map_err(|error| malformed(&meter, error))?
        {
            match field.name().unwrap_or_default() {
                "file" if file.is_some() => return Err(invalid("file", "send exactly one file")),
                "file" => file = Some(receive_file(&state, &key, field, &meter).await?),
                "tags" if tags.len() == MAX_TAG_FIELDS => {
                    return Err(invalid("tags", format!("at most {MAX_TAG_FIELDS} tags")));
                }
                "tags" => tags.push(text(field, &meter, &mut fields_bytes).await?),
                name @ ("product_id" | "filename" | "checksum_sha256" | "caption" | "alt_text"
                | "callback_url") => {
                    let name = name.to_owned();
                    fields.insert(name, text(field, &meter, &mut fields_bytes).await?);
                }
                other => return Err(invalid(other, "unknown field")),
            }
        }
        Ok(())
    }
    .await;
    if let Err(problem) = received {
        if file.is_some() {
            remove(&state, &key).await;
        }
        return Err(problem);
    }
    let Some(file) = file else {
        return Err(invalid("file", "a file is required"));
    };
    let created = Cell::new(false);
    let form = Form { fields, tags, file };
    let answer = create(&state, &request, &seller, photo_id, form, &created).await;
    if !created.get() {
        remove(&state, &key).await;
    }
    answer
}

/// Validates the form, then records the photo (once per idempotency key).
async fn create(
    state: &AppState,
    request: &HttpRequest,
    seller: &Seller,
    photo_id: Uuid,
    Form {
        mut fields,
        tags,
        file,
    }: Form,
    created: &Cell<bool>,
) -> Result<HttpResponse, Problem> {
    let stored_size = file.upload.size_bytes;
    if let Some(declared) = fields.get("checksum_sha256")
        && !declared.eq_ignore_ascii_case(&file.upload.checksum_sha256)
    {
        return Err(invalid("checksum_sha256", "does not match the file"));
    }
    let photo = NewPhoto {
        product_id: fields
            .remove("product_id")
            .ok_or_else(|| invalid("product_id", "is required"))?,
        filename: fields
            .remove("filename")
            .or(file.filename)
            .unwrap_or_else(|| "upload".to_owned()),
        content_type: file.content_type.to_owned(),
        size_bytes: stored_size,
        checksum_sha256: Some(file.upload.checksum_sha256),
        caption: fields.remove("caption"),
        alt_text: fields.remove("alt_text"),
        tags: (!tags.is_empty()).then_some(tags),
        callback_url: fields.remove("callback_url"),
    };
    let identity = photo.clone();
    idempotency::once(state.store.pool(), request, &seller.0, &identity, async {
        let photo = validate::new_photo(photo, state.max_upload_bytes)?;
        validate::callback_allowed(&state.callbacks, state.store.pool(), &seller.0, &photo).await?;
        let command = PhotoCommand::RecordUpload {
            request: upload_requested(photo_id, seller, photo),
            stored_size,
        };
        let answering = Answering::new(StatusCode::CREATED, |after: &PhotoState| {
            PhotoSummary::from(after)
        });
        let answer = super::execute(state, request, photo_id, command, answering).await?;
        created.set(true);
        Ok(answer)
    })
    .await
}

/// Streams the file field to the bucket, checking its type and size as it goes.
async fn receive_file(
    state: &AppState,
    key: &str,
    mut field: Field,
    meter: &body::Meter,
) -> Result<ReceivedFile, Problem> {
    let limit = state.max_upload_bytes;
    let filename = field
        .content_disposition()
        .and_then(|disposition| disposition.get_filename())
        .map(str::to_owned);
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut streaming: Option<(StreamedUpload, &'static str)> = None;
    let outcome = async {
        while let Some(chunk) = field
            .try_next()
            .await
            .map_err(|error| malformed(meter, error))?
        {
            meter.took_file(chunk.len());
            let mut chunk = &chunk[..];
            if streaming.is_none() {
                let wanted = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..wanted]);
                chunk = &chunk[wanted..];
                if head.len() < SNIFF_BYTES {
                    continue;
                }
                let content_type = sniff(&head).ok_or_else(not_an_image)?;
                let mut started = state.originals.upload(key, content_type);
                started
                    .write(&head)
                    .await
                    .map_err(|error| bucket_problem(&*error))?;
                streaming = Some((started, content_type));
            }
            if let Some((streamed, _)) = streaming.as_mut() {
                if streamed.size_bytes() + chunk.len() as u64 > limit {
                    return Err(body::Cut::TooLarge { limit }.problem());
                }
                streamed
                    .write(chunk)
                    .await
                    .map_err(|error| bucket_problem(&*error))?;
            }
        }
        Ok(())
    }
    .await;
    let Some((streamed, content_type)) = streaming else {
        outcome?;
        return Err(not_an_image());
    };
    if let Err(problem) = outcome {
        streamed.abort().await;
        return Err(problem);
    }
    let stored = streamed
        .finish()
        .await
        .map_err(|error| bucket_problem(&*error))?;
    Ok(ReceivedFile {
        upload: stored,
        content_type,
        filename,
    })
}

/// A text field, counted into `fields_bytes`, the text fields' total so far.
async fn text(
    mut field: Field,
    meter: &body::Meter,
    fields_bytes: &mut usize,
) -> Result<String, Problem> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .try_next()
        .await
        .map_err(|error| malformed(meter, error))?
    {
        if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(invalid(
                &name,
                format!("must be at most {MAX_FIELD_BYTES} bytes"),
            ));
        }
        *fields_bytes += chunk.len();
        if *fields_bytes > body::MAX_FIELDS_BYTES {
            return Err(Problem::new(
                Code::TooLarge,
                format!(
                    "the form's text fields are over {} bytes together",
                    body::MAX_FIELDS_BYTES
                ),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| invalid(&name, "must be UTF-8 text"))
}

async fn remove(state: &AppState, key: &str) {
    if let Err(error) = state.originals.delete(key).await {
        tracing::warn!(%key, %error, "could not remove an original no photo was created from");
    }
}

fn content_length(request: &HttpRequest) -> Option<u64> {
    request
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn not_an_image() -> Problem {
    Problem::new(
        Code::UnsupportedType,
        "the file is not a JPEG, PNG, WebP or HEIC image",
    )
}

fn invalid(field: &str, message: impl Into<String>) -> Problem {
    Problem::invalid(vec![FieldError::new(field, message)])
}

/// A body that could not be read: cut off by its meter (and why), or not a multipart form.
fn malformed(meter: &body::Meter, error: MultipartError) -> Problem {
    meter.cut().map_or_else(
        || {
            Problem::new(
                Code::Malformed,
                format!("malformed multipart body: {error}"),
            )
        },
        body::Cut::problem,
    )
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01"),
            Some("image/jpeg")
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\x0d"), Some("image/png"));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x1cftypheic\0\0\0\0"), Some("image/heic"));
        assert_eq!(sniff(b"\0\0\0\x1cftypmif1\0\0\0\0"), Some("image/heif"));
        assert_eq!(sniff(b"\0\0\0\x1cftypisom\0\0\0\0"), None);
        assert_eq!(sniff(b"<svg xmlns=\"http"), None);
        assert_eq!(sniff(b"GIF89a\0\0\0\0\0\0"), None);
    }
}
