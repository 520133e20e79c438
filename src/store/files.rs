//! Content-addressed attachment files under `<data_dir>/attachments/<aa>/<sha256>`: the same file
//! received twice is stored once, and a crash after writing but before the DB commit leaves only
//! an unreferenced file, never a row without its bytes.

use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub fn new(data_dir: &Path) -> io::Result<Self> {
        let root = data_dir.join("attachments");
        super::private_dir(&root)?;
        Ok(Self { root })
    }

    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        // The hash comes from our own DB, but never let a value turn into a path traversal.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join(&sha256[..2]).join(sha256))
    }

    /// Writes `data` durably (temp file, fsync, rename) and returns its hex SHA-256.
    pub async fn put(&self, data: &[u8]) -> io::Result<String> {
        let sha = hex::encode(Sha256::digest(data));
        let path = self.path_of(&sha).expect("hex digest is a valid name");
        if tokio::fs::try_exists(&path).await? {
            return Ok(sha);
        }
        let dir = path.parent().expect("sharded path has a parent").to_owned();
        let data = data.to_vec();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            use std::io::Write;
            std::fs::create_dir_all(&dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
            tmp.write_all(&data)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })
        .await
        .map_err(io::Error::other)??;
        Ok(sha)
    }
}
