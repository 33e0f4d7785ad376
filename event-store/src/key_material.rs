//! Where the service's own keys come from: a string in the configuration (local use), or a
//! Secrets Manager secret in AWS, which Secrets Manager keeps encrypted under a KMS key. The
//! sellers' webhook secrets and the photos' data keys are each sealed under a key read here.

use secrecy::{ExposeSecret, SecretString};

/// The key material configured: `key` itself, or the string of the secret `key_secret`;
/// `None` if neither is set.
pub(crate) async fn read(
    key: Option<&SecretString>,
    key_secret: Option<&str>,
) -> Result<Option<String>, String> {
    match (key, key_secret) {
        (Some(key), _) => Ok(Some(key.expose_secret().to_owned())),
        (None, Some(secret)) => {
            let sdk = catalog_runtime::aws::sdk().await;
            let value = aws_sdk_secretsmanager::Client::new(&sdk)
                .get_secret_value()
                .secret_id(secret)
                .send()
                .await
                .map_err(|error| {
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&error).to_string()
                })?;
            value
                .secret_string()
                .map(|material| Some(material.to_owned()))
                .ok_or_else(|| "it holds no string".to_owned())
        }
        (None, None) => Ok(None),
    }
}
