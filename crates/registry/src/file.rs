//! The registry file format (TOML), as written, before checking.
//! `docs/REGISTRY.md` documents it for operators.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    #[serde(default)]
    pub party: Vec<PartySpec>,
}

/// One `[[party]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartySpec {
    pub her: Spanned<String>,
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    #[serde(default)]
    pub parent: Option<Spanned<String>>,
    #[serde(default)]
    pub municipality: Option<Spanned<String>>,
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub auth: Option<Spanned<AuthSpec>>,
    #[serde(default)]
    pub accepts: Option<Spanned<Vec<Spanned<AcceptSpec>>>>,
    #[serde(default)]
    pub callback: Option<Spanned<String>>,
}

/// `auth = { … }`: references to secret files, never the secrets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    #[serde(default)]
    pub client_cert: Option<Spanned<String>>,
    #[serde(default)]
    pub client_key: Option<Spanned<String>>,
    #[serde(default)]
    pub bearer_token_file: Option<Spanned<String>>,
}

/// One entry of `accepts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptSpec {
    #[serde(rename = "type")]
    pub msg_type: Spanned<String>,
    pub versions: Spanned<Vec<String>>,
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Whether a field name suggests that it would hold a secret itself.
pub fn looks_like_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "apikey",
        "api_key",
        "credential",
        "private",
    ]
    .iter()
    .any(|w| n.contains(w))
        || n == "key"
        || n.ends_with("_key")
}

/// The TOML reader's message, made fit for logs: a quoted string value is
/// left out (it might be a secret someone pasted in the wrong place), and an
/// unknown field that looks like an inline secret gets its own explanation.
pub fn clean_syntax_message(msg: &str) -> String {
    if let Some(rest) = msg.split("unknown field `").nth(1) {
        if let Some(field) = rest.split('`').next() {
            if looks_like_secret_field(field) {
                return format!(
                    "field `{field}` looks like an inline secret; the registry holds only \
                     references to secret files (auth.bearer_token_file, auth.client_cert, \
                     auth.client_key)"
                );
            }
        }
    }
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i]);
        out.push_str("a string");
        let after = &rest[i + "string \"".len()..];
        // Skip to the closing quote (escaped quotes are preceded by '\').
        let mut end = None;
        let mut prev = ' ';
        for (j, c) in after.char_indices() {
            if c == '"' && prev != '\\' {
                end = Some(j);
                break;
            }
            prev = c;
        }
        match end {
            Some(j) => rest = &after[j + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.lines().next().unwrap_or("").trim().to_owned()
}
