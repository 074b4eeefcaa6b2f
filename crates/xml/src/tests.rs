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
