//! The arguments of `svc smoke`.

use clap::Args;

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// The API's base URL (http:// or https://; a path prefix is kept)
    #[arg(value_name = "URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Give up on the steps after this long (1s to 1h); the cleanup gets 10s more
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,
    /// The domain of the throw-away user's address: one your mail relay accepts and discards
    #[arg(long, default_value = "example.com", value_name = "DOMAIN")]
    pub email_domain: String,
    /// Also trust the CA certificates in this PEM file (https:// behind a private CA)
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<std::path::PathBuf>,
}
