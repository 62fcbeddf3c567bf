//! HijackThis logs: the "Logfile of (Trend Micro) HijackThis" header, or a run of
//! its numbered section lines (`R0 -`, `F2 -`, `O4 -`, `O23 -`) when the header
//! was cut off in pasting.

/// Whether `text` is a HijackThis log.
pub fn detect(text: &str) -> bool {
    let lower = text.to_lowercase();
    if lower.contains("logfile of hijackthis")
        || lower.contains("logfile of trend micro hijackthis")
    {
        return true;
    }
    text.lines()
        .filter(|l| is_section_line(l.trim_start()))
        .count()
        >= 3
}

/// `R0 - `, `R3 - `, `F2 - `, `N3 - `, `O1 - ` … `O24 - `.
fn is_section_line(l: &str) -> bool {
    let b = l.as_bytes();
    let max = match b.first() {
        Some(b'R' | b'F') => 3,
        Some(b'N') => 4,
        Some(b'O') => 24,
        _ => return false,
    };
    let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 2 {
        return false;
    }
    let n: u32 = l[1..1 + digits].parse().unwrap_or(u32::MAX);
    n <= max && l[1 + digits..].starts_with(" - ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_or_sections() {
        assert!(detect(
            "Logfile of Trend Micro HijackThis v2.0.5\nScan saved at 10:00:00\n"
        ));
        assert!(detect(
            "R0 - HKCU\\Software\\Microsoft\\Internet Explorer\\Main,Start Page = http://x/\nO2 - BHO: Foo - {1} - C:\\foo.dll\nO4 - HKLM\\..\\Run: [x] C:\\x.exe\n"
        ));
    }

    #[test]
    fn ordinary_text_is_not_hijackthis() {
        assert!(!detect("O2 - something\nR5 - out of range\nhello"));
        assert!(!detect("Dear lab, HijackThis found nothing.\n"));
    }
}
