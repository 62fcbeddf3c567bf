//! Executable facts with `goblin`, read without running anything: for PE the
//! machine, timestamp, sections with their entropy, imports, exports, whether
//! an Authenticode signature is present and the size of any overlay; for ELF
//! and Mach-O the equivalent headline facts.

use goblin::Object;
use intake::analysis::{AnalyseError, Analyser};
use intake::store::queue::SampleJob;
use serde_json::{Value, json};

pub struct Executable;

/// Most imports or exports listed; packed malware can have thousands.
const MAX_SYMBOLS: usize = 2000;

/// Shannon entropy in bits per byte.
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn slice(bytes: &[u8], offset: usize, size: usize) -> &[u8] {
    let end = offset.saturating_add(size).min(bytes.len());
    bytes.get(offset.min(end)..end).unwrap_or_default()
}

fn pe(bytes: &[u8], pe: &goblin::pe::PE<'_>) -> Value {
    let header = &pe.header.coff_header;
    let sections: Vec<Value> = pe
        .sections
        .iter()
        .map(|s| {
            let raw = slice(
                bytes,
                s.pointer_to_raw_data as usize,
                s.size_of_raw_data as usize,
            );
            json!({
                "name": String::from_utf8_lossy(&s.name).trim_end_matches('\0'),
                "virtual_address": s.virtual_address,
                "virtual_size": s.virtual_size,
                "raw_size": s.size_of_raw_data,
                "entropy": round3(entropy(raw)),
                "characteristics": s.characteristics,
            })
        })
        .collect();
    let end_of_sections = pe
        .sections
        .iter()
        .map(|s| u64::from(s.pointer_to_raw_data) + u64::from(s.size_of_raw_data))
        .max()
        .unwrap_or(0);
    let security = pe
        .header
        .optional_header
        .and_then(|o| o.data_directories.get_certificate_table().copied());
    // The certificate table sits at the end and is not overlay.
    let cert_end = security.map_or(0, |d| u64::from(d.virtual_address) + u64::from(d.size));
    let data_end = end_of_sections.max(cert_end);
    let overlay = (bytes.len() as u64).saturating_sub(data_end);
    json!({
        "format": if pe.is_64 { "PE32+" } else { "PE32" },
        "machine": header.machine,
        "machine_name": goblin::pe::header::machine_to_str(header.machine),
        "timestamp": header.time_date_stamp,
        "is_dll": pe.is_lib,
        "entry_point": pe.entry,
        "sections": sections,
        "imports": pe.imports.iter().take(MAX_SYMBOLS)
            .map(|i| format!("{}!{}", i.dll, i.name)).collect::<Vec<_>>(),
        "exports": pe.exports.iter().take(MAX_SYMBOLS)
            .filter_map(|e| e.name.map(str::to_owned)).collect::<Vec<_>>(),
        "signed": security.is_some_and(|d| d.size > 0),
        "overlay_size": overlay,
    })
}

fn elf(elf: &goblin::elf::Elf<'_>) -> Value {
    json!({
        "format": if elf.is_64 { "ELF64" } else { "ELF32" },
        "machine": elf.header.e_machine,
        "machine_name": goblin::elf::header::machine_to_str(elf.header.e_machine),
        "type": goblin::elf::header::et_to_str(elf.header.e_type),
        "entry_point": elf.entry,
        "interpreter": elf.interpreter,
        "sections": elf.section_headers.iter().take(MAX_SYMBOLS)
            .filter_map(|s| elf.shdr_strtab.get_at(s.sh_name)).collect::<Vec<_>>(),
        "libraries": elf.libraries,
        "stripped": elf.syms.is_empty(),
    })
}

fn macho(m: &goblin::mach::MachO<'_>) -> Value {
    json!({
        "format": if m.is_64 { "Mach-O 64" } else { "Mach-O" },
        "cpu_type": m.header.cputype,
        "file_type": m.header.filetype,
        "entry_point": m.entry,
        "libraries": m.libs.iter().take(MAX_SYMBOLS).collect::<Vec<_>>(),
        "segments": m.segments.iter().filter_map(|s| s.name().ok().map(str::to_owned)).collect::<Vec<_>>(),
    })
}

impl Analyser for Executable {
    fn name(&self) -> &'static str {
        "executable"
    }
    fn version(&self) -> String {
        "1".to_owned()
    }
    fn analyse(&self, bytes: &[u8], _job: &SampleJob) -> Result<Value, AnalyseError> {
        let facts = match Object::parse(bytes) {
            Ok(Object::PE(p)) => pe(bytes, &p),
            Ok(Object::Elf(e)) => elf(&e),
            Ok(Object::Mach(goblin::mach::Mach::Binary(m))) => macho(&m),
            Ok(Object::Mach(goblin::mach::Mach::Fat(f))) => {
                json!({ "format": "Mach-O universal", "architectures": f.narches })
            }
            // Not an executable, or one too broken to parse: both are facts.
            Ok(_) => json!({ "format": null }),
            Err(e) => json!({ "format": null, "parse_error": e.to_string() }),
        };
        Ok(json!({ "entropy": round3(entropy(bytes)), "executable": facts }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{elf64, job, pe64};

    #[test]
    fn pe_facts() {
        let bytes = pe64();
        let v = Executable.analyse(&bytes, &job(&bytes)).expect("ok");
        let x = &v["executable"];
        assert_eq!(x["format"], "PE32+");
        assert_eq!(x["machine"], 0x8664);
        assert_eq!(x["timestamp"], 0x6500_0000);
        assert_eq!(x["sections"][0]["name"], ".text");
        assert_eq!(x["signed"], false);
        assert_eq!(x["overlay_size"], 0);
        let mut with_overlay = bytes.clone();
        with_overlay.extend_from_slice(b"appended data");
        let v = Executable
            .analyse(&with_overlay, &job(&with_overlay))
            .expect("ok");
        assert_eq!(v["executable"]["overlay_size"], 13);
    }

    #[test]
    fn elf_facts() {
        let bytes = elf64();
        let v = Executable.analyse(&bytes, &job(&bytes)).expect("ok");
        assert_eq!(v["executable"]["format"], "ELF64");
        assert_eq!(v["executable"]["machine"], 62);
        assert_eq!(v["executable"]["type"], "EXEC");
    }

    #[test]
    fn non_executables_and_garbage() {
        let v = Executable
            .analyse(b"just text", &job(b"just text"))
            .expect("ok");
        assert!(v["executable"]["format"].is_null());
        let v = Executable
            .analyse(b"MZ\x90\0garbage", &job(b"MZ"))
            .expect("ok");
        assert!(v["executable"]["format"].is_null());
    }

    #[test]
    fn entropy_bounds() {
        assert_eq!(entropy(&[0u8; 100]), 0.0);
        let all: Vec<u8> = (0..=255u8).collect();
        assert!((entropy(&all) - 8.0).abs() < 1e-9);
    }
}
