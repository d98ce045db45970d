//! Writing several files so that either all of them or none replace the old ones.
//!
//! Each file is written to a temporary name in the run folder and fsynced; then a journal
//! naming the renames is itself written atomically (the commit point); then the renames
//! happen and the journal is removed. Opening a run ([`replay`]) finishes a journal left by
//! a kill (all temporaries are complete by then) or deletes stray temporaries (a kill before
//! the journal: the old files are intact).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const JOURNAL: &str = "checkpoint.journal";
const TMP_SUFFIX: &str = ".tmp";

/// Files being written for one commit. Dropped without [`Staging::commit`] (a failure, a
/// full disk most likely), it removes every temporary it wrote, so the space goes back and
/// the old files stay the ones a resume finds.
pub struct Staging {
    dir: PathBuf,
    names: Vec<String>,
    committed: bool,
}

impl Staging {
    pub fn new(dir: &Path) -> Staging {
        Staging {
            dir: dir.to_path_buf(),
            names: Vec::new(),
            committed: false,
        }
    }

    /// Where file `name` is staged; the caller writes it there (complete and fsynced)
    /// through [`Staging::write`] or [`Staging::write_with`].
    fn tmp(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{TMP_SUFFIX}"))
    }

    /// Stages `name` with `bytes`.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.write_with(name, |path| write_synced(path, bytes))
    }

    /// Stages `name` by letting `write` create the file at the path it is given (it must
    /// be complete and fsynced when `write` returns).
    pub fn write_with(
        &mut self,
        name: &str,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        self.names.push(name.to_string());
        write(&self.tmp(name))
    }

    /// The SHA-256 of a staged file, hex.
    pub fn digest(&self, name: &str) -> Result<String> {
        sha256_file(&self.tmp(name))
    }

    /// The commit point, then the renames.
    pub fn commit(mut self) -> Result<()> {
        let journal = self.dir.join(JOURNAL);
        let journal_tmp = self.tmp(JOURNAL);
        fsync_dir(&self.dir)?;
        write_synced(&journal_tmp, self.names.join("\n").as_bytes())?;
        std::fs::rename(&journal_tmp, &journal).map_err(|e| Error::io(&journal, "rename", e))?;
        // Once the journal exists every temporary is complete: a failure from here on is
        // finished by the next replay, so nothing may be removed.
        self.committed = true;
        fsync_dir(&self.dir)?;
        replay(&self.dir)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            for name in self.names.iter().map(String::as_str).chain([JOURNAL]) {
                let _ = std::fs::remove_file(self.tmp(name));
            }
        }
    }
}

/// Finishes a committed checkpoint (renames listed in the journal) or discards an
/// uncommitted one (stray temporaries). Called before reading a run folder.
pub fn replay(dir: &Path) -> Result<()> {
    let journal = dir.join(JOURNAL);
    if journal.exists() {
        let list = std::fs::read_to_string(&journal).map_err(|e| Error::io(&journal, "read", e))?;
        for name in list.lines().filter(|l| !l.is_empty()) {
            let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
            if tmp.exists() {
                let dst = dir.join(name);
                std::fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, "rename", e))?;
            }
        }
        fsync_dir(dir)?;
        std::fs::remove_file(&journal).map_err(|e| Error::io(&journal, "remove", e))?;
        fsync_dir(dir)?;
    }
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Ours, and the weights crate's own partial file inside one of ours
            // (`.last.safetensors.tmp.partial-<pid>`) when the kill came mid-write.
            if name.ends_with(TMP_SUFFIX) || name.contains(&format!("{TMP_SUFFIX}.partial-")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, "read", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, "read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "sync folder", e))
}

pub(super) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, "create", e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, "write", e))
}
