//! The label vocabulary of the published submission template, in English and
//! Chinese (simplified and traditional), with the synonyms customers actually
//! write. A label matches only as a whole, after normalising case, spaces and
//! decoration, which is what keeps `Product Name` apart from `McAfee Product Name`.

use std::collections::HashMap;

use super::Field;

/// Label → field look-up, built once per configuration (the vendor's name is
/// part of one label).
#[derive(Debug, Clone)]
pub struct Labels {
    map: HashMap<String, Field>,
}

const FIXED: &[(Field, &[&str])] = &[
    (
        Field::GrantNumber,
        &[
            "Grant Number",
            "Grant No",
            "Grant No.",
            "Grant #",
            "Grant ID",
            "Grant",
            "Grant Number / Entitlement",
            "Entitlement Number",
            "Entitlement",
            "授权号",
            "授权码",
            "授權號",
            "授權碼",
        ],
    ),
    (
        Field::FileList,
        &[
            "File List",
            "Files",
            "List of Files",
            "File Names",
            "File List and Location",
            "文件列表",
            "文件清单",
            "檔案列表",
            "檔案清單",
        ],
    ),
    (
        Field::Symptoms,
        &[
            "Symptoms",
            "Symptom",
            "Problem Description",
            "症状",
            "症狀",
            "现象",
            "現象",
        ],
    ),
    (
        Field::Detected,
        &[
            "Detected",
            "Detected by Another Product",
            "Detected by Another Security Product",
            "Detected by Other Product",
            "是否检测到",
            "是否檢測到",
            "是否偵測到",
        ],
    ),
    (
        Field::DetectionVendor,
        &[
            "Security Product Vendor",
            "Vendor",
            "Other Vendor",
            "安全产品供应商",
            "安全產品供應商",
            "供应商",
            "供應商",
        ],
    ),
    (
        Field::DetectionProduct,
        &[
            "Product Name",
            "Security Product Name",
            "Security Product",
            "产品名称",
            "產品名稱",
        ],
    ),
    (
        Field::DetectionVersion,
        &[
            "Version",
            "Security Product Version",
            "版本号",
            "版本號",
            "版本",
        ],
    ),
    (
        Field::DetectionName,
        &[
            "Detection Name",
            "Threat Name",
            "Virus Name",
            "Malware Name",
            "病毒名称",
            "病毒名稱",
            "检测名称",
            "檢測名稱",
        ],
    ),
    (
        Field::ProductName,
        &["迈克菲产品名称", "邁克菲產品名稱", "Your Product Name"],
    ),
    (
        Field::EngineVersion,
        &["Engine Version", "Engine", "引擎版本"],
    ),
    (
        Field::DatVersion,
        &[
            "DAT Version",
            "DAT",
            "AMCore Content Version",
            "AMCore Version",
            "Content Version",
            "DAT 版本",
            "病毒库版本",
            "病毒庫版本",
        ],
    ),
    (
        Field::Os,
        &[
            "Operating System",
            "OS",
            "OS Version",
            "操作系统",
            "操作系統",
            "作業系統",
        ],
    ),
    (
        Field::ServicePack,
        &["Service Pack", "SP", "服务包", "服務包"],
    ),
    (
        Field::SystemDetails,
        &[
            "System Details",
            "System Information",
            "System Info",
            "系统详细信息",
            "系統詳細資訊",
            "系统信息",
            "系統資訊",
        ],
    ),
];

impl Labels {
    /// Labels for a deployment whose own product is sold as `vendor`
    /// ("McAfee" by default): "`vendor` Product Name" names the customer's product.
    pub fn new(vendor: &str) -> Self {
        let mut map = HashMap::new();
        for (field, labels) in FIXED {
            for l in *labels {
                map.insert(normalise(l), *field);
            }
        }
        for l in [
            format!("{vendor} Product Name"),
            format!("{vendor} Product"),
            format!("{vendor} Engine Version"),
            format!("{vendor} DAT Version"),
            format!("{vendor} 产品名称"),
            format!("{vendor} 產品名稱"),
        ] {
            let field = if l.ends_with("Engine Version") {
                Field::EngineVersion
            } else if l.ends_with("DAT Version") {
                Field::DatVersion
            } else {
                Field::ProductName
            };
            map.insert(normalise(&l), field);
        }
        Labels { map }
    }

    /// The field a candidate label names, if it is a label at all.
    pub fn field(&self, candidate: &str) -> Option<Field> {
        // Labels are short; anything long is prose that happens to hold a colon.
        if candidate.len() > 80 {
            return None;
        }
        self.map.get(&normalise(candidate)).copied()
    }
}

impl Default for Labels {
    fn default() -> Self {
        Labels::new("McAfee")
    }
}

/// Case-folded, with white space, list markers, emphasis and a trailing
/// question mark removed: "  2. **DAT  Version?** " → "datversion".
pub(super) fn normalise(label: &str) -> String {
    let t = label.trim();
    let t = t.trim_start_matches(|c: char| "-*•·>#+".contains(c) || c.is_whitespace());
    let t = strip_numbering(t);
    t.chars()
        .filter(|c| !c.is_whitespace() && !"*_?？".contains(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Drops "1.", "2)", "(3)" in front of a label.
fn strip_numbering(s: &str) -> &str {
    let inner = s.strip_prefix('(').unwrap_or(s);
    let digits = inner.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 2 {
        return s;
    }
    let rest = &inner[digits..];
    match rest.chars().next() {
        Some(c @ ('.' | ')' | '、')) => rest[c.len_utf8()..].trim_start(),
        _ => s,
    }
}
