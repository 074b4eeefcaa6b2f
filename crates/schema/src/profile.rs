//! Reader for the profile text format (see `docs/PROFILES.md`): an indented
//! tree of lines, each a keyword followed by words, `key=value` pairs and
//! (for `enum` and `pattern`) a raw rest of line.

use crate::SchemaError;

/// One line of a profile, with its indented children.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub kw: String,
    /// Bare words after the keyword (names, cardinality, flags).
    pub words: Vec<String>,
    /// `key=value` pairs (values unquoted).
    pub kv: Vec<(String, String)>,
    /// Everything after the keyword and one space, verbatim.
    pub rest: String,
    pub line: u32,
    pub children: Vec<Line>,
}

impl Line {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.kv
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn has(&self, flag: &str) -> bool {
        self.words.iter().any(|w| w == flag)
    }
    /// The first bare word (the declared name or referenced QName).
    pub fn name(&self) -> Option<&str> {
        self.words.first().map(String::as_str)
    }
    /// `min..max` cardinality among the words; 1..1 when absent. `u32::MAX` is unbounded.
    pub fn card(&self) -> Result<(u32, u32), String> {
        for w in &self.words {
            if let Some((a, b)) = w.split_once("..") {
                let min = a
                    .parse::<u32>()
                    .map_err(|_| format!("bad cardinality {w}"))?;
                let max = if b == "*" {
                    u32::MAX
                } else {
                    b.parse::<u32>()
                        .map_err(|_| format!("bad cardinality {w}"))?
                };
                if max < min {
                    return Err(format!("bad cardinality {w}"));
                }
                return Ok((min, max));
            }
        }
        Ok((1, 1))
    }
}

/// A parsed profile file.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub file: String,
    pub target: String,
    pub prefixes: Vec<(String, String)>,
    pub decls: Vec<Line>,
}

impl Profile {
    pub fn err(&self, line: u32, message: impl Into<String>) -> SchemaError {
        SchemaError::Profile {
            file: self.file.clone(),
            line,
            message: message.into(),
        }
    }

    /// Resolves a QName as written in this profile: no prefix = the target
    /// namespace, `xs:` = XML Schema.
    pub fn resolve(&self, qname: &str, line: u32) -> Result<(String, String), SchemaError> {
        match qname.split_once(':') {
            None => Ok((self.target.clone(), qname.to_owned())),
            Some(("xs", local)) => Ok((crate::compile::XS.to_owned(), local.to_owned())),
            Some((p, local)) => self
                .prefixes
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, u)| (u.clone(), local.to_owned()))
                .ok_or_else(|| self.err(line, format!("undeclared prefix {p}"))),
        }
    }
}

type Tokens = (Vec<String>, Vec<(String, String)>);

fn tokenize(s: &str) -> Result<Tokens, String> {
    let mut words = Vec::new();
    let mut kv = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut tok = String::new();
        let mut value: Option<String> = None;
        while let Some(&c) = chars.peek() {
            if c == ' ' {
                break;
            }
            chars.next();
            if c == '=' && value.is_none() {
                let mut v = String::new();
                if chars.peek() == Some(&'"') {
                    chars.next();
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\\' => match chars.next() {
                                Some('n') => v.push('\n'),
                                Some('t') => v.push('\t'),
                                Some('r') => v.push('\r'),
                                Some(c) => v.push(c),
                                None => return Err("dangling escape".into()),
                            },
                            c => v.push(c),
                        }
                    }
                    if !closed {
                        return Err("unterminated quoted value".into());
                    }
                } else {
                    while let Some(&c) = chars.peek() {
                        if c == ' ' {
                            break;
                        }
                        v.push(c);
                        chars.next();
                    }
                }
                value = Some(v);
                break;
            }
            tok.push(c);
        }
        match value {
            Some(v) => kv.push((tok, v)),
            None => words.push(tok),
        }
    }
    Ok((words, kv))
}

/// Parses one profile file.
pub(crate) fn parse(file: &str, text: &str) -> Result<Profile, SchemaError> {
    let mut profile = Profile {
        file: file.to_owned(),
        target: String::new(),
        prefixes: Vec::new(),
        decls: Vec::new(),
    };
    // Stack of (indent, line) under construction.
    let mut stack: Vec<(usize, Line)> = Vec::new();
    let mut header = true;
    for (i, raw) in text.lines().enumerate() {
        let no = i as u32 + 1;
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.contains('\t') {
            return Err(profile.err(no, "tabs are not allowed; indent with two spaces"));
        }
        let indent = raw.len() - trimmed.len();
        if indent % 2 != 0 {
            return Err(profile.err(no, "indentation must be a multiple of two spaces"));
        }
        let depth = indent / 2;
        let (kw, rest) = match trimmed.split_once(' ') {
            Some((k, r)) => (k, r),
            None => (trimmed, ""),
        };
        if header && depth == 0 {
            match kw {
                "profile" => continue,
                "target" => {
                    profile.target = rest.trim().to_owned();
                    continue;
                }
                "prefix" => {
                    let (p, u) = rest
                        .trim()
                        .split_once(' ')
                        .ok_or_else(|| profile.err(no, "prefix needs a name and a URI"))?;
                    profile.prefixes.push((p.to_owned(), u.trim().to_owned()));
                    continue;
                }
                _ => header = false,
            }
        }
        let (words, kv) = if kw == "enum" || kw == "pattern" {
            (Vec::new(), Vec::new())
        } else {
            tokenize(rest).map_err(|m| profile.err(no, m))?
        };
        let line = Line {
            kw: kw.to_owned(),
            words,
            kv,
            rest: rest.to_owned(),
            line: no,
            children: Vec::new(),
        };
        // Close deeper or equal levels.
        while let Some((d, _)) = stack.last() {
            if *d >= depth {
                let (_, done) = stack.pop().expect("non-empty stack");
                attach(&mut stack, &mut profile.decls, done);
            } else {
                break;
            }
        }
        let parent_depth = stack.last().map(|(d, _)| *d + 1).unwrap_or(0);
        if depth != parent_depth {
            return Err(profile.err(no, "unexpected indentation"));
        }
        stack.push((depth, line));
    }
    while let Some((_, done)) = stack.pop() {
        attach(&mut stack, &mut profile.decls, done);
    }
    Ok(profile)
}

fn attach(stack: &mut [(usize, Line)], top: &mut Vec<Line>, line: Line) {
    match stack.last_mut() {
        Some((_, parent)) => parent.children.push(line),
        None => top.push(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tree_and_values() {
        let p = parse(
            "t.profile",
            "# c\nprofile x y 1\ntarget urn:t\nprefix k urn:k\n\nelement A complex\n  sequence 0..*\n    element B type=xs:string fixed=\"a b\\\"c\"\n  attribute V required type=k:T\nsimple S\n  restricts xs:token\n  enum A B\n  pattern (\\d+\\.?)*\\d+\n",
        )
        .expect("parse");
        assert_eq!(p.target, "urn:t");
        assert_eq!(p.decls.len(), 2);
        let a = &p.decls[0];
        assert_eq!(a.name(), Some("A"));
        assert!(a.has("complex"));
        assert_eq!(a.children[0].card(), Ok((0, u32::MAX)));
        assert_eq!(a.children[0].children[0].get("fixed"), Some("a b\"c"));
        assert!(a.children[1].has("required"));
        let s = &p.decls[1];
        assert_eq!(s.children[1].rest, "A B");
        assert_eq!(s.children[2].rest, "(\\d+\\.?)*\\d+");
    }

    #[test]
    fn rejects_bad_indentation() {
        assert!(parse("t", "element A\n   element B\n").is_err());
        assert!(parse("t", "element A\n    element B\n").is_err());
        assert!(parse("t", "element A x=\"open\n").is_err());
    }
}
