//! Harmless executables built byte by byte for the analysers' tests: a PE32+
//! whose only code is `ret` and an x86-64 ELF that calls exit(0). Never run.

use intake::decide::classify::Kind;
use intake::digest::Sha256;
use intake::sr::{Severity, SrNumber};
use intake::store::queue::SampleJob;

pub fn pe64() -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[0..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    let mut o = 0x40;
    let mut put = |bytes: &[u8], o: &mut usize| {
        b[*o..*o + bytes.len()].copy_from_slice(bytes);
        *o += bytes.len();
    };
    put(b"PE\0\0", &mut o);
    // COFF: machine, sections, timestamp, symtab, nsyms, optional size, characteristics.
    for (v, w) in [
        (0x8664u32, 2),
        (1, 2),
        (0x6500_0000, 4),
        (0, 4),
        (0, 4),
        (0xf0, 2),
        (0x22, 2),
    ] {
        put(&v.to_le_bytes()[..w], &mut o);
    }
    let opt_start = o;
    put(&0x20bu16.to_le_bytes(), &mut o); // PE32+
    o = opt_start + 16;
    put(&0x1000u32.to_le_bytes(), &mut o); // entry point
    o = opt_start + 24;
    put(&0x1_4000_0000u64.to_le_bytes(), &mut o); // image base
    put(&0x1000u32.to_le_bytes(), &mut o); // section alignment
    put(&0x200u32.to_le_bytes(), &mut o); // file alignment
    put(&6u16.to_le_bytes(), &mut o); // OS version
    o = opt_start + 48;
    put(&6u16.to_le_bytes(), &mut o); // subsystem version
    o = opt_start + 56;
    put(&0x2000u32.to_le_bytes(), &mut o); // size of image
    put(&0x200u32.to_le_bytes(), &mut o); // size of headers
    o = opt_start + 68;
    put(&3u16.to_le_bytes(), &mut o); // console
    o = opt_start + 108;
    put(&16u32.to_le_bytes(), &mut o); // data directories
    o = opt_start + 0xf0;
    put(b".text\0\0\0", &mut o);
    for v in [1u32, 0x1000, 0x200, 0x200, 0, 0] {
        put(&v.to_le_bytes(), &mut o);
    }
    put(&[0, 0, 0, 0], &mut o);
    put(&0x6000_0020u32.to_le_bytes(), &mut o);
    b[0x200] = 0xc3;
    b
}

pub fn elf64() -> Vec<u8> {
    let code = [0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05];
    let base = 0x40_0000u64;
    let total = (64 + 56 + code.len()) as u64;
    let mut b = b"\x7fELF\x02\x01\x01\0".to_vec();
    b.extend([0u8; 8]);
    b.extend(2u16.to_le_bytes()); // EXEC
    b.extend(62u16.to_le_bytes()); // x86-64
    b.extend(1u32.to_le_bytes());
    b.extend((base + 64 + 56).to_le_bytes()); // entry
    b.extend(64u64.to_le_bytes()); // phoff
    b.extend(0u64.to_le_bytes()); // shoff
    b.extend(0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        b.extend(v.to_le_bytes());
    }
    b.extend(1u32.to_le_bytes()); // PT_LOAD
    b.extend(5u32.to_le_bytes()); // R+X
    for v in [0u64, base, base, total, total, 0x1000] {
        b.extend(v.to_le_bytes());
    }
    b.extend(code);
    b
}

/// A job naming `bytes`.
pub fn job(bytes: &[u8]) -> SampleJob {
    SampleJob {
        job_id: uuid::Uuid::nil(),
        sha256: Sha256::of(bytes),
        size: bytes.len() as u64,
        kind: Kind::Other,
        sr_number: SrNumber::new(2026, 1),
        submission_id: uuid::Uuid::nil(),
        severity: Severity::MEDIUM,
        attempt: 1,
    }
}
