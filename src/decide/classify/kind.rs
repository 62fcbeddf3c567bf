//! The short type word a sample carries (`pe`, `elf`, `script`, ...), from magic
//! numbers (own checks first, then `infer`) and, for text, from what the text
//! looks like. Scripts matter most here: they are live samples and must never be
//! mistaken for the logs the lab refuses.

use serde::{Deserialize, Serialize};

/// A sample's type, judged by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pe,
    Elf,
    Macho,
    Script,
    Html,
    Pdf,
    Office,
    Archive,
    Java,
    Lnk,
    Text,
    Other,
}

/// The kind of `bytes`; `text` is its decoded head when it is text.
pub fn kind_of(bytes: &[u8], text: Option<&str>) -> Kind {
    if bytes.starts_with(b"MZ") {
        return Kind::Pe;
    }
    if bytes.starts_with(b"\x7fELF") {
        return Kind::Elf;
    }
    if let Some(k) = macho_or_java(bytes) {
        return k;
    }
    if bytes.starts_with(b"L\0\0\0\x01\x14\x02\0") {
        return Kind::Lnk;
    }
    if bytes[..bytes.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
    {
        return Kind::Pdf;
    }
    if bytes.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") || bytes.starts_with(b"{\\rt") {
        return Kind::Office;
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Kind::Archive;
    }
    if let Some(t) = infer::get(bytes) {
        match t.matcher_type() {
            infer::MatcherType::Archive => return Kind::Archive,
            infer::MatcherType::Doc => return Kind::Office,
            _ => {}
        }
    }
    match text {
        Some(t) if is_html(t) => Kind::Html,
        Some(t) if is_script(t) => Kind::Script,
        Some(_) => Kind::Text,
        None => Kind::Other,
    }
}

/// `0xCAFEBABE` opens both a universal Mach-O and a Java class; the word after
/// it is an architecture count (small) in one and a class version (≥ 45) in
/// the other.
fn macho_or_java(b: &[u8]) -> Option<Kind> {
    let magic = b.get(..4)?;
    match magic {
        [0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe] => Some(Kind::Macho),
        [0xca, 0xfe, 0xba, 0xbe] => {
            let n = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
            Some(if n < 45 { Kind::Macho } else { Kind::Java })
        }
        _ => None,
    }
}

fn first_line(text: &str) -> String {
    text.trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_lowercase()
}

fn is_html(text: &str) -> bool {
    let l = first_line(text);
    l.starts_with("<!doctype html") || l.starts_with("<html") || l.starts_with("<hta:")
}

fn is_script(text: &str) -> bool {
    super::script::evidence(text).is_script()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(bytes: &[u8]) -> Kind {
        kind_of(bytes, super::super::text_head(bytes).as_deref())
    }

    #[test]
    fn executables() {
        assert_eq!(kind(b"MZ\x90\0rest"), Kind::Pe);
        assert_eq!(kind(b"\x7fELF\x02\x01\x01"), Kind::Elf);
        assert_eq!(kind(b"\xcf\xfa\xed\xfe\x07\0\0\x01"), Kind::Macho);
        assert_eq!(kind(b"\xca\xfe\xba\xbe\0\0\0\x02"), Kind::Macho);
        assert_eq!(kind(b"\xca\xfe\xba\xbe\0\0\0\x34"), Kind::Java);
        assert_eq!(kind(b"L\0\0\0\x01\x14\x02\0\0\0"), Kind::Lnk);
    }

    #[test]
    fn documents_and_archives() {
        assert_eq!(kind(b"%PDF-1.7\n"), Kind::Pdf);
        assert_eq!(kind(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0"), Kind::Office);
        assert_eq!(kind(b"{\\rtf1\\ansi"), Kind::Office);
        assert_eq!(kind(b"7z\xbc\xaf\x27\x1c\0\x04"), Kind::Archive);
        assert_eq!(kind(b"Rar!\x1a\x07\x01\0"), Kind::Archive);
        assert_eq!(kind(b"\x1f\x8b\x08\0\0\0\0\0"), Kind::Archive);
    }

    #[test]
    fn scripts_html_and_text() {
        assert_eq!(kind(b"#!/bin/sh\necho hello\n"), Kind::Script);
        assert_eq!(kind(b"@echo off\r\necho harmless\r\n"), Kind::Script);
        assert_eq!(
            kind(b"Set objShell = CreateObject(\"WScript.Shell\")\n"),
            Kind::Script
        );
        assert_eq!(
            kind(b"Write-Host hi\n$env:TEMP; Invoke-Expression $x\n"),
            Kind::Script
        );
        assert_eq!(kind(b"Write-Host 'harmless demo'\n"), Kind::Script);
        assert_eq!(kind(b"Get-Date was the answer, he wrote\n"), Kind::Script);
        assert_eq!(
            kind(b"<!DOCTYPE html><html><body>x</body></html>"),
            Kind::Html
        );
        assert_eq!(kind(b"Dear support, my computer is slow.\n"), Kind::Text);
        assert_eq!(kind(&[0u8, 1, 2, 3, 250, 251, 7, 8]), Kind::Other);
    }
}
