//! A small XML Schema regular expression engine: the pattern is implicitly
//! anchored at both ends; matching is a Thompson-NFA simulation, linear in
//! the input, so no pattern can backtrack catastrophically.
//!
//! Supported: literals, `.`, `|`, groups, `? * + {n} {n,} {n,m}`, character
//! classes with ranges and negation, and the escapes `\d \D \s \S \w \W \i
//! \I \c \C \n \r \t` and escaped metacharacters. Category escapes
//! (`\p{..}`) and class subtraction are refused at compile time.

#[derive(Debug, Clone)]
enum ClassItem {
    Range(char, char),
    Esc(char),
}

#[derive(Debug, Clone)]
struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char(char),
    Any,
    Esc(char),
    Class(Class),
    Cat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, u32, Option<u32>),
}

#[derive(Debug, Clone)]
enum Inst {
    Char(char),
    Any,
    Esc(char),
    Class(Class),
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    prog: Vec<Inst>,
    /// For programs of at most 64 instructions: the epsilon closure of each
    /// instruction as a bit set, so matching runs without allocating.
    closure: Vec<u64>,
    /// For small programs: a DFA over ASCII input, built once by subset
    /// construction from `closure`. Values in messages (OIDs, dates, codes)
    /// are ASCII and short, and the same pattern runs on every coded value,
    /// so one table lookup per byte beats simulating the NFA. Input with a
    /// non-ASCII character falls back to the NFA.
    dfa: Option<Dfa>,
}

/// DFA states are indexes into `next` (rows of 128 entries) and `accept`;
/// state 0 is the start state, [`DEAD`] the state with no way to a match.
#[derive(Debug, Clone)]
struct Dfa {
    next: Vec<u8>,
    accept: Vec<bool>,
}

const DEAD: u8 = u8::MAX;
/// Most DFA states built before giving up on the DFA for a pattern.
const MAX_DFA_STATES: usize = 64;

fn esc_matches(e: char, c: char) -> bool {
    match e {
        'd' => c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric()),
        'D' => !esc_matches('d', c),
        's' => matches!(c, ' ' | '\t' | '\n' | '\r'),
        'S' => !esc_matches('s', c),
        'w' => !(c.is_whitespace() || (c.is_ascii_punctuation()) || c.is_control()),
        'W' => !esc_matches('w', c),
        'i' => c.is_alphabetic() || c == '_' || c == ':',
        'I' => !esc_matches('i', c),
        'c' => c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.' | '\u{B7}'),
        'C' => !esc_matches('c', c),
        other => other == c,
    }
}

fn class_matches(cl: &Class, c: char) -> bool {
    let hit = cl.items.iter().any(|it| match it {
        ClassItem::Range(a, b) => *a <= c && c <= *b,
        ClassItem::Esc(e) => esc_matches(*e, c),
    });
    hit != cl.negated
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    _src: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }
    fn alt(&mut self) -> Result<Node, String> {
        let mut branches = vec![self.cat()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.cat()?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        })
    }
    fn cat(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quant(atom)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Cat(items),
        })
    }
    fn number(&mut self) -> Result<u32, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let s: String = self.chars[start..self.pos].iter().collect();
        s.parse().map_err(|_| "bad quantifier".to_owned())
    }
    fn quant(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('{') => {
                self.pos += 1;
                let min = self.number()?;
                let max = if self.peek() == Some(',') {
                    self.pos += 1;
                    if self.peek() == Some('}') {
                        None
                    } else {
                        Some(self.number()?)
                    }
                } else {
                    Some(min)
                };
                if self.peek() != Some('}') {
                    return Err("bad quantifier".into());
                }
                if max.is_some_and(|m| m < min) || min > 1000 || max.is_some_and(|m| m > 1000) {
                    return Err("bad quantifier".into());
                }
                (min, max)
            }
            _ => return Ok(atom),
        };
        self.pos += 1;
        Ok(Node::Repeat(Box::new(atom), min, max))
    }
    fn escape(&mut self) -> Result<char, String> {
        match self.next() {
            Some(c @ ('d' | 'D' | 's' | 'S' | 'w' | 'W' | 'i' | 'I' | 'c' | 'C')) => Ok(c),
            Some('n') => Ok('\n'),
            Some('r') => Ok('\r'),
            Some('t') => Ok('\t'),
            Some(
                c @ ('\\' | '|' | '.' | '-' | '^' | '?' | '*' | '+' | '{' | '}' | '(' | ')' | '['
                | ']'),
            ) => Ok(c),
            Some(c) => Err(format!("unsupported escape \\{c}")),
            None => Err("dangling backslash".into()),
        }
    }
    fn atom(&mut self) -> Result<Node, String> {
        match self.next() {
            Some('(') => {
                let inner = self.alt()?;
                if self.next() != Some(')') {
                    return Err("unclosed group".into());
                }
                Ok(inner)
            }
            Some('.') => Ok(Node::Any),
            Some('\\') => {
                let c = self.escape()?;
                Ok(if "dDsSwWiIcC".contains(c) {
                    Node::Esc(c)
                } else {
                    Node::Char(c)
                })
            }
            Some('[') => self.class(),
            Some(c @ ('?' | '*' | '+' | '{' | '}' | ']')) => Err(format!("unexpected {c}")),
            Some(c) => Ok(Node::Char(c)),
            None => Err("unexpected end".into()),
        }
    }
    fn class_char(&mut self) -> Result<ClassItem, String> {
        match self.next() {
            Some('\\') => {
                let c = self.escape()?;
                Ok(if "dDsSwWiIcC".contains(c) {
                    ClassItem::Esc(c)
                } else {
                    ClassItem::Range(c, c)
                })
            }
            Some('[') => Err("class subtraction is not supported".into()),
            Some(c) => Ok(ClassItem::Range(c, c)),
            None => Err("unclosed class".into()),
        }
    }
    fn class(&mut self) -> Result<Node, String> {
        let negated = if self.peek() == Some('^') {
            self.pos += 1;
            true
        } else {
            false
        };
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unclosed class".into()),
                Some(']') if !items.is_empty() => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let item = self.class_char()?;
            if let ClassItem::Range(a, _) = item {
                if self.peek() == Some('-') && self.chars.get(self.pos + 1) != Some(&']') {
                    self.pos += 1;
                    match self.class_char()? {
                        ClassItem::Range(b, _) if b >= a => {
                            items.push(ClassItem::Range(a, b));
                            continue;
                        }
                        _ => return Err("bad range".into()),
                    }
                }
            }
            items.push(item);
        }
        Ok(Node::Class(Class { negated, items }))
    }
}

fn emit(node: &Node, prog: &mut Vec<Inst>) {
    match node {
        Node::Empty => {}
        Node::Char(c) => prog.push(Inst::Char(*c)),
        Node::Any => prog.push(Inst::Any),
        Node::Esc(c) => prog.push(Inst::Esc(*c)),
        Node::Class(c) => prog.push(Inst::Class(c.clone())),
        Node::Cat(items) => items.iter().for_each(|n| emit(n, prog)),
        Node::Alt(branches) => {
            // split L1, next ; L1: a ; jmp end ; ...
            let mut jumps = Vec::new();
            for (i, b) in branches.iter().enumerate() {
                if i + 1 < branches.len() {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    emit(b, prog);
                    jumps.push(prog.len());
                    prog.push(Inst::Jmp(0));
                    let next = prog.len();
                    prog[split] = Inst::Split(split + 1, next);
                } else {
                    emit(b, prog);
                }
            }
            let end = prog.len();
            for j in jumps {
                prog[j] = Inst::Jmp(end);
            }
        }
        Node::Repeat(inner, min, max) => {
            for _ in 0..*min {
                emit(inner, prog);
            }
            match max {
                None => {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    emit(inner, prog);
                    prog.push(Inst::Jmp(split));
                    let end = prog.len();
                    prog[split] = Inst::Split(split + 1, end);
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(prog.len());
                        prog.push(Inst::Split(prog.len() + 1, 0));
                        emit(inner, prog);
                    }
                    let end = prog.len();
                    for s in splits {
                        prog[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
}

impl Regex {
    /// Compiles an XSD pattern.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        let mut p = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
            _src: pattern,
        };
        let node = p.alt()?;
        if p.pos < p.chars.len() {
            return Err("unbalanced parenthesis".into());
        }
        let mut prog = Vec::new();
        emit(&node, &mut prog);
        prog.push(Inst::Match);
        if prog.len() > 100_000 {
            return Err("pattern too large".into());
        }
        let mut re = Regex {
            prog,
            closure: Vec::new(),
            dfa: None,
        };
        if re.prog.len() <= 64 {
            let n = re.prog.len();
            let mut closure = Vec::with_capacity(n);
            for pc in 0..n {
                let mut list = Vec::new();
                let mut seen = vec![false; n];
                re.add(&mut list, &mut seen, pc);
                closure.push(list.iter().fold(0u64, |m, &p| m | (1u64 << p)));
            }
            re.closure = closure;
            re.dfa = re.build_dfa();
        }
        Ok(re)
    }

    /// The set of instructions reachable from the set `cur` (bit per
    /// instruction, epsilon closures included) after reading `c`.
    fn step_set(&self, cur: u64, c: char) -> u64 {
        let mut to = 0u64;
        let mut bits = cur;
        while bits != 0 {
            let pc = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if self.char_ok(pc, c) {
                to |= self.closure.get(pc + 1).copied().unwrap_or(0);
            }
        }
        to
    }

    /// Subset construction over ASCII; `None` when the pattern needs more
    /// than [`MAX_DFA_STATES`] states.
    fn build_dfa(&self) -> Option<Dfa> {
        let start = *self.closure.first()?;
        let mut sets: Vec<u64> = vec![start];
        let mut next: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < sets.len() {
            let cur = sets[i];
            for b in 0u8..128 {
                let to = self.step_set(cur, b as char);
                let id = if to == 0 {
                    DEAD
                } else if let Some(j) = sets.iter().position(|&x| x == to) {
                    j as u8
                } else {
                    if sets.len() >= MAX_DFA_STATES {
                        return None;
                    }
                    sets.push(to);
                    (sets.len() - 1) as u8
                };
                next.push(id);
            }
            i += 1;
        }
        let accept = sets
            .iter()
            .map(|&set| {
                let mut bits = set;
                while bits != 0 {
                    let pc = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if matches!(self.prog[pc], Inst::Match) {
                        return true;
                    }
                }
                false
            })
            .collect();
        Some(Dfa { next, accept })
    }

    fn add(&self, list: &mut Vec<usize>, seen: &mut [bool], pc: usize) {
        if seen[pc] {
            return;
        }
        seen[pc] = true;
        match self.prog[pc] {
            Inst::Split(a, b) => {
                self.add(list, seen, a);
                self.add(list, seen, b);
            }
            Inst::Jmp(a) => self.add(list, seen, a),
            _ => list.push(pc),
        }
    }

    fn char_ok(&self, pc: usize, c: char) -> bool {
        match &self.prog[pc] {
            Inst::Char(x) => *x == c,
            Inst::Any => c != '\n' && c != '\r',
            Inst::Esc(e) => esc_matches(*e, c),
            Inst::Class(cl) => class_matches(cl, c),
            _ => false,
        }
    }

    /// True when the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        if let Some(dfa) = &self.dfa {
            if s.is_ascii() {
                let mut state = 0u8;
                for &b in s.as_bytes() {
                    state = dfa.next[state as usize * 128 + b as usize];
                    if state == DEAD {
                        return false;
                    }
                }
                return dfa.accept[state as usize];
            }
        }
        if !self.closure.is_empty() {
            let mut cur = self.closure[0];
            for c in s.chars() {
                let next = self.step_set(cur, c);
                if next == 0 {
                    return false;
                }
                cur = next;
            }
            let mut bits = cur;
            while bits != 0 {
                let pc = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if matches!(self.prog[pc], Inst::Match) {
                    return true;
                }
            }
            return false;
        }
        let n = self.prog.len();
        let mut cur = Vec::with_capacity(n);
        let mut next = Vec::with_capacity(n);
        let mut seen = vec![false; n];
        self.add(&mut cur, &mut seen, 0);
        for c in s.chars() {
            seen.iter_mut().for_each(|b| *b = false);
            next.clear();
            for &pc in &cur {
                if self.char_ok(pc, c) {
                    self.add(&mut next, &mut seen, pc + 1);
                }
            }
            std::mem::swap(&mut cur, &mut next);
            if cur.is_empty() {
                return false;
            }
        }
        cur.iter().any(|&pc| matches!(self.prog[pc], Inst::Match))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_pattern() {
        let r = Regex::new(r"(\d+\.?)*\d+").expect("compile");
        for ok in ["1", "2.16.578.1.12.4.1.1.8116", "12", "1.2"] {
            assert!(r.is_match(ok), "{ok}");
        }
        for bad in ["", "1.", ".1", "1..2", "a", "1.2.", " 1"] {
            assert!(!r.is_match(bad), "{bad}");
        }
        // No catastrophic backtracking.
        let long = "1".repeat(5000) + "x";
        assert!(!r.is_match(&long));
    }

    #[test]
    fn alternation_is_anchored() {
        let r = Regex::new("true|false").expect("compile");
        assert!(r.is_match("true") && r.is_match("false"));
        assert!(!r.is_match("truefalse") && !r.is_match("1") && !r.is_match("tru"));
    }

    #[test]
    fn classes_and_counts() {
        let r = Regex::new("[A-Z]{2}[0-9]{1,3}-?[^a-z]").expect("compile");
        assert!(r.is_match("AB1-X") && r.is_match("AB123Z"));
        assert!(!r.is_match("A1-X") && !r.is_match("AB1234X") && !r.is_match("AB1-x"));
        assert!(Regex::new(r"\p{L}").is_err());
        assert!(Regex::new("(a").is_err());
        assert!(Regex::new("[a-[b]]").is_err());
    }

    /// The ASCII DFA is only a faster way to the NFA's answer: both must
    /// agree on every input, ASCII or not.
    #[test]
    fn dfa_agrees_with_the_nfa() {
        let patterns = [
            r"(\d+\.?)*\d+",
            "true|false",
            "[A-Z]{2}[0-9]{1,3}-?[^a-z]",
            r"\w+@\S*",
            r"[0-9]{4}(-[0-9]{2})?.*",
        ];
        let alphabet = [
            '1',
            '0',
            '.',
            'a',
            'Z',
            '-',
            '@',
            ' ',
            'é',
            '\u{1F600}',
            't',
            'r',
        ];
        for pat in patterns {
            let r = Regex::new(pat).expect("compile");
            assert!(r.dfa.is_some(), "{pat} has a DFA");
            let mut nfa_only = r.clone();
            nfa_only.dfa = None;
            // Every string over the alphabet up to length 4, and some longer.
            let mut inputs = vec![String::new()];
            for _ in 0..4 {
                let mut more = Vec::new();
                for s in &inputs {
                    for c in alphabet {
                        let mut t = s.clone();
                        t.push(c);
                        more.push(t);
                    }
                }
                inputs.extend(more);
                inputs.dedup();
            }
            inputs.extend(
                [
                    "2.16.578.1.12.4.1.1.8116",
                    "AB12-X",
                    "2024-01-02x",
                    "truefalse",
                ]
                .map(String::from),
            );
            for s in &inputs {
                assert_eq!(r.is_match(s), nfa_only.is_match(s), "{pat} on {s:?}");
            }
        }
    }
}

#[cfg(test)]
mod big_tests {
    use super::*;

    #[test]
    fn large_programs_use_the_general_path() {
        // More than 64 instructions: the allocation-based simulation.
        let r = Regex::new("a{70}b?").expect("compile");
        assert!(r.closure.is_empty());
        assert!(r.is_match(&"a".repeat(70)) && r.is_match(&format!("{}b", "a".repeat(70))));
        assert!(!r.is_match(&"a".repeat(69)));
    }
}
