//! The central directory, read here rather than trusted to the `zip` crate:
//! the crate keys entries by name, so two entries called `dup.exe` become
//! one and the other is never seen — a sample lost, and 10,001 entries of
//! one name slip past the entry limit. Every record of the directory is an
//! entry here, counted and named as the archive lists it.
//!
//! To read the bytes, the crate is handed a *view* of the archive: the
//! original bytes up to the directory, followed by a rewritten directory in
//! which entry `i` is called `i` (`i/` for a directory). Local headers,
//! encryption headers and data stay the original bytes, read at each
//! record's own offset; only the names the crate keys by are made unique.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

const EOCD: &[u8; 4] = b"PK\x05\x06";
const EOCD64: &[u8; 4] = b"PK\x06\x06";
const EOCD64_LOCATOR: &[u8; 4] = b"PK\x06\x07";
const CENTRAL: &[u8; 4] = b"PK\x01\x02";
/// Fixed part of a central directory record, signature included.
const CENTRAL_FIXED: usize = 46;
/// Fixed part of the end-of-central-directory record.
const EOCD_FIXED: usize = 22;
/// Info-ZIP's Unicode path extra field: the name in UTF-8 beside a legacy one.
const UNICODE_PATH: u16 = 0x7075;
/// Flag bit 11: the name is UTF-8.
const UTF8_FLAG: u16 = 1 << 11;

/// One record of the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The name as the archive lists it, decoded (UTF-8 when flagged or
    /// valid, the Unicode path field when present, else CP437).
    pub name: String,
    /// The name ends in `/` (or `\`): a directory entry, skipped silently
    /// when reading it gives no byte (a "directory" with data is a file, so
    /// nothing hides behind a trailing slash).
    pub is_dir: bool,
    /// Flag bit 0: the entry is encrypted.
    pub encrypted: bool,
}

/// The directory of an archive and the view the `zip` crate reads.
#[derive(Debug, Clone)]
pub struct Directory<'a> {
    pub entries: Vec<Listed>,
    pub view: View<'a>,
}

/// Why the directory could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Corrupt(&'static str),
}

/// Reads the central directory of `bytes`. Its size is bounded by the
/// bytes: every record takes at least 46 of them, and a count that does not
/// fit is refused before anything is allocated.
pub fn read(bytes: &[u8]) -> Result<Directory<'_>, DirectoryError> {
    let end = find_end(bytes)?;
    let mut entries = Vec::with_capacity(end.count as usize);
    let mut rewritten = Vec::with_capacity(end.size as usize);
    let mut at = end.start;
    let stop = end
        .start
        .checked_add(end.size)
        .ok_or(DirectoryError::Corrupt("directory size"))?;
    for i in 0..end.count {
        let record = slice(bytes, at, CENTRAL_FIXED)?;
        if &record[..4] != CENTRAL {
            return Err(DirectoryError::Corrupt(
                "a central directory record is missing",
            ));
        }
        let flags = u16le(record, 8);
        let name_len = u16le(record, 28) as usize;
        let extra_len = u16le(record, 30) as usize;
        let comment_len = u16le(record, 32) as usize;
        let name = slice(bytes, at + CENTRAL_FIXED as u64, name_len)?;
        let extra = slice(bytes, at + (CENTRAL_FIXED + name_len) as u64, extra_len)?;
        let next = at + (CENTRAL_FIXED + name_len + extra_len + comment_len) as u64;
        if next > stop {
            return Err(DirectoryError::Corrupt("a record runs past the directory"));
        }
        let is_dir = name.ends_with(b"/") || name.ends_with(b"\\");
        entries.push(Listed {
            name: decode_name(name, flags, extra),
            is_dir,
            encrypted: flags & 1 == 1,
        });
        // The record again, named by its index, without its comment and
        // without a Unicode path field that would name it back.
        let new_name = format!("{i}{}", if is_dir { "/" } else { "" });
        let new_extra = without_field(extra, UNICODE_PATH);
        let start = rewritten.len();
        rewritten.extend_from_slice(&record[..CENTRAL_FIXED]);
        rewritten[start + 8..start + 10].copy_from_slice(&(flags & !UTF8_FLAG).to_le_bytes());
        put_u16(&mut rewritten, start + 28, new_name.len());
        put_u16(&mut rewritten, start + 30, new_extra.len());
        put_u16(&mut rewritten, start + 32, 0);
        rewritten.extend_from_slice(new_name.as_bytes());
        rewritten.extend_from_slice(&new_extra);
        at = next;
    }
    // Offsets in the records count from the archive's start, which comes
    // after any bytes prepended to it (a self-extractor's stub).
    let head = bytes
        .get(end.archive_offset as usize..end.start as usize)
        .ok_or(DirectoryError::Corrupt("directory offset"))?;
    let cd_offset = head.len() as u64;
    let cd_size = rewritten.len() as u64;
    let mut tail = rewritten;
    end_records(&mut tail, end.count, cd_size, cd_offset);
    Ok(Directory {
        entries,
        view: View {
            head,
            tail: Arc::from(tail),
            pos: 0,
        },
    })
}

/// Where the directory is, from the end records.
struct End {
    /// Absolute position of the first record.
    start: u64,
    size: u64,
    count: u64,
    /// Bytes before the archive proper.
    archive_offset: u64,
}

fn find_end(bytes: &[u8]) -> Result<End, DirectoryError> {
    if bytes.len() < EOCD_FIXED {
        return Err(DirectoryError::Corrupt("too short"));
    }
    // The record sits in the last 22 bytes plus a comment of up to 64 KiB.
    let lowest = bytes.len().saturating_sub(EOCD_FIXED + u16::MAX as usize);
    let pos = (lowest..=bytes.len() - EOCD_FIXED)
        .rev()
        .find(|&p| &bytes[p..p + 4] == EOCD)
        .ok_or(DirectoryError::Corrupt(
            "could not find the end of the central directory",
        ))?;
    let e = &bytes[pos..pos + EOCD_FIXED];
    let mut count = u64::from(u16le(e, 10));
    let mut size = u64::from(u32le(e, 12));
    let mut offset = u64::from(u32le(e, 16));
    // The directory ends where the end records begin.
    let mut dir_end = pos as u64;
    let zip64 = count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF;
    if zip64 || (pos >= 20 && &bytes[pos - 20..pos - 16] == EOCD64_LOCATOR) {
        let loc = slice(bytes, (pos as u64).saturating_sub(20), 20)?;
        if &loc[..4] != EOCD64_LOCATOR {
            return Err(DirectoryError::Corrupt("zip64 locator missing"));
        }
        // Search back from the locator rather than trusting its offset,
        // which is relative to an archive start we do not know yet.
        let rec_pos = (pos as u64).saturating_sub(20 + 56);
        let rec = slice(bytes, rec_pos, 56)?;
        if &rec[..4] != EOCD64 {
            return Err(DirectoryError::Corrupt("zip64 end record missing"));
        }
        count = u64le(rec, 32);
        size = u64le(rec, 40);
        offset = u64le(rec, 48);
        dir_end = rec_pos;
    }
    let start = dir_end
        .checked_sub(size)
        .ok_or(DirectoryError::Corrupt("directory larger than the file"))?;
    let archive_offset = start.checked_sub(offset).ok_or(DirectoryError::Corrupt(
        "directory offset past its position",
    ))?;
    // Each record takes at least 46 bytes: a count the size cannot hold lies.
    if count.saturating_mul(CENTRAL_FIXED as u64) > size {
        return Err(DirectoryError::Corrupt(
            "more records than the directory holds",
        ));
    }
    Ok(End {
        start,
        size,
        count,
        archive_offset,
    })
}

/// The end records for a directory of `count` records, `size` bytes at
/// `offset`: zip64 ones as well where a field does not fit.
fn end_records(out: &mut Vec<u8>, count: u64, size: u64, offset: u64) {
    let big = count >= 0xFFFF || size >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF;
    if big {
        let rec_at = offset + size;
        out.extend_from_slice(EOCD64);
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(EOCD64_LOCATOR);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&rec_at.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    let clamp16 = |v: u64| if big { 0xFFFF } else { v as u16 };
    let clamp32 = |v: u64| if big { 0xFFFF_FFFF } else { v as u32 };
    out.extend_from_slice(EOCD);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&clamp16(count).to_le_bytes());
    out.extend_from_slice(&clamp16(count).to_le_bytes());
    out.extend_from_slice(&clamp32(size).to_le_bytes());
    out.extend_from_slice(&clamp32(offset).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
}

/// The name of a record, decoded the way archivers do.
fn decode_name(raw: &[u8], flags: u16, extra: &[u8]) -> String {
    if flags & UTF8_FLAG == 0
        && let Some(field) = field(extra, UNICODE_PATH)
        // version (1), CRC of the legacy name (4), the UTF-8 name
        && field.len() > 5
        && field[0] == 1
        && let Ok(s) = std::str::from_utf8(&field[5..])
    {
        return s.to_owned();
    }
    match std::str::from_utf8(raw) {
        // Many tools write UTF-8 without the flag.
        Ok(s) => s.to_owned(),
        Err(_) => raw.iter().map(|&b| cp437(b)).collect(),
    }
}

/// The data of the first extra field with `id`.
fn field(extra: &[u8], id: u16) -> Option<&[u8]> {
    fields(extra).find(|(i, _)| *i == id).map(|(_, d)| d)
}

/// The extra block without fields of kind `id` (a malformed tail is kept).
fn without_field(extra: &[u8], id: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(extra.len());
    let mut at = 0;
    while at + 4 <= extra.len() {
        let kind = u16le(extra, at);
        let len = u16le(extra, at + 2) as usize;
        let end = (at + 4 + len).min(extra.len());
        if kind != id {
            out.extend_from_slice(&extra[at..end]);
        }
        at = end;
    }
    out.extend_from_slice(&extra[at.min(extra.len())..]);
    out
}

fn fields(extra: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at + 4 > extra.len() {
            return None;
        }
        let kind = u16le(extra, at);
        let len = u16le(extra, at + 2) as usize;
        let data = extra.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        Some((kind, data))
    })
}

fn slice(bytes: &[u8], at: u64, len: usize) -> Result<&[u8], DirectoryError> {
    let at = usize::try_from(at).map_err(|_| DirectoryError::Corrupt("offset"))?;
    bytes
        .get(at..at.saturating_add(len))
        .filter(|s| s.len() == len)
        .ok_or(DirectoryError::Corrupt("truncated central directory"))
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64le(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn put_u16(b: &mut [u8], at: usize, v: usize) {
    b[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes());
}

/// Code page 437's upper half, the zip format's legacy name encoding.
fn cp437(b: u8) -> char {
    const HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";
    if b < 0x80 {
        char::from(b)
    } else {
        HIGH.chars().nth(usize::from(b - 0x80)).unwrap_or('?')
    }
}

/// The archive as the `zip` crate reads it: the original bytes up to the
/// directory, then the rewritten directory. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct View<'a> {
    head: &'a [u8],
    tail: Arc<[u8]>,
    pos: u64,
}

impl View<'_> {
    fn len(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64
    }
}

impl Read for View<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let head_len = self.head.len() as u64;
        let n = if self.pos < head_len {
            let mut from = &self.head[self.pos as usize..];
            from.read(buf)?
        } else {
            let at = (self.pos - head_len) as usize;
            let mut from = self.tail.get(at..).unwrap_or(&[]);
            from.read(buf)?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for View<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp437_names_decode_like_archivers() {
        assert_eq!(decode_name(b"caf\x82.txt", 0, &[]), "café.txt");
        assert_eq!(decode_name(b"\xff", 0, &[]), "\u{a0}");
        assert_eq!(decode_name("样本.exe".as_bytes(), 0, &[]), "样本.exe");
    }

    #[test]
    fn the_unicode_path_field_names_a_legacy_name() {
        let mut extra = vec![0x75, 0x70];
        let name = "病毒.exe".as_bytes();
        extra.extend_from_slice(&((5 + name.len()) as u16).to_le_bytes());
        extra.push(1);
        extra.extend_from_slice(&[0, 0, 0, 0]);
        extra.extend_from_slice(name);
        assert_eq!(decode_name(b"??.exe", 0, &extra), "病毒.exe");
        assert!(without_field(&extra, UNICODE_PATH).is_empty());
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for bytes in [
            &b""[..],
            b"PK\x05\x06",
            b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\0\0",
            b"PK\x05\x06\0\0\0\0\x01\0\x01\0\x2e\0\0\0\0\0\0\0\0\0",
        ] {
            assert!(read(bytes).is_err(), "{bytes:?}");
        }
    }
}
