//! Patient identifiers are indexed as a keyed hash, never in clear: with the
//! deployment's key, the same national id always gives the same index value
//! (so a patient's messages can be found together), and without the key the
//! value says nothing about the id.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The HMAC-SHA-256 key for patient index values.
#[derive(Clone)]
pub struct PatientKey(Vec<u8>);

impl std::fmt::Debug for PatientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientKey(<secret>)")
    }
}

impl PatientKey {
    /// At least 32 bytes, as hex.
    pub fn from_hex(hex: &str) -> Result<PatientKey, &'static str> {
        let hex = hex.trim();
        if !hex.len().is_multiple_of(2) {
            return Err("must be hex digits in pairs");
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        let bytes = bytes.ok_or("must be hex digits")?;
        if bytes.len() < 32 {
            return Err("must be at least 32 bytes (64 hex digits)");
        }
        Ok(PatientKey(bytes))
    }

    /// A key for this process only (when none is configured): index values
    /// then do not match across restarts. Logged as a warning by the caller.
    pub fn ephemeral() -> PatientKey {
        let a = uuid::Uuid::new_v4();
        let b = uuid::Uuid::new_v4();
        let mut k = a.as_bytes().to_vec();
        k.extend_from_slice(b.as_bytes());
        PatientKey(k)
    }

    /// The index value of `kind:id` (e.g. `FNR:…`), as 64 hex digits.
    pub fn index(&self, kind: &str, id: &str) -> String {
        // new_from_slice accepts keys of any length for HMAC.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(id.trim().as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

impl PatientKey {
    /// The index values of the words of a person's name: each word in lower
    /// case, split at spaces, hyphens and commas, as `NAME:<word>` keyed
    /// hashes. Searching for "Ola Nordmann" then finds a patient named
    /// "Nordmann, Ola Johan" without any name being stored in clear.
    pub fn name_terms<'a>(&self, parts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = parts
            .into_iter()
            .flat_map(name_words)
            .map(|w| self.index("NAME", &w))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The words of a name as they are indexed and searched.
fn name_words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || c == '-' || c == ',' || c == '.')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn same_id_same_value_and_no_clear_text() {
        let k = PatientKey::from_hex(KEY).unwrap();
        let a = k.index("FNR", "01014040265");
        assert_eq!(a, k.index("FNR", " 01014040265 "));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("01014040265"));
        assert_ne!(a, k.index("DNR", "01014040265"));
        let other = PatientKey::from_hex(&KEY.replace('0', "1")).unwrap();
        assert_ne!(a, other.index("FNR", "01014040265"));
    }

    #[test]
    fn name_terms_ignore_case_order_and_separators() {
        let k = PatientKey::from_hex(KEY).unwrap();
        let stored = k.name_terms(["Nordmann", "Ola-Johan"]);
        assert_eq!(stored.len(), 3);
        let searched = k.name_terms(["ola  NORDMANN"]);
        assert!(searched.iter().all(|t| stored.contains(t)));
        assert!(stored.iter().all(|t| !t.contains("ola") && t.len() == 64));
        assert!(k.name_terms(["  , "]).is_empty());
        // Æ, Ø and Å fold to lower case too.
        assert_eq!(k.name_terms(["ØSTBØ"]), k.name_terms(["østbø"]));
    }

    #[test]
    fn refuses_short_or_bad_keys() {
        assert!(PatientKey::from_hex("abcd").is_err());
        assert!(PatientKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(PatientKey::from_hex(&"a".repeat(63)).is_err());
        assert!(format!("{:?}", PatientKey::from_hex(KEY).unwrap()).contains("secret"));
    }
}
