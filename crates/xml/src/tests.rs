use super::*;

fn p(s: &str) -> Result<Document, XmlError> {
    parse(s.as_bytes(), &Limits::default())
}

fn kind(s: &str) -> XmlErrorKind {
    p(s).expect_err("should be refused").kind
}

#[test]
fn reads_namespaces_attributes_text_and_positions() {
    let doc = p("<?xml version=\"1.0\"?>\n<a:Root xmlns:a=\"urn:a\" xmlns=\"urn:d\">\n  <Child V=\"x&amp;y\" DN='z'>t&lt;1<![CDATA[<2>]]>&#65;</Child>\n  <Child/>\n</a:Root>").unwrap();
    let root = doc.root();
    assert_eq!((root.ns(), root.name()), ("urn:a", "Root"));
    let kids: Vec<_> = root.children().collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[0].ns(), "urn:d");
    assert_eq!(kids[0].attr("V"), Some("x&y"));
    assert_eq!(kids[0].attr("DN"), Some("z"));
    assert_eq!(kids[0].text(), "t<1<2>A");
    assert_eq!(kids[0].line_col(), (3, 3));
    assert_eq!(kids[1].sibling_index(), 2);
    assert_eq!(kids[1].path(), "/Root/Child[2]");
    assert_eq!(kids[1].path_with(|_| false), "/Root/Child");
    assert!(!root.has_text());
    assert_eq!(root.text(), "");
    assert_eq!(root.descendants().count(), 3);
}

/// `Node::facts` answers as the accessors do, for every element.
#[test]
fn facts_agree_with_the_accessors() {
    let d = p(r#"<r xmlns="urn:a" xmlns:b="urn:b"><b:x k="1"/> <y>t<![CDATA[]]></y><z> </z><w><v/>m</w></r>"#)
        .expect("parse");
    for n in d.elements() {
        let f = n.facts();
        assert_eq!(f.ns, n.ns_index());
        assert_eq!(f.name, n.name().as_bytes());
        assert_eq!(f.name, n.name_bytes());
        assert_eq!(f.has_children, n.has_children());
        assert_eq!(f.has_text, n.has_text());
        assert_eq!(f.has_any_text, n.has_any_text());
        assert_eq!(f.has_cdata, n.has_cdata());
        assert_eq!(f.has_attributes, n.attributes().next().is_some());
    }
}

#[test]
fn attribute_values_are_normalised() {
    let doc = p("<a b=\"1\t2\n3\"/>").unwrap();
    assert_eq!(doc.root().attr("b"), Some("1 2 3"));
}

#[test]
fn mixed_content_keeps_text_and_drops_indentation() {
    let doc = p("<a>\n  <b>x</b>\n</a>").unwrap();
    assert_eq!(doc.root().text(), "");
    assert!(doc.root().has_any_text());
    let doc = p("<a>hi<b>x</b></a>").unwrap();
    assert_eq!(doc.root().text(), "hi");
    assert!(doc.root().has_text());
}

#[test]
fn reads_latin1() {
    let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>".to_vec();
    bytes.extend_from_slice(&[0xC6, 0xD8, 0xC5, 0xE6, 0xF8, 0xE5]);
    bytes.extend_from_slice(b"</a>");
    let doc = parse(&bytes, &Limits::default()).unwrap();
    assert_eq!(doc.root().text(), "ÆØÅæøå");
    assert_eq!(doc.encoding(), Encoding::Latin1);
}

#[test]
fn reads_utf8_with_bom() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice("<a>æ</a>".as_bytes());
    let doc = parse(&bytes, &Limits::default()).unwrap();
    assert_eq!(doc.root().text(), "æ");
}

#[test]
fn refuses_latin1_bytes_declared_as_utf8() {
    let mut bytes = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>".to_vec();
    bytes.push(0xE6);
    bytes.extend_from_slice(b"</a>");
    let e = parse(&bytes, &Limits::default()).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::InvalidEncoding(Encoding::Utf8));
    assert_eq!((e.line, e.column), (2, 4));
}

#[test]
fn refuses_unsupported_encodings() {
    assert!(matches!(
        kind("<?xml version=\"1.0\" encoding=\"EBCDIC\"?><a/>"),
        XmlErrorKind::UnsupportedEncoding(_)
    ));
    let e = parse(&[0xFF, 0xFE, b'<', 0], &Limits::default()).unwrap_err();
    assert!(matches!(e.kind, XmlErrorKind::UnsupportedEncoding(_)));
}

#[test]
fn refuses_dtds_and_entities() {
    assert_eq!(
        kind("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"),
        XmlErrorKind::Dtd
    );
    assert_eq!(
        kind("<!DOCTYPE a SYSTEM \"http://example.invalid/a.dtd\"><a/>"),
        XmlErrorKind::Dtd
    );
    assert!(matches!(
        kind("<a>&x;</a>"),
        XmlErrorKind::UndefinedEntity(_)
    ));
    assert!(matches!(
        kind("<a b=\"&x;\"/>"),
        XmlErrorKind::UndefinedEntity(_)
    ));
}

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let mut s = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        s.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&lol{};", i - 1).repeat(10)
        ));
    }
    s.push_str("]><lolz>&lol9;</lolz>");
    assert_eq!(kind(&s), XmlErrorKind::Dtd);
}

#[test]
fn refuses_oversize_input_before_reading_it() {
    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let e = parse(b"<a>0123456789</a>", &limits).unwrap_err();
    assert_eq!(
        e.kind,
        XmlErrorKind::TooLarge {
            size: 17,
            limit: 10
        }
    );
}

#[test]
fn refuses_deep_nesting() {
    let limits = Limits {
        max_depth: 50,
        ..Limits::default()
    };
    let s = "<a>".repeat(51) + &"</a>".repeat(51);
    assert_eq!(
        parse(s.as_bytes(), &limits).unwrap_err().kind,
        XmlErrorKind::TooDeep { limit: 50 }
    );
    let s = "<a>".repeat(50) + &"</a>".repeat(50);
    assert!(parse(s.as_bytes(), &limits).is_ok());
    // Far deeper than the limit, and unclosed: still refused at the limit.
    let s = "<a>".repeat(100_000);
    assert_eq!(
        parse(s.as_bytes(), &limits).unwrap_err().kind,
        XmlErrorKind::TooDeep { limit: 50 }
    );
}

#[test]
fn refuses_too_many_attributes() {
    let limits = Limits {
        max_attributes: 3,
        ..Limits::default()
    };
    let e = parse(b"<a b='1' c='2' d='3' e='4'/>", &limits).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::TooManyAttributes { limit: 3 });
}

#[test]
fn names_the_namespace_binding_limit() {
    let mut many = String::from("<a");
    for i in 0..200 {
        many.push_str(&format!(" xmlns:p{i}='urn:{i}'"));
    }
    many.push_str("/>");
    assert_eq!(
        kind(&many),
        XmlErrorKind::Syntax("more than 128 namespace declarations are in scope")
    );
    // Across elements too: the bindings in scope count.
    let mut nested = String::from("<a");
    for i in 0..100 {
        nested.push_str(&format!(" xmlns:p{i}='urn:{i}'"));
    }
    nested.push_str("><b");
    for i in 100..129 {
        nested.push_str(&format!(" xmlns:p{i}='urn:{i}'"));
    }
    nested.push_str("/></a>");
    assert_eq!(
        kind(&nested),
        XmlErrorKind::Syntax("more than 128 namespace declarations are in scope")
    );
}

#[test]
fn refuses_empty_and_non_xml() {
    assert_eq!(kind(""), XmlErrorKind::Empty);
    assert_eq!(kind(" \n\t"), XmlErrorKind::Empty);
    assert_eq!(kind("{\"json\": true}"), XmlErrorKind::NotXml);
    assert_eq!(kind("hello"), XmlErrorKind::NotXml);
    assert_eq!(kind("<?xml version=\"1.0\"?>"), XmlErrorKind::NoRoot);
    assert_eq!(kind("<!-- only a comment -->"), XmlErrorKind::NoRoot);
}

#[test]
fn refuses_illegal_characters() {
    assert_eq!(kind("<a>\u{1}</a>"), XmlErrorKind::IllegalChar(1));
    assert_eq!(kind("<a>\u{FFFF}</a>"), XmlErrorKind::IllegalChar(0xFFFF));
    assert_eq!(kind("<a>&#1;</a>"), XmlErrorKind::IllegalChar(1));
    assert_eq!(kind("<a>&#0;</a>"), XmlErrorKind::BadCharRef);
    assert_eq!(kind("<a b=\"&#2;\"/>"), XmlErrorKind::IllegalChar(2));
}

#[test]
fn refuses_malformed_structure() {
    assert!(matches!(
        kind("<a><b></a>"),
        XmlErrorKind::MismatchedEndTag { .. }
    ));
    let e = p("<a>\n  <b></a>").unwrap_err();
    assert_eq!((e.line, e.column), (2, 6));
    assert!(matches!(kind("<a><b>"), XmlErrorKind::Unclosed(_)));
    assert!(matches!(kind("<a/><b/>"), XmlErrorKind::ContentAfterRoot));
    assert!(matches!(kind("<a/>text"), XmlErrorKind::ContentAfterRoot));
    assert!(matches!(
        kind("<a></a></b>"),
        XmlErrorKind::UnmatchedEndTag(_)
    ));
    assert!(matches!(kind("<p:a/>"), XmlErrorKind::UndeclaredPrefix(_)));
    assert!(matches!(
        kind("<a p:b='1'/>"),
        XmlErrorKind::UndeclaredPrefix(_)
    ));
    assert!(matches!(
        kind("<a b='1' b='2'/>"),
        XmlErrorKind::DuplicateAttribute(_)
    ));
    assert!(matches!(
        kind("<a xmlns:p='u' xmlns:q='u' p:b='1' q:b='2'/>"),
        XmlErrorKind::DuplicateAttribute(_)
    ));
    assert!(matches!(kind("<a b='<'/>"), XmlErrorKind::Syntax(_)));
    assert!(matches!(kind("<1a/>"), XmlErrorKind::BadName(_)));
    assert!(matches!(
        kind("<a:1b xmlns:a='u'/>"),
        XmlErrorKind::BadName(_)
    ));
    assert!(matches!(
        kind("<a b:='1'/>"),
        XmlErrorKind::BadName(_) | XmlErrorKind::Syntax(_) | XmlErrorKind::UndeclaredPrefix(_)
    ));
    assert!(matches!(
        kind("<a a:b:c='1' xmlns:a='u'/>"),
        XmlErrorKind::BadName(_)
    ));
    assert!(p("<é:a xmlns:é='u' é:ø='1'/>").is_ok());
    assert!(matches!(
        kind("<a><?xml version='1.0'?></a>"),
        XmlErrorKind::Syntax(_)
    ));
    assert!(matches!(kind("<a b='1></a>"), XmlErrorKind::Syntax(_)));
}

#[test]
fn refuses_cdata_end_in_text() {
    let e = p("<a>x\n ]]></a>").unwrap_err();
    assert!(matches!(e.kind, XmlErrorKind::Syntax(_)), "{e}");
    assert_eq!((e.line, e.column), (2, 2));
    assert!(matches!(
        kind("<a><![CDATA[x]]>]]></a>"),
        XmlErrorKind::Syntax(_)
    ));
    // Not the sequence itself: fine.
    assert_eq!(p("<a>]]&gt;]]</a>").unwrap().root().text(), "]]>]]");
    assert_eq!(
        p("<a><![CDATA[]]]]><![CDATA[>]]></a>")
            .unwrap()
            .root()
            .text(),
        "]]>"
    );
}

#[test]
fn errors_point_at_the_fault_and_name_the_element() {
    assert_eq!(kind("<a><b>x"), XmlErrorKind::Unclosed("b".into()));
    let e = p("<a>\n<!-- x -- y --></a>").unwrap_err();
    assert!(matches!(e.kind, XmlErrorKind::Syntax(_)), "{e}");
    assert_eq!((e.line, e.column), (2, 8));
    let e = p("<a>\n  &amp;&bad;</a>").unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::UndefinedEntity("bad".into()));
    assert_eq!((e.line, e.column), (2, 8));
}

/// The error for `s`, with its line and column.
fn err(s: &str) -> (XmlErrorKind, u32, u32) {
    let e = p(s).expect_err("should be refused");
    (e.kind, e.line, e.column)
}

#[test]
fn refuses_attributes_without_whitespace_between_them() {
    let what = XmlErrorKind::Syntax("attributes must be separated by whitespace");
    // At the attribute that follows the value directly.
    assert_eq!(err("<a b=\"1\"c=\"2\"/>"), (what.clone(), 1, 9));
    assert_eq!(
        err("<a>\n <b x='1' y='2'z='3'></b></a>"),
        (what.clone(), 2, 16)
    );
    assert_eq!(err("<a b='1'c = '2'/>").0, what);
    assert_eq!(err("<a xmlns:p='u'p:b='1'/>").0, what);
    assert!(p("<a b=\"1\"\tc='2'\nd=\"3\"/>").is_ok());
    assert!(p("<a b=\"1\"/>").is_ok());
    assert!(p("<a b=\"1\"></a>").is_ok());
}

#[test]
fn refuses_references_outside_the_root() {
    assert_eq!(err("<a/>&#32;"), (XmlErrorKind::ContentAfterRoot, 1, 5));
    assert_eq!(
        err("<a></a>\n&#x20;"),
        (XmlErrorKind::ContentAfterRoot, 2, 1)
    );
    assert_eq!(err("<a/>&amp;").0, XmlErrorKind::ContentAfterRoot);
    assert_eq!(
        err("<a/>\n<![CDATA[ ]]>"),
        (XmlErrorKind::ContentAfterRoot, 2, 1)
    );
    assert_eq!(
        err("<?xml version=\"1.0\"?>&#32;<a/>"),
        (XmlErrorKind::TextBeforeRoot, 1, 22)
    );
    assert_eq!(err("<!--x-->&#10;<a/>").0, XmlErrorKind::TextBeforeRoot);
    // Whitespace itself, comments and PIs may stand outside.
    assert!(p("<!--x-->\n<a/>\n<!--y--><?p x?>\n \t").is_ok());
}

#[test]
fn checks_the_xml_declaration() {
    let refused = |s: &str, what: &'static str, column: u32| {
        assert_eq!(err(s), (XmlErrorKind::Syntax(what), 1, column), "{s}");
    };
    refused("<?xml?><a/>", "the XML declaration has no version", 6);
    refused("<?xml ?><a/>", "the XML declaration has no version", 7);
    refused(
        "<?xml encoding=\"UTF-8\" version=\"1.0\"?><a/>",
        "the XML declaration has no version",
        7,
    );
    refused(
        "<?xml version=\"2.0\"?><a/>",
        "the XML version is not 1.x",
        16,
    );
    refused(
        "<?xml version=\"1.0a\"?><a/>",
        "the XML version is not 1.x",
        16,
    );
    refused(
        "<?xml version=1.0?><a/>",
        "the XML declaration expects a quoted value",
        15,
    );
    refused(
        "<?xml version \"1.0\"?><a/>",
        "the XML declaration expects «=»",
        15,
    );
    refused(
        "<?xml version=\"1.0'?><a/>",
        "a value in the XML declaration is not closed",
        15,
    );
    refused(
        "<?xml version=\"1.0\"encoding=\"UTF-8\"?><a/>",
        "the XML declaration needs whitespace here",
        20,
    );
    refused(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"standalone=\"no\"?><a/>",
        "the XML declaration needs whitespace here",
        42,
    );
    refused(
        "<?xml version=\"1.0\" encoding=\" UTF-8\"?><a/>",
        "the XML declaration's encoding name is not valid",
        31,
    );
    refused(
        "<?xml version=\"1.0\" standalone=\"maybe\"?><a/>",
        "standalone must be «yes» or «no»",
        33,
    );
    refused(
        "<?xml version=\"1.0\" standalone=\"yes\" encoding=\"UTF-8\"?><a/>",
        "the XML declaration has unexpected content",
        38,
    );
    refused(
        "<?xml version=\"1.0\" foo=\"bar\"?><a/>",
        "the XML declaration has unexpected content",
        21,
    );
    // On a later line.
    let e = p("<?xml version=\"1.0\"\n  standalone='no' x?>\n<a/>").unwrap_err();
    assert_eq!((e.line, e.column), (2, 19));
    for ok in [
        "<?xml version=\"1.0\"?><a/>",
        "<?xml version='1.1'?><a/>",
        "<?xml version=\"1.\"?><a/>",
        "<?xml \t version = \"1.0\"\n encoding = 'utf-8'  standalone = \"yes\" \n?><a/>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" standalone=\"no\"?><a/>",
        // libxml2 does not ask for whitespace after a UTF-8 encoding.
        "<?xml version=\"1.0\" encoding=\"UTF-8\"standalone=\"yes\"?><a/>",
    ] {
        assert!(p(ok).is_ok(), "{ok}: {:?}", p(ok).err());
    }
}

#[test]
fn namespace_declarations_get_the_checks_of_attribute_values() {
    let lt = XmlErrorKind::Syntax("«<» is not allowed in an attribute value");
    assert_eq!(err("<a xmlns=\"<\"/>"), (lt.clone(), 1, 1));
    assert_eq!(err("<a>\n <b xmlns:p=\"u<\"/></a>"), (lt, 2, 2));
    assert_eq!(
        err("<a xmlns:p=\"&x;\"/>"),
        (XmlErrorKind::UndefinedEntity("x".into()), 1, 1)
    );
    assert_eq!(
        err("<a xmlns=\"&#0;\"/>").0,
        XmlErrorKind::Syntax("an attribute value is malformed")
    );
    assert_eq!(err("<a xmlns=\"&#1;\"/>").0, XmlErrorKind::IllegalChar(1));
    assert_eq!(
        err("<a xmlns=\"a&b\"/>").0,
        XmlErrorKind::Syntax("an attribute value is malformed")
    );
    // Predefined entities and character references pass; the namespace is
    // the raw value, as before.
    let doc = p("<a xmlns=\"urn:a&amp;b\" xmlns:p=\"&#x75;\"/>").unwrap();
    assert_eq!(doc.root().ns(), "urn:a&amp;b");
    // Kept: `xmlns:` declares the default namespace (xmllint exits 0).
    assert_eq!(p("<a xmlns:=\"urn:u\"/>").unwrap().root().ns(), "urn:u");
}

#[test]
fn checks_processing_instruction_targets() {
    assert_eq!(
        err("<a>\n<?1 x?></a>"),
        (XmlErrorKind::BadName("1".into()), 2, 3)
    );
    assert_eq!(err("<?-a?><a/>").0, XmlErrorKind::BadName("-a".into()));
    assert_eq!(err("<?a/b?><a/>").0, XmlErrorKind::BadName("a/b".into()));
    assert_eq!(
        err("<? x?><a/>"),
        (
            XmlErrorKind::Syntax("a processing instruction has no target"),
            1,
            3
        )
    );
    let reserved = XmlErrorKind::Syntax("an XML declaration may only stand at the start");
    assert_eq!(err("<?XML x?><a/>").0, reserved);
    assert_eq!(err("<a><?xMl?></a>").0, reserved);
    assert_eq!(err("<a/><?xml version=\"1.0\"?>").0, reserved);
    for ok in [
        "<?a?><a/>",
        "<?a-b.c_d x?><a/>",
        "<?a:b x?><a/>",
        "<?xml-stylesheet href='x'?><a/>",
        "<?xmlfoo x?><a/>",
        "<?é x?><a/>",
        "<a><?a\tx?></a>",
    ] {
        assert!(p(ok).is_ok(), "{ok}: {:?}", p(ok).err());
    }
}

#[test]
fn errors_never_carry_long_content() {
    let long = "x".repeat(500);
    let e = p(&format!("<a>&{long};</a>")).unwrap_err();
    assert!(e.to_string().len() < 200, "{e}");
}

#[test]
fn reads_every_official_example() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/standards/examples/plo-1.6"
    );
    let entries = std::fs::read_dir(dir).expect("../shared/standards must be beside the project");
    let mut n = 0;
    for e in entries {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let doc =
            parse(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(doc.root().name(), "MsgHead");
        n += 1;
    }
    assert_eq!(n, 22);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes, &Limits::default());
        }

        #[test]
        fn never_panics_on_xmlish_text(s in "(<[a-c:]{1,3}( [a-c:]{1,2}=['\"][^<]{0,4}['\"])?/?>|</[a-c:]{1,3}>|&[a-z#0-9]{0,4};?|<!\\[CDATA\\[|\\]\\]>|<!--|-->|<\\?|\\?>|[ a-z\n])*") {
            let _ = parse(s.as_bytes(), &Limits::default());
        }
    }
}

#[test]
fn attribute_ns_index_points_at_its_namespace() {
    let doc = p(
        "<r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" b:x=\"1\" y=\"2\" a:z=\"3\"><a:c b:w=\"4\"/></r>",
    )
    .unwrap();
    let root = doc.root();
    let mut seen = Vec::new();
    for a in root
        .attributes()
        .chain(root.children().flat_map(|c| c.attributes()))
    {
        assert_eq!(doc.namespace(a.ns_index()), a.ns());
        seen.push((a.name(), a.ns_index()));
    }
    let idx = |n: &str| seen.iter().find(|(m, _)| *m == n).map(|(_, i)| *i);
    assert_eq!(idx("y"), Some(0));
    assert_ne!(idx("x"), idx("z"));
    assert_eq!(idx("x"), idx("w"));
    assert_eq!(doc.namespace(idx("z").unwrap()), "urn:a");
}
