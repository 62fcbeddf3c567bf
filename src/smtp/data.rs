//! The message after `DATA`: lines until a lone `.`, with the leading dot of
//! stuffed lines removed (RFC 5321 §4.5.2), counted against the size limit.
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
                self.hold(&buf[at..end]);
                let line = std::mem::take(&mut self.partial);
                let done = if std::mem::take(&mut self.partial_too_long) {
                    self.too_long = true;
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
            return;
        }
        if self.partial.len() + bytes.len() > self.max_line {
            self.partial_too_long = true;
            self.partial.clear();
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// One whole line with its ending; true when it was the end marker.
    fn take(&mut self, line: &[u8]) -> bool {
        if line.len() > self.max_line {
            self.too_long = true;
            return false;
        }
        if line == b".\r\n" || line == b".\n" {
            return true;
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
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
