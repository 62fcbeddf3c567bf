//! A text view of a file's head, for the detectors that read words (logs,
//! scripts). Windows writes many logs in UTF-16, so that is decoded too; binary
//! content yields nothing, which keeps the word detectors off executables.

/// How much of a file the word detectors read.
pub const HEAD: usize = 16 * 1024;

/// The decoded head of `bytes` if it is text (UTF-8, UTF-16 with or without a
/// byte-order mark, or a single-byte code page), else `None`.
pub fn text_head(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(HEAD)];
    if let Some(rest) = head.strip_prefix(b"\xef\xbb\xbf") {
        return plain(rest);
    }
    if let Some(rest) = head.strip_prefix(b"\xff\xfe") {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = head.strip_prefix(b"\xfe\xff") {
        return utf16(rest, u16::from_be_bytes);
    }
    if looks_utf16le(head) {
        return utf16(head, u16::from_le_bytes);
    }
    plain(head)
}

/// ASCII text in UTF-16LE: every odd byte is zero, few even ones are.
fn looks_utf16le(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(512) & !1];
    if sample.len() < 8 {
        return false;
    }
    let odd_zero = sample
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|b| **b == 0)
        .count();
    let even_zero = sample.iter().step_by(2).filter(|b| **b == 0).count();
    let pairs = sample.len() / 2;
    odd_zero * 10 >= pairs * 9 && even_zero * 10 <= pairs
}

fn utf16(bytes: &[u8], word: fn([u8; 2]) -> u16) -> Option<String> {
    let units = bytes.chunks_exact(2).map(|c| word([c[0], c[1]]));
    let s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or('\u{fffd}'))
        .collect();
    is_texty(s.as_bytes()).then_some(s)
}

fn plain(bytes: &[u8]) -> Option<String> {
    if !is_texty(bytes) {
        return None;
    }
    // Lossy: a GBK or Latin-1 log still shows its ASCII markers.
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// Text has no NULs and almost no other control bytes.
fn is_texty(bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let mut control = 0usize;
    for &b in bytes {
        match b {
            0 => return false,
            b'\t' | b'\n' | b'\r' | 0x0c | 0x1b => {}
            1..=0x1f | 0x7f => control += 1,
            _ => {}
        }
    }
    control * 100 <= bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(text_head(b"hello\n").as_deref(), Some("hello\n"));
        assert_eq!(text_head(b"\xef\xbb\xbfhi").as_deref(), Some("hi"));
        assert_eq!(text_head("症状".as_bytes()).as_deref(), Some("症状"));
    }

    #[test]
    fn utf16_logs() {
        let le: Vec<u8> = "Scan started\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(text_head(&le).as_deref(), Some("Scan started\r\n"));
        let mut bom = vec![0xff, 0xfe];
        bom.extend_from_slice(&le);
        assert_eq!(text_head(&bom).as_deref(), Some("Scan started\r\n"));
        let mut be = vec![0xfe, 0xff];
        be.extend("Hi".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(text_head(&be).as_deref(), Some("Hi"));
    }

    #[test]
    fn binary_is_not_text() {
        assert_eq!(text_head(b"MZ\x90\0\x03\0\0\0"), None);
        assert_eq!(text_head(&[1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10]), None);
        assert_eq!(text_head(b""), None);
    }
}
