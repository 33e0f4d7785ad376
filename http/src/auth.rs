//! Bearer tokens: HS256 JWTs whose `sub` is the seller id.
//!
//! [`Authenticator`] verifies a token and names its seller; [`issue`] signs one, for
//! `catalog token` and the tests. Both refuse to work without a secret. Handlers take a
//! [`Seller`] (a token is required) or a [`MaybeSeller`] (anonymous callers allowed, but a
//! token that is sent must be valid); both read the `Authenticator` from the app data.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Seconds of clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: u64,
}

use crate::problem::{Code, Problem};

/// Reads a secret setting without letting it reach a log.
pub fn secret(value: &str) -> Result<SecretString, Infallible> {
    Ok(SecretString::from(value))
}

/// How bearer tokens are checked.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// HS256 secret that signs and verifies tokens.
    #[arg(long = "jwt-secret", env = "CATALOG_JWT_SECRET", value_parser = secret, hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
}

/// The seller a valid bearer token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seller(pub String);

/// The seller of a valid bearer token, or nobody when no token was sent.
#[derive(Debug, Clone)]
pub struct MaybeSeller(pub Option<Seller>);

impl FromRequest for Seller {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(seller(request).and_then(|seller| {
            seller.ok_or_else(|| {
                Problem::new(
                    Code::Unauthorized,
                    "an Authorization: Bearer token is required",
                )
            })
        }))
    }
}

impl FromRequest for MaybeSeller {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(seller(request).map(MaybeSeller))
    }
}

fn seller(request: &HttpRequest) -> Result<Option<Seller>, Problem> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let authenticator = request
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| {
            Problem::internal(&std::io::Error::other("no authenticator is configured"))
        })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Problem::new(
                Code::Unauthorized,
                "the Authorization header must be 'Bearer <token>'",
            )
        })?;
    Ok(Some(Seller(authenticator.verify(token.trim())?)))
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the bearer token has expired")]
    Expired,
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
    #[error("no JWT secret is configured (set CATALOG_JWT_SECRET)")]
    NoSecret,
}

/// Checks bearer tokens.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    pub fn new(secret: Option<&SecretString>) -> Result<Self, AuthError> {
        let secret = secret.ok_or(AuthError::NoSecret)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        })
    }

    /// The seller the token names.
    pub fn verify(&self, token: &str) -> Result<String, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(error.to_string()),
            })?
            .claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Invalid("the token names no seller".into()));
        }
        Ok(claims.sub)
    }
}

/// Signs a token for `seller` that expires at `expires_at` (in the past, for tests of expiry).
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
        iat: seconds(SystemTime::now()),
    };
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        .map_err(|error| AuthError::Invalid(error.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value)
    }

    #[test]
    fn a_token_names_its_seller() {
        let key = secret("s1");
        let token = issue(
            Some(&key),
            "seller-9",
            SystemTime::now() + Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(
            Authenticator::new(Some(&key))
                .unwrap()
                .verify(&token)
                .unwrap(),
            "seller-9"
        );
    }

    #[test]
    fn expired_foreign_and_garbled_tokens_are_refused() {
        let key = secret("s1");
        let auth = Authenticator::new(Some(&key)).unwrap();
        let expired = issue(
            Some(&key),
            "s",
            SystemTime::now() - Duration::from_secs(3600),
        )
        .unwrap();
        assert!(matches!(auth.verify(&expired), Err(AuthError::Expired)));
        let foreign = issue(
            Some(&secret("s2")),
            "s",
            SystemTime::now() + Duration::from_secs(60),
        )
        .unwrap();
        assert!(matches!(auth.verify(&foreign), Err(AuthError::Invalid(_))));
        assert!(matches!(auth.verify("a.b.c"), Err(AuthError::Invalid(_))));
        let nobody = issue(Some(&key), " ", SystemTime::now() + Duration::from_secs(60)).unwrap();
        assert!(matches!(auth.verify(&nobody), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn nothing_is_signed_or_checked_without_a_secret() {
        assert!(matches!(
            issue(None, "s", SystemTime::now()),
            Err(AuthError::NoSecret)
        ));
        assert!(matches!(Authenticator::new(None), Err(AuthError::NoSecret)));
    }
}
