//! The AWS SDK as every process configures it: the standard variables for the endpoint,
//! region and credentials, and S3 addressed by path where a local stand-in needs it.

use aws_config::SdkConfig;

/// How S3 is addressed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct S3Settings {
    /// Address buckets by path (`endpoint/bucket/key`), as local S3 stand-ins need.
    #[arg(
        long = "s3-path-style",
        env = "CATALOG_S3_PATH_STYLE",
        default_value_t = false
    )]
    pub path_style: bool,
}

impl S3Settings {
    /// An S3 client over `sdk`, addressed as these settings say.
    pub fn client(&self, sdk: &SdkConfig) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(self.path_style)
                .build(),
        )
    }
}

/// The SDK configuration from the standard `AWS_*` variables.
pub async fn sdk() -> SdkConfig {
    aws_config::load_from_env().await
}
