//! A received application receipt (AppRec v1.0 or v1.1), read into the model.

use crate::common::{text, Coded, Loc};
use crate::standard::{NS_APPREC_V1_0, NS_APPREC_V1_1};
use overgang_xml::Node;

/// The AppRec's status (list 8258).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppRecStatus {
    /// `1` OK.
    Ok,
    /// `2` rejected (Avvist).
    Rejected,
    /// `3` OK, errors in part of the message.
    OkWithErrors,
}

impl AppRecStatus {
    pub fn code(self) -> &'static str {
        match self {
            AppRecStatus::Ok => "1",
            AppRecStatus::Rejected => "2",
            AppRecStatus::OkWithErrors => "3",
        }
    }

    /// The list 8258 display text.
    pub fn display(self) -> &'static str {
        match self {
            AppRecStatus::Ok => "OK",
            AppRecStatus::Rejected => "Avvist",
            AppRecStatus::OkWithErrors => "OK, feil i delmelding",
        }
    }

    pub fn from_code(code: &str) -> Option<AppRecStatus> {
        match code.trim() {
            "1" => Some(AppRecStatus::Ok),
            "2" => Some(AppRecStatus::Rejected),
            "3" => Some(AppRecStatus::OkWithErrors),
            _ => None,
        }
    }
}

/// A party in an AppRec (`HCP`): institution, department, person.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AppRecParty {
    pub role: Option<Coded>,
    pub inst_name: Option<String>,
    pub inst_id: Option<String>,
    pub inst_type_id: Option<Coded>,
    pub dept_name: Option<String>,
    pub dept_id: Option<String>,
    pub dept_type_id: Option<Coded>,
    pub person_name: Option<String>,
    pub person_id: Option<String>,
    pub person_type_id: Option<Coded>,
}

/// `OriginalMsgId`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OriginalMsgId {
    pub msg_type: Option<Coded>,
    pub issue_date: Option<String>,
    pub id: Option<String>,
}

/// A received AppRec.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AppRecInfo {
    pub loc: Loc,
    /// `"1.0"` or `"1.1"`, from the namespace.
    pub version: &'static str,
    pub msg_type: Option<Coded>,
    pub mig_version: Option<String>,
    pub gen_date: Option<String>,
    pub id: Option<String>,
    pub sender: Option<AppRecParty>,
    pub receiver: Option<AppRecParty>,
    /// `Status` as sent.
    pub status_code: Option<Coded>,
    /// `Status` understood.
    pub status: Option<AppRecStatus>,
    /// `Error` entries (list 8221 or a message-specific list), `OT` included.
    pub errors: Vec<Coded>,
    pub original: Option<OriginalMsgId>,
}

impl AppRecInfo {
    /// Reads an `AppRec` element (either version).
    pub fn read(n: Node<'_>) -> AppRecInfo {
        let ns = n.ns();
        let version = if ns == NS_APPREC_V1_0 {
            "1.0"
        } else if ns == NS_APPREC_V1_1 {
            "1.1"
        } else {
            ""
        };
        let status_code = n.child(ns, "Status").map(Coded::read);
        AppRecInfo {
            loc: Loc::of(n),
            version,
            msg_type: n.child(ns, "MsgType").map(Coded::read),
            mig_version: text(n.child(ns, "MIGversion")),
            gen_date: text(n.child(ns, "GenDate")),
            id: text(n.child(ns, "Id")),
            sender: n.child(ns, "Sender").map(|p| read_party(p, ns)),
            receiver: n.child(ns, "Receiver").map(|p| read_party(p, ns)),
            status: status_code
                .as_ref()
                .and_then(Coded::code)
                .and_then(AppRecStatus::from_code),
            status_code,
            errors: n.children_named(ns, "Error").map(Coded::read).collect(),
            original: n.child(ns, "OriginalMsgId").map(|o| OriginalMsgId {
                msg_type: o.child(ns, "MsgType").map(Coded::read),
                issue_date: text(o.child(ns, "IssueDate")),
                id: text(o.child(ns, "Id")),
            }),
        }
    }

    /// The error codes (`V`) in order.
    pub fn error_codes(&self) -> impl Iterator<Item = &str> + '_ {
        self.errors.iter().filter_map(Coded::code)
    }

    pub fn original_msg_id(&self) -> Option<&str> {
        self.original.as_ref().and_then(|o| o.id.as_deref())
    }
}

fn read_party(p: Node<'_>, ns: &str) -> AppRecParty {
    let mut out = AppRecParty {
        role: p.child(ns, "Role").map(Coded::read),
        ..AppRecParty::default()
    };
    let Some(hcp) = p.child(ns, "HCP") else {
        return out;
    };
    if let Some(inst) = hcp.child(ns, "Inst") {
        out.inst_name = text(inst.child(ns, "Name"));
        out.inst_id = text(inst.child(ns, "Id"));
        out.inst_type_id = inst.child(ns, "TypeId").map(Coded::read);
        if let Some(d) = inst.child(ns, "Dept") {
            out.dept_name = text(d.child(ns, "Name"));
            out.dept_id = text(d.child(ns, "Id"));
            out.dept_type_id = d.child(ns, "TypeId").map(Coded::read);
        }
        if let Some(h) = inst.child(ns, "HCPerson") {
            out.person_name = text(h.child(ns, "Name"));
            out.person_id = text(h.child(ns, "Id"));
            out.person_type_id = h.child(ns, "TypeId").map(Coded::read);
        }
    } else if let Some(h) = hcp.child(ns, "HCProf") {
        out.person_name = text(h.child(ns, "Name"));
        out.person_id = text(h.child(ns, "Id"));
        out.person_type_id = h.child(ns, "TypeId").map(Coded::read);
    }
    out
}
