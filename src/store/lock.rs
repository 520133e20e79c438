//! One daemon per SQLite database: the writer's caches, the outbox claims and the channels'
//! cursors all assume no other daemon writes the same file (PostgreSQL is for several).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Held for as long as the daemon runs; the operating system releases it when the process ends,
/// however it ends (a `kill -9` leaves no stale lock behind).
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another switchboard daemon ({holder}) already runs on this database (lock {path}): \
         one SQLite database serves one daemon; stop that one first"
    )]
    Held { path: PathBuf, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Locks `<database>.lock` next to the database file; `None` for an in-memory database, which
/// no other process can open.
pub fn lock_database(database_url: &str) -> Result<Option<DaemonLock>, LockError> {
    let Some(database) = sqlite_file(database_url) else {
        return Ok(None);
    };
    let mut name = database.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    let path = database.with_file_name(name);
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        super::private_dir(parent).map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
    }
    let path = absolute(&path);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            // The holder wrote who it is; a short read is fine, it only goes into the message.
            let mut holder = String::new();
            let _ = (&file).take(200).read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "process unknown".to_owned(),
                h => h.to_owned(),
            };
            return Err(LockError::Held { path, holder });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for the message another daemon shows.
    let me = format!("pid {}", std::process::id());
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(me.as_bytes()).map_err(io)?;
    Ok(Some(DaemonLock { _file: file, path }))
}

/// The database file of a `sqlite:` URL as sqlx opens it (percent-decoded, a `file:` URI's
/// path), with its directory made absolute so two spellings of one file share one lock; `None`
/// for other URLs and in-memory databases.
fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || database_url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(database_url).ok()?;
    let name = options.get_filename().to_string_lossy().into_owned();
    // SQLite opens `file:` names as URIs: the path is what comes before their parameters.
    let name = match name.strip_prefix("file:") {
        Some(uri) => uri.split('?').next().unwrap_or_default().to_owned(),
        None => name,
    };
    (!name.is_empty()).then(|| PathBuf::from(name))
}

/// `path` with its directory resolved (symbolic links, `..`), once that directory exists.
fn absolute(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match (dir.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_sits_next_to_the_database() {
        assert_eq!(
            sqlite_file("sqlite:///data/switchboard.db?mode=rwc"),
            Some(PathBuf::from("/data/switchboard.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://data/sb.db"),
            Some(PathBuf::from("data/sb.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://file.db?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://db/switchboard"), None);
        assert_eq!(
            sqlite_file("sqlite:///srv/my%20db/sb.db"),
            Some(PathBuf::from("/srv/my db/sb.db")),
            "decoded as sqlx opens it"
        );
        assert_eq!(
            sqlite_file("sqlite:file:sb.db"),
            Some(PathBuf::from("sb.db"))
        );
    }

    #[test]
    fn two_spellings_of_one_database_share_the_lock() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let plain = format!("sqlite://{}", dir.path().join("sb.db").display());
        let roundabout = format!("sqlite://{}/sub/../sb.db?mode=rwc", dir.path().display());
        let _first = lock_database(&plain).unwrap().unwrap();
        assert!(lock_database(&roundabout).is_err());
    }

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_and_names_the_holder() {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sb.db").display());
        let first = lock_database(&url)
            .unwrap()
            .expect("a file database is locked");
        let err = lock_database(&url).unwrap_err().to_string();
        assert!(err.contains("another switchboard daemon"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(lock_database(&url).unwrap().is_some(), "released on drop");
    }
}
