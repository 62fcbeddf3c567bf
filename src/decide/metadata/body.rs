//! Reading the template's `Label: value` lines out of free mail text.
//!
//! A value runs from its label to the end of the line. The descriptive fields
//! (file list, symptoms, system details) run on over the following lines until
//! the next label, a blank line, a signature or a quoted-reply boundary.
//! Stopping at a blank line is what keeps "Thanks, Bob" out of the last field;
//! values that span paragraphs are rare in practice.

use super::{Field, Labels, Metadata};

/// Reads every recognised field out of `text`; the first non-blank answer for a
/// field wins, so a top-posted reply beats the template quoted below it.
pub fn read_body(text: &str, labels: &Labels) -> Metadata {
    let mut meta = Metadata::default();
    let mut open: Option<Open> = None;
    for raw in text.lines() {
        let (quoted, line) = unquote(raw);
        let trimmed = line.trim();
        if let Some((field, value)) = split_label(line, labels) {
            close(&mut meta, open.take());
            let o = Open {
                field,
                value: value.trim().to_owned(),
                quoted,
            };
            if field.runs_on() {
                open = Some(o);
            } else {
                close(&mut meta, Some(o));
            }
            continue;
        }
        let ends_value = trimmed.is_empty()
            || is_boundary(trimmed)
            || is_foreign_label(trimmed)
            || open.as_ref().is_some_and(|o| o.quoted != quoted);
        if ends_value {
            close(&mut meta, open.take());
        } else if let Some(o) = open.as_mut() {
            // Cap a single value: a pasted megabyte of text is not a file list.
            if o.value.len() < MAX_VALUE {
                if !o.value.is_empty() {
                    o.value.push('\n');
                }
                o.value.push_str(trimmed);
            }
        }
    }
    close(&mut meta, open);
    meta
}

/// Labels of the line that gives archive passwords, normalised.
const PASSWORD_LABELS: &[&str] = &[
    "archivepassword",
    "archivepasswords",
    "zippassword",
    "password",
    "passwords",
    "解压密码",
    "解壓密碼",
    "压缩包密码",
    "壓縮包密碼",
    "密码",
    "密碼",
];

/// Longest password kept, in bytes.
pub(super) const MAX_PASSWORD: usize = 128;

/// The archive passwords an email gives on `Archive Password:` / `解压密码：`
/// lines, several separated by spaces or commas, at most
/// [`crate::decide::MAX_PASSWORDS`]. They are not metadata: the decision tries
/// them on zips, and nothing reports them.
pub fn read_passwords(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for raw in text.lines() {
        let (_, line) = unquote(raw);
        let Some(pos) = line.find([':', '：']) else {
            continue;
        };
        if !PASSWORD_LABELS.contains(&super::labels::normalise(&line[..pos]).as_str()) {
            continue;
        }
        let sep_len = line[pos..].chars().next().map_or(1, char::len_utf8);
        for p in line[pos + sep_len..].split([' ', '\t', ',', '，', ';', '；', '、']) {
            if found.len() >= crate::decide::MAX_PASSWORDS {
                return found;
            }
            if !p.is_empty() && p.len() <= MAX_PASSWORD && !found.iter().any(|f| f == p) {
                found.push(p.to_owned());
            }
        }
    }
    found
}

/// Longest value kept for one field, in bytes.
const MAX_VALUE: usize = 64 * 1024;

struct Open {
    field: Field,
    value: String,
    quoted: bool,
}

fn close(meta: &mut Metadata, open: Option<Open>) {
    if let Some(o) = open {
        meta.offer(o.field, &o.value);
    }
}

/// Strips reply quoting ("> > text"), saying whether there was any.
fn unquote(line: &str) -> (bool, &str) {
    let t = line.trim_start();
    if !t.starts_with('>') {
        return (false, line);
    }
    (true, t.trim_start_matches(['>', ' ']))
}

/// Lines after which nothing belongs to the value being read.
fn is_boundary(trimmed: &str) -> bool {
    trimmed == "--"
        || trimmed.starts_with("-----Original Message")
        || trimmed.starts_with("-----原始邮件")
        || trimmed.starts_with("---------- Forwarded message")
        || (trimmed.len() >= 10 && trimmed.chars().all(|c| c == '_'))
        || is_rule(trimmed)
        || (trimmed.starts_with("On ") && trimmed.ends_with("wrote:"))
        || (trimmed.starts_with('在')
            && (trimmed.ends_with("写道：") || trimmed.ends_with("寫道：")))
}

/// A `Label: value` line whose label is not ours ("Note: ...", "备注：..."):
/// it starts something new rather than continuing a value. A drive letter
/// ("C:\...") or a file name ("a.exe: found in Temp") is not a label.
fn is_foreign_label(trimmed: &str) -> bool {
    let Some(pos) = trimmed.find([':', '：']) else {
        return false;
    };
    let left = trimmed[..pos].trim();
    let words = left.split_whitespace().count();
    left.chars().count() >= 2
        && left.len() <= 40
        && (1..=4).contains(&words)
        && left.chars().all(|c| c.is_alphabetic() || c == ' ')
}

/// A table border or horizontal rule: "───┼───", "+-----+", "=====".
fn is_rule(trimmed: &str) -> bool {
    trimmed.chars().count() >= 3
        && trimmed
            .chars()
            .all(|c| ('\u{2500}'..='\u{257f}').contains(&c) || "-=+|_ ".contains(c))
}

/// Splits `Label: value`, `Label：value`, or a table row (`Label│value`,
/// `Label|value`, `Label<TAB>value`) when the left part is a known label.
fn split_label<'a>(line: &'a str, labels: &Labels) -> Option<(Field, &'a str)> {
    if let Some(pos) = line.find([':', '：']) {
        let sep_len = line[pos..].chars().next().map_or(1, char::len_utf8);
        if let Some(f) = label_field(&line[..pos], labels) {
            return Some((f, &line[pos + sep_len..]));
        }
    }
    let row = line
        .trim()
        .trim_start_matches(['│', '|', '┃'])
        .trim_end_matches(['│', '|', '┃']);
    let pos = row.find(['│', '|', '┃', '\t'])?;
    let sep_len = row[pos..].chars().next().map_or(1, char::len_utf8);
    let field = label_field(&row[..pos], labels)?;
    let value = row[pos + sep_len..].trim_start_matches(['│', '|', '┃', '\t']);
    Some((field, value))
}

/// A label as written, or a bilingual one: "Grant Number / 授权号",
/// "Grant Number (授权号)". Every part must name the same field.
fn label_field(candidate: &str, labels: &Labels) -> Option<Field> {
    if let Some(f) = labels.field(candidate) {
        return Some(f);
    }
    let mut found = None;
    for part in candidate.split(['/', '(', ')', '（', '）', '、']) {
        if part.trim().is_empty() {
            continue;
        }
        let f = labels.field(part)?;
        if found.is_some_and(|g| g != f) {
            return None;
        }
        found = Some(f);
    }
    found
}
