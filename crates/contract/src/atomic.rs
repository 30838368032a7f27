//! The one IO helper of this crate: replacing a file atomically, shared by every crate that writes.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed
/// over `path`: a crash at any point leaves either the old file or the new one, never a part.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_file_with(path, |file| file.write_all(bytes))
}

/// Like [`write_file`], with the content written by `fill`.
pub fn write_file_with(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> std::io::Result<()> {
    let pending = Pending::new(path)?;
    fill(&mut pending.file().try_clone()?)?;
    pending.commit()
}

/// A file written in several steps that replaces `path` only when [`Pending::commit`] is called;
/// dropped uncommitted, it is removed (and a killed writer's `.tmp-` file is swept by
/// [`remove_stale_temps`]).
pub struct Pending {
    path: std::path::PathBuf,
    temp: tempfile::NamedTempFile,
}

impl Pending {
    pub fn new(path: &Path) -> std::io::Result<Pending> {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(folder)?;
        let temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(folder)?;
        Ok(Pending { path: path.to_path_buf(), temp })
    }

    pub fn file(&self) -> &std::fs::File {
        self.temp.as_file()
    }

    /// Flushes the file to disk and moves it into place.
    pub fn commit(self) -> std::io::Result<()> {
        self.temp.as_file().sync_all()?;
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// True when `path` already holds exactly `bytes`.
pub fn same_content(path: &Path, bytes: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|existing| existing == bytes)
}

/// Removes temporary files that a killed writer left under `dir` (recursively); returns how many.
///
/// Only call this while no other writer is active in `dir`.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            removed += remove_stale_temps(&path);
        } else if entry.file_name().to_string_lossy().starts_with(".tmp-") && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}
