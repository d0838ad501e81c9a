//! What stays the same between the connections of one client to one deployment, built once and
//! kept: the connection string, the TLS configuration (its root store, its client identity and
//! its session cache, so a second connection to a host resumes the first one's TLS session),
//! the `mongodb+srv` seed list for as long as its records hold, the credential caches, and the
//! client metadata's wrapping libraries and `client.env`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use mongodb_auth::error::{Error, Result};
use mongodb_auth::handshake::{ClientEnv, DriverInfo};
use mongodb_auth::uri::ConnectionString;

use crate::dns::Seeds;
use crate::options::{ConnectOptions, Event, IntoConnectionString, detect_client_env};
use crate::tls::TlsSetup;

/// A client's way to one deployment, shared by its connections: both adapters connect through
/// it ([`crate::blocking::connect_with`], [`crate::tokio::connect_with`]). Cloning it is cheap
/// and the clones share everything, so a pool keeps one and hands clones to its tasks.
/// [`crate::blocking::connect`] and [`crate::tokio::connect`] build one for a single
/// connection.
///
/// ```no_run
/// use mongodb_auth_io::{ConnectOptions, Connector, blocking};
///
/// let connector = Connector::new("mongodb://alice:pencil@db.example.com/?tls=true", ConnectOptions::default())?;
/// let first = blocking::connect_with(&connector)?;
/// // The second connection resumes the first one's TLS session, and its SCRAM keys come from
/// // the cache.
/// let second = blocking::connect_with(&connector)?;
/// assert_eq!(second.tls().map(|tls| tls.resumed), Some(true));
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Connector {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    cs: ConnectionString,
    options: ConnectOptions,
    /// Built from the connection string's TLS options, which a `mongodb+srv` TXT record cannot
    /// change; `None` when they do not ask for TLS (a `mongodb+srv` string does, unless it
    /// turns TLS off).
    tls: Option<TlsSetup>,
    seeds: Mutex<Option<Seeds>>,
    /// What [`Connector::append_metadata`] appended after the options' `driver_info`.
    appended: Mutex<Vec<DriverInfo>>,
    /// Where the client runs (`hello`'s `client.env`), found once: the handshake
    /// specification builds a client's metadata once, for all its connections.
    client_env: ClientEnv,
}

impl Connector {
    /// Reads the connection string and builds its TLS configuration (reading `tlsCAFile`,
    /// `tlsCertificateKeyFile`, `tlsCRLFile` or the system's trust store once). Every
    /// connection gets a clone of `options`, and so shares its OIDC client cache (one token);
    /// timeouts the options leave unset come from the connection string (`connectTimeoutMS`,
    /// `socketTimeoutMS`, `serverSelectionTimeoutMS`, `timeoutMS`; see [`ConnectOptions`]), and
    /// so does `serverSelectionTryOnce`, which may not contradict
    /// [`ConnectOptions::server_selection_try_once`].
    pub fn new(uri: impl IntoConnectionString, options: ConnectOptions) -> Result<Connector> {
        let cs = uri.into_connection_string()?;
        for warning in cs.warnings() {
            options.emit(Event::Warning { warning });
        }
        if cs.option("proxyHost").is_some() {
            // Connecting straight to the server instead would leave the network the proxy was
            // to keep it from, from an address the user did not choose.
            return Err(Error::Unsupported {
                what: "proxyHost: these adapters connect directly and do not speak SOCKS5; \
                       remove the proxy options, or reach the server without a proxy"
                    .into(),
            });
        }
        let client_env = detect_client_env(&options.auth);
        let options = options.completed_by(&cs)?;
        let tls = cs
            .tls_enabled()
            .then(|| TlsSetup::new(cs.tls()))
            .transpose()?;
        Ok(Connector {
            shared: Arc::new(Shared {
                cs,
                options,
                tls,
                seeds: Mutex::new(None),
                appended: Mutex::new(Vec::new()),
                client_env,
            }),
        })
    }

    /// Appends what a library that wraps these adapters adds to the client metadata of the
    /// connections made from now on (the handshake specification's `appendMetadata`), after
    /// what [`ConnectOptions::driver_info`] and earlier calls gave. Connections already made
    /// keep theirs. Info equal to any given before is not appended again. Fails, appending
    /// nothing, when the metadata would not fit `hello` ([`Error::InvalidInput`]).
    ///
    /// ```
    /// use mongodb_auth::handshake::DriverInfo;
    /// use mongodb_auth_io::{ConnectOptions, Connector};
    ///
    /// let connector = Connector::new("mongodb://localhost/", ConnectOptions::default())?;
    /// connector.append_metadata(DriverInfo::new("inventory", Some("2.1"), None)?)?;
    /// assert_eq!(connector.driver_info().len(), 1);
    /// # Ok::<(), mongodb_auth::Error>(())
    /// ```
    pub fn append_metadata(&self, info: DriverInfo) -> Result<()> {
        let mut appended = self
            .shared
            .appended
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut wrappers = self.wrappers(&appended);
        if wrappers.contains(&info) {
            return Ok(());
        }
        wrappers.push(info.clone());
        // Checked and pushed under the lock, so two calls at once cannot overfill `hello`.
        self.shared
            .options
            .check_metadata(&self.shared.cs, &wrappers)?;
        appended.push(info);
        Ok(())
    }

    /// The wrapping libraries' info the next connection's client metadata is built from, as
    /// given: [`ConnectOptions::driver_info`], then what
    /// [`append_metadata`](Self::append_metadata) added (which skips an info given before;
    /// the metadata appends a duplicate in the options once only).
    pub fn driver_info(&self) -> Vec<DriverInfo> {
        let appended = self
            .shared
            .appended
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.wrappers(&appended)
    }

    /// The options' wrapping libraries, then `appended`.
    fn wrappers(&self, appended: &[DriverInfo]) -> Vec<DriverInfo> {
        let own = &self.shared.options.driver_info;
        own.iter().chain(appended).cloned().collect()
    }

    /// The connection string, as given (before any `mongodb+srv` resolution).
    pub fn connection_string(&self) -> &ConnectionString {
        &self.shared.cs
    }

    /// The options each connection starts from, before it adds what
    /// [`append_metadata`](Self::append_metadata) appended to their `driver_info`, and the
    /// connector's [`client_env`](Self::client_env). A clone given to `authenticate` finds
    /// `client.env` anew, from its own `auth`.
    pub fn options(&self) -> &ConnectOptions {
        &self.shared.options
    }

    /// Where the client runs, as `hello`'s `client.env` says: found when the connector was
    /// built, from its options' environment and [`ClientEnv::DOCKERENV`].
    pub fn client_env(&self) -> &ClientEnv {
        &self.shared.client_env
    }

    /// The TLS configuration, when the connection string asks for TLS.
    pub fn tls(&self) -> Option<&TlsSetup> {
        self.shared.tls.as_ref()
    }

    /// The seeds resolved earlier, while their records hold.
    pub(crate) fn cached_seeds(&self, now: Instant) -> Option<Seeds> {
        let seeds = self.shared.seeds.lock().ok()?;
        seeds.as_ref().filter(|seeds| seeds.fresh(now)).cloned()
    }

    /// Keeps `seeds` for the next connections.
    pub(crate) fn keep_seeds(&self, seeds: &Seeds) {
        if let Ok(mut kept) = self.shared.seeds.lock() {
            *kept = Some(seeds.clone());
        }
    }

    /// The TLS configuration for the resolved connection string `cs`: the one built once, or,
    /// when `cs` asks for TLS the original did not, one for this connection.
    pub(crate) fn tls_for(&self, cs: &ConnectionString) -> Result<Option<TlsSetup>> {
        if !cs.tls_enabled() {
            return Ok(None);
        }
        match &self.shared.tls {
            Some(setup) => Ok(Some(setup.clone())),
            None => TlsSetup::new(cs.tls()).map(Some),
        }
    }
}
