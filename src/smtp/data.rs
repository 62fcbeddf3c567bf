//! The message after `DATA`: lines until a lone `.`, with the leading dot of
//! stuffed lines removed (RFC 5321 §4.5.2), counted against the size limit.
//! Bytes past the limit are read and dropped so the reply comes at the end,
//! where the client listens for it. Pure: the listener feeds it lines.

use super::session::DataEnd;

#[derive(Debug)]
pub struct DataReader {
    raw: Vec<u8>,
    size: u64,
    max_size: u64,
    too_long: bool,
}

impl DataReader {
    pub fn new(max_size: u64) -> Self {
        DataReader {
            // Most messages are small; a big one grows the buffer geometrically.
            raw: Vec::with_capacity(64 << 10),
            size: 0,
            max_size,
            too_long: false,
        }
    }

    /// Takes one line with its line ending; true when it was the end marker.
    pub fn line(&mut self, line: &[u8]) -> bool {
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

    /// A line over the length limit was dropped.
    pub fn line_too_long(&mut self) {
        self.too_long = true;
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
