//! The identity provider's key set (JWKS), as the bearer tokens of [`crate::auth`] are
//! verified with it: fetched when first needed and again when a token names a `kid` it does
//! not hold, at most once every `refresh_every`, so forged `kid`s cannot make the service
//! hammer the provider; each key verifies the one algorithm of its type.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use crate::auth::AuthError;

/// How long fetching the key set may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// A key of the key set, with the one algorithm it verifies.
#[derive(Clone)]
pub(crate) struct PublicKey {
    pub(crate) key: DecodingKey,
    pub(crate) algorithm: Algorithm,
}

/// The identity provider's key set, fetched when needed.
pub(crate) struct Jwks {
    url: url::Url,
    /// The least time between two fetches.
    refresh_every: Duration,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, PublicKey>>,
    /// When the set was last fetched; held while fetching, so that one fetch serves everyone
    /// waiting for it.
    fetched: Mutex<Option<Instant>>,
}

impl Jwks {
    pub(crate) fn new(url: url::Url, refresh_every: Duration) -> Self {
        Self {
            url,
            refresh_every,
            http: reqwest::Client::builder()
                .timeout(JWKS_TIMEOUT)
                .build()
                .unwrap_or_default(),
            keys: RwLock::new(HashMap::new()),
            fetched: Mutex::new(None),
        }
    }

    /// The key named `kid`, fetching the set again if it is unknown and the last fetch is
    /// older than `refresh_every`.
    pub(crate) async fn key(&self, kid: &str) -> Result<PublicKey, AuthError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        let mut fetched = self.fetched.lock().await;
        // Someone may have fetched while this request waited.
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        if fetched.is_some_and(|at| at.elapsed() < self.refresh_every) {
            return Err(AuthError::invalid(format!("unknown key {kid}")));
        }
        *fetched = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the identity provider's keys");
                *self.keys.write().await = keys;
            }
            Err(error) => {
                tracing::warn!(url = %self.url, %error, "could not fetch the identity provider's keys");
            }
        }
        self.keys
            .read()
            .await
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::invalid(format!("unknown key {kid}")))
    }

    async fn fetch(&self) -> Result<HashMap<String, PublicKey>, reqwest::Error> {
        let set: JwkSet = self
            .http
            .get(self.url.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, public_key(jwk)?)))
            .collect())
    }
}

/// A signing key of the set, if it is one this service verifies with: RSA for RS256, P-256
/// for ES256. A key whose `use` or `alg` says otherwise is left out.
fn public_key(jwk: &Jwk) -> Option<PublicKey> {
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|usage| *usage != PublicKeyUse::Signature)
    {
        return None;
    }
    let declared_other = match jwk.common.key_algorithm {
        None => false,
        Some(KeyAlgorithm::RS256) => algorithm != Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => algorithm != Algorithm::ES256,
        Some(_) => true,
    };
    if declared_other {
        return None;
    }
    Some(PublicKey {
        key: DecodingKey::from_jwk(jwk).ok()?,
        algorithm,
    })
}
