//! Entry points for the fuzz targets (`fuzz/`) into parsers that are not public API. Hidden from
//! the documentation: nothing here is for callers, and it may change at any time.

#[cfg(feature = "aws")]
pub use crate::aws::command_line::{split_posix, split_windows};

/// A profile's name and its settings, in the file's order.
pub type AwsProfile = (String, Vec<(String, String)>);

/// The profiles of an AWS config file and their settings, sorted, as botocore's profile map
/// holds them; the file's error if it cannot be read.
#[cfg(feature = "aws")]
pub fn aws_config_profiles(text: &str) -> Result<Vec<AwsProfile>, crate::AwsError> {
    let config = crate::aws::chain::ConfigFile::new(crate::aws::ini::Ini::parse(text)?);
    Ok(config
        .profiles()
        .into_iter()
        .map(|(name, settings)| {
            let settings = settings
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect();
            (name.to_owned(), settings)
        })
        .collect())
}
#[cfg(feature = "aws")]
pub use crate::aws::ini::Ini as AwsIni;
#[cfg(feature = "aws")]
pub use crate::aws::json::{
    credentials_object as aws_credentials_object, process_credentials as aws_process_credentials,
};
#[cfg(feature = "aws")]
pub use crate::aws::sso::{
    read_refreshed as sso_refreshed, read_role_credentials as sso_role_credentials,
    read_token as sso_token,
};
#[cfg(feature = "aws")]
pub use crate::aws::sts::{credentials_from_reply as sts_credentials_from_reply, xml_element};
#[cfg(feature = "oidc")]
pub use crate::oidc::human::{
    read_device_authorization_reply as oidc_device_authorization_reply,
    read_redirect as oidc_redirect, read_token_reply as oidc_token_reply,
};
#[cfg(feature = "server")]
pub use crate::server::fuzzing::*;

/// Reads Azure's token reply as the built-in `azure` environment does (rule L8); whether it
/// holds a token.
#[cfg(feature = "oidc")]
pub fn oidc_azure_token_reply(body: &[u8]) -> bool {
    crate::oidc::builtin::azure_token(body).is_ok()
}
