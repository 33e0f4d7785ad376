//! Personal data, kept so that it can be forgotten: crypto-shredding.
//!
//! What a seller wrote about a photo (its `filename`, `caption`, `alt_text`, `tags` and
//! `callback_url`: [`FIELDS`]) is never stored in the clear. Every photo has a data key of its
//! own (AES-256-GCM, `photo_keys`), itself stored sealed under the service's key (the
//! "keeper": `CATALOG_DATA_KEY` locally, a Secrets Manager secret under a KMS key in AWS,
//! `CATALOG_DATA_KEY_SECRET`). Wherever a photo's events or snapshots are written, those fields
//! are moved into one `sealed` field, encrypted under the photo's key with the photo's id as
//! associated data (a sealed value cannot be moved to another photo); wherever they are read,
//! they are opened again before the payload is decoded.
//!
//! Forgetting a photo ([`forget`]: its deletion, a seller's erasure) deletes its data key.
//! From then on every copy of those fields, in the events, the snapshots, a backup or a
//! replica, is noise: the events still fold, replay, rebuild and resync, and the fields read
//! as absent (no caption, no alt text, no tags, no callback URL, an empty filename). The events
//! themselves are never rewritten.
//!
//! Photos stored before their fields were sealed have no data key, and their payloads are read
//! as stored.

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::SecretString;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::PgExecutor;

/// The personal fields of a photo, wherever they appear at the top of a stored JSON object
/// (an event's payload, a snapshot's state).
pub const FIELDS: [&str; 5] = ["filename", "caption", "alt_text", "tags", "callback_url"];

/// The field the personal fields are sealed into.
const SEALED: &str = "sealed";

/// Bytes of a data key (AES-256).
const KEY_BYTES: usize = 32;

/// Where the keeper's key comes from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DataKeyConfig {
    /// The key the photos' data keys are sealed with (any string of at least 32 characters;
    /// local use).
    #[arg(long = "data-key", env = "CATALOG_DATA_KEY", hide_env_values = true)]
    pub data_key: Option<SecretString>,
    /// A Secrets Manager secret (name or ARN) holding that key (AWS).
    #[arg(long = "data-key-secret", env = "CATALOG_DATA_KEY_SECRET")]
    pub data_key_secret: Option<String>,
}

/// Why personal fields could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no data key is configured (CATALOG_DATA_KEY or CATALOG_DATA_KEY_SECRET)")]
    NoKeeper,
    #[error("the data key must be at least 32 characters")]
    ShortKey,
    #[error("reading the data key: {0}")]
    KeySecret(String),
    #[error("the data key of photo {0} does not open with this key")]
    Unsealable(String),
    #[error("the personal fields of photo {0} do not open with its data key")]
    Corrupt(String),
    #[error("sealing failed")]
    Seal,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The service's key, which seals every photo's data key.
pub struct Keeper {
    key: LessSafeKey,
}

impl fmt::Debug for Keeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keeper")
    }
}

/// One photo's data key.
pub struct DataKey {
    key: LessSafeKey,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey")
    }
}

static KEEPER: OnceLock<Keeper> = OnceLock::new();

/// Reads the configured keeper and makes it the process's, when one is configured (the
/// `catalog` binary calls it once at start). A process that installs none builds one from
/// `CATALOG_DATA_KEY` the first time it needs it.
pub async fn install(config: &DataKeyConfig) -> Result<(), KeyError> {
    let material =
        crate::key_material::read(config.data_key.as_ref(), config.data_key_secret.as_deref())
            .await
            .map_err(KeyError::KeySecret)?;
    if let Some(material) = material {
        let _ = KEEPER.set(Keeper::new(&material)?);
    }
    Ok(())
}

/// The process's keeper.
pub fn keeper() -> Result<&'static Keeper, KeyError> {
    if let Some(keeper) = KEEPER.get() {
        return Ok(keeper);
    }
    let material = std::env::var("CATALOG_DATA_KEY").map_err(|_| KeyError::NoKeeper)?;
    let keeper = Keeper::new(&material)?;
    Ok(KEEPER.get_or_init(|| keeper))
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Seal)?;
    Ok(bytes)
}

/// `plain` sealed under `key` for `context`: a fresh nonce, then the ciphertext and its tag.
fn seal_bytes(key: &LessSafeKey, context: &str, plain: &[u8]) -> Result<Vec<u8>, KeyError> {
    let nonce = random::<NONCE_LEN>()?;
    let mut sealed = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(context.as_bytes()),
        &mut sealed,
    )
    .map_err(|_| KeyError::Seal)?;
    Ok([nonce.as_slice(), &sealed].concat())
}

/// What [`seal_bytes`] sealed, or `None` if it does not open.
fn open_bytes(key: &LessSafeKey, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = rest.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
        .ok()?;
    Some(plain.to_vec())
}

fn aes_key(bytes: &[u8]) -> Result<LessSafeKey, KeyError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| KeyError::Seal)
}

impl Keeper {
    /// The keeper of a key derived from `material`.
    pub fn new(material: &str) -> Result<Self, KeyError> {
        if material.chars().count() < 32 {
            return Err(KeyError::ShortKey);
        }
        let mut digest = Sha256::new();
        digest.update(b"photo-catalog data keys v1\0");
        digest.update(material.as_bytes());
        Ok(Self {
            key: aes_key(&digest.finalize())?,
        })
    }

    /// A new data key for `photo`, and the same sealed for keeping.
    fn fresh(&self, photo: &str) -> Result<(DataKey, Vec<u8>), KeyError> {
        let bytes = random::<KEY_BYTES>()?;
        let sealed = seal_bytes(&self.key, photo, &bytes)?;
        Ok((
            DataKey {
                key: aes_key(&bytes)?,
            },
            sealed,
        ))
    }

    /// The data key of `photo`, from its sealed form.
    fn open(&self, photo: &str, sealed: &[u8]) -> Result<DataKey, KeyError> {
        let bytes = open_bytes(&self.key, photo, sealed)
            .ok_or_else(|| KeyError::Unsealable(photo.to_owned()))?;
        Ok(DataKey {
            key: aes_key(&bytes)?,
        })
    }
}

/// The data key of `photo` from its stored, sealed form; `None` where there is none (the
/// photo was forgotten, or stored before its fields were sealed).
pub fn data_key(photo: &str, sealed: Option<&[u8]>) -> Result<Option<DataKey>, KeyError> {
    sealed
        .map(|sealed| keeper()?.open(photo, sealed))
        .transpose()
}

/// A new data key for `photo`, and the same sealed for keeping (in `photo_keys`, by the
/// statement that appends the photo's first events).
pub fn new_data_key(photo: &str) -> Result<(DataKey, Vec<u8>), KeyError> {
    keeper()?.fresh(photo)
}

/// Moves the personal fields at the top of `value` into its `sealed` field, encrypted under
/// `key` for `photo`. A value without any is left as it is.
pub fn seal(value: &mut Value, photo: &str, key: &DataKey) -> Result<(), KeyError> {
    let Value::Object(object) = value else {
        return Ok(());
    };
    let mut personal = Map::new();
    for field in FIELDS {
        if let Some(found) = object.remove(field) {
            personal.insert(field.to_owned(), found);
        }
    }
    if personal.is_empty() {
        return Ok(());
    }
    let plain = serde_json::to_vec(&personal).map_err(|_| KeyError::Seal)?;
    let sealed = seal_bytes(&key.key, photo, &plain)?;
    object.insert(SEALED.to_owned(), Value::String(BASE64.encode(sealed)));
    Ok(())
}

/// Puts back the personal fields [`seal`] sealed into `value`, opened with the photo's `key`;
/// without a key (the photo was forgotten) they stay absent.
pub fn open(value: &mut Value, photo: &str, key: Option<&DataKey>) -> Result<(), KeyError> {
    let Value::Object(object) = value else {
        return Ok(());
    };
    let Some(sealed) = object.remove(SEALED) else {
        return Ok(());
    };
    let Some(key) = key else {
        return Ok(());
    };
    let corrupt = || KeyError::Corrupt(photo.to_owned());
    let sealed = sealed
        .as_str()
        .and_then(|text| BASE64.decode(text).ok())
        .ok_or_else(corrupt)?;
    let plain = open_bytes(&key.key, photo, &sealed).ok_or_else(corrupt)?;
    let personal: Map<String, Value> = serde_json::from_slice(&plain).map_err(|_| corrupt())?;
    object.extend(personal);
    Ok(())
}

/// Forgets `photo`'s personal fields everywhere, by deleting its data key (and its snapshot,
/// which holds nothing the events do not). Returns whether it had one; repeating it changes
/// nothing.
pub async fn forget<'e>(
    executor: impl PgExecutor<'e> + Copy,
    photo: &str,
) -> Result<bool, sqlx::Error> {
    let forgotten = sqlx::query("DELETE FROM photo_keys WHERE photo_id = $1")
        .bind(photo)
        .execute(executor)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM photo_snapshots WHERE photo_id = $1")
        .bind(photo)
        .execute(executor)
        .await?;
    Ok(forgotten > 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn keeper() -> Keeper {
        Keeper::new("a test key of at least thirty-two characters").unwrap()
    }

    #[test]
    fn personal_fields_are_sealed_and_open_again_only_with_the_photos_key() {
        let keeper = keeper();
        let (key, sealed_key) = keeper.fresh("photo-1").unwrap();
        let stored = json!({
            "type": "PhotoUploadRequested",
            "seller_id": "s",
            "filename": "holiday.jpg",
            "caption": "my street",
            "tags": ["a"],
        });
        let mut value = stored.clone();
        seal(&mut value, "photo-1", &key).unwrap();
        let text = value.to_string();
        for personal in ["holiday.jpg", "my street", "\"a\""] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
        assert_eq!(value["seller_id"], "s");

        let reopened = keeper.open("photo-1", &sealed_key).unwrap();
        let mut opened = value.clone();
        open(&mut opened, "photo-1", Some(&reopened)).unwrap();
        assert_eq!(opened, stored);

        // Another photo's key, or the sealed value moved to another photo, does not open it.
        let (other, _) = keeper.fresh("photo-2").unwrap();
        assert!(open(&mut value.clone(), "photo-1", Some(&other)).is_err());
        assert!(open(&mut value.clone(), "photo-2", Some(&reopened)).is_err());
        assert!(keeper.open("photo-2", &sealed_key).is_err());

        // Forgotten: the fields read as absent.
        let mut forgotten = value;
        open(&mut forgotten, "photo-1", None).unwrap();
        assert_eq!(
            forgotten,
            json!({"type": "PhotoUploadRequested", "seller_id": "s"})
        );
    }

    #[test]
    fn a_value_without_personal_fields_is_left_as_it_is() {
        let (key, _) = keeper().fresh("p").unwrap();
        let stored = json!({"type": "PhotoDeleted", "occurred_at": "2026-01-01T00:00:00Z"});
        let mut value = stored.clone();
        seal(&mut value, "p", &key).unwrap();
        assert_eq!(value, stored);
    }
}
