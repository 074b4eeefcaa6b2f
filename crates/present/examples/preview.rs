//! Writes a stand-alone html page for a message, to look at the rendering:
//! `cargo run -p overgang-present --example preview -- MESSAGE.xml [en] > page.html`

use overgang_codelists::CodeLists;
use overgang_present::{css, profile_html, render, Labels, Lang};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: preview MESSAGE.xml [en]");
        std::process::exit(2);
    };
    let lang = if args.next().as_deref() == Some("en") {
        Lang::En
    } else {
        Lang::Nb
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1);
    });
    let r = match render(&bytes, &[], &CodeLists::builtin(), &Labels::builtin(), lang) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let page = maud::html! {
        (maud::DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { (r.title) }
                style { (maud::PreEscaped(css())) }
            }
            body {
                @if let Some(p) = &r.patient {
                    p { strong { (p.name.as_deref().unwrap_or("")) } " " (p.national_id.as_deref().unwrap_or("")) " " (p.birth_date.as_deref().unwrap_or("")) }
                }
                (r.document)
                @if let Some(p) = &r.profile { (profile_html(p, lang)) }
            }
        }
    };
    println!("{}", page.into_string());
}
