//! Bearer tokens: JWTs whose `sub` is the seller id.
//!
//! Two kinds are accepted, each only with its own keys, so that one can never pass for the
//! other (no algorithm confusion: the algorithm checked comes from the key, never from the
//! token's header):
//!
//! - HS256 signed with `CATALOG_JWT_SECRET`, for local use (`catalog token` issues them);
//! - RS256 or ES256 signed by an identity provider whose keys are published as a JWKS
//!   (`CATALOG_JWKS_URL`, as Amazon Cognito publishes them). A key is found by the token's
//!   `kid`; an RSA key verifies RS256 only, a P-256 key ES256 only. The key set is fetched when
//!   first needed and again when a token names a `kid` it does not hold, at most once a
//!   minute (`CATALOG_JWKS_REFRESH_SECS`), so forged `kid`s cannot make the service hammer the
//!   provider.
//!
//! Every token must carry `sub` and `exp`; `nbf` is honoured when present, `iat` is not
//! required. With `CATALOG_JWT_ISSUER` set, `iss` must match it. With `CATALOG_JWT_AUDIENCE`
//! set, the token must be meant for it: its `aud` names it (ID tokens), or it is an access
//! token (`token_use: "access"`) whose `client_id` is it, as Cognito issues them.
//!
//! Handlers take a [`Seller`] (a token is required) or a [`MaybeSeller`] (anyone: a token that
//! is absent or does not verify makes the caller nobody, so public answers are the same for
//! every caller); both read the [`Authenticator`] from the app data.
//!
//! The token is read from `Authorization`, or from [`FORWARDED_AUTHORIZATION`] when that is
//! absent: the CDN moves the header there on the public read paths, whose cache key must not
//! hold it (a random token would miss the cache every time).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::jwks::Jwks;
use crate::problem::{Code, Problem};
use crate::rate_limit::{Caller, Limiter};

/// Where the CDN puts a viewer's `Authorization` on paths it caches without it.
pub const FORWARDED_AUTHORIZATION: &str = "x-catalog-authorization";

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
/// The longest seller id a token may carry.
const MAX_SUB_CHARS: usize = 128;

/// Reads a secret setting without letting it reach a log.
pub fn secret(value: &str) -> Result<SecretString, Infallible> {
    Ok(SecretString::from(value))
}

/// How bearer tokens are checked.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// HS256 secret that signs and verifies local tokens.
    #[arg(long = "jwt-secret", env = "CATALOG_JWT_SECRET", value_parser = secret, hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// URL of the identity provider's key set (JWKS) for RS256/ES256 tokens.
    #[arg(long = "jwks-url", env = "CATALOG_JWKS_URL")]
    pub jwks_url: Option<url::Url>,
    /// The `iss` every token must carry.
    #[arg(long = "jwt-issuer", env = "CATALOG_JWT_ISSUER")]
    pub issuer: Option<String>,
    /// The audience (`aud`, or `client_id` of an access token) every token must be for.
    #[arg(long = "jwt-audience", env = "CATALOG_JWT_AUDIENCE")]
    pub audience: Option<String>,
    /// The least time between two fetches of the key set, in seconds.
    #[arg(
        long = "jwks-refresh-secs",
        env = "CATALOG_JWKS_REFRESH_SECS",
        default_value_t = 60
    )]
    pub jwks_refresh_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwks_url: None,
            issuer: None,
            audience: None,
            jwks_refresh_secs: 60,
        }
    }
}

/// The seller a valid bearer token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seller(pub String);

/// The seller of a valid bearer token, or nobody when no token was sent or it does not verify.
#[derive(Debug, Clone)]
pub struct MaybeSeller(pub Option<Seller>);

impl FromRequest for Seller {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            seller(&request).await?.ok_or_else(|| {
                Problem::new(
                    Code::Unauthorized,
                    "an Authorization: Bearer token is required",
                )
            })
        })
    }
}

impl FromRequest for MaybeSeller {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let verified = request.extensions().get::<Caller>().cloned();
            if let Some(Caller::Seller(seller)) = verified {
                return Ok(MaybeSeller(Some(Seller(seller))));
            }
            let authenticator = authenticator(&request)?;
            let seller = authenticator.seller_of(&request).await;
            Ok(MaybeSeller(seller.map(Seller)))
        })
    }
}

fn authenticator(request: &HttpRequest) -> Result<web::Data<Authenticator>, Problem> {
    request
        .app_data::<web::Data<Authenticator>>()
        .cloned()
        .ok_or_else(|| Problem::internal(&std::io::Error::other("no authenticator is configured")))
}

/// The request's bearer token header: `Authorization`, or the CDN's copy of it.
fn token_header(request: &HttpRequest) -> Option<&header::HeaderValue> {
    let headers = request.headers();
    headers
        .get(header::AUTHORIZATION)
        .or_else(|| headers.get(FORWARDED_AUTHORIZATION))
}

/// The token of a `Bearer <token>` header value.
fn bearer(value: &header::HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

async fn seller(request: &HttpRequest) -> Result<Option<Seller>, Problem> {
    let Some(value) = token_header(request) else {
        return Ok(None);
    };
    let authenticator = authenticator(request)?;
    let token = bearer(value).ok_or_else(|| {
        Problem::new(
            Code::Unauthorized,
            "the Authorization header must be 'Bearer <token>'",
        )
    })?;
    let verified = request.extensions().get::<Caller>().cloned();
    let seller = match verified {
        Some(Caller::Seller(seller)) => seller,
        _ => authenticator.verify(token).await?,
    };
    if let Some(limit) = &authenticator.seller_limit {
        limit.check(&seller)?;
    }
    Ok(Some(Seller(seller)))
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the bearer token has expired")]
    Expired,
    #[error("the bearer token is not valid yet")]
    NotYetValid,
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
    #[error("no way to check tokens is configured (set CATALOG_JWT_SECRET or CATALOG_JWKS_URL)")]
    NotConfigured,
    #[error("no JWT secret is configured (set CATALOG_JWT_SECRET)")]
    NoSecret,
}

impl AuthError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(reason.into())
    }
}

/// A token refused is `401`; a server that cannot check tokens is its own fault (`500`).
impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Expired | AuthError::NotYetValid | AuthError::Invalid(_) => {
                Self::new(Code::Unauthorized, error.to_string())
            }
            AuthError::NoSecret | AuthError::NotConfigured => Self::internal(&error),
        }
    }
}

/// The claims read from a token (signature and times are checked by `jsonwebtoken`).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_use: Option<String>,
}

/// `aud` is a string or a list of strings.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Self::One(one) => one == wanted,
            Self::Many(many) => many.iter().any(|one| one == wanted),
        }
    }
}

/// Checks bearer tokens (and, where one is set, each seller's rate limit).
pub struct Authenticator {
    seller_limit: Option<Arc<Limiter>>,
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        if config.jwt_secret.is_none() && config.jwks_url.is_none() {
            return Err(AuthError::NotConfigured);
        }
        Ok(Self {
            seller_limit: None,
            hs256: config
                .jwt_secret
                .as_ref()
                .map(|secret| DecodingKey::from_secret(secret.expose_secret().as_bytes())),
            jwks: config
                .jwks_url
                .clone()
                .map(|url| Jwks::new(url, Duration::from_secs(config.jwks_refresh_secs))),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// Counts every request of a seller against `limit`.
    pub fn limit_sellers(mut self, limit: Arc<Limiter>) -> Self {
        self.seller_limit = Some(limit);
        self
    }

    /// The seller of the request's token, if it sent one that verifies.
    pub async fn seller_of(&self, request: &HttpRequest) -> Option<String> {
        let token = bearer(token_header(request)?)?;
        self.verify(token).await.ok()
    }

    /// The seller the token names.
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| AuthError::invalid(error.to_string()))?;
        let (key, algorithm) = match header.alg {
            Algorithm::HS256 => (
                self.hs256
                    .clone()
                    .ok_or_else(|| AuthError::invalid("HS256 tokens are not accepted here"))?,
                Algorithm::HS256,
            ),
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or_else(|| {
                    AuthError::invalid("tokens signed with a public key are not accepted here")
                })?;
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| AuthError::invalid("the token names no key (kid)"))?;
                let key = jwks.key(kid).await?;
                // The key decides the algorithm; a token claiming another is refused.
                if key.algorithm != header.alg {
                    return Err(AuthError::invalid(format!(
                        "key {kid} verifies {:?} tokens only",
                        key.algorithm
                    )));
                }
                (key.key, key.algorithm)
            }
            other => {
                return Err(AuthError::invalid(format!(
                    "{other:?} tokens are not accepted"
                )));
            }
        };
        let claims = self.claims(token, &key, algorithm)?;
        let sub = claims.sub;
        if sub.trim().is_empty() {
            return Err(AuthError::invalid("the token names no seller"));
        }
        if sub.chars().count() > MAX_SUB_CHARS || sub.chars().any(char::is_control) {
            return Err(AuthError::invalid(
                "the token's seller id is not one this service accepts",
            ));
        }
        Ok(sub)
    }

    fn claims(
        &self,
        token: &str,
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        // The audience is checked below: `aud`, or an access token's `client_id`.
        validation.validate_aud = false;
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".to_owned());
        }
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    AuthError::invalid("the token is from another issuer")
                }
                _ => AuthError::invalid(error.to_string()),
            })?
            .claims;
        if let Some(audience) = &self.audience {
            let by_aud = claims
                .aud
                .as_ref()
                .is_some_and(|aud| aud.contains(audience));
            let by_client = claims.token_use.as_deref() == Some("access")
                && claims.client_id.as_deref() == Some(audience.as_str());
            if !(by_aud || by_client) {
                return Err(AuthError::invalid(
                    "the token is meant for another audience",
                ));
            }
        }
        Ok(claims)
    }
}

/// Signs an HS256 token for `seller` that expires at `expires_at` (in the past, for tests of
/// expiry).
pub fn issue(
    secret: Option<&SecretString>,
    seller: &str,
    expires_at: SystemTime,
) -> Result<String, AuthError> {
    let secret = secret.ok_or(AuthError::NoSecret)?;
    let seconds = |time: SystemTime| {
        time.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    };
    let claims = Claims {
        sub: seller.to_owned(),
        exp: seconds(expires_at),
        iat: Some(seconds(SystemTime::now())),
        aud: None,
        client_id: None,
        token_use: None,
    };
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        .map_err(|error| AuthError::invalid(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(secret: &str) -> AuthConfig {
        AuthConfig {
            jwt_secret: Some(SecretString::from(secret)),
            ..AuthConfig::default()
        }
    }

    fn soon() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_token_names_its_seller() {
        let config = local("s1");
        let token = issue(config.jwt_secret.as_ref(), "seller-9", soon()).unwrap();
        let auth = Authenticator::new(&config).unwrap();
        assert_eq!(auth.verify(&token).await.unwrap(), "seller-9");
    }

    #[tokio::test]
    async fn expired_foreign_and_garbled_tokens_are_refused() {
        let config = local("s1");
        let auth = Authenticator::new(&config).unwrap();
        let expired = issue(
            config.jwt_secret.as_ref(),
            "s",
            SystemTime::now() - Duration::from_secs(3600),
        )
        .unwrap();
        assert!(matches!(
            auth.verify(&expired).await,
            Err(AuthError::Expired)
        ));
        let foreign = issue(Some(&SecretString::from("s2")), "s", soon()).unwrap();
        assert!(matches!(
            auth.verify(&foreign).await,
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            auth.verify("a.b.c").await,
            Err(AuthError::Invalid(_))
        ));
        let nobody = issue(config.jwt_secret.as_ref(), " ", soon()).unwrap();
        assert!(matches!(
            auth.verify(&nobody).await,
            Err(AuthError::Invalid(_))
        ));
        let control = issue(config.jwt_secret.as_ref(), "seller\u{0}1", soon()).unwrap();
        assert!(matches!(
            auth.verify(&control).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_token_not_valid_yet_is_refused_and_iat_is_optional() {
        let config = local("s1");
        let auth = Authenticator::new(&config).unwrap();
        let key = EncodingKey::from_secret(b"s1");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let later = sign(serde_json::json!({"sub": "s", "exp": now + 7200, "nbf": now + 3600}));
        assert!(matches!(
            auth.verify(&later).await,
            Err(AuthError::NotYetValid)
        ));
        let no_iat = sign(serde_json::json!({"sub": "s", "exp": now + 60}));
        assert_eq!(auth.verify(&no_iat).await.unwrap(), "s");
    }

    #[test]
    fn nothing_is_signed_or_checked_without_a_way_to_check() {
        assert!(matches!(
            issue(None, "s", SystemTime::now()),
            Err(AuthError::NoSecret)
        ));
        assert!(matches!(
            Authenticator::new(&AuthConfig::default()),
            Err(AuthError::NotConfigured)
        ));
    }
}
