//! Screenshots: every common raster format, by magic number. Weak magics (ICO,
//! BMP, TGA-like) are checked with their header fields so an executable or a
//! random blob is not refused as a picture by accident.

/// The image format of `b`, if it is one.
pub fn detect(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("PNG");
    }
    if b.starts_with(b"\xff\xd8\xff") {
        return Some("JPEG");
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some("GIF");
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        return Some("TIFF");
    }
    if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        return Some("WebP");
    }
    if b.starts_with(b"8BPS\0\x01") {
        return Some("Photoshop");
    }
    if b.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
        return Some("JPEG XL");
    }
    if b.starts_with(b"\0\0\0\x0cjP  \r\n\x87\n") {
        return Some("JPEG 2000");
    }
    if let Some(f) = iso_media(b) {
        return Some(f);
    }
    if is_bmp(b) {
        return Some("BMP");
    }
    if is_ico(b) {
        return Some("ICO");
    }
    None
}

/// HEIF/AVIF: an ISO media `ftyp` box with an image brand.
fn iso_media(b: &[u8]) -> Option<&'static str> {
    if b.len() < 12 || &b[4..8] != b"ftyp" {
        return None;
    }
    match &b[8..12] {
        b"avif" | b"avis" => Some("AVIF"),
        b"heic" | b"heix" | b"heim" | b"heis" | b"mif1" | b"msf1" => Some("HEIF"),
        _ => None,
    }
}

/// "BM" plus a DIB header of a size that exists.
fn is_bmp(b: &[u8]) -> bool {
    if b.len() < 18 || !b.starts_with(b"BM") {
        return false;
    }
    let dib = u32::from_le_bytes([b[14], b[15], b[16], b[17]]);
    matches!(dib, 12 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// Reserved 0, type 1 (icon) or 2 (cursor), a sane count, and a first entry
/// whose reserved byte is 0.
fn is_ico(b: &[u8]) -> bool {
    if b.len() < 22 || b[0..2] != [0, 0] || !(b[2] == 1 || b[2] == 2) || b[3] != 0 {
        return false;
    }
    let count = u16::from_le_bytes([b[4], b[5]]);
    (1..=64).contains(&count) && b[9] == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_formats() {
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("PNG"));
        assert_eq!(detect(b"\xff\xd8\xff\xe0\0\x10JFIF"), Some("JPEG"));
        assert_eq!(detect(b"GIF89a\x01\0"), Some("GIF"));
        assert_eq!(detect(b"II*\0\x08\0\0\0"), Some("TIFF"));
        assert_eq!(detect(b"RIFF\x24\0\0\0WEBPVP8 "), Some("WebP"));
        assert_eq!(detect(b"\0\0\0\x1cftypavif\0\0\0\0"), Some("AVIF"));
        assert_eq!(detect(b"\0\0\0\x18ftypheic\0\0\0\0"), Some("HEIF"));
        let mut bmp = b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0".to_vec();
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(detect(&bmp), Some("BMP"));
        let ico = [
            0u8, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 22, 0, 0, 0,
        ];
        assert_eq!(detect(&ico), Some("ICO"));
    }

    #[test]
    fn near_misses_are_not_images() {
        assert_eq!(detect(b"BMx not a bitmap header"), None);
        assert_eq!(detect(&[0u8; 32]), None);
        assert_eq!(detect(b"MZ\x90\0"), None);
        assert_eq!(detect(b"\0\0\0\x18ftypisom\0\0\0\0"), None); // an MP4 video
        assert_eq!(detect(b"<svg xmlns='http://www.w3.org/2000/svg'>"), None);
    }
}
