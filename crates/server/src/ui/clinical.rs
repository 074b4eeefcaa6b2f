//! A message page for a nurse: what the message is, its findings, the
//! document itself as a clinical document (from `overgang-present`), the
//! functional profile, and where the message went.

use maud::{html, Markup};
use overgang_model::{Finding, Lang};
use overgang_store::{Delivery, DeliveryEvent, MessageRecord, Receipt};

use super::nurse::{findings_list, type_name};
use super::t;
use super::words::{delivery_badge, party, receipt_status, state_badge, when};

pub struct MessageView {
    pub title: String,
    pub body: Markup,
}

#[allow(clippy::too_many_arguments)]
pub fn render_message(
    lang: Lang,
    codes: &overgang_codelists::CodeLists,
    labels: &overgang_present::Labels,
    registry: &overgang_registry::Registry,
    record: &MessageRecord,
    original: &[u8],
    findings: &[Finding],
    deliveries: &[(Delivery, Vec<DeliveryEvent>)],
    receipts: &[Receipt],
    profile_context: Option<&crate::ui::document::ProfileContext>,
) -> MessageView {
    let m = &record.summary;
    let title = type_name(codes, m.meta.msg_type.as_deref());
    let doc = crate::ui::document::render(lang, codes, labels, original, findings, profile_context);
    let body = html! {
        article.message {
            header.message-head {
                h1 { (doc.title.as_deref().unwrap_or(&title)) }
                @if let Some(p) = &doc.patient {
                    p.patient { (p) }
                }
                dl.meta {
                    dt { (t(lang, "Mottatt", "Received")) } dd { (when(m.received_at)) }
                    dt { (t(lang, "Fra", "From")) } dd { (party(registry, m.meta.sender_her.as_deref())) }
                    dt { (t(lang, "Til", "To")) } dd { (party(registry, m.meta.receiver_her.as_deref())) }
                    dt { (t(lang, "Standard", "Standard")) } dd { (m.meta.standard.as_deref().unwrap_or("–")) }
                    dt { (t(lang, "Status", "State")) } dd { (state_badge(lang, m.state)) }
                    dt { (t(lang, "Gatewayens id", "Gateway id")) } dd.code { (m.id) }
                }
            }
            section.findings-top aria-labelledby="findings-h" {
                h2 #findings-h { (t(lang, "Funn", "Findings")) }
                (findings_list(lang, findings, &doc.anchors))
            }
            @if let Some(profile) = &doc.profile {
                section.profile aria-labelledby="profile-h" {
                    h2 #profile-h { (t(lang, "Funksjonsprofil", "Functional profile")) }
                    (profile)
                }
            }
            section.document aria-labelledby="doc-h" {
                h2 #doc-h { (t(lang, "Dokumentet", "The document")) }
                (doc.body)
            }
            section.delivery aria-labelledby="delivery-h" {
                h2 #delivery-h { (t(lang, "Levering og kvitteringer", "Delivery and receipts")) }
                @if deliveries.is_empty() {
                    p.muted { (t(lang, "Meldingen er ikke sendt videre.", "The message has not been sent on.")) }
                } @else {
                    table.list {
                        thead { tr {
                            th scope="col" { (t(lang, "Mottaker", "Receiver")) }
                            th scope="col" { (t(lang, "Status", "State")) }
                            th scope="col" { (t(lang, "Forsøk", "Attempts")) }
                            th scope="col" { (t(lang, "Levert", "Delivered")) }
                            th scope="col" { (t(lang, "Kvittering", "Receipt")) }
                        } }
                        tbody {
                            @for (d, _) in deliveries {
                                tr {
                                    td { (party(registry, Some(&d.receiver_her))) }
                                    td { (delivery_badge(lang, d.state)) }
                                    td { (d.attempts) }
                                    td { @if let Some(at) = d.delivered_at { (when(at)) } @else { "–" } }
                                    td {
                                        @match receipts.iter().find(|r| r.delivery_id == d.id) {
                                            Some(r) => { (receipt_status(lang, r.status)) " " (when(r.received_at)) }
                                            None => span.muted { "–" },
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    MessageView { title, body }
}
