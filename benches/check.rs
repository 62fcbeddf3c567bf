//! Criterion benchmarks of the pure decision core (`cargo bench --bench check`):
//! the whole email → report decision on each message of the demo corpus, the
//! metadata reader on the English template, content identification of a
//! 64 KiB text, and unpacking a 4 MiB ZipCrypto entry. End-to-end speed
//! against unzip, 7-Zip and Python on 50 MB messages is measured by
//! `bench/check_speed.py`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use intake::decide::metadata::{Labels, read_body};
use intake::decide::{Discard, Policy, decide};

fn decide_email(raw: &[u8], policy: &Policy) -> usize {
    let env = intake::mail::parse(raw);
    let input = env.into_input(&policy.labels);
    decide(&input, policy, &Discard).map_or(0, |r| r.samples.len())
}

fn corpus(c: &mut Criterion) {
    let policy = Policy::default();
    let mut group = c.benchmark_group("decide_email");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/email");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for p in paths {
        let raw = std::fs::read(&p).unwrap_or_default();
        let name = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(name, |b| b.iter(|| decide_email(black_box(&raw), &policy)));
    }
    group.finish();
}

fn metadata(c: &mut Criterion) {
    let labels = Labels::default();
    let body = "Grant Number: 1\nFile List:\na.exe\nb.exe\nSymptoms: slow\nDetected: yes\nSecurity Product Vendor: X\nProduct Name: Y\nVersion: 1\nDetection Name: Z\nMcAfee Product Name: ENS\nEngine Version: 1\nDAT Version: 2\nOperating System: Win\nService Pack: 1\nSystem Details: none\n\nThanks\n";
    c.bench_function("read_body/template", |b| {
        b.iter(|| read_body(black_box(body), &labels))
    });
}

fn identify(c: &mut Criterion) {
    let text: Vec<u8> = "3/10/2025 10:05:55 AM  Scan Started  ACME\\bob  Full Scan\r\n"
        .repeat(1200)
        .into_bytes();
    let mut g = c.benchmark_group("identify");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("log_64k", |b| {
        b.iter(|| intake::decide::classify::identify(black_box(&text)))
    });
    g.finish();
}

/// Reading a 4 MiB incompressible file out of a ZipCrypto `infected`
/// wrapper: nearly all of it is the cipher, whose every byte waits on the one
/// before (a hand-written loop measured the same as the zip crate's).
fn zipcrypto(c: &mut Criterion) {
    use std::io::Write;
    use zip::unstable::write::FileOptionsExt;
    // Incompressible: SHA-256 in counter mode.
    let data: Vec<u8> = (0u32..(4 << 20) / 32)
        .flat_map(|i| <sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes()))
        .collect();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .with_deprecated_encryption(b"infected")
        .expect("password");
    w.start_file("sample.bin", opts).expect("start");
    w.write_all(&data).expect("write");
    let z = w.finish().expect("finish").into_inner();
    let limits = intake::decide::unpack::Limits::default();
    let mut g = c.benchmark_group("unpack");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("zipcrypto_4m", |b| {
        b.iter(|| {
            match intake::decide::unpack::probe(black_box(&z), &[intake::decide::unpack::PASSWORD])
            {
                intake::decide::unpack::Probe::Wrapper(mut w) => match w.read(0, &limits) {
                    intake::decide::unpack::Entry::File { bytes, .. } => bytes.len(),
                    _ => 0,
                },
                _ => 0,
            }
        })
    });
    g.finish();
}

criterion_group!(benches, corpus, metadata, identify, zipcrypto);
criterion_main!(benches);
