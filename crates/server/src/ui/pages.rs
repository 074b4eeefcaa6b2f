//! The web pages' routes, each added with its method, an English summary,
//! what it answers and whether it needs a login, so that what the pages
//! serve is listed in one place ([`super::route_list`]) and the OpenAPI
//! document describes them from that list ([`crate::openapi`]). The API's
//! routes go through [`crate::app::Routes`] and are described by their
//! `#[utoipa::path]`; HTML pages have no JSON shapes to derive, so their
//! operations are made from this list instead. Add UI routes only through
//! [`Pages`].

use axum::routing::{get, post, MethodRouter};
use axum::Router;
use overgang_store::Store;
use std::sync::Arc;

use crate::app::AppState;

/// One answer a route may give, for its OpenAPI operation.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    /// Media types of the body (none for a bare redirect).
    pub content: &'static [&'static str],
}

const HTML: &[&str] = &["text/html"];

pub(crate) const fn answer(
    status: u16,
    description: &'static str,
    content: &'static [&'static str],
) -> Answer {
    Answer {
        status,
        description,
        content,
    }
}

const PAGE_OK: Answer = answer(200, "The page", HTML);
const TO_LOGIN: Answer = answer(
    303,
    "No session (or it ended): to `/ui/login?next=` this page",
    &[],
);
const NO_ROLE: Answer = answer(
    403,
    "The person lacks the role the page is for (the attempt is recorded)",
    HTML,
);
const NOT_FOUND: Answer = answer(404, "No such message or delivery", HTML);
const NOT_SIGNED_IN: Answer = answer(401, "No session (or it ended): refused", HTML);
const FORM_REFUSED: Answer = answer(
    403,
    "The form's `_csrf` is not the session's, or the person lacks the role",
    HTML,
);
const DONE: Answer = answer(
    303,
    "Done: back to the page the form was on, with a notice",
    &[],
);

/// A page for a signed-in person (the default for GET).
pub(crate) const PAGE: &[Answer] = &[PAGE_OK, TO_LOGIN, NO_ROLE];
/// A page about one message.
pub(crate) const ITEM: &[Answer] = &[PAGE_OK, TO_LOGIN, NO_ROLE, NOT_FOUND];
/// A form a signed-in person posts (the default for POST).
pub(crate) const FORM: &[Answer] = &[DONE, NOT_SIGNED_IN, FORM_REFUSED];
/// An action on one delivery.
pub(crate) const ACTION: &[Answer] = &[
    DONE,
    answer(
        409,
        "The delivery's state does not allow the action now",
        HTML,
    ),
    NOT_SIGNED_IN,
    FORM_REFUSED,
    NOT_FOUND,
];
/// Nothing but a redirect to the start about.
pub(crate) const TO_START: &[Answer] = &[answer(303, "To `/ui/`", &[])];

/// What a route is, before it has a method and a path: see [`about`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct About {
    summary: &'static str,
    open: Option<&'static str>,
    answers: Option<&'static [Answer]>,
    integers: &'static [&'static str],
}

/// A route for a signed-in person, summed up in English.
pub(crate) const fn about(summary: &'static str) -> About {
    About {
        summary,
        open: None,
        answers: None,
        integers: &[],
    }
}

impl About {
    /// Anyone may call it, no login needed, for the reason given (which
    /// the document carries).
    pub(crate) const fn open(self, why: &'static str) -> About {
        About {
            open: Some(why),
            ..self
        }
    }

    /// Its answers, where [`PAGE`] (GET) or [`FORM`] (POST) do not fit.
    pub(crate) const fn answers(self, answers: &'static [Answer]) -> About {
        About {
            answers: Some(answers),
            ..self
        }
    }

    /// Path parameters that are integers (the others are strings).
    pub(crate) const fn integers(self, names: &'static [&'static str]) -> About {
        About {
            integers: names,
            ..self
        }
    }
}

/// A route the pages serve, as the document describes it.
#[derive(Clone, Debug)]
pub struct UiRoute {
    /// Lower case: `get`, `post`.
    pub method: &'static str,
    /// In OpenAPI's (and axum's) `{param}` syntax.
    pub path: &'static str,
    /// English.
    pub summary: &'static str,
    /// Why it needs no login; `None`: a signed-in person's session only.
    pub open: Option<&'static str>,
    pub answers: &'static [Answer],
    /// Path parameters that are integers.
    pub integers: &'static [&'static str],
}

/// The pages' routes with their list. Add routes only through it.
pub(crate) struct Pages<S> {
    pub(super) router: Router<Arc<AppState<S>>>,
    pub(super) list: Vec<UiRoute>,
}

impl<S: Store> Pages<S> {
    pub(super) fn new() -> Pages<S> {
        Pages {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    pub(crate) fn get<H, T>(self, path: &'static str, about: About, handler: H) -> Pages<S>
    where
        H: axum::handler::Handler<T, Arc<AppState<S>>>,
        T: 'static,
    {
        self.add("get", path, about, PAGE, get(handler))
    }

    pub(crate) fn post<H, T>(self, path: &'static str, about: About, handler: H) -> Pages<S>
    where
        H: axum::handler::Handler<T, Arc<AppState<S>>>,
        T: 'static,
    {
        self.add("post", path, about, FORM, post(handler))
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        about: About,
        answers: &'static [Answer],
        route: MethodRouter<Arc<AppState<S>>>,
    ) -> Pages<S> {
        self.router = self.router.route(path, route);
        self.list.push(UiRoute {
            method,
            path,
            summary: about.summary,
            open: about.open,
            answers: about.answers.unwrap_or(answers),
            integers: about.integers,
        });
        self
    }
}
