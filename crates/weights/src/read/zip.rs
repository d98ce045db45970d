//! Just enough of the zip format to find the records of a `torch.save` archive.
//!
//! torch.save (1.6+) writes an uncompressed zip: `<root>/data.pkl` plus one record per
//! storage under `<root>/data/`. We only need the central directory (names, sizes,
//! offsets) and each record's data offset, so this reads those and nothing else: no
//! decompression (torch never compresses), no extraction to disk. Every offset and
//! length comes from the file and is checked against the file before use.

use super::Fault;
use super::source::Source;
use std::collections::HashMap;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: u64 = 30;

/// One record as the central directory describes it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    method: u16,
    flags: u16,
    crc32: u32,
    compressed: u64,
    pub size: u64,
    local_offset: u64,
}

pub(crate) struct Archive {
    pub entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

fn bad(reason: impl Into<String>) -> Fault {
    Fault::Format(format!("damaged zip archive: {}", reason.into()))
}

impl Archive {
    pub(crate) fn open(src: &Source) -> Result<Archive, Fault> {
        let (count, cd_size, cd_offset) = central_directory_location(src)?;
        let cd = src.read_vec(cd_offset, cd_size, "zip central directory")?;
        // Every entry takes at least CENTRAL_LEN bytes, which bounds a hostile count.
        if count > (cd.len() / CENTRAL_LEN) as u64 {
            return Err(bad(format!(
                "central directory claims {count} entries in {cd_size} bytes"
            )));
        }
        let mut entries = Vec::with_capacity(count as usize);
        let mut by_name = HashMap::with_capacity(count as usize);
        let mut at = 0usize;
        for _ in 0..count {
            let (entry, next) = central_entry(&cd, at)?;
            if by_name.insert(entry.name.clone(), entries.len()).is_some() {
                return Err(bad(format!("two records are named '{}'", entry.name)));
            }
            entries.push(entry);
            at = next;
        }
        Ok(Archive { entries, by_name })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// File offset and length of a record's bytes, after checking it is stored plainly.
    pub(crate) fn data_range(&self, src: &Source, entry: &Entry) -> Result<(u64, u64), Fault> {
        let name = &entry.name;
        if entry.flags & 1 != 0 {
            return Err(bad(format!("record '{name}' is encrypted")));
        }
        if entry.method != 0 {
            return Err(Fault::Format(format!(
                "zip record '{name}' is compressed (method {}); torch.save never compresses, \
                 so this archive was repacked by another tool: unzip and re-zip it with \
                 `zip -0`, or re-save it with torch.save",
                entry.method
            )));
        }
        if entry.compressed != entry.size {
            return Err(bad(format!(
                "record '{name}' is stored but its sizes differ ({} vs {})",
                entry.compressed, entry.size
            )));
        }
        let head = src.read_vec(entry.local_offset, LOCAL_LEN, "zip local header")?;
        if u32_at(&head, 0) != LOCAL_SIG {
            return Err(bad(format!("record '{name}' has no local header")));
        }
        let start = entry.local_offset
            + LOCAL_LEN
            + u64::from(u16_at(&head, 26))
            + u64::from(u16_at(&head, 28));
        if start
            .checked_add(entry.size)
            .is_none_or(|end| end > src.len())
        {
            return Err(bad(format!(
                "record '{name}' ({} bytes) runs past the end of the file (truncated?)",
                entry.size
            )));
        }
        Ok((start, entry.size))
    }

    /// A whole record, its checksum verified.
    pub(crate) fn read(&self, src: &Source, entry: &Entry) -> Result<Vec<u8>, Fault> {
        let (start, len) = self.data_range(src, entry)?;
        let bytes = src.read_vec(start, len, &format!("zip record '{}'", entry.name))?;
        check_crc(entry, &bytes)?;
        Ok(bytes)
    }
}

/// Entry count, size and offset of the central directory, from the end record (and its
/// zip64 version when the plain one's fields overflow).
fn central_directory_location(src: &Source) -> Result<(u64, u64, u64), Fault> {
    let len = src.len();
    // The end record is 22 bytes plus a comment of at most 65535.
    let tail_len = len.min(22 + 65535);
    let tail = src.read_vec(len - tail_len, tail_len, "zip end record")?;
    let pos = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == EOCD_SIG)
        .ok_or_else(|| bad("no end-of-central-directory record (truncated?)"))?;
    let eocd_offset = len - tail_len + pos as u64;
    let eocd = &tail[pos..];
    let count = u64::from(u16_at(eocd, 10));
    let cd_size = u64::from(u32_at(eocd, 12));
    let cd_offset = u64::from(u32_at(eocd, 16));
    if count != 0xFFFF && cd_size != 0xFFFF_FFFF && cd_offset != 0xFFFF_FFFF {
        return Ok((count, cd_size, cd_offset));
    }
    let locator_at = eocd_offset
        .checked_sub(20)
        .ok_or_else(|| bad("zip64 locator missing"))?;
    let locator = src.read_vec(locator_at, 20, "zip64 locator")?;
    if u32_at(&locator, 0) != EOCD64_LOCATOR_SIG {
        return Err(bad("zip64 locator missing"));
    }
    let eocd64 = src.read_vec(u64_at(&locator, 8), 56, "zip64 end record")?;
    if u32_at(&eocd64, 0) != EOCD64_SIG {
        return Err(bad("zip64 end record has the wrong signature"));
    }
    Ok((
        u64_at(&eocd64, 32),
        u64_at(&eocd64, 40),
        u64_at(&eocd64, 48),
    ))
}

/// The central directory entry at `at`, and where the next one starts.
fn central_entry(cd: &[u8], at: usize) -> Result<(Entry, usize), Fault> {
    let short = || bad("central directory is cut short");
    let head = cd.get(at..at + CENTRAL_LEN).ok_or_else(short)?;
    if u32_at(head, 0) != CENTRAL_SIG {
        return Err(bad("central directory entry has the wrong signature"));
    }
    let name_len = usize::from(u16_at(head, 28));
    let extra_len = usize::from(u16_at(head, 30));
    let comment_len = usize::from(u16_at(head, 32));
    let name_at = at + CENTRAL_LEN;
    let extra_at = name_at + name_len;
    let next = extra_at + extra_len + comment_len;
    let name = cd.get(name_at..extra_at).ok_or_else(short)?;
    let extra = cd.get(extra_at..extra_at + extra_len).ok_or_else(short)?;
    let name = String::from_utf8_lossy(name).into_owned();

    let mut size = u64::from(u32_at(head, 24));
    let mut compressed = u64::from(u32_at(head, 20));
    let mut local_offset = u64::from(u32_at(head, 42));
    if size == 0xFFFF_FFFF || compressed == 0xFFFF_FFFF || local_offset == 0xFFFF_FFFF {
        let z = zip64_extra(extra).ok_or_else(|| {
            bad(format!(
                "entry '{name}' needs a zip64 field it does not have"
            ))
        })?;
        // The zip64 field holds, in this order, those of the three that overflowed.
        let mut k = 0;
        for field in [&mut size, &mut compressed, &mut local_offset] {
            if *field == 0xFFFF_FFFF {
                *field = z
                    .get(k..k + 8)
                    .map(|s| u64_at(s, 0))
                    .ok_or_else(|| bad(format!("entry '{name}' has a short zip64 field")))?;
                k += 8;
            }
        }
    }
    let entry = Entry {
        name,
        method: u16_at(head, 10),
        flags: u16_at(head, 8),
        crc32: u32_at(head, 16),
        compressed,
        size,
        local_offset,
    };
    Ok((entry, next))
}

/// Compare a whole record against the CRC-32 the archive recorded. torch.save writes 0
/// when told not to compute checksums (`compute_crc32=False`), which means "unchecked".
pub(crate) fn check_crc(entry: &Entry, bytes: &[u8]) -> Result<(), Fault> {
    if entry.crc32 != 0 && crc32fast::hash(bytes) != entry.crc32 {
        return Err(bad(format!(
            "record '{}' fails its CRC-32 check (the bytes are corrupted)",
            entry.name
        )));
    }
    Ok(())
}

/// The payload of the zip64 extended-information field (id 1), if present.
fn zip64_extra(mut extra: &[u8]) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let len = usize::from(u16_at(extra, 2));
        let body = extra.get(4..4 + len)?;
        if id == 1 {
            return Some(body);
        }
        extra = &extra[4 + len..];
    }
    None
}
