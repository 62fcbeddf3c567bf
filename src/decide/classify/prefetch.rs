//! Windows Prefetch files: `SCCA` at offset 4 after a format version, or the
//! Windows 10+ compressed form that starts `MAM\x04`.

/// A description of the Prefetch file `b` is, if it is one.
pub fn detect(b: &[u8]) -> Option<String> {
    if b.starts_with(b"MAM\x04") {
        return Some("compressed Windows Prefetch file (Windows 10+)".to_owned());
    }
    if b.len() >= 8 && &b[4..8] == b"SCCA" {
        let version = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let windows = match version {
            17 => " (Windows XP/2003)",
            23 => " (Windows Vista/7)",
            26 => " (Windows 8.1)",
            30 | 31 => " (Windows 10/11)",
            _ => "",
        };
        return Some(format!("Windows Prefetch file, version {version}{windows}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let d = detect(b"\x1e\0\0\0SCCA\x11\0\0\0").unwrap_or_default();
        assert!(d.contains("version 30"), "{d}");
        assert!(detect(b"MAM\x04\x10\x20\0\0").is_some());
    }

    #[test]
    fn lookalikes_are_not_prefetch() {
        assert_eq!(detect(b"SCCA\0\0\0\0"), None);
        assert_eq!(detect(b"MAM\x03"), None);
        assert_eq!(detect(b"\x1e\0\0"), None);
    }
}
