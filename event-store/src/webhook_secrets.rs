//! Each seller's webhook signing secrets, kept encrypted at rest.
//!
//! A seller asks for a secret (`POST /v1/webhook-secret`) and receives it once; asking again
//! rotates it, and the previous secret keeps signing beside the new one for
//! [`ROTATION_OVERLAP_HOURS`], so a receiver can switch without losing a webhook (Standard
//! Webhooks' several signatures, space-separated). The notifier signs each seller's webhooks
//! with that seller's secrets only, so no seller can forge another's.
//!
//! Secrets are sealed with AES-256-GCM under a data key (the seller id is the associated data,
//! so a sealed secret cannot be moved to another seller). The key comes from a Secrets Manager
//! secret in AWS (`CATALOG_WEBHOOK_KEY_SECRET`) or from `CATALOG_WEBHOOK_KEY` locally; the
//! database alone never reveals a secret.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// How long a rotated secret keeps signing beside its successor.
pub const ROTATION_OVERLAP_HOURS: i32 = 24;
/// Random bytes in a secret (Standard Webhooks takes 24 to 64).
const SECRET_BYTES: usize = 32;

/// Where the data key comes from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WebhookKeyConfig {
    /// The data key itself (any string of at least 32 characters; local use).
    #[arg(
        long = "webhook-key",
        env = "CATALOG_WEBHOOK_KEY",
        hide_env_values = true
    )]
    pub key: Option<SecretString>,
    /// A Secrets Manager secret (name or ARN) holding the data key (AWS).
    #[arg(long = "webhook-key-secret", env = "CATALOG_WEBHOOK_KEY_SECRET")]
    pub key_secret: Option<String>,
}

/// Why secrets could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the webhook data key is not set (CATALOG_WEBHOOK_KEY or CATALOG_WEBHOOK_KEY_SECRET)")]
    NoKey,
    #[error("the webhook data key must be at least 32 characters")]
    ShortKey,
    #[error("reading the webhook data key: {0}")]
    KeySecret(String),
    #[error("a sealed webhook secret does not open with this key")]
    Unsealable,
    #[error("sealing failed")]
    Seal,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Seals and opens secrets with the data key.
pub struct Sealer {
    key: LessSafeKey,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// The sealer of the configured key, read from Secrets Manager when so configured.
    pub async fn from_config(config: &WebhookKeyConfig) -> Result<Self, SecretsError> {
        let material = crate::key_material::read(config.key.as_ref(), config.key_secret.as_deref())
            .await
            .map_err(SecretsError::KeySecret)?
            .ok_or(SecretsError::NoKey)?;
        Self::new(&material)
    }

    /// The sealer of a key derived from `material`.
    pub fn new(material: &str) -> Result<Self, SecretsError> {
        if material.chars().count() < 32 {
            return Err(SecretsError::ShortKey);
        }
        let mut digest = Sha256::new();
        digest.update(b"photo-catalog webhook secrets v1\0");
        digest.update(material.as_bytes());
        let key =
            UnboundKey::new(&AES_256_GCM, &digest.finalize()).map_err(|_| SecretsError::Seal)?;
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// `plain` sealed for `seller`: a fresh nonce, then the ciphertext and its tag.
    pub fn seal(&self, seller: &str, plain: &str) -> Result<Vec<u8>, SecretsError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretsError::Seal)?;
        let mut sealed = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(seller.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SecretsError::Seal)?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// What [`Sealer::seal`] sealed for `seller`.
    pub fn open(&self, seller: &str, sealed: &[u8]) -> Result<SecretString, SecretsError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretsError::Unsealable);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretsError::Unsealable)?;
        let mut buffer = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(seller.as_bytes()), &mut buffer)
            .map_err(|_| SecretsError::Unsealable)?;
        String::from_utf8(plain.to_vec())
            .map(SecretString::from)
            .map_err(|_| SecretsError::Unsealable)
    }
}

/// A new secret in Standard Webhooks' form: `whsec_` and base64 random bytes.
pub fn generate() -> Result<String, SecretsError> {
    let mut bytes = [0u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SecretsError::Seal)?;
    Ok(format!("whsec_{}", BASE64.encode(bytes)))
}

/// Stores `secret` as the seller's newest; returns when it was stored.
pub async fn store(
    pool: &PgPool,
    sealer: &Sealer,
    seller: &str,
    secret: &str,
) -> Result<DateTime<Utc>, SecretsError> {
    let sealed = sealer.seal(seller, secret)?;
    let created_at = sqlx::query_scalar(
        "INSERT INTO webhook_secrets (seller_id, sealed) VALUES ($1, $2) RETURNING created_at",
    )
    .bind(seller)
    .bind(sealed)
    .fetch_one(pool)
    .await?;
    // Older than the one before: past their overlap, and never read again.
    sqlx::query(
        "DELETE FROM webhook_secrets WHERE seller_id = $1 AND created_at < ( \
           SELECT created_at FROM webhook_secrets WHERE seller_id = $1 \
           ORDER BY created_at DESC OFFSET 1 LIMIT 1)",
    )
    .bind(seller)
    .execute(pool)
    .await?;
    Ok(created_at)
}

/// Whether the seller has a secret.
pub async fn exists(pool: &PgPool, seller: &str) -> Result<bool, SecretsError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM webhook_secrets WHERE seller_id = $1)")
            .bind(seller)
            .fetch_one(pool)
            .await?,
    )
}

/// The secrets a seller's webhooks are signed with now: the newest, and the one before while
/// the rotation's overlap lasts. Empty if the seller has none.
pub async fn signing(
    pool: &PgPool,
    sealer: &Sealer,
    seller: &str,
) -> Result<Vec<SecretString>, SecretsError> {
    let rows: Vec<(Vec<u8>, bool)> = sqlx::query_as(
        "SELECT sealed, \
                created_at >= now() - make_interval(hours => $2) AS fresh \
         FROM webhook_secrets WHERE seller_id = $1 ORDER BY created_at DESC LIMIT 2",
    )
    .bind(seller)
    .bind(ROTATION_OVERLAP_HOURS)
    .fetch_all(pool)
    .await?;
    // The newest always signs; the one before only while the newest is in its overlap.
    let newest_fresh = rows.first().is_some_and(|(_, fresh)| *fresh);
    rows.iter()
        .take(if newest_fresh { 2 } else { 1 })
        .map(|(sealed, _)| sealer.open(seller, sealed))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn sealer() -> Sealer {
        Sealer::new("a local key of at least thirty-two characters").unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_for_its_seller_only() {
        let secret = generate().unwrap();
        let sealed = sealer().seal("seller-a", &secret).unwrap();
        assert_eq!(
            sealer().open("seller-a", &sealed).unwrap().expose_secret(),
            secret
        );
        assert!(!String::from_utf8_lossy(&sealed).contains(&secret[6..]));
        assert!(matches!(
            sealer().open("seller-b", &sealed),
            Err(SecretsError::Unsealable)
        ));
        let other = Sealer::new("another key of at least thirty-two chars").unwrap();
        assert!(other.open("seller-a", &sealed).is_err());
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let secret = generate().unwrap();
        assert!(standard_form(&secret));
        assert_ne!(secret, generate().unwrap());
        assert!(matches!(Sealer::new("short"), Err(SecretsError::ShortKey)));
    }

    fn standard_form(secret: &str) -> bool {
        secret
            .strip_prefix("whsec_")
            .and_then(|bytes| BASE64.decode(bytes).ok())
            .is_some_and(|bytes| bytes.len() == SECRET_BYTES)
    }
}
