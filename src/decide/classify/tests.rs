//! Precedence between the detectors, as the contract orders them.

use super::*;

fn reason(bytes: &[u8]) -> Option<RejectReason> {
    match identify(bytes) {
        Identity::Unwanted { reason, .. } => Some(reason),
        _ => None,
    }
}

#[test]
fn empty_first() {
    assert_eq!(reason(b""), Some(RejectReason::Empty));
}

#[test]
fn content_not_name_decides() {
    assert_eq!(
        reason(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
        Some(RejectReason::Screenshot)
    );
    assert_eq!(
        reason(b"\x1e\0\0\0SCCA\0\0\0\0"),
        Some(RejectReason::Prefetch)
    );
    assert_eq!(reason(b"MAM\x04abcd"), Some(RejectReason::Prefetch));
    assert_eq!(
        reason(b"Logfile of Trend Micro HijackThis v2.0.5\n"),
        Some(RejectReason::HijackthisLog)
    );
    assert_eq!(
        reason("MpCmdRun: Command Line: x\nScan starting...\nScan finished.\n".as_bytes()),
        Some(RejectReason::AvLog)
    );
}

#[test]
fn a_script_quoting_log_phrases_is_a_sample() {
    let script = b"@echo off\r\necho Blocked by On-Access Scan\r\necho Scan finished.\r\necho MpCmdRun: Command Line: fake\r\n";
    assert_eq!(identify(script), Identity::Specimen(Kind::Script));
    let ps = b"Set-MpPreference -DisableRealtimeMonitoring $true\nWrite-Host 'Windows Defender scan finished, threats: 0'\n";
    assert_eq!(identify(ps), Identity::Specimen(Kind::Script));
}

#[test]
fn a_log_that_quotes_commands_is_a_log() {
    let mplog = "powershell.exe -ExecutionPolicy Bypass -File C:\\x.ps1 blocked\n\
        2021-01-05T10:22:41.123Z [RTP] [Mini-filter] Engine: 1.1.17700.4 cmd: Set-MpPreference\n\
        2021-01-05T10:22:41.456Z DETECTION_ADD Trojan:Win32/Wacatac file:C:\\x.exe\n\
        2021-01-05T10:22:42.000Z Signatures: 1.331.1234.0\n";
    assert_eq!(reason(mplog.as_bytes()), Some(RejectReason::AvLog));
    let ht =
        "$ cat hijackthis.log\nLogfile of Trend Micro HijackThis v2.0.5\nR0 - HKCU\\Software\n";
    assert_eq!(reason(ht.as_bytes()), Some(RejectReason::HijackthisLog));
}

#[test]
fn short_scripts_are_scripts_not_text() {
    let ps = b"# writes a greeting\nWrite-Output 'hello from a harmless demo'\n";
    assert_eq!(identify(ps), Identity::Specimen(Kind::Script));
    let js = b"// writes a greeting\nWScript.Echo(\"hello from a harmless demo\");\n";
    assert_eq!(identify(js), Identity::Specimen(Kind::Script));
    let prose = b"let me know if you need the other files.\n";
    assert_eq!(identify(prose), Identity::Specimen(Kind::Text));
}

#[test]
fn zips_are_left_to_the_transport_rules() {
    assert_eq!(identify(b"PK\x03\x04\x14\0\0\0"), Identity::Zip);
    assert_eq!(identify(b"PK\x05\x06\0\0\0\0"), Identity::Zip);
    // A self-extractor is an executable that happens to carry a zip.
    assert_eq!(
        identify(b"MZ\x90\0PK\x03\x04"),
        Identity::Specimen(Kind::Pe)
    );
}

#[test]
fn utf16_defender_log_is_a_log() {
    let text =
        "MpCmdRun: Command Line: \"MpCmdRun.exe\" -Scan\r\nScan starting...\r\nScan finished.\r\n";
    let mut b = vec![0xff, 0xfe];
    b.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(reason(&b), Some(RejectReason::AvLog));
}

#[test]
fn eicar_is_a_text_sample() {
    let eicar = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    assert!(matches!(identify(eicar), Identity::Specimen(_)));
}

proptest::proptest! {
    #[test]
    fn identify_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
        let _ = identify(&bytes);
    }
}
