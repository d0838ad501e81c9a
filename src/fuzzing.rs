//! Entry points for the fuzz targets (`fuzz/`) into parsers that are not public API. Hidden from
//! the documentation: nothing here is for callers, and it may change at any time.

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
