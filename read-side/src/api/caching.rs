//! How long an answer may be kept, and by whom: its `Cache-Control`, its `ETag`, and `304 Not
//! Modified` when the client already holds it.
//!
//! What anyone may read (a ready photo, a gallery page, a product) may be kept by shared caches
//! for a short while; what only its owner sees is private and revalidated each time. Every tag
//! is strong: a photo's is its version, a page's or a product's a digest of what it shows, so
//! a client that revalidates gets `304` exactly while the answer would be the same.

use actix_web::http::header::{
    self, CacheControl, CacheDirective, ETag, EntityTag, Header, IfNoneMatch,
};
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// Seconds shared caches may keep a ready photo, and a gallery page (or a product).
pub const PUBLIC_PHOTO_MAX_AGE: u32 = 60;
pub const GALLERY_MAX_AGE: u32 = 30;
/// Seconds past `max-age` an expired answer may still be served while a cache asks the API
/// again, and while the API answers errors (or none): a buyer's page keeps its photos through
/// an outage of the read side of up to an hour.
const STALE_WHILE_REVALIDATE: u32 = 60;
const STALE_IF_ERROR: u32 = 3600;

/// What anyone may read: shared caches may keep it `max_age` seconds, serve it while they
/// revalidate it for a minute more, and serve it for an hour more while the API fails.
pub fn public(max_age: u32) -> Vec<CacheDirective> {
    vec![
        CacheDirective::Public,
        CacheDirective::MaxAge(max_age),
        CacheDirective::Extension(
            "stale-while-revalidate".to_owned(),
            Some(STALE_WHILE_REVALIDATE.to_string()),
        ),
        CacheDirective::Extension(
            "stale-if-error".to_owned(),
            Some(STALE_IF_ERROR.to_string()),
        ),
    ]
}

/// What only its owner sees: no shared cache keeps it, and the owner's revalidates it.
pub fn private() -> Vec<CacheDirective> {
    vec![CacheDirective::Private, CacheDirective::NoCache]
}

/// The tag of an answer from a digest of what it shows.
pub fn digest_tag(digest: Sha256) -> EntityTag {
    EntityTag::new_strong(hex::encode(&digest.finalize()[..12]))
}

/// The answer, or `304` when the client already holds this version.
pub fn conditional<T: serde::Serialize>(
    request: &HttpRequest,
    tag: EntityTag,
    cache: Vec<CacheDirective>,
    body: &T,
) -> HttpResponse {
    let holds = request.headers().contains_key(header::IF_NONE_MATCH)
        && match IfNoneMatch::parse(request) {
            Ok(IfNoneMatch::Any) => true,
            Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|held| held.weak_eq(&tag)),
            Err(_) => false,
        };
    let mut response = if holds {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(ETag(tag))
        .insert_header(CacheControl(cache));
    if holds {
        response.finish()
    } else {
        response.json(body)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;

    use super::*;

    fn answer(if_none_match: Option<&str>) -> HttpResponse {
        let mut request = TestRequest::default();
        if let Some(held) = if_none_match {
            request = request.insert_header((header::IF_NONE_MATCH, held));
        }
        let tag = EntityTag::new_strong("v3".to_owned());
        conditional(&request.to_http_request(), tag, private(), &"body")
    }

    #[test]
    fn a_held_version_is_not_sent_again() {
        for held in ["\"v3\"", "W/\"v3\"", "\"v2\", \"v3\"", "*"] {
            assert_eq!(
                answer(Some(held)).status(),
                StatusCode::NOT_MODIFIED,
                "{held}"
            );
        }
        for held in [None, Some("\"v2\""), Some("not a tag")] {
            assert_eq!(answer(held).status(), StatusCode::OK, "{held:?}");
        }
    }

    #[test]
    fn both_answers_carry_the_tag_and_the_cache_policy() {
        for held in [None, Some("\"v3\"")] {
            let response = answer(held);
            let value =
                |name: header::HeaderName| response.headers().get(name).unwrap().to_str().unwrap();
            assert_eq!(value(header::ETAG), "\"v3\"");
            assert_eq!(value(header::CACHE_CONTROL), "private, no-cache");
        }
    }
}
