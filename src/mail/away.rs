//! Out-of-office auto-replies. A customer's autoresponder answering our
//! answer is not the customer: it must not count as their update, nor
//! reopen a closed SR, but it does say they are away, and often until when.
//! The handbook lets that stop the SR's clock and postpone the next contact
//! attempt. Recognised by `Auto-Submitted: auto-replied` (RFC 3834) or by
//! the subjects the common mail systems give such notices, in English and
//! Chinese; the return date is read from the text near words like "back" or
//! "返回", in the forms people and mail systems write it. Pure.

use chrono::{Datelike, NaiveDate, TimeDelta};

use super::Headers;

/// A recognised out-of-office notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Away {
    /// The return date the notice states, if it states one we can read.
    pub returns: Option<NaiveDate>,
}

/// Subjects of out-of-office notices, lower-case.
const SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "out-of-office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "away from the office",
    "on vacation",
    "on holiday",
    "on leave",
    "自动回复",
    "自動回覆",
    "自动答复",
    "不在办公室",
    "外出",
    "休假",
];

/// Words after which a return date stands, lower-case.
const RETURN_WORDS: &[&str] = &[
    "return", "back", "until", "till", "through", "将于", "返回", "回来", "回到", "返岗", "上班",
    "之前", "直到", "至",
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// How far after a return word its date may stand, in characters.
const WINDOW: usize = 60;

/// How much of the body is read: the notice is at its top; what follows is
/// usually our own message quoted.
const READ: usize = 4_000;

/// Whether a message is an out-of-office notice and, if so, until when,
/// read with `today` (the day it came) for dates without a year. A stated
/// date before today or more than a year ahead is not believed.
pub fn notice(
    headers: &Headers,
    subject: Option<&str>,
    body: &str,
    today: NaiveDate,
) -> Option<Away> {
    let auto = headers
        .auto_submitted
        .as_deref()
        .map(|v| v.trim().to_ascii_lowercase());
    let subject = subject.unwrap_or("").to_lowercase();
    let says_away = SUBJECTS.iter().any(|s| subject.contains(s));
    let replied = auto
        .as_deref()
        .is_some_and(|v| v.starts_with("auto-replied"));
    // A delivery report or other robot's notice (`auto-generated`) is not
    // an absence unless its subject says so.
    if !(replied || says_away) {
        return None;
    }
    let text: String = body.chars().take(READ).collect::<String>().to_lowercase();
    Some(Away {
        returns: return_date(&text, today),
    })
}

/// The first date standing shortly after a return word.
fn return_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let latest = today + TimeDelta::days(366);
    RETURN_WORDS
        .iter()
        .flat_map(|w| text.match_indices(w).map(|(i, w)| i + w.len()))
        .filter_map(|start| {
            let window: String = text[start..].chars().take(WINDOW).collect();
            first_date(&window, today).map(|d| (start, d))
        })
        .filter(|(_, d)| *d >= today && *d <= latest)
        .min_by_key(|(start, _)| *start)
        .map(|(_, d)| d)
}

fn first_date(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    let mut prev: Option<char> = None;
    for (i, c) in s.char_indices() {
        let at_word = !prev.is_some_and(|p| p.is_ascii_alphanumeric());
        prev = Some(c);
        if !at_word {
            continue;
        }
        let rest = &s[i..];
        if let Some(d) = iso(rest)
            .or_else(|| chinese(rest, today))
            .or_else(|| english(rest, today))
        {
            return Some(d);
        }
    }
    None
}

/// Up to `max` ASCII digits at the start of `s`, and what follows.
fn digits(s: &str, max: usize) -> Option<(u32, &str)> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n == 0 || s.as_bytes().get(n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// `2026-12-07`, `2026/12/07`, `2026.12.07`.
fn iso(s: &str) -> Option<NaiveDate> {
    let (y, rest) = digits(s, 4).filter(|(y, _)| *y >= 1000)?;
    let sep = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '-' | '/' | '.'))?;
    let (m, rest) = digits(&rest[1..], 2)?;
    let rest = rest.strip_prefix(sep)?;
    let (d, _) = digits(rest, 2)?;
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// `2026年12月7日`, `12月7日`, `12月7号`.
fn chinese(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    let (first, rest) = digits(s, 4)?;
    let (year, m, rest) = match rest.strip_prefix('年') {
        Some(r) => {
            let (m, r) = digits(r.trim_start(), 2)?;
            (Some(first), m, r)
        }
        None => (None, first, rest),
    };
    let rest = rest.strip_prefix('月')?;
    let (d, rest) = digits(rest.trim_start(), 2)?;
    if !(rest.starts_with('日') || rest.starts_with('号')) {
        return None;
    }
    dated(year, m, d, today)
}

/// `7 December 2026`, `7th dec`, `December 7, 2026`, `dec 7th`.
fn english(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    if let Some((d, rest)) = digits(s, 2) {
        let rest = ordinal(rest).trim_start_matches([' ', '.']);
        let rest = rest.strip_prefix("of ").unwrap_or(rest);
        let (m, rest) = month(rest)?;
        return dated(year(rest), m, d, today);
    }
    let (m, rest) = month(s)?;
    let (d, rest) = digits(rest.trim_start_matches([' ', '.']), 2)?;
    dated(year(ordinal(rest)), m, d, today)
}

fn ordinal(s: &str) -> &str {
    ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|o| s.strip_prefix(o))
        .unwrap_or(s)
}

/// A month's name (three letters or more) at the start of `s`.
fn month(s: &str) -> Option<(u32, &str)> {
    let word = s.split(|c: char| !c.is_ascii_alphabetic()).next()?;
    if word.len() < 3 {
        return None;
    }
    let m = MONTHS.iter().position(|m| word.starts_with(m))?;
    Some((u32::try_from(m).ok()? + 1, &s[word.len()..]))
}

/// A year after `, ` or ` ` if one follows.
fn year(s: &str) -> Option<u32> {
    let s = s.trim_start_matches([',', ' ']);
    digits(s, 4).map(|(y, _)| y).filter(|y| *y >= 1000)
}

/// The date; without a year, the first such day from `today` on.
fn dated(year: Option<u32>, m: u32, d: u32, today: NaiveDate) -> Option<NaiveDate> {
    match year {
        Some(y) => NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d),
        None => NaiveDate::from_ymd_opt(today.year(), m, d)
            .filter(|x| *x >= today)
            .or_else(|| NaiveDate::from_ymd_opt(today.year() + 1, m, d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    fn today() -> NaiveDate {
        day("2026-12-03")
    }

    fn auto() -> Headers {
        Headers {
            auto_submitted: Some("auto-replied".into()),
            ..Headers::default()
        }
    }

    #[test]
    fn recognised_by_header_or_subject_in_english_and_chinese() {
        let plain = Headers::default();
        assert!(notice(&auto(), Some("Re: your SR"), "", today()).is_some());
        for s in [
            "Out of Office: Re: [SR-2026-000001]",
            "Automatic reply: Re: SR-2026-000001",
            "自动回复: 回复：[SR-2026-000001]",
            "自動回覆：Re: SR",
        ] {
            assert!(notice(&plain, Some(s), "", today()).is_some(), "{s}");
        }
        assert_eq!(
            notice(&plain, Some("Re: [SR-2026-000001] more files"), "", today()),
            None
        );
        // A delivery report is a robot's, but not an absence.
        let dsn = Headers {
            auto_submitted: Some("auto-generated".into()),
            ..Headers::default()
        };
        assert_eq!(
            notice(
                &dsn,
                Some("Undelivered Mail Returned to Sender"),
                "",
                today()
            ),
            None
        );
    }

    #[test]
    fn the_return_date_in_the_forms_people_write_it() {
        let cases = [
            (
                "I am out of the office and will return on 2026-12-14.",
                "2026-12-14",
            ),
            ("Back on Monday, 14 December 2026.", "2026-12-14"),
            (
                "I'm away until December 14th, with limited access to email.",
                "2026-12-14",
            ),
            ("I will be back in the office on Jan 4.", "2027-01-04"),
            ("我将于2026年12月14日返回办公室。", "2026-12-14"),
            ("本人休假至12月14日，期间无法及时回复。", "2026-12-14"),
            ("I'm out until 2026/12/14", "2026-12-14"),
        ];
        for (text, want) in cases {
            let got = notice(&auto(), None, text, today()).and_then(|a| a.returns);
            assert_eq!(got, Some(day(want)), "{text}");
        }
    }

    #[test]
    fn dates_that_are_not_a_return_are_not_taken() {
        for text in [
            // No return word: the date is the quoted message's.
            "On 2026-12-01, the lab wrote: ...",
            // Before the day it came, or over a year ahead.
            "I was back on 2026-11-30.",
            "I return on 2031-01-01.",
            // Not a date.
            "I will return on 2026-13-45.",
            "Back soon.",
        ] {
            let got = notice(&auto(), None, text, today()).and_then(|a| a.returns);
            assert_eq!(got, None, "{text}");
        }
    }

    #[test]
    fn hostile_text_does_not_panic() {
        let long = "返回".repeat(10_000) + "9999999999年99月99日";
        assert_eq!(
            notice(&auto(), None, &long, today()).and_then(|a| a.returns),
            None
        );
        for s in [
            "back 1",
            "back 2026-",
            "back 2026-12",
            "until 12月",
            "till dec",
            "back 31 feb",
        ] {
            assert_eq!(
                notice(&auto(), None, s, today()).and_then(|a| a.returns),
                None,
                "{s}"
            );
        }
    }
}
