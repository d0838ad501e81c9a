//! `connect --oidc-token-cache`: the human flow's tokens kept between runs, as mongosh keeps
//! them, so a second `connect` needs no person while the access token or the refresh token
//! lasts. One JSON file, readable by its owner only, with an entry per deployment and user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mongodb_auth::oidc::{IdpInfo, SavedTokens};
use mongodb_auth::{ConnectionString, Secret};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

/// The file layout this version writes: `{"version": 1, "entries": {key: entry}}`.
const VERSION: u64 = 1;

/// The cache file as read: its fields and its entries as written, each a slice of the read
/// bytes (wiped when dropped), so a store rewrites its own entry only. An entry this version
/// cannot read (another tool's, or a later version's) or a field it does not know is written
/// back as it was.
#[derive(Default)]
struct CacheFile<'a> {
    entries: BTreeMap<String, Stored<'a>>,
    other_fields: BTreeMap<String, &'a RawValue>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Stored<'a> {
    AsRead(&'a RawValue),
    Written(Entry),
}

impl<'a> CacheFile<'a> {
    /// The cache of `bytes`, or why they are not one: not a JSON object, no `"version": 1`
    /// (another file's JSON, or a later layout), or `entries` not an object.
    fn parse(bytes: &'a [u8]) -> Result<Self, &'static str> {
        let mut other_fields: BTreeMap<String, &RawValue> =
            serde_json::from_slice(bytes).map_err(|_| "it is not a JSON object")?;
        let version = other_fields
            .remove("version")
            .and_then(|raw| serde_json::from_str::<u64>(raw.get()).ok());
        match version {
            Some(VERSION) => {}
            Some(later) if later > VERSION => return Err("a later version wrote it"),
            _ => return Err("it has no `\"version\": 1`, so it is not a token cache"),
        }
        let entries = match other_fields.remove("entries") {
            None => BTreeMap::new(),
            Some(raw) => serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get())
                .map_err(|_| "its entries are not a JSON object")?
                .into_iter()
                .map(|(key, entry)| (key, Stored::AsRead(entry)))
                .collect(),
        };
        Ok(CacheFile {
            entries,
            other_fields,
        })
    }
}

impl Serialize for CacheFile<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.other_fields.len() + 2))?;
        map.serialize_entry("version", &VERSION)?;
        map.serialize_entry("entries", &self.entries)?;
        for (name, value) in &self.other_fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<Zeroizing<String>>,
    /// Seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idp_info: Option<SavedIdpInfo>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SavedIdpInfo {
    issuer: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    request_scopes: Vec<String>,
}

/// The saved tokens of `key`, if the file has them (a missing, unreadable or malformed file or
/// entry is an empty cache: the person logs in).
pub(crate) fn load(path: &Path, key: &str) -> Option<SavedTokens> {
    let bytes = read_current(path).ok()?;
    let file = CacheFile::parse(&bytes).ok()?;
    let Some(Stored::AsRead(raw)) = file.entries.get(key) else {
        return None;
    };
    let mut entry: Entry = serde_json::from_str(raw.get()).ok()?;
    // Moved out of their wiped buffers, never copied.
    let secret = |token: &mut Option<Zeroizing<String>>| {
        token
            .as_mut()
            .map(|token| Secret::new(std::mem::take(&mut **token)))
    };
    let mut saved = SavedTokens::default();
    saved.access_token = secret(&mut entry.access_token);
    saved.expires_at = entry
        .expires_at
        .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)));
    saved.refresh_token = secret(&mut entry.refresh_token);
    saved.idp_info = entry.idp_info.as_ref().map(|info| {
        let mut idp = IdpInfo::new(info.issuer.as_str());
        if let Some(client_id) = &info.client_id {
            idp = idp.with_client_id(client_id.as_str());
        }
        idp.with_request_scopes(info.request_scopes.iter().map(String::as_str))
    });
    Some(saved)
}

/// Writes `saved` as the entry of `key` (or removes the entry when it holds nothing), creating
/// the file readable by its owner only, and replacing it whole; the other entries and fields
/// are kept as they were. A file that is there but is not a cache this version can read
/// (unreadable, too large, not a file, not a JSON object with `"version": 1`) is left as it is
/// and an error returned, before anything is written beside it (an empty file is an empty
/// cache): `--oidc-token-cache` naming the wrong file must not cost that file.
pub(crate) fn store(path: &Path, key: &str, saved: &SavedTokens) -> std::io::Result<()> {
    if path.file_name().is_none() {
        return Err(left_as_is("it names no file"));
    }
    // Checked before the lock file is made beside it, then read again under the lock.
    cache_of(&read_current(path)?)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let _locked = lock(path);
    let bytes = read_current(path)?;
    let mut file = cache_of(&bytes)?;
    let nothing = saved.access_token.is_none() && saved.refresh_token.is_none();
    if nothing {
        file.entries.remove(key);
    } else {
        let token = |token: &Option<Secret>| {
            token
                .as_ref()
                .map(|token| Zeroizing::new(token.expose().to_owned()))
        };
        let entry = Entry {
            access_token: token(&saved.access_token),
            expires_at: saved
                .expires_at
                .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|at| at.as_secs()),
            refresh_token: token(&saved.refresh_token),
            idp_info: saved.idp_info.as_ref().map(|info| SavedIdpInfo {
                issuer: info.issuer.clone(),
                client_id: info.client_id.clone(),
                request_scopes: info.request_scopes.clone(),
            }),
        };
        file.entries.insert(key.to_owned(), Stored::Written(entry));
    }
    let text = serialized(&file)?;
    // A name of this store's own: should two stores run at once (the lock gone around), neither
    // writes into, or moves, the other's half-written file.
    static STORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let store_number = STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = path.with_extension(format!("partial.{}.{store_number}", std::process::id()));
    let written = mongodb_auth_io::answer::write_private(&partial, &text)
        .and_then(|()| std::fs::rename(&partial, path));
    if written.is_err() {
        // It holds every token of the cache; no later store would replace it.
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// The bytes of the file at the cache's path (none when there is no file), or an error when
/// it is not a file (a cache is one, and a FIFO or a device in its place is left as it is) or
/// cannot be read whole.
fn read_current(path: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Zeroizing::default()),
        Err(e) => Err(left_as_is(e)),
        Ok(metadata) if !metadata.is_file() => Err(left_as_is("it is not a file")),
        Ok(_) => mongodb_auth_io::answer::read_within(path, MAX_CACHE_SIZE).map_err(left_as_is),
    }
}

/// The cache of a file's `bytes`: empty for a file of JSON whitespace only.
fn cache_of(bytes: &[u8]) -> std::io::Result<CacheFile<'_>> {
    if bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(CacheFile::default());
    }
    CacheFile::parse(bytes).map_err(left_as_is)
}

/// Why a store did not replace the file at the cache's path.
fn left_as_is(why: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the file there is left as it is: {why}"),
    )
}

/// How long a store waits for others to finish with the cache: each holds it for a read, a
/// write and an `fsync`, so only a process stopped while saving holds it this long.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The cache's lock (`<cache>.lock`, an empty file of its owner's), held until dropped: two
/// `connect`s saving at once each read the cache after the other has replaced it, so neither
/// writes back a view without the other's entry. A lock held past [`LOCK_WAIT`] (a process
/// stopped while saving) or one that cannot be taken is gone around: the store goes on, as
/// it did before there were locks.
#[cfg(all(unix, not(target_os = "solaris")))]
fn lock(path: &Path) -> Option<std::fs::File> {
    use rustix::fs::{FlockOperation, Mode, OFlags, flock};
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    // Neither a link (whose target would be made) nor a FIFO (whose opening would wait for a
    // reader) is taken for the lock.
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK;
    let file = rustix::fs::open(&lock_path, flags | OFlags::CLOEXEC, Mode::RUSR | Mode::WUSR)
        .map(std::fs::File::from)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let waiting_since = std::time::Instant::now();
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Some(file),
            Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR)
                if waiting_since.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return None,
        }
    }
}

/// No lock where the system has no `flock`: concurrent stores may lose each other's entry.
#[cfg(not(all(unix, not(target_os = "solaris"))))]
fn lock(_path: &Path) -> Option<std::fs::File> {
    None
}

/// The file's text, in one buffer of its final size: a reallocation would leave a copy of the
/// tokens behind.
fn serialized(file: &CacheFile<'_>) -> std::io::Result<Zeroizing<Vec<u8>>> {
    mongodb_auth::write_at_final_size(|out| Ok(serde_json::to_writer_pretty(out, file)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb_auth_testkit::TempDir;
    use serde_json::json;

    #[test]
    fn the_file_is_written_at_its_final_size_and_read_back() {
        let entry = Entry {
            access_token: Some(Zeroizing::new("a\"t\\\u{1}".repeat(500))),
            expires_at: Some(1_900_000_000),
            refresh_token: Some(Zeroizing::new("rt".to_owned())),
            idp_info: None,
        };
        let file = CacheFile {
            entries: BTreeMap::from([("h:1|u".to_owned(), Stored::Written(entry))]),
            ..CacheFile::default()
        };
        let text = serialized(&file).unwrap();
        // A reallocation would have left its capacity above its length.
        assert_eq!(text.capacity(), text.len());
        let read = CacheFile::parse(&text).unwrap();
        let Some(Stored::AsRead(raw)) = read.entries.get("h:1|u") else {
            panic!("the entry is read back as written");
        };
        let entry: Entry = serde_json::from_str(raw.get()).unwrap();
        assert_eq!(
            entry.access_token.as_deref().map(String::as_str),
            Some("a\"t\\\u{1}".repeat(500).as_str())
        );
        assert_eq!(entry.expires_at, Some(1_900_000_000));
    }

    #[test]
    fn a_file_of_the_earlier_layout_is_read_and_a_malformed_one_is_none() {
        let dir = TempDir::new("cache-old");
        let path = dir.join("tokens.json");
        // As the cache was written before it was typed: `clientId` null, fields unknown here.
        let entry = json!({
            "accessToken": "at",
            "expiresAt": 1_900_000_000_u64,
            "idpInfo": { "issuer": "https://idp", "clientId": null, "requestScopes": [] },
            "note": "kept by a later version",
        });
        std::fs::write(
            &path,
            json!({ "version": 1, "entries": { "k": entry } }).to_string(),
        )
        .unwrap();
        let saved = load(&path, "k").unwrap();
        assert_eq!(saved.access_token.as_ref().map(Secret::expose), Some("at"));
        assert_eq!(
            saved.idp_info.map(|info| (info.issuer, info.client_id)),
            Some(("https://idp".to_owned(), None))
        );
        // A token that is not a string: that entry is as good as none.
        let bad = json!({ "version": 1, "entries": { "k": { "accessToken": 5 } } });
        std::fs::write(&path, bad.to_string()).unwrap();
        assert_eq!(load(&path, "k"), None);
    }

    #[test]
    fn a_store_keeps_what_it_cannot_read_and_replaces_no_other_file() {
        let dir = TempDir::new("cache-keep");
        let path = dir.join("tokens.json");
        let mut saved = SavedTokens::default();
        saved.access_token = Some("at".into());
        // An entry this version cannot read, one it can, and a field it does not know: storing
        // another entry, then removing the readable one, keeps the rest as written.
        let unreadable = json!({ "accessToken": 5, "kept": [1, 2] });
        let readable = json!({ "accessToken": "old", "note": "a later field" });
        let written = json!({
            "version": 1,
            "entries": { "bad": unreadable, "good": readable },
            "owner": { "tool": "another" },
        });
        std::fs::write(&path, written.to_string()).unwrap();
        store(&path, "new", &saved).unwrap();
        assert_eq!(load(&path, "new"), Some(saved.clone()));
        let good = load(&path, "good").unwrap();
        assert_eq!(good.access_token.as_ref().map(Secret::expose), Some("old"));
        store(&path, "good", &SavedTokens::default()).unwrap();
        let now: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(now["entries"]["bad"], unreadable);
        assert_eq!(now["owner"], written["owner"]);
        assert_eq!(now["entries"].get("good"), None);
        assert!(now["entries"]["new"].is_object());

        // A file that is not a cache this version can read is never replaced, nor is anything
        // written beside it.
        std::fs::remove_file(&path).unwrap();
        let _ = std::fs::remove_file(dir.join("tokens.json.lock"));
        let json_text = json!([1, 2]).to_string();
        let another_tools = json!({ "compilerOptions": { "strict": true } }).to_string();
        let version_0 = json!({ "version": 0, "entries": {} }).to_string();
        let version_text = json!({ "version": "1", "entries": {} }).to_string();
        let later = json!({ "version": 2, "entries": {} }).to_string();
        let odd_entries = json!({ "version": 1, "entries": [] }).to_string();
        let too_large = "x".repeat(MAX_CACHE_SIZE + 1);
        let others = [
            "Host *\n  User me\n",
            &json_text,
            &another_tools,
            &version_0,
            &version_text,
            &later,
            &odd_entries,
            &too_large,
        ];
        for other in others {
            std::fs::write(&path, other).unwrap();
            let refused = store(&path, "new", &saved).unwrap_err();
            assert_eq!(refused.kind(), std::io::ErrorKind::InvalidData, "{refused}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), other);
            assert_eq!(load(&path, "new"), None);
        }
        let a_directory = dir.join("a-directory");
        std::fs::create_dir(&a_directory).unwrap();
        for not_a_file in [a_directory.as_path(), Path::new(""), Path::new("..")] {
            assert!(store(not_a_file, "new", &saved).is_err(), "{not_a_file:?}");
        }
        let mut beside: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        beside.sort();
        assert_eq!(beside, ["a-directory", "tokens.json"]);
        assert_eq!(std::fs::read_dir(&a_directory).unwrap().count(), 0);
        // An empty file is an empty cache.
        std::fs::write(&path, " \n").unwrap();
        store(&path, "new", &saved).unwrap();
        assert_eq!(load(&path, "new"), Some(saved));
    }

    #[test]
    fn tokens_round_trip_through_an_owner_only_file() {
        let dir = TempDir::new("cache");
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
    }

    #[test]
    #[cfg(all(unix, not(target_os = "solaris")))]
    fn a_link_or_a_fifo_is_never_taken_for_the_lock() {
        let dir = TempDir::new("cache-lock");
        let mut saved = SavedTokens::default();
        saved.access_token = Some("at".into());
        // A link to a file that is not there: following it would make that file.
        let linked = dir.join("linked.json");
        let target = dir.join("target-of-the-link");
        std::os::unix::fs::symlink(&target, dir.join("linked.json.lock")).unwrap();
        assert_eq!(lock(&linked).map(|_| ()), None);
        assert!(!target.exists());
        // A FIFO (made here as Linux makes one): opening it to write would wait for a reader.
        let piped = dir.join("piped.json");
        #[cfg(target_os = "linux")]
        {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                dir.join("piped.json.lock"),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
                0,
            )
            .unwrap();
            assert_eq!(lock(&piped).map(|_| ()), None);
        }
        // Without its lock, a store goes on.
        for path in [&linked, &piped] {
            store(path, "k", &saved).unwrap();
            assert_eq!(load(path, "k"), Some(saved.clone()));
        }
    }

    #[test]
    #[cfg(all(unix, not(target_os = "solaris")))]
    fn logins_saving_at_once_keep_each_others_entries() {
        let dir = TempDir::new("cache-race");
        let path = dir.join("tokens.json");
        let (writers, stores) = (6, 8);
        std::thread::scope(|scope| {
            for writer in 0..writers {
                let path = &path;
                scope.spawn(move || {
                    for n in 0..stores {
                        let mut saved = SavedTokens::default();
                        saved.access_token = Some(format!("at-{writer}-{n}").into());
                        store(path, &format!("{writer}-{n}"), &saved).unwrap();
                    }
                });
            }
        });
        for writer in 0..writers {
            for n in 0..stores {
                let saved = load(&path, &format!("{writer}-{n}"));
                let token = saved.and_then(|saved| saved.access_token);
                let expected = format!("at-{writer}-{n}");
                assert_eq!(token.as_ref().map(Secret::expose), Some(expected.as_str()));
            }
        }
    }

    #[test]
    fn an_expiry_past_the_clocks_range_is_read_as_none() {
        let dir = TempDir::new("cache-far");
        let path = dir.join("tokens.json");
        let entry = json!({ "accessToken": "at", "expiresAt": u64::MAX });
        std::fs::write(
            &path,
            json!({ "version": 1, "entries": { "k": entry } }).to_string(),
        )
        .unwrap();
        let saved = load(&path, "k").unwrap();
        assert_eq!(saved.expires_at, None);
    }
}
