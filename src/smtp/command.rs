//! One SMTP/LMTP command line → [`Command`]. Pure: the session decides what
//! a command means in its state; this only says what was asked, or why the
//! line is not a command.

/// A command the session understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO` (extended) or `HELO`.
    Hello {
        host: String,
        extended: bool,
    },
    /// `LHLO` (LMTP's greeting).
    Lhlo {
        host: String,
    },
    /// `MAIL FROM:<path>`; an empty path is the null sender of bounces and
    /// auto-replies.
    Mail {
        from: String,
        size: Option<u64>,
        body: Body,
    },
    /// `RCPT TO:<path>`.
    Rcpt {
        to: String,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
}

/// The `BODY=` parameter of `MAIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
}

/// Why a line is not a command, with the reply code it earns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// 500: not a verb we know.
    Unrecognised,
    /// 501: a known verb with bad arguments.
    Syntax(&'static str),
    /// 555: a `MAIL`/`RCPT` parameter we did not announce.
    Parameter(String),
}

/// Longest address accepted (RFC 5321 §4.5.3.1.3 path limit).
const MAX_PATH: usize = 256;

/// Parses one line, without its line ending.
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::Syntax("not UTF-8"))?;
    let line = line.trim_end_matches([' ', '\t']);
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], line[i + 1..].trim_start()),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    match verb.as_str() {
        "EHLO" | "HELO" => Ok(Command::Hello {
            host: host(rest)?,
            extended: verb == "EHLO",
        }),
        "LHLO" => Ok(Command::Lhlo { host: host(rest)? }),
        "MAIL" => mail(rest),
        "RCPT" => {
            let rest =
                strip_keyword(rest, "TO:").ok_or(CommandError::Syntax("use RCPT TO:<address>"))?;
            let (path, params) = path(rest)?;
            if let Some(p) = params.split_whitespace().next() {
                return Err(CommandError::Parameter(p.to_owned()));
            }
            if path.is_empty() {
                return Err(CommandError::Syntax("empty recipient"));
            }
            Ok(Command::Rcpt { to: path })
        }
        "DATA" => no_args(rest, Command::Data),
        "RSET" => no_args(rest, Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(rest, Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        "HELP" => Ok(Command::Help),
        "STARTTLS" => no_args(rest, Command::StartTls),
        _ => Err(CommandError::Unrecognised),
    }
}

fn no_args(rest: &str, c: Command) -> Result<Command, CommandError> {
    if rest.is_empty() {
        Ok(c)
    } else {
        Err(CommandError::Syntax("this command takes no arguments"))
    }
}

fn host(rest: &str) -> Result<String, CommandError> {
    let h = rest.split_whitespace().next().unwrap_or("");
    if h.is_empty() {
        return Err(CommandError::Syntax("say who you are: EHLO <domain>"));
    }
    Ok(h.chars().take(MAX_PATH).collect())
}

fn mail(rest: &str) -> Result<Command, CommandError> {
    let rest =
        strip_keyword(rest, "FROM:").ok_or(CommandError::Syntax("use MAIL FROM:<address>"))?;
    let (from, params) = path(rest)?;
    let mut size = None;
    let mut body = Body::SevenBit;
    for p in params.split_whitespace() {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        match k.to_ascii_uppercase().as_str() {
            "SIZE" => {
                size = Some(
                    v.parse()
                        .map_err(|_| CommandError::Syntax("SIZE takes a number"))?,
                )
            }
            "BODY" => {
                body = match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    _ => return Err(CommandError::Parameter(p.to_owned())),
                }
            }
            _ => return Err(CommandError::Parameter(p.to_owned())),
        }
    }
    Ok(Command::Mail { from, size, body })
}

/// `FROM:` / `TO:`, case-insensitively, with the space some clients put after
/// the colon.
fn strip_keyword<'a>(rest: &'a str, kw: &str) -> Option<&'a str> {
    let head = rest.get(..kw.len())?;
    head.eq_ignore_ascii_case(kw)
        .then(|| rest[kw.len()..].trim_start())
}

/// `<path> params`: the address (source route dropped, no brackets) and the
/// rest of the line. Brackets are required, as RFC 5321 says, except that a
/// bare address without spaces is tolerated (old clients send it).
fn path(s: &str) -> Result<(String, &str), CommandError> {
    let (inner, params) = if let Some(after) = s.strip_prefix('<') {
        let end = after.find('>').ok_or(CommandError::Syntax("missing >"))?;
        (&after[..end], &after[end + 1..])
    } else {
        match s.find(' ') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        }
    };
    // "<@relay1,@relay2:user@host>": the route is obsolete; keep the mailbox.
    let inner = match inner.starts_with('@') {
        true => inner.split_once(':').map_or("", |(_, m)| m),
        false => inner,
    };
    if inner.len() > MAX_PATH {
        return Err(CommandError::Syntax("address too long"));
    }
    if inner
        .chars()
        .any(|c| c.is_control() || c == ' ' || c == '<' || c == '>')
    {
        return Err(CommandError::Syntax("bad characters in address"));
    }
    if !inner.is_empty() && !inner.contains('@') && !inner.eq_ignore_ascii_case("postmaster") {
        return Err(CommandError::Syntax("address needs a domain"));
    }
    Ok((inner.to_owned(), params.trim()))
}
