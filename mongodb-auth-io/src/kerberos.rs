//! The system's Kerberos (MIT krb5's GSSAPI library, through `libgssapi`), for the client and
//! the embedded server.

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL, OidSet};

use mongodb_auth::GssapiError;
use mongodb_auth::Result;
use mongodb_auth::gssapi::{ContextRequest, GssContext, GssProvider};
use mongodb_auth::server::gssapi::{AcceptorContext, GssAcceptor};

/// `KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN`: the KDC has no such service principal.
const SERVICE_PRINCIPAL_UNKNOWN: i32 = -1_765_328_377;

fn context_error(error: libgssapi::error::Error) -> mongodb_auth::Error {
    GssapiError::Context {
        message: error.to_string(),
    }
    .into()
}

/// Wraps with integrity only: MongoDB uses no security layer, so nothing is encrypted.
fn wrap(context: &mut impl SecurityContext, message: &[u8]) -> Result<Vec<u8>> {
    context
        .wrap(false, message)
        .map(|b| b.to_vec())
        .map_err(context_error)
}

fn unwrap(context: &mut impl SecurityContext, message: &[u8]) -> Result<Vec<u8>> {
    context
        .unwrap(message)
        .map(|b| b.to_vec())
        .map_err(context_error)
}

fn krb5_mechanisms() -> std::result::Result<OidSet, libgssapi::error::Error> {
    OidSet::singleton(GSS_MECH_KRB5)
}

/// Client contexts of the system's Kerberos. The credential comes from the password when the
/// connection string has one (acquired directly, no `kinit` and no ticket cache), else from the
/// ticket cache (`KRB5CCNAME`) or a client keytab (`KRB5_CLIENT_KTNAME`), as the library finds
/// them. Every call may contact the KDC: run the [`GssJob`](mongodb_auth::gssapi::GssJob)s off an async
/// executor (the tokio adapter does).
#[derive(Clone, Copy, Debug, Default)]
pub struct Kerberos;

impl GssProvider for Kerberos {
    fn client_context(&self, request: &ContextRequest) -> Result<Box<dyn GssContext>> {
        let credential_error = |error: libgssapi::error::Error| -> mongodb_auth::Error {
            GssapiError::Credentials {
                principal: request.user.clone(),
                message: error.to_string(),
            }
            .into()
        };
        let mechanisms = krb5_mechanisms().map_err(context_error)?;
        let user = Name::new(request.user.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL))
            .map_err(credential_error)?;
        let credential = match &request.password {
            Some(password) => Cred::acquire_with_password(
                Some(&user),
                password.expose(),
                None,
                CredUsage::Initiate,
                Some(&mechanisms),
            ),
            None => Cred::acquire(Some(&user), None, CredUsage::Initiate, Some(&mechanisms)),
        }
        .map_err(credential_error)?;
        let service = request.service_principal();
        let kind = if request.realm.is_some() {
            GSS_NT_KRB5_PRINCIPAL
        } else {
            GSS_NT_HOSTBASED_SERVICE
        };
        let target = Name::new(service.as_bytes(), Some(kind))
            .and_then(|name| name.canonicalize(Some(GSS_MECH_KRB5)))
            .map_err(context_error)?;
        let context = ClientCtx::new(
            Some(credential),
            target,
            CtxFlags::GSS_C_MUTUAL_FLAG | CtxFlags::GSS_C_SEQUENCE_FLAG,
            Some(GSS_MECH_KRB5),
        );
        Ok(Box::new(KerberosClient { context, service }))
    }
}

struct KerberosClient {
    context: ClientCtx,
    service: String,
}

impl GssContext for KerberosClient {
    fn step(&mut self, input: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        match self.context.step(input, None) {
            Ok(token) => {
                // Mutual authentication was asked for: a context without it has not shown
                // that the server holds the service's key.
                if self.context.is_complete()
                    && !self
                        .context
                        .flags()
                        .map_err(context_error)?
                        .contains(CtxFlags::GSS_C_MUTUAL_FLAG)
                {
                    return Err(GssapiError::Context {
                        message: "the context was established without mutual authentication".into(),
                    }
                    .into());
                }
                Ok(token.map(|t| t.to_vec()))
            }
            Err(error) if error.minor as i32 == SERVICE_PRINCIPAL_UNKNOWN => {
                Err(GssapiError::UnknownService {
                    service: self.service.clone(),
                    message: error.to_string(),
                }
                .into())
            }
            Err(error) => Err(context_error(error)),
        }
    }

    fn is_complete(&self) -> bool {
        self.context.is_complete()
    }

    fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        wrap(&mut self.context, message)
    }

    fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        unwrap(&mut self.context, message)
    }
}

/// Server contexts of the system's Kerberos: they accept tokens for any service principal of
/// the keytab the library reads (`KRB5_KTNAME`; `mongodb-auth serve --gssapi-keytab` sets it).
#[derive(Clone, Copy, Debug, Default)]
pub struct KerberosAcceptor;

impl KerberosAcceptor {
    /// A context for one conversation, its credential acquired from the keytab.
    pub fn accept(&self) -> Result<KerberosServer> {
        let mechanisms = krb5_mechanisms().map_err(context_error)?;
        let credential =
            Cred::acquire(None, None, CredUsage::Accept, Some(&mechanisms)).map_err(|error| {
                GssapiError::Credentials {
                    principal: "the keytab's service principals".into(),
                    message: error.to_string(),
                }
            })?;
        Ok(KerberosServer {
            context: ServerCtx::new(Some(credential)),
        })
    }
}

/// The server side of one conversation.
pub struct KerberosServer {
    context: ServerCtx,
}

impl std::fmt::Debug for KerberosServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosServer").finish_non_exhaustive()
    }
}

impl KerberosServer {
    /// The client principal, once the context is established.
    pub fn client_principal(&self) -> Result<String> {
        let name = self.context.source_name().map_err(context_error)?;
        let display = name.display_name().map_err(context_error)?;
        Ok(String::from_utf8_lossy(&display).into_owned())
    }

    /// The service principal the client asked for, once the context is established.
    pub fn service_principal(&self) -> Result<String> {
        let name = self.context.target_name().map_err(context_error)?;
        let display = name.display_name().map_err(context_error)?;
        Ok(String::from_utf8_lossy(&display).into_owned())
    }
}

impl GssContext for KerberosServer {
    fn step(&mut self, input: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        self.context
            .step(input.unwrap_or_default(), None)
            .map(|token| token.map(|t| t.to_vec()))
            .map_err(context_error)
    }

    fn is_complete(&self) -> bool {
        self.context.is_complete()
    }

    fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        wrap(&mut self.context, message)
    }

    fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        unwrap(&mut self.context, message)
    }
}

impl AcceptorContext for KerberosServer {
    fn client_principal(&self) -> Result<String> {
        KerberosServer::client_principal(self)
    }

    fn service_principal(&self) -> Result<String> {
        KerberosServer::service_principal(self)
    }
}

impl GssAcceptor for KerberosAcceptor {
    fn accept(&self) -> Result<Box<dyn AcceptorContext>> {
        Ok(Box::new(KerberosAcceptor::accept(self)?))
    }
}
