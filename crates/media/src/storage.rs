//! Where file bytes live, behind a small trait: a local directory by default; an
//! S3-compatible store fits the same three steps (stage = start a multipart upload,
//! publish = complete it under the final key, read = a ranged GET).
//!
//! An upload is written to a staging object first and becomes visible under its key only
//! when published, so a failed upload leaves nothing behind: the caller publishes after
//! its row is written and discards the staging object on any failure.

use async_trait::async_trait;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use uuid::Uuid;

/// A reader over stored bytes.
pub type ByteReader = Pin<Box<dyn AsyncRead + Send>>;

/// An object being written, not yet visible under any key.
pub struct Staged {
    /// Identifies the staging object for `publish` / `discard`.
    pub id: String,
    /// Where to write the bytes.
    pub writer: Pin<Box<dyn AsyncWrite + Send>>,
}

/// A byte store.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Starts a new staging object.
    async fn stage(&self) -> io::Result<Staged>;
    /// Makes a fully written staging object visible under `key`.
    async fn publish(&self, staged_id: &str, key: &str) -> io::Result<()>;
    /// Throws a staging object away (best effort).
    async fn discard(&self, staged_id: &str);
    /// Reads `len` bytes of `key` from `offset`; `None` when there is no such object.
    async fn read(&self, key: &str, offset: u64, len: u64) -> io::Result<Option<ByteReader>>;
    /// Deletes `key` (missing is fine).
    async fn delete(&self, key: &str) -> io::Result<()>;
}

/// Files in a local directory: `<dir>/<key>`, staging objects in `<dir>/.staging/` (the same
/// file system, so publishing is an atomic rename).
#[derive(Debug, Clone)]
pub struct LocalStorage {
    dir: PathBuf,
}

impl LocalStorage {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn staging_dir(&self) -> PathBuf {
        self.dir.join(".staging")
    }

    /// Keys and staging ids are ours (uuids), but refuse anything that could leave the
    /// directory anyway.
    fn path_of(&self, key: &str) -> io::Result<PathBuf> {
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            || key.starts_with('.')
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid storage key {key:?}"),
            ));
        }
        Ok(self.dir.join(key))
    }

    fn staged_path(&self, id: &str) -> io::Result<PathBuf> {
        Uuid::parse_str(id)
            .map(|u| self.staging_dir().join(format!("{u}.part")))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid staging id"))
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn stage(&self) -> io::Result<Staged> {
        tokio::fs::create_dir_all(self.staging_dir()).await?;
        let id = Uuid::now_v7().to_string();
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.staged_path(&id)?)
            .await?;
        Ok(Staged {
            id,
            writer: Box::pin(file),
        })
    }

    async fn publish(&self, staged_id: &str, key: &str) -> io::Result<()> {
        let from = self.staged_path(staged_id)?;
        let to = self.path_of(key)?;
        // Flush to disk before the rename makes the file visible.
        let f = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&from)
            .await?;
        f.sync_all().await?;
        drop(f);
        tokio::fs::rename(from, to).await
    }

    async fn discard(&self, staged_id: &str) {
        if let Ok(p) = self.staged_path(staged_id)
            && let Err(e) = tokio::fs::remove_file(&p).await
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %p.display(), "cannot remove a staged upload");
        }
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> io::Result<Option<ByteReader>> {
        let path = self.path_of(key)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if offset > 0 {
            file.seek(io::SeekFrom::Start(offset)).await?;
        }
        use tokio::io::AsyncReadExt;
        Ok(Some(Box::pin(file.take(len))))
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes all of `buf` to a staged object.
pub async fn write_all(staged: &mut Staged, buf: &[u8]) -> io::Result<()> {
    staged.writer.write_all(buf).await
}

/// Finishes writing a staged object.
pub async fn finish(staged: &mut Staged) -> io::Result<()> {
    staged.writer.flush().await?;
    staged.writer.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_directory() {
        let s = LocalStorage::new("/tmp/x");
        for bad in ["", "../etc/passwd", "a/b", ".staging", "..", "a\\b"] {
            assert!(s.path_of(bad).is_err(), "{bad}");
        }
        assert!(s.path_of("0193a1b2-0000-7000-8000-000000000000").is_ok());
        assert!(s.staged_path("not-a-uuid").is_err());
    }
}
