//! `connect --oidc-token-cache`: the human flow's tokens kept between runs, as mongosh keeps
//! them, so a second `connect` needs no person while the access token or the refresh token
//! lasts. One JSON file, readable by its owner only, with an entry per deployment and user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mongodb_auth::ConnectionString;
use mongodb_auth::oidc::{IdpInfo, SavedTokens};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The largest cache file read.
const MAX_CACHE_SIZE: usize = 1024 * 1024;

/// Where the tokens go: `--oidc-token-cache PATH`, `none`, or the user's cache directory.
pub(crate) fn path(flag: Option<&str>) -> Option<PathBuf> {
    match flag {
        Some("none") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
            Some(base.join("mongodb-auth").join("oidc-tokens.json"))
        }
    }
}

/// The entry of a connection: its hosts and user (the server's `IdpInfo`, which says the
/// provider, only comes with the login).
pub(crate) fn key(cs: &ConnectionString) -> String {
    let hosts: Vec<String> = cs.hosts().iter().map(ToString::to_string).collect();
    let user = cs
        .credential()
        .and_then(|c| c.username())
        .unwrap_or_default();
    format!("{}|{user}", hosts.join(","))
}

/// The saved tokens of `key`, if the file has them (a missing or unreadable file is an empty
/// cache: the person logs in).
pub(crate) fn load(path: &Path, key: &str) -> Option<SavedTokens> {
    let entries = read(path);
    let entry = entries.get(key)?;
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut saved = SavedTokens::default();
    saved.access_token = text("accessToken").map(Into::into);
    saved.expires_at = entry
        .get("expiresAt")
        .and_then(Value::as_u64)
        .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)));
    saved.refresh_token = text("refreshToken").map(Into::into);
    saved.idp_info = entry.get("idpInfo").and_then(|info| {
        let issuer = info.get("issuer")?.as_str()?;
        let mut idp = IdpInfo::new(issuer);
        if let Some(client_id) = info.get("clientId").and_then(Value::as_str) {
            idp = idp.with_client_id(client_id);
        }
        let scopes = info.get("requestScopes").and_then(Value::as_array);
        let scopes = scopes.into_iter().flatten().filter_map(Value::as_str);
        Some(idp.with_request_scopes(scopes))
    });
    Some(saved)
}

/// Writes `saved` as the entry of `key` (or removes the entry when it holds nothing), creating
/// the file readable by its owner only, and replacing it whole.
pub(crate) fn store(path: &Path, key: &str, saved: &SavedTokens) -> std::io::Result<()> {
    let mut entries = read(path);
    let nothing = saved.access_token.is_none() && saved.refresh_token.is_none();
    if nothing {
        entries.remove(key);
    } else {
        let mut entry = json!({});
        if let Some(token) = &saved.access_token {
            entry["accessToken"] = json!(token.expose());
        }
        if let Some(at) = saved
            .expires_at
            .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok())
        {
            entry["expiresAt"] = json!(at.as_secs());
        }
        if let Some(token) = &saved.refresh_token {
            entry["refreshToken"] = json!(token.expose());
        }
        if let Some(info) = &saved.idp_info {
            entry["idpInfo"] = json!({
                "issuer": info.issuer,
                "clientId": info.client_id,
                "requestScopes": info.request_scopes,
            });
        }
        entries.insert(key.to_owned(), entry);
    }
    let text = Zeroizing::new(serde_json::to_vec_pretty(
        &json!({ "version": 1, "entries": entries }),
    )?);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension("partial");
    write_private(&partial, &text)?;
    std::fs::rename(&partial, path)
}

fn read(path: &Path) -> BTreeMap<String, Value> {
    // A file over the cap is as good as none: the cache starts again.
    let Ok(bytes) = mongodb_auth_io::answer::read_within(path, MAX_CACHE_SIZE) else {
        return BTreeMap::new();
    };
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(&bytes) else {
        return BTreeMap::new();
    };
    match top.remove("entries") {
        Some(Value::Object(entries)) => entries.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_an_owner_only_file() {
        let dir = std::env::temp_dir().join(format!("mongodb-auth-cache-{}", std::process::id()));
        let path = dir.join("tokens.json");
        let mut saved = SavedTokens::default();
        saved.access_token = Some("at".into());
        saved.expires_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000));
        saved.refresh_token = Some("rt".into());
        saved.idp_info = Some(
            IdpInfo::new("https://idp")
                .with_client_id("c")
                .with_request_scopes(["s"]),
        );
        store(&path, "h:1|u", &saved).unwrap();
        store(&path, "other|", &SavedTokens::default()).unwrap();
        assert_eq!(load(&path, "h:1|u"), Some(saved));
        assert_eq!(load(&path, "other|"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_expiry_past_the_clocks_range_is_read_as_none() {
        let dir =
            std::env::temp_dir().join(format!("mongodb-auth-cache-far-{}", std::process::id()));
        let path = dir.join("tokens.json");
        std::fs::create_dir_all(&dir).unwrap();
        let entry = json!({ "accessToken": "at", "expiresAt": u64::MAX });
        std::fs::write(
            &path,
            json!({ "version": 1, "entries": { "k": entry } }).to_string(),
        )
        .unwrap();
        let saved = load(&path, "k").unwrap();
        assert_eq!(saved.expires_at, None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
