//! Making archive entry and attachment names safe to show and to join into a
//! report path. Names are never used to write files (storage is by digest),
//! but they end up in paths, terminals and web pages, so they lose everything
//! that could climb out of a folder or hide what a file is.

/// Longest kept path component, in bytes (the common file-system limit).
const MAX_COMPONENT: usize = 255;
/// Longest kept name, in bytes.
const MAX_NAME: usize = 1024;

/// A name made safe, and whether anything had to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeName {
    pub name: String,
    pub changed: bool,
}

/// Makes `raw` safe: `\` is a separator, empty, `.` and `..` steps and drive
/// letters go, control and bidirectional-override characters become `_`, and
/// over-long components and names are cut at a character boundary. An empty
/// result becomes `fallback`.
pub fn safe_name(raw: &str, fallback: &str) -> SafeName {
    let mut parts: Vec<String> = Vec::new();
    for (i, step) in raw.split(['/', '\\']).enumerate() {
        let step = if i == 0 { strip_drive(step) } else { step };
        if step.is_empty() || step == "." || step == ".." {
            continue;
        }
        let cleaned: String = step
            .chars()
            .map(|c| if is_hidden_trick(c) { '_' } else { c })
            .collect();
        parts.push(truncate(&cleaned, MAX_COMPONENT).to_owned());
    }
    let joined = parts.join("/");
    let name = truncate(&joined, MAX_NAME).trim_end_matches('/').to_owned();
    let name = if name.is_empty() {
        fallback.to_owned()
    } else {
        name
    };
    SafeName {
        changed: name != raw,
        name,
    }
}

/// `C:` or `C:name` at the start of a Windows path.
fn strip_drive(step: &str) -> &str {
    let b = step.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        &step[2..]
    } else {
        step
    }
}

/// Control characters, and the format characters used to disguise names
/// (right-to-left override turns "gpj.exe" into "exe.jpg" on screen).
fn is_hidden_trick(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(s: &str) -> String {
        safe_name(s, "entry-1").name
    }

    #[test]
    fn traversal_and_absolute_paths() {
        assert_eq!(safe("../../etc/passwd"), "etc/passwd");
        assert_eq!(safe("/etc/shadow"), "etc/shadow");
        assert_eq!(safe("a/./b/../c"), "a/b/c");
        assert_eq!(safe("..\\..\\Windows\\win.ini"), "Windows/win.ini");
        assert_eq!(
            safe("C:\\Windows\\System32\\evil.dll"),
            "Windows/System32/evil.dll"
        );
        assert_eq!(safe("D:evil.exe"), "evil.exe");
        assert_eq!(safe("\\\\server\\share\\x"), "server/share/x");
    }

    #[test]
    fn hidden_characters() {
        assert_eq!(safe("invoice\u{202e}gpj.exe"), "invoice_gpj.exe");
        assert_eq!(safe("a\0b\x1b[31m"), "a_b_[31m");
        assert!(safe_name("a\nb", "x").changed);
        assert!(!safe_name("dropper.exe", "x").changed);
    }

    #[test]
    fn empty_and_long_names() {
        assert_eq!(safe(""), "entry-1");
        assert_eq!(safe("../.."), "entry-1");
        let long = "é".repeat(400);
        let s = safe(&long);
        assert!(s.len() <= MAX_COMPONENT && s.chars().all(|c| c == 'é'));
        let deep = "abcdefgh/".repeat(300);
        assert!(safe(&deep).len() <= MAX_NAME);
    }

    #[test]
    fn unicode_names_survive() {
        assert_eq!(safe("样本/病毒.exe"), "样本/病毒.exe");
    }
}
