//! The facts a submission must carry (grant number, file list, symptoms, the other
//! product's detection, the customer's own product, engine and DAT versions, OS),
//! read from an email body or the portal's `metadata.json`, and the check of which
//! required ones are missing. Channels differ only in how the facts arrive.

mod body;
mod labels;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use body::{read_body, read_passwords};
pub use labels::Labels;

/// One metadata key. The declaration order is the contract's order, which
/// `missing_fields` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    GrantNumber,
    FileList,
    Symptoms,
    Detected,
    DetectionVendor,
    DetectionProduct,
    DetectionVersion,
    DetectionName,
    ProductName,
    EngineVersion,
    DatVersion,
    Os,
    ServicePack,
    SystemDetails,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::GrantNumber,
        Field::FileList,
        Field::Symptoms,
        Field::Detected,
        Field::DetectionVendor,
        Field::DetectionProduct,
        Field::DetectionVersion,
        Field::DetectionName,
        Field::ProductName,
        Field::EngineVersion,
        Field::DatVersion,
        Field::Os,
        Field::ServicePack,
        Field::SystemDetails,
    ];

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Field::GrantNumber => "grant_number",
            Field::FileList => "file_list",
            Field::Symptoms => "symptoms",
            Field::Detected => "detected",
            Field::DetectionVendor => "detection_vendor",
            Field::DetectionProduct => "detection_product",
            Field::DetectionVersion => "detection_version",
            Field::DetectionName => "detection_name",
            Field::ProductName => "product_name",
            Field::EngineVersion => "engine_version",
            Field::DatVersion => "dat_version",
            Field::Os => "os",
            Field::ServicePack => "service_pack",
            Field::SystemDetails => "system_details",
        }
    }

    /// Whether the value may run over the following lines (the descriptive
    /// fields); every other field is the rest of its own line, so a grant
    /// number followed by a line of prose stays a grant number.
    pub fn runs_on(self) -> bool {
        matches!(
            self,
            Field::FileList | Field::Symptoms | Field::SystemDetails
        )
    }

    /// Required whatever else was said.
    fn always_required(self) -> bool {
        matches!(
            self,
            Field::GrantNumber
                | Field::FileList
                | Field::Symptoms
                | Field::Detected
                | Field::ProductName
                | Field::EngineVersion
                | Field::DatVersion
                | Field::Os
        )
    }

    /// Required only when another product detected the file.
    fn required_when_detected(self) -> bool {
        matches!(
            self,
            Field::DetectionVendor
                | Field::DetectionProduct
                | Field::DetectionVersion
                | Field::DetectionName
        )
    }
}

/// What the submitter told us. `None` means "not given" (absent, empty or blank).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub grant_number: Option<String>,
    pub file_list: Option<String>,
    pub symptoms: Option<String>,
    pub detected: Option<bool>,
    pub detection_vendor: Option<String>,
    pub detection_product: Option<String>,
    pub detection_version: Option<String>,
    pub detection_name: Option<String>,
    pub product_name: Option<String>,
    pub engine_version: Option<String>,
    pub dat_version: Option<String>,
    pub os: Option<String>,
    pub service_pack: Option<String>,
    pub system_details: Option<String>,
}

impl Metadata {
    fn text_slot(&mut self, field: Field) -> Option<&mut Option<String>> {
        Some(match field {
            Field::GrantNumber => &mut self.grant_number,
            Field::FileList => &mut self.file_list,
            Field::Symptoms => &mut self.symptoms,
            Field::Detected => return None,
            Field::DetectionVendor => &mut self.detection_vendor,
            Field::DetectionProduct => &mut self.detection_product,
            Field::DetectionVersion => &mut self.detection_version,
            Field::DetectionName => &mut self.detection_name,
            Field::ProductName => &mut self.product_name,
            Field::EngineVersion => &mut self.engine_version,
            Field::DatVersion => &mut self.dat_version,
            Field::Os => &mut self.os,
            Field::ServicePack => &mut self.service_pack,
            Field::SystemDetails => &mut self.system_details,
        })
    }

    /// Whether `field` holds a value.
    pub fn has(&self, field: Field) -> bool {
        match field {
            Field::Detected => self.detected.is_some(),
            other => self.text(other).is_some(),
        }
    }

    /// The text of a string field (`None` for `detected`).
    pub fn text(&self, field: Field) -> Option<&str> {
        let v = match field {
            Field::GrantNumber => &self.grant_number,
            Field::FileList => &self.file_list,
            Field::Symptoms => &self.symptoms,
            Field::Detected => return None,
            Field::DetectionVendor => &self.detection_vendor,
            Field::DetectionProduct => &self.detection_product,
            Field::DetectionVersion => &self.detection_version,
            Field::DetectionName => &self.detection_name,
            Field::ProductName => &self.product_name,
            Field::EngineVersion => &self.engine_version,
            Field::DatVersion => &self.dat_version,
            Field::Os => &self.os,
            Field::ServicePack => &self.service_pack,
            Field::SystemDetails => &self.system_details,
        };
        v.as_deref()
    }

    /// Sets `field` from raw text unless it already holds a value: the first
    /// answer given wins. Blank text counts as not given; `detected` is parsed.
    pub fn offer(&mut self, field: Field, raw: &str) {
        let value = raw.trim();
        if value.is_empty() || self.has(field) {
            return;
        }
        match self.text_slot(field) {
            Some(slot) => *slot = Some(value.to_owned()),
            None => self.detected = parse_yes_no(value),
        }
    }

    /// Fills every field this one lacks from `other` (a later message of the
    /// same SR completing an earlier one).
    pub fn complete_from(&mut self, other: &Metadata) {
        for f in Field::ALL {
            if self.has(f) {
                continue;
            }
            match f {
                Field::Detected => self.detected = other.detected,
                f => {
                    if let (Some(slot), Some(v)) = (self.text_slot(f), other.text(f)) {
                        *slot = Some(v.to_owned());
                    }
                }
            }
        }
    }

    /// Required fields that hold no value, in the contract's order.
    pub fn missing_fields(&self) -> Vec<Field> {
        let detected = self.detected == Some(true);
        Field::ALL
            .into_iter()
            .filter(|f| f.always_required() || (detected && f.required_when_detected()))
            .filter(|f| !self.has(*f))
            .collect()
    }

    /// The `"passwords"` list of the portal's `metadata.json`: strings only,
    /// at most [`crate::decide::MAX_PASSWORDS`] of them.
    pub fn passwords_from_json(bytes: &[u8]) -> Vec<String> {
        serde_json::from_slice(bytes)
            .map(|v| Self::passwords_from_value(&v))
            .unwrap_or_default()
    }

    /// [`Metadata::passwords_from_json`] of JSON already parsed (a form).
    pub fn passwords_from_value(v: &serde_json::Value) -> Vec<String> {
        let serde_json::Value::Object(map) = v else {
            return Vec::new();
        };
        let Some(serde_json::Value::Array(list)) = map.get("passwords") else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|v| v.as_str())
            .filter(|p| !p.is_empty() && p.len() <= body::MAX_PASSWORD)
            .take(crate::decide::MAX_PASSWORDS)
            .map(str::to_owned)
            .collect()
    }

    /// Reads the portal's `metadata.json`: the report's keys with JSON types.
    /// Strings and numbers are accepted for text fields; `detected` takes a
    /// boolean or a yes/no word. Anything else counts as not given, so a broken
    /// file yields a `needs_info` answer instead of an error.
    pub fn from_json(bytes: &[u8]) -> Metadata {
        serde_json::from_slice(bytes)
            .map(|v| Self::from_value(&v))
            .unwrap_or_default()
    }

    /// [`Metadata::from_json`] of JSON already parsed (a form).
    pub fn from_value(v: &serde_json::Value) -> Metadata {
        let mut m = Metadata::default();
        let serde_json::Value::Object(map) = v else {
            return m;
        };
        for f in Field::ALL {
            match (f, map.get(f.key())) {
                (Field::Detected, Some(serde_json::Value::Bool(b))) => m.detected = Some(*b),
                (_, Some(serde_json::Value::String(s))) => m.offer(f, s),
                (_, Some(serde_json::Value::Number(n))) if f != Field::Detected => {
                    m.offer(f, &n.to_string())
                }
                _ => {}
            }
        }
        m
    }
}

/// Reads an answer to "did another product detect it?". Only the first word
/// counts, so "Yes, Defender calls it Trojan:Win32/X" is a yes.
pub fn parse_yes_no(raw: &str) -> Option<bool> {
    let t = raw.trim().to_lowercase();
    let first = t
        .split(|c: char| c.is_whitespace() || ",;.!()-–—，。；！（）:：/".contains(c))
        .find(|w| !w.is_empty())?;
    const YES: [&str; 10] = [
        "yes",
        "y",
        "true",
        "是",
        "是的",
        "有",
        "检测到",
        "檢測到",
        "偵測到",
        "detected",
    ];
    const NO: [&str; 12] = [
        "no",
        "n",
        "false",
        "否",
        "没有",
        "沒有",
        "无",
        "無",
        "未检测到",
        "未檢測到",
        "未偵測到",
        "none",
    ];
    if YES.contains(&first) {
        Some(true)
    } else if NO.contains(&first) {
        Some(false)
    } else if ["否", "没", "沒", "未", "无", "無"]
        .iter()
        .any(|p| first.starts_with(p))
    {
        // Chinese answers often run on without a separator: "否，没有报毒", "未检测".
        Some(false)
    } else if first.starts_with('是') || first.starts_with('有') {
        Some(true)
    } else {
        None
    }
}
