//! Stable html ids from element paths, and finding paths back to elements.
//!
//! The id of an element is `el-` followed by its path steps joined with `-`,
//! each step the local name with `_<n>` appended where same-named siblings
//! repeat (the indexing of [`overgang_xml::Node::path`]). Characters other
//! than ASCII letters and digits are written `_x<hex>_`, so the id is a
//! valid, selector-safe html id and different paths give different ids.

use overgang_xml::{Document, Node};
use std::collections::HashMap;

/// One path step as it appears in an id.
pub fn step(name: &str, index: Option<usize>) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push_str(&format!("_x{:x}_", c as u32));
        }
    }
    if let Some(i) = index {
        out.push('_');
        out.push_str(&i.to_string());
    }
    out
}

/// The id of the document root.
pub fn root_id(root: Node<'_>) -> String {
    format!("el-{}", step(root.name(), None))
}

/// The element children of `parent` with their ids, given the parent's id.
/// Linear in the number of children.
pub fn child_ids<'d>(parent: Node<'d>, parent_id: &str) -> Vec<(Node<'d>, String)> {
    let mut counts: HashMap<(u32, &str), usize> = HashMap::new();
    for c in parent.children() {
        *counts.entry((c.ns_index(), c.name())).or_insert(0) += 1;
    }
    let mut seen: HashMap<(u32, &str), usize> = HashMap::new();
    parent
        .children()
        .map(|c| {
            let key = (c.ns_index(), c.name());
            let n = seen.entry(key).or_insert(0);
            *n += 1;
            let index = (counts.get(&key).copied().unwrap_or(1) > 1).then_some(*n);
            let id = format!("{parent_id}-{}", step(c.name(), index));
            (c, id)
        })
        .collect()
}

/// The id of any element, walking up to the root (for the few starting
/// points; descendants use [`child_ids`]).
pub fn id_of(node: Node<'_>) -> String {
    let mut steps = Vec::new();
    let mut cur = Some(node);
    while let Some(n) = cur {
        let index = (n.same_name_siblings() > 1).then(|| n.sibling_index());
        steps.push(step(n.name(), index));
        cur = n.parent();
    }
    steps.reverse();
    format!("el-{}", steps.join("-"))
}

/// The deepest element of `doc` that a finding's path reaches: the element
/// itself, or for a missing element its nearest existing ancestor. Steps
/// are local names with optional 1-based `[n]` indexes (absent means 1);
/// an attribute step (`/@V`) names its element. `None` for an empty path or
/// one whose first step is not the root.
pub fn resolve<'d>(doc: &'d Document, path: &str) -> Option<Node<'d>> {
    let path = path.split("/@").next().unwrap_or("");
    let mut steps = path.split('/').filter(|s| !s.is_empty()).map(parse_step);
    let (first, _) = steps.next()??;
    let root = doc.root();
    if root.name() != first {
        return None;
    }
    let mut cur = root;
    for s in steps {
        let Some((name, index)) = s else { break };
        let next = cur
            .children()
            .filter(|c| c.name() == name)
            .nth(index.saturating_sub(1));
        match next {
            Some(n) if index > 0 => cur = n,
            _ => break,
        }
    }
    Some(cur)
}

/// `Name` or `prefix:Name` or `Name[3]` → (local name, index).
fn parse_step(s: &str) -> Option<(&str, usize)> {
    let (name, index) = match s.find('[') {
        Some(i) => {
            let idx = s.get(i + 1..)?.strip_suffix(']')?.trim();
            (s.get(..i)?, idx.parse::<usize>().ok()?)
        }
        None => (s, 1),
    };
    let local = name.rsplit(':').next().unwrap_or(name).trim();
    (!local.is_empty()).then_some((local, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use overgang_xml::{parse, Limits};

    const X: &str = r#"<a xmlns:p="urn:p"><b/><b><c/><p:c/><d/></b><e-f.g/></a>"#;

    #[test]
    fn ids_follow_node_path_indexing_and_are_selector_safe() {
        let doc = parse(X.as_bytes(), &Limits::default()).expect("parses");
        let root = doc.root();
        assert_eq!(root_id(root), "el-a");
        let kids = child_ids(root, "el-a");
        let ids: Vec<&str> = kids.iter().map(|(_, i)| i.as_str()).collect();
        assert_eq!(ids, ["el-a-b_1", "el-a-b_2", "el-a-e_x2d_f_x2e_g"]);
        for n in doc.elements() {
            let id = id_of(n);
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{id}"
            );
        }
        // c and p:c differ in namespace, so neither is indexed (as in Node::path).
        let b2 = kids[1].0;
        let grand = child_ids(b2, &kids[1].1);
        assert_eq!(grand[0].1, "el-a-b_2-c");
        assert_eq!(grand[0].1, id_of(grand[0].0));
    }

    #[test]
    fn finding_paths_resolve_to_the_element_or_its_nearest_ancestor() {
        let doc = parse(X.as_bytes(), &Limits::default()).expect("parses");
        let name = |p: &str| resolve(&doc, p).map(|n| id_of(n));
        assert_eq!(name("/a/b[2]/d").as_deref(), Some("el-a-b_2-d"));
        assert_eq!(name("/a[1]/b[2]/d[1]/@V").as_deref(), Some("el-a-b_2-d"));
        assert_eq!(name("/a/b").as_deref(), Some("el-a-b_1"));
        assert_eq!(name("/a/b[2]/Missing/Deeper").as_deref(), Some("el-a-b_2"));
        assert_eq!(name("/a/b[9]").as_deref(), Some("el-a"));
        assert_eq!(name("/a/b[0]").as_deref(), Some("el-a"));
        assert_eq!(name("/a/b[x]/d").as_deref(), Some("el-a"));
        assert_eq!(name("/x:a/p:b").as_deref(), Some("el-a-b_1"));
        assert_eq!(name(""), None);
        assert_eq!(name("/zzz/b"), None);
        assert_eq!(name("«?»"), None);
    }
}
