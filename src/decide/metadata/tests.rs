use super::*;

fn read(text: &str) -> Metadata {
    read_body(text, &Labels::default())
}

const FULL_EN: &str = "Hello lab,\r\n\r\nGrant Number: 1234-5678\r\nFile List:\r\nC:\\Users\\bob\\AppData\\Local\\Temp\\dropper.exe - found in Temp\r\nC:\\Windows\\evil.dll - loaded by explorer\r\nSymptoms: pop-ups, CPU at 100%\r\nDetected: Yes\r\nSecurity Product Vendor: Microsoft\r\nProduct Name: Defender\r\nVersion: 4.18.2\r\nDetection Name: Trojan:Win32/Wacatac\r\nMcAfee Product Name: Endpoint Security\r\nEngine Version: 6700.10107\r\nDAT Version: 5390.0\r\nOperating System: Windows 10 Pro\r\nService Pack: 22H2\r\nSystem Details: 16 GB RAM\r\n\r\nThanks,\r\nBob\r\n";

#[test]
fn reads_the_english_template_with_its_traps() {
    let m = read(FULL_EN);
    assert_eq!(m.grant_number.as_deref(), Some("1234-5678"));
    assert_eq!(
        m.file_list.as_deref(),
        Some(
            "C:\\Users\\bob\\AppData\\Local\\Temp\\dropper.exe - found in Temp\nC:\\Windows\\evil.dll - loaded by explorer"
        )
    );
    assert_eq!(m.symptoms.as_deref(), Some("pop-ups, CPU at 100%"));
    assert_eq!(m.detected, Some(true));
    assert_eq!(m.detection_vendor.as_deref(), Some("Microsoft"));
    assert_eq!(m.detection_product.as_deref(), Some("Defender"));
    assert_eq!(m.detection_version.as_deref(), Some("4.18.2"));
    assert_eq!(m.detection_name.as_deref(), Some("Trojan:Win32/Wacatac"));
    assert_eq!(m.product_name.as_deref(), Some("Endpoint Security"));
    assert_eq!(m.engine_version.as_deref(), Some("6700.10107"));
    assert_eq!(m.dat_version.as_deref(), Some("5390.0"));
    assert_eq!(m.os.as_deref(), Some("Windows 10 Pro"));
    assert_eq!(m.service_pack.as_deref(), Some("22H2"));
    assert_eq!(m.system_details.as_deref(), Some("16 GB RAM"));
    assert!(m.missing_fields().is_empty());
}

#[test]
fn reads_the_chinese_template_with_full_width_colons() {
    let text = "授权号：GR-889\n文件列表：\nC:\\temp\\a.exe\n症状：电脑变慢\n是否检测到：是\n安全产品供应商：奇虎\n产品名称：360安全卫士\n版本号：13.0\n病毒名称：HEUR/QVM\n迈克菲产品名称：ENS\n引擎版本：6700\nDAT 版本：5390\n操作系统：Windows 7\n服务包：SP1\n系统详细信息：无\n";
    let m = read(text);
    assert_eq!(m.grant_number.as_deref(), Some("GR-889"));
    assert_eq!(m.file_list.as_deref(), Some("C:\\temp\\a.exe"));
    assert_eq!(m.detected, Some(true));
    assert_eq!(m.detection_product.as_deref(), Some("360安全卫士"));
    assert_eq!(m.product_name.as_deref(), Some("ENS"));
    assert_eq!(m.detection_version.as_deref(), Some("13.0"));
    assert_eq!(m.dat_version.as_deref(), Some("5390"));
    assert_eq!(m.service_pack.as_deref(), Some("SP1"));
    assert!(m.missing_fields().is_empty());
}

#[test]
fn labels_match_in_any_case_and_spacing_but_only_whole() {
    let m = read(
        "GRANT NUMBER : 7\ndat version:1\nDAT版本: 2\nmcafee   product name: X\nMy Product Name: Y\nVersions: 3\n",
    );
    assert_eq!(m.grant_number.as_deref(), Some("7"));
    assert_eq!(m.dat_version.as_deref(), Some("1"));
    assert_eq!(m.product_name.as_deref(), Some("X"));
    assert_eq!(m.detection_product, None);
    assert_eq!(m.detection_version, None);
}

#[test]
fn configured_vendor_name_changes_the_product_label() {
    let labels = Labels::new("Trellix");
    let m = read_body(
        "Trellix Product Name: ENS\nMcAfee Product Name: VSE\n",
        &labels,
    );
    assert_eq!(m.product_name.as_deref(), Some("ENS"));
}

#[test]
fn blank_values_count_as_not_given() {
    let m = read("Grant Number:   \nSymptoms:\n\nOperating System: \t\n");
    assert_eq!(m.grant_number, None);
    assert_eq!(m.symptoms, None);
    assert_eq!(m.os, None);
    assert_eq!(m.missing_fields().first(), Some(&Field::GrantNumber));
}

#[test]
fn a_value_ends_at_a_blank_line_or_signature() {
    let m = read("System Details: 8 GB\nIntel i5\n\nRegards,\nBob\n");
    assert_eq!(m.system_details.as_deref(), Some("8 GB\nIntel i5"));
    let m = read("Symptoms: slow\n-- \nBob, ACME IT\n");
    assert_eq!(m.symptoms.as_deref(), Some("slow"));
}

#[test]
fn first_answer_wins_and_quoted_template_fills_gaps() {
    let text = "Grant Number: 42\nOS: Windows 11\n\nOn Mon, Lab wrote:\n> Grant Number:\n> Symptoms: freezes\n> OS: Windows 7\n";
    let m = read(text);
    assert_eq!(m.grant_number.as_deref(), Some("42"));
    assert_eq!(m.os.as_deref(), Some("Windows 11"));
    assert_eq!(m.symptoms.as_deref(), Some("freezes"));
}

#[test]
fn decorated_numbered_and_bilingual_labels() {
    let m = read(
        "1. **Grant Number**: 9\n- Symptoms: odd\nGrant Number / 授权号: 10\nOperating System (操作系统)：Win8\nDAT/AMCore Version: 4000\n",
    );
    assert_eq!(m.grant_number.as_deref(), Some("9"));
    assert_eq!(m.symptoms.as_deref(), Some("odd"));
    assert_eq!(m.os.as_deref(), Some("Win8"));
    assert_eq!(m.dat_version.as_deref(), Some("4000"));
}

#[test]
fn table_rows_from_html_mail() {
    let m = read("│Grant Number│555 │\n│Operating System│Windows 10│\nEngine Version\t6800\n");
    assert_eq!(m.grant_number.as_deref(), Some("555"));
    assert_eq!(m.os.as_deref(), Some("Windows 10"));
    assert_eq!(m.engine_version.as_deref(), Some("6800"));
}

#[test]
fn unknown_labels_end_a_value_but_paths_do_not() {
    let m = read("File List:\nC:\\Temp\\a.exe\nb.exe: found in Downloads\nNote: call me\n");
    assert_eq!(
        m.file_list.as_deref(),
        Some("C:\\Temp\\a.exe\nb.exe: found in Downloads")
    );
}

#[test]
fn yes_no_answers() {
    for (s, v) in [
        ("yes", Some(true)),
        ("YES", Some(true)),
        ("Y", Some(true)),
        ("true", Some(true)),
        ("是", Some(true)),
        ("是的，360报毒", Some(true)),
        ("no", Some(false)),
        ("N", Some(false)),
        ("False", Some(false)),
        ("否", Some(false)),
        ("没有", Some(false)),
        ("No.", Some(false)),
        ("Yes - Defender", Some(true)),
        ("maybe", None),
        ("", None),
    ] {
        assert_eq!(parse_yes_no(s), v, "{s:?}");
    }
}

#[test]
fn detection_fields_required_only_when_detected() {
    let mut m = read(FULL_EN);
    m.detection_vendor = None;
    assert_eq!(m.missing_fields(), vec![Field::DetectionVendor]);
    m.detected = Some(false);
    assert!(m.missing_fields().is_empty());
    m.detected = None;
    assert_eq!(m.missing_fields(), vec![Field::Detected]);
}

#[test]
fn missing_fields_follow_contract_order() {
    let m = Metadata::default();
    let keys: Vec<&str> = m.missing_fields().iter().map(|f| f.key()).collect();
    assert_eq!(
        keys,
        [
            "grant_number",
            "file_list",
            "symptoms",
            "detected",
            "product_name",
            "engine_version",
            "dat_version",
            "os"
        ]
    );
}

#[test]
fn portal_json_uses_json_types_and_tolerates_garbage() {
    let m = Metadata::from_json(
        br#"{"grant_number": 12345, "detected": false, "os": "  Windows 10 ", "symptoms": "", "file_list": ["x"]}"#,
    );
    assert_eq!(m.grant_number.as_deref(), Some("12345"));
    assert_eq!(m.detected, Some(false));
    assert_eq!(m.os.as_deref(), Some("Windows 10"));
    assert_eq!(m.symptoms, None);
    assert_eq!(m.file_list, None);
    assert_eq!(Metadata::from_json(b"not json"), Metadata::default());
    assert_eq!(Metadata::from_json(b"[1,2]"), Metadata::default());
}

#[test]
fn metadata_serialises_every_key_with_nulls() {
    let json = serde_json::to_value(Metadata::default()).unwrap_or_default();
    let obj = json.as_object().cloned().unwrap_or_default();
    assert_eq!(obj.len(), 14);
    assert!(obj.values().all(|v| v.is_null()));
    let text = serde_json::to_string(&Metadata::default()).unwrap_or_default();
    let positions: Vec<usize> = Field::ALL
        .iter()
        .filter_map(|f| text.find(&format!("\"{}\"", f.key())))
        .collect();
    assert_eq!(positions.len(), 14);
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn complete_from_fills_only_gaps() {
    let mut a = read("Grant Number: 1\n");
    let b = read("Grant Number: 2\nOS: Linux\nDetected: no\n");
    a.complete_from(&b);
    assert_eq!(a.grant_number.as_deref(), Some("1"));
    assert_eq!(a.os.as_deref(), Some("Linux"));
    assert_eq!(a.detected, Some(false));
}

proptest::proptest! {
    #[test]
    fn reader_never_panics(s in "\\PC{0,400}") {
        let _ = read(&s);
    }

    #[test]
    fn reader_never_panics_on_label_soup(parts in proptest::collection::vec(
        proptest::sample::select(vec!["Grant Number", "：", ":", "\n", "│", "|", "\t", "> ", "是", "1.", "(", "DAT 版本", " ", "--", "x"]), 0..60)) {
        let s: String = parts.concat();
        let _ = read(&s);
    }
}

#[test]
fn a_one_line_field_does_not_swallow_the_next_line() {
    let m = read(
        "Grant Number: 4321-0001\nPlease have a look.\nOperating System: Windows 11\nthe laptop, not the desktop\nSymptoms: slow\nand hot\n",
    );
    assert_eq!(m.grant_number.as_deref(), Some("4321-0001"));
    assert_eq!(m.os.as_deref(), Some("Windows 11"));
    assert_eq!(m.symptoms.as_deref(), Some("slow\nand hot"));
    // A label alone on its line gives nothing: the value is the rest of the line.
    let m = read("Grant Number:\n4321-0001\n");
    assert_eq!(m.grant_number, None);
}

#[test]
fn archive_passwords_are_read_apart_from_the_metadata() {
    let text = "File List: a.zip\nArchive Password: one, two  three\n解压密码：四，五\nZip Password: one\n";
    assert_eq!(read_passwords(text), ["one", "two", "three", "四", "五"]);
    let m = read(text);
    assert_eq!(m.file_list.as_deref(), Some("a.zip"));
    assert_eq!(
        read_passwords("Hello\nPasswords are hard\n"),
        Vec::<String>::new()
    );
    let many: String = (0..50).map(|i| format!("p{i} ")).collect();
    assert_eq!(
        read_passwords(&format!("Password: {many}")).len(),
        crate::decide::MAX_PASSWORDS
    );
    assert_eq!(
        Metadata::passwords_from_json(br#"{"passwords": ["a", 3, "", "b"]}"#),
        ["a", "b"]
    );
}
