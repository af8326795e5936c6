//! The Domain Connect template model (SPEC.md §5), tolerant of what the public registry holds:
//! integer fields given as strings, unknown fields, odd spellings of `essential` and
//! `txtConflictMatchingMode` (kept raw here; [`TemplateRecord::essential`] and
//! [`TemplateRecord::txt_mode`] interpret them, and the linter reports them).

use serde::{Deserialize, Serialize};

/// An integer template field: a JSON number or a string holding digits or one `%variable%`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntField {
    Int(i64),
    Text(String),
}

impl IntField {
    /// The field as template text (a number becomes its decimal digits).
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            IntField::Int(i) => std::borrow::Cow::Owned(i.to_string()),
            IntField::Text(s) => std::borrow::Cow::Borrowed(s.as_str()),
        }
    }
}

/// A whole template (`providerId.serviceId.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub provider_id: String,
    pub provider_name: String,
    pub service_id: String,
    pub service_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_description: Option<String>,
    #[serde(default)]
    pub sync_block: bool,
    /// Deprecated predecessor of `sharedProviderName`.
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub shared_provider_name: bool,
    #[serde(default)]
    pub shared_service_name: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_pub_key_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_redirect_domain: Option<String>,
    #[serde(default)]
    pub multi_instance: bool,
    #[serde(default)]
    pub warn_phishing: bool,
    #[serde(default)]
    pub host_required: bool,
    pub records: Vec<TemplateRecord>,
}

impl Template {
    /// Whether callers may send `providerName` (the new flag or the deprecated `shared`).
    pub fn allows_shared_provider_name(&self) -> bool {
        self.shared_provider_name || self.shared
    }

    /// `syncPubKeyDomain`, if set and not blank.
    pub fn pub_key_domain(&self) -> Option<&str> {
        self.sync_pub_key_domain
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// The entries of `syncRedirectDomain`, trimmed, lower-cased, empty ones dropped.
    pub fn redirect_domains(&self) -> Vec<String> {
        self.sync_redirect_domain
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The record types the template writes (upper-case, deduplicated, in first-use order).
    pub fn record_types(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.records {
            let t = r.rtype.trim().to_ascii_uppercase();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

/// One template record (SPEC.md §5.2). Which fields apply depends on `type`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRecord {
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Raw value; see [`TemplateRecord::essential`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// SRV owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<IntField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Raw value; see [`TemplateRecord::txt_mode`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txt_conflict_matching_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txt_conflict_matching_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<IntField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<IntField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spf_rules: Option<String>,
}

/// `essential` of a record (SPEC.md §7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Essential {
    #[default]
    Always,
    OnApply,
}

impl Essential {
    /// Parses case-insensitively; `None` for a value that is neither spelling.
    pub fn parse(s: &str) -> Option<Essential> {
        match s.trim().to_ascii_lowercase().as_str() {
            "always" => Some(Essential::Always),
            "onapply" => Some(Essential::OnApply),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Essential::Always => "Always",
            Essential::OnApply => "OnApply",
        }
    }
}

/// `txtConflictMatchingMode` (SPEC.md §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxtMode {
    None,
    All,
    Prefix,
}

impl TxtMode {
    /// Parses case-insensitively; `None` for an unknown value.
    pub fn parse(s: &str) -> Option<TxtMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Some(TxtMode::None),
            "all" => Some(TxtMode::All),
            "prefix" => Some(TxtMode::Prefix),
            _ => None,
        }
    }
}

impl TemplateRecord {
    /// Upper-case type.
    pub fn kind(&self) -> String {
        self.rtype.trim().to_ascii_uppercase()
    }

    /// The record's `essential` flag; a missing or invalid value means `Always` (POLICY.md 8).
    pub fn essential(&self) -> Essential {
        self.essential
            .as_deref()
            .and_then(Essential::parse)
            .unwrap_or_default()
    }

    /// The TXT conflict mode; missing or unknown means `None` (POLICY.md 8).
    pub fn txt_mode(&self) -> TxtMode {
        self.txt_conflict_matching_mode
            .as_deref()
            .and_then(TxtMode::parse)
            .unwrap_or(TxtMode::None)
    }

    /// The owner field: `name` for SRV, `host` otherwise.
    pub fn owner_field(&self) -> Option<&str> {
        if self.kind() == "SRV" {
            self.name.as_deref()
        } else {
            self.host.as_deref()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_fields_accept_numbers_and_strings() {
        let r: TemplateRecord = serde_json::from_str(
            r#"{"type":"MX","host":"@","pointsTo":"mx.example","ttl":"3600","priority":10,"extra":1}"#,
        )
        .expect("parses");
        assert_eq!(
            r.ttl.as_ref().map(|t| t.as_text().into_owned()),
            Some("3600".to_string())
        );
        assert_eq!(
            r.priority.as_ref().map(|t| t.as_text().into_owned()),
            Some("10".to_string())
        );
    }

    #[test]
    fn odd_essential_spellings() {
        let mk = |e: &str| TemplateRecord {
            essential: Some(e.into()),
            ..Default::default()
        };
        assert_eq!(mk("onApply").essential(), Essential::OnApply);
        assert_eq!(mk("No").essential(), Essential::Always);
        assert_eq!(TemplateRecord::default().essential(), Essential::Always);
    }
}
