//! The message after `DATA`: lines until a lone `.`, with the leading dot of
//! stuffed lines removed (RFC 5321 §4.5.2), counted against the size limit.
//!
//! Only `CRLF . CRLF` ends the data. A bare LF or CR is data, and a line
//! that follows a bare LF is not a line start: `first\n.\nMAIL FROM:...`
//! is one message, not a message and smuggled commands (the SMTP smuggling
//! class; Postfix's `smtpd_forbid_bare_newline = normalize` does the same).
//! Bytes past the limit are read and dropped so the reply comes at the end,
//! where the client listens for it; so are lines over the length limit.
//!
//! Pure: the listener feeds it whatever the socket delivered, in pieces of
//! any size. Taking a whole buffer at a time, rather than awaiting the
//! socket line by line, keeps a 200 KB message (2,700 lines) to a few
//! dozen reads.

use super::session::DataEnd;

#[derive(Debug)]
pub struct DataReader {
    raw: Vec<u8>,
    size: u64,
    max_size: u64,
    /// Longest line kept, with its line ending.
    max_line: usize,
    too_long: bool,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// The unfinished line is already over `max_line`.
    partial_too_long: bool,
    /// The next line starts after a CRLF (or at the start of the data), so
    /// it may be the end marker or carry a stuffed dot.
    at_line_start: bool,
    /// The dropped tail of an over-long line ended in CR (its CRLF may be
    /// split across two reads).
    tail_cr: bool,
}

impl DataReader {
    pub fn new(max_size: u64, max_line: usize) -> Self {
        DataReader {
            // Most messages are small; a big one grows the buffer geometrically.
            raw: Vec::with_capacity(64 << 10),
            size: 0,
            max_size,
            max_line,
            too_long: false,
            partial: Vec::new(),
            partial_too_long: false,
            at_line_start: true,
            tail_cr: false,
        }
    }

    /// Takes the bytes that arrived; returns how many belong to the message
    /// and whether they ended it (what follows the end marker is the
    /// client's next command, pipelined).
    pub fn feed(&mut self, buf: &[u8]) -> (usize, bool) {
        let mut at = 0;
        while at < buf.len() {
            let Some(nl) = memchr::memchr(b'\n', &buf[at..]) else {
                self.hold(&buf[at..]);
                return (buf.len(), false);
            };
            let end = at + nl + 1;
            let done = if self.partial.is_empty() && !self.partial_too_long {
                self.take(&buf[at..end])
            } else {
                let piece = &buf[at..end];
                // Whether the line ends in CRLF, its CR possibly in an
                // earlier read (held, or dropped with an over-long line).
                let prev_cr = if self.partial_too_long {
                    self.tail_cr
                } else {
                    self.partial.last() == Some(&b'\r')
                };
                let crlf = piece.ends_with(b"\r\n") || (piece.len() == 1 && prev_cr);
                self.hold(piece);
                let line = std::mem::take(&mut self.partial);
                let done = if std::mem::take(&mut self.partial_too_long) {
                    self.too_long = true;
                    self.at_line_start = crlf;
                    false
                } else {
                    self.take(&line)
                };
                // Keep the allocation for the next split line.
                self.partial = line;
                self.partial.clear();
                done
            };
            at = end;
            if done {
                return (at, true);
            }
        }
        (at, false)
    }

    /// Keeps the unfinished start of a line, unless it is already too long.
    fn hold(&mut self, bytes: &[u8]) {
        if self.partial_too_long {
            if let Some(&last) = bytes.last() {
                self.tail_cr = last == b'\r';
            }
            return;
        }
        if self.partial.len() + bytes.len() > self.max_line {
            self.partial_too_long = true;
            self.tail_cr = bytes.last() == Some(&b'\r');
            self.partial.clear();
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// One whole line with its ending; true when it was the end marker.
    fn take(&mut self, line: &[u8]) -> bool {
        let line_start = std::mem::replace(&mut self.at_line_start, line.ends_with(b"\r\n"));
        if line.len() > self.max_line {
            self.too_long = true;
            return false;
        }
        if line_start && line == b".\r\n" {
            return true;
        }
        let line = if line_start {
            line.strip_prefix(b".").unwrap_or(line)
        } else {
            line
        };
        self.size += line.len() as u64;
        if self.size <= self.max_size {
            self.raw.extend_from_slice(line);
        }
        false
    }

    /// How it ended, and the message when complete.
    pub fn finish(self) -> (DataEnd, Vec<u8>) {
        if self.size > self.max_size {
            (DataEnd::TooBig, Vec::new())
        } else if self.too_long {
            (DataEnd::LineTooLong, Vec::new())
        } else {
            (DataEnd::Complete, self.raw)
        }
    }
}
