//! The language of an answer: the customer's, as far as their message tells.
//! English unless the message is marked Chinese or mostly written in Han
//! characters (a Chinese file name in an English message stays English).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Zh,
}

/// How much of the text is read to tell the language.
const SAMPLE: usize = 4096;

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// The language a code names exactly (`en`, `zh`: the inverse of
    /// [`Lang::as_str`]), as stored and as forms send it.
    pub fn from_code(code: &str) -> Option<Lang> {
        [Lang::En, Lang::Zh]
            .into_iter()
            .find(|l| l.as_str() == code)
    }

    /// The language a language tag names (`zh-CN`, `en-GB`), if one of ours.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag.starts_with("zh") {
            Some(Lang::Zh)
        } else if tag.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// From `Content-Language`, else from the subject and body.
    pub fn of(content_language: Option<&str>, subject: Option<&str>, body: &str) -> Lang {
        if let Some(lang) = content_language
            .and_then(|c| c.split(',').next())
            .and_then(Lang::from_tag)
        {
            return lang;
        }
        let (mut han, mut latin) = (0usize, 0usize);
        let text = subject.into_iter().chain(std::iter::once(body));
        for c in text.flat_map(str::chars).take(SAMPLE) {
            if is_han(c) {
                han += 1;
            } else if c.is_ascii_alphabetic() {
                latin += 1;
            }
        }
        // A Han character carries about a word; Latin letters come ~5 a word.
        if han >= 2 && han * 5 >= latin {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF)
}
