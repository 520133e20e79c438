//! One daemon per SQLite database: the writer's caches, the outbox claims and the channels'
//! cursors all assume no other daemon writes the same file (PostgreSQL is for several).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

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
        "another switchboard daemon ({holder}) already runs on this database (lock {path}); \
         several daemons need PostgreSQL (storage.database_url = \"postgres://...\")"
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
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        super::private_dir(parent).map_err(io)?;
    }
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

/// The database file of a `sqlite:` URL; `None` for other URLs and in-memory databases.
fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || database_url.contains("mode=memory") {
        return None;
    }
    Some(Path::new(path).to_path_buf())
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
