//! The metadata reader over arbitrary text, and the portal's JSON reader.
#![no_main]

use intake::decide::metadata::{Labels, Metadata, read_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let m = read_body(&text, &Labels::default());
    let _ = m.missing_fields();
    let _ = Metadata::from_json(data);
});
