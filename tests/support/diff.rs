//! A line diff in the unified style, so a reviewer sees what changed when
//! a generated file (a snapshot, a documentation section) no longer matches.

#![allow(dead_code)] // each test crate uses part of this module

/// A line-by-line difference of `old` and `new` in the unified style
/// (`-` removed, `+` added, three lines of context, `@@` hunk headers), or
/// `None` when they are equal.
pub fn unified_diff(old_name: &str, new_name: &str, old: &str, new: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = diff_ops(&a, &b);
    const CONTEXT: usize = 3;
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    // Indexes into ops of the changes; hunks gather changes closer than
    // 2 * CONTEXT lines of equal text.
    let changed: Vec<usize> = (0..ops.len())
        .filter(|&i| !matches!(ops[i], Op::Same(..)))
        .collect();
    if changed.is_empty() {
        // Only the line endings differ.
        out.push_str("(the files differ only in line endings or a final newline)\n");
        return Some(out);
    }
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k + 1 < changed.len() && changed[k + 1] - end <= 2 * CONTEXT {
            k += 1;
            end = changed[k];
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let (mut a0, mut b0) = (usize::MAX, usize::MAX);
        let (mut na, mut nb) = (0, 0);
        let mut body = String::new();
        for op in &ops[start..end] {
            match *op {
                Op::Same(i, j) => {
                    a0 = a0.min(i);
                    b0 = b0.min(j);
                    na += 1;
                    nb += 1;
                    body.push_str(&format!(" {}\n", a[i]));
                }
                Op::Del(i, j) => {
                    a0 = a0.min(i);
                    b0 = b0.min(j);
                    na += 1;
                    body.push_str(&format!("-{}\n", a[i]));
                }
                Op::Add(i, j) => {
                    a0 = a0.min(i);
                    b0 = b0.min(j);
                    nb += 1;
                    body.push_str(&format!("+{}\n", b[j]));
                }
            }
        }
        // Unified diffs number lines from 1, and an empty side from 0.
        let at = |x: usize, n: usize| if n == 0 { x } else { x + 1 };
        out.push_str(&format!(
            "@@ -{},{na} +{},{nb} @@\n{body}",
            at(a0, na),
            at(b0, nb)
        ));
        k += 1;
    }
    Some(out)
}

/// One step of an edit script; the indexes say where in `a` and `b` it
/// stands (for a deletion, `j` is the position in `b` it comes before, and
/// the other way round for an addition).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Same(usize, usize),
    Del(usize, usize),
    Add(usize, usize),
}

/// The shortest edit script by longest common subsequence, after cutting
/// the common head and tail. A very large middle falls back to "all of `a`
/// out, all of `b` in", which is still a correct (if long) diff.
fn diff_ops(a: &[&str], b: &[&str]) -> Vec<Op> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut ops: Vec<Op> = (0..head).map(|i| Op::Same(i, i)).collect();
    if ma.len().saturating_mul(mb.len()) > 25_000_000 {
        ops.extend((0..ma.len()).map(|i| Op::Del(head + i, head)));
        ops.extend((0..mb.len()).map(|j| Op::Add(head + ma.len(), head + j)));
    } else {
        // lcs[i][j]: length of the LCS of ma[i..] and mb[j..].
        let w = mb.len() + 1;
        let mut lcs = vec![0u32; (ma.len() + 1) * w];
        for i in (0..ma.len()).rev() {
            for j in (0..mb.len()).rev() {
                lcs[i * w + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < ma.len() || j < mb.len() {
            if i < ma.len() && j < mb.len() && ma[i] == mb[j] {
                ops.push(Op::Same(head + i, head + j));
                i += 1;
                j += 1;
            } else if i < ma.len() && (j == mb.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
            {
                // Deletions before additions, as diff(1) shows them.
                ops.push(Op::Del(head + i, head + j));
                i += 1;
            } else {
                ops.push(Op::Add(head + i, head + j));
                j += 1;
            }
        }
    }
    let (a_end, b_end) = (a.len() - tail, b.len() - tail);
    ops.extend((0..tail).map(|t| Op::Same(a_end + t, b_end + t)));
    ops
}

#[cfg(test)]
mod diff_tests {
    use super::unified_diff;

    #[test]
    fn unified_diff_shows_changes_with_context() {
        assert_eq!(unified_diff("a", "b", "x\ny\n", "x\ny\n"), None);
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\neleven\n";
        let d = unified_diff("old", "new", old, new).expect("differs");
        assert_eq!(
            d,
            "--- old\n+++ new\n@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+eleven\n"
        );
        let d = unified_diff("old", "new", "", "a\n").expect("differs");
        assert_eq!(d, "--- old\n+++ new\n@@ -0,0 +1,1 @@\n+a\n");
        let d = unified_diff("old", "new", "a\nb\n", "b\n").expect("differs");
        assert_eq!(d, "--- old\n+++ new\n@@ -1,2 +1,1 @@\n-a\n b\n");
    }
}
