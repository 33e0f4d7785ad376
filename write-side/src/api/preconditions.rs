//! `If-Match`: a change made only to what the client read, so that two tabs cannot silently
//! overwrite each other.
//!
//! A photo's tag is `"v<version>"` wherever it is served (the read API's `ETag`, the answers of
//! the commands that take `If-Match`), and a product order's is `"v<version>"` of its reorders.
//! `If-Match` is compared strongly (RFC 9110 §13.1.1): a weak tag never matches, `*` matches
//! whatever exists, and a list matches when any of its tags does. A tag of another form
//! matches nothing: the change is refused with `412`, as for a version that moved on.

use actix_web::HttpRequest;
use actix_web::http::header::{self, EntityTag, Header, IfMatch};
use catalog_http::Problem;
use catalog_http::problem::Code;

/// The versions `If-Match` names, or `None` without the header (or with `*`): the change may
/// then be made whatever the version.
pub fn if_match(request: &HttpRequest) -> Result<Option<Vec<u64>>, Problem> {
    if !request.headers().contains_key(header::IF_MATCH) {
        return Ok(None);
    }
    match IfMatch::parse(request) {
        Ok(IfMatch::Any) => Ok(None),
        Ok(IfMatch::Items(tags)) => Ok(Some(
            tags.iter()
                .filter(|tag| !tag.weak)
                .filter_map(|tag| tag.tag().strip_prefix('v')?.parse().ok())
                .collect(),
        )),
        Err(_) => Err(Problem::new(
            Code::Malformed,
            "If-Match must be `*` or entity tags such as \"v7\"",
        )),
    }
}

/// The tag of `version`.
pub fn version_tag(version: u64) -> EntityTag {
    EntityTag::new_strong(format!("v{version}"))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn versions(value: &str) -> Option<Vec<u64>> {
        let request = TestRequest::default()
            .insert_header((header::IF_MATCH, value))
            .to_http_request();
        if_match(&request).unwrap()
    }

    #[test]
    fn strong_version_tags_are_read_and_everything_else_matches_nothing() {
        assert_eq!(versions("\"v7\""), Some(vec![7]));
        assert_eq!(versions("\"v6\", \"v7\""), Some(vec![6, 7]));
        assert_eq!(versions("W/\"v7\""), Some(vec![]));
        assert_eq!(versions("\"7\""), Some(vec![]));
        assert_eq!(versions("\"abc\""), Some(vec![]));
        assert_eq!(versions("*"), None);
        assert_eq!(
            if_match(&TestRequest::default().to_http_request()).unwrap(),
            None
        );
    }

    #[test]
    fn a_tag_without_its_quotes_matches_nothing() {
        assert_eq!(versions("v7"), Some(vec![]));
    }
}
