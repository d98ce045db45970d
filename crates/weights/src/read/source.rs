//! Random access to the bytes of a weight file, from disk or from memory.
//!
//! A zip checkpoint is read by looking up each storage's offset and reading exactly that
//! range into the tensor's own buffer. Reading straight from the file, rather than loading
//! the whole file first, saves one copy of every weight; asking for huge pages saves most
//! of the page faults, which are what the time actually goes to.

use super::Fault;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Where a file's bytes come from.
pub(crate) enum Source<'a> {
    Memory(&'a [u8]),
    File { file: File, len: u64 },
}

impl Source<'_> {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::Memory(bytes) => bytes.len() as u64,
            Source::File { len, .. } => *len,
        }
    }

    /// Exactly `len` bytes at `offset`, or an error saying the file is shorter than its own
    /// headers claim. The range is checked against the file length before anything is
    /// allocated, so a hostile length cannot exhaust memory.
    pub(crate) fn read_vec(&self, offset: u64, len: u64, what: &str) -> Result<Vec<u8>, Fault> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.len()) {
            return Err(Fault::Format(format!(
                "{what} claims bytes {offset}..{} but the file has only {} bytes (truncated?)",
                offset.saturating_add(len),
                self.len()
            )));
        }
        let len = usize::try_from(len)
            .map_err(|_| Fault::Format(format!("{what} is too large for this machine")))?;
        match self {
            Source::Memory(bytes) => {
                let start = offset as usize;
                let mut buf = Vec::with_capacity(len);
                advise_huge_pages(&mut buf);
                buf.extend_from_slice(&bytes[start..start + len]);
                Ok(buf)
            }
            Source::File { file, .. } => {
                let mut buf = Vec::with_capacity(len);
                advise_huge_pages(&mut buf);
                // Read into the untouched capacity: zero-filling it first would fault
                // every page in before the huge-page advice could apply.
                let mut f = file;
                f.seek(SeekFrom::Start(offset))
                    .and_then(|_| f.take(len as u64).read_to_end(&mut buf))
                    .map_err(|e| Fault::Io("cannot read", e))?;
                if buf.len() != len {
                    return Err(Fault::Format(format!(
                        "{what}: the file shrank while it was being read"
                    )));
                }
                Ok(buf)
            }
        }
    }
}

/// Ask Linux to back a large buffer with transparent huge pages where it is configured
/// to do so only on request (`madvise`, the usual default).
///
/// Reading weights is dominated by the kernel handing out fresh zeroed pages, one fault
/// per 4 KiB; with 2 MiB pages a 100 MB state dict takes hundreds of faults instead of
/// tens of thousands. Advice only: if the kernel declines, nothing changes but speed.
#[cfg(target_os = "linux")]
fn advise_huge_pages(buf: &mut Vec<u8>) {
    const HUGE: usize = 2 << 20;
    let cap = buf.capacity();
    if cap < 2 * HUGE {
        return;
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let start = buf.as_mut_ptr() as usize;
    let (Some(first), Some(end)) = (start.checked_next_multiple_of(page), start.checked_add(cap))
    else {
        return;
    };
    let last = end - end % page;
    if last > first {
        // SAFETY: the range is page-aligned and lies inside this Vec's own allocation;
        // MADV_HUGEPAGE changes how the pages are backed, never their contents, so no
        // Rust reference can observe it. Failure is harmless and ignored.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_buf: &mut Vec<u8>) {}
