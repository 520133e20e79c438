//! Raw RFC 5322 mail into what Switchboard stores, via mail-parser: RFC 2047 headers, charsets,
//! multipart/alternative (text preferred, HTML sanitized and kept, HTML-only mail rendered as
//! text), attachments and inline images. Never fails: what cannot be decoded is kept lossily.

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};
use switchboard_core::{AttachmentData, InboundAttachment};

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMail {
    /// Without angle brackets; synthesized from the content when the mail has none.
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Lower-cased address and display name.
    pub from: Option<(String, String)>,
    /// Lower-cased To and Cc addresses, in header order, without repeats.
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    /// What the sender just wrote, quoted history and signature removed.
    pub text: String,
    /// The whole text body, quotes included.
    pub full_text: String,
    /// Sanitized: no script, event handlers, styles or remote images.
    pub html: Option<String>,
    pub attachments: Vec<InboundAttachment>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Auto-Submitted, Precedence: bulk/auto_reply, X-Autoreply: stored, never answered.
    pub auto_generated: bool,
    /// A delivery status notification: the Message-ID of the mail that bounced, if found.
    pub bounce_of: Option<String>,
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![t.trim_matches(['<', '>']).to_owned()],
        HeaderValue::TextList(list) => list
            .iter()
            .map(|t| t.trim_matches(['<', '>']).to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

pub fn parse(raw: &[u8]) -> ParsedMail {
    let Some(mail) = MessageParser::default().parse(raw) else {
        // Not even a header block: keep the bytes as text so nothing is lost.
        let text = String::from_utf8_lossy(raw).into_owned();
        return ParsedMail {
            message_id: synthesized_id(raw),
            in_reply_to: Vec::new(),
            references: Vec::new(),
            from: None,
            recipients: Vec::new(),
            subject: None,
            text: text.trim().to_owned(),
            full_text: text,
            html: None,
            attachments: Vec::new(),
            sent_at: None,
            auto_generated: false,
            bounce_of: None,
        };
    };
    let header = |name: &str| mail.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    let auto_generated = header("Auto-Submitted").is_some_and(|v| v != "no")
        || header("Precedence")
            .is_some_and(|v| matches!(v.as_str(), "bulk" | "auto_reply" | "junk" | "list"))
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some();
    let from = mail.from().and_then(|a| a.first()).and_then(|a| {
        let address = a.address()?.trim().to_ascii_lowercase();
        let name = a
            .name()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&address)
            .to_owned();
        Some((address, name))
    });
    let mut recipients: Vec<String> = Vec::new();
    for address in [mail.to(), mail.cc()].into_iter().flatten() {
        for a in address.iter() {
            if let Some(a) = a.address().map(|a| a.trim().to_ascii_lowercase())
                && a.contains('@')
                && !recipients.contains(&a)
            {
                recipients.push(a);
            }
        }
    }
    let mut full_text = mail
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let html = mail
        .body_html(0)
        .filter(|_| mail.html_body_count() > 0)
        .map(|h| sanitize(&h));
    let is_report = mail.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    let from_daemon = from
        .as_ref()
        .is_some_and(|(a, _)| a.starts_with("mailer-daemon@") || a.starts_with("postmaster@"));
    let own_id = mail.message_id().map(str::to_owned);
    let bounce_of = (is_report || from_daemon)
        .then(|| original_message_id(raw, own_id.as_deref()))
        .flatten();
    let attachments = mail
        .attachments()
        .map(|part| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
                    None => ct.ctype().to_ascii_lowercase(),
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            InboundAttachment {
                filename: part.attachment_name().unwrap_or("attachment").to_owned(),
                content_type,
                data: AttachmentData::Bytes(bytes::Bytes::copy_from_slice(part.contents())),
            }
        })
        .collect::<Vec<_>>();
    let mut attachments = attachments;
    // A text part mail-parser could not place as the body (broken structure, unknown charset)
    // arrives as an unnamed attachment: it is the body.
    if full_text.trim().is_empty()
        && let Some(at) = attachments
            .iter()
            .position(|a| a.filename == "attachment" && a.content_type == "text/plain")
        && let AttachmentData::Bytes(bytes) = attachments.remove(at).data
    {
        full_text = String::from_utf8_lossy(&bytes).into_owned();
    }
    // No header we know and no body: not mail at all. Keep the bytes as text rather than nothing.
    if full_text.trim().is_empty()
        && attachments.is_empty()
        && from.is_none()
        && own_id.is_none()
        && mail.subject().is_none()
    {
        full_text = String::from_utf8_lossy(raw).into_owned();
    }
    ParsedMail {
        message_id: own_id.unwrap_or_else(|| synthesized_id(raw)),
        in_reply_to: ids(mail.in_reply_to()),
        references: ids(mail.references()),
        from,
        recipients,
        subject: mail.subject().map(|s| s.trim().to_owned()),
        text: crate::quote::new_text(&full_text).to_owned(),
        full_text,
        html,
        attachments,
        sent_at: mail
            .date()
            .and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single()),
        auto_generated: auto_generated || bounce_of.is_some(),
        bounce_of,
    }
}

/// Removes script, handlers, styles and remote images (tracking pixels); keeps structure and links.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .rm_tags(["img"])
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// A stable id for mail without a Message-ID, so a re-fetch is still recognised.
fn synthesized_id(raw: &[u8]) -> String {
    format!(
        "sha256-{}@switchboard.invalid",
        hex::encode(&Sha256::digest(raw)[..16])
    )
}

/// The first Message-ID in the returned headers of a bounce that is not the bounce's own.
fn original_message_id(raw: &[u8], own: Option<&str>) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("message-id")
                .then(|| value.trim().trim_matches(['<', '>']).to_owned())
        })
        .find(|id| !id.is_empty() && Some(id.as_str()) != own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> ParsedMail {
        parse(&fixture_bytes(name))
    }

    fn fixture_bytes(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).unwrap()
    }

    /// Thousands of damaged variants of every fixture (cut short, bytes flipped, MIME and
    /// encoded-word markers spliced in): each parses without a panic, and twice to the same
    /// Message-ID, which is what keeps ingest idempotent for mail without one.
    #[test]
    fn damaged_mail_never_panics_and_keeps_a_stable_id() {
        let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert!(names.len() >= 10, "{names:?}");
        let splices: [&[u8]; 6] = [
            b"\r\n--",
            b"=?utf-8?B?",
            b"=?iso-2022-jp?Q?=1B$B",
            b"\0\xff\xfe",
            b"\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n",
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@",
        ];
        // A fixed LCG: the same variants on every run, so a failure reproduces.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as usize) % bound.max(1)
        };
        for name in &names {
            let original = fixture_bytes(name);
            for round in 0..200 {
                let mut raw = original.clone();
                match round % 3 {
                    0 => raw.truncate(next(raw.len())),
                    1 => {
                        for _ in 0..1 + next(8) {
                            let at = next(raw.len());
                            raw[at] ^= 1 << next(8);
                        }
                    }
                    _ => {
                        let at = next(raw.len());
                        raw.splice(at..at, splices[next(splices.len())].iter().copied());
                    }
                }
                let first = parse(&raw);
                assert!(!first.message_id.is_empty(), "{name} variant {round}");
                assert_eq!(
                    first.message_id,
                    parse(&raw).message_id,
                    "{name} variant {round}"
                );
            }
        }
    }

    #[test]
    fn gmail_reply_has_threading_headers_new_text_and_sender() {
        let m = fixture("gmail-reply.eml");
        assert_eq!(m.message_id, "CAF=xyz123@mail.gmail.com");
        assert_eq!(
            m.in_reply_to,
            ["sb.42.7.0011223344556677889900aa@support.example.com"]
        );
        assert_eq!(m.references.len(), 2);
        assert_eq!(
            m.from,
            Some(("carol@example.org".into(), "Carol Crypto".into()))
        );
        assert_eq!(m.subject.as_deref(), Some("Re: Deposit not arrived"));
        assert_eq!(m.text, "Still nothing on my side. Tx hash 0xabc.");
        assert!(m.full_text.contains("> We are looking into it."));
        assert!(m.html.is_some());
        assert!(!m.auto_generated);
        assert_eq!(m.sent_at.unwrap().to_rfc3339(), "2026-11-03T10:15:00+00:00");
    }

    #[test]
    fn japanese_and_chinese_charsets_and_encoded_words_decode() {
        let jp = fixture("iso-2022-jp.eml");
        assert_eq!(jp.subject.as_deref(), Some("入金について"));
        assert!(jp.text.contains("入金が届きません"), "{}", jp.text);
        assert_eq!(jp.from.unwrap().1, "山田太郎");
        let cn = fixture("gb2312.eml");
        assert!(cn.text.contains("我的钱包"), "{}", cn.text);
    }

    #[test]
    fn html_only_mail_is_sanitized_and_rendered_as_text() {
        let m = fixture("html-only.eml");
        let html = m.html.unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
        assert!(!html.contains("tracker.example"), "{html}");
        assert!(html.contains("<b>withdrawal</b>"), "{html}");
        assert!(m.text.contains("My withdrawal is stuck"), "{}", m.text);
        assert!(!m.text.contains("alert("), "{}", m.text);
    }

    #[test]
    fn nested_multipart_keeps_text_and_both_attachments() {
        let m = fixture("nested-multipart.eml");
        assert_eq!(m.text, "Screenshot and statement attached.");
        let names: Vec<&str> = m.attachments.iter().map(|a| a.filename.as_str()).collect();
        assert_eq!(names, ["screen.png", "statement.pdf"]);
        assert_eq!(m.attachments[1].content_type, "application/pdf");
        let AttachmentData::Bytes(pdf) = &m.attachments[1].data else {
            panic!("bytes")
        };
        assert!(pdf.starts_with(b"%PDF"));
    }

    #[test]
    fn auto_replies_and_bounces_are_flagged() {
        let auto = fixture("auto-reply.eml");
        assert!(auto.auto_generated);
        let bounce = fixture("bounce.eml");
        assert!(bounce.auto_generated);
        assert_eq!(
            bounce.bounce_of.as_deref(),
            Some("sb.42.9.aabbccddeeff001122334455@support.example.com")
        );
    }

    #[test]
    fn broken_mime_and_8bit_headers_still_yield_text_and_a_stable_id() {
        let broken = fixture("broken.eml");
        assert!(
            broken.text.contains("boundary never closes"),
            "{}",
            broken.text
        );
        assert!(
            broken.message_id.starts_with("sha256-"),
            "no Message-ID: synthesized"
        );
        assert_eq!(
            broken.message_id,
            fixture("broken.eml").message_id,
            "stable across parses"
        );
        assert!(broken.subject.unwrap().contains("Überweisung"));
        let garbage = parse(b"\xff\xfe not a mail at all");
        assert!(garbage.text.contains("not a mail"));
    }

    #[test]
    fn outlook_reply_decodes_windows_1250_and_cuts_the_header_block() {
        let m = fixture("outlook-reply.eml");
        assert_eq!(
            m.text.replace("\r\n", "\n"),
            "Przelew nadal nie dotarł. Załączam zrzut ekranu.\n\nJan"
        );
        assert!(m.full_text.contains("Please send us the transaction hash."));
        assert_eq!(
            m.in_reply_to,
            ["sb.42.9.0011223344556677889900aa@example.com"]
        );
        let html = m.html.unwrap();
        assert!(
            html.contains("Przelew nadal nie dotarł") && !html.contains("<style"),
            "{html}"
        );
        assert_eq!(
            m.from,
            Some((
                "jan.kowalski@firma.example.pl".into(),
                "Kowalski, Jan".into()
            ))
        );
    }

    #[test]
    fn apple_mail_reply_cuts_the_french_attribution_and_keeps_references() {
        let m = fixture("apple-reply.eml");
        assert_eq!(m.subject.as_deref(), Some("Re: Dépôt non reçu"));
        assert_eq!(m.text, "Toujours rien sur mon compte, désolée.");
        assert!(m.full_text.contains("Merci, nous vérifions."));
        assert_eq!(
            m.references,
            [
                "first@icloud.example",
                "sb.7.11.0011223344556677889900aa@example.com"
            ]
        );
        assert_eq!(m.message_id, "5F3C1B2A-0000-4000-8000-APPLE@icloud.example");
    }

    #[test]
    fn raw_utf8_headers_and_an_unknown_charset_are_still_read() {
        let m = fixture("russian-8bit.eml");
        assert_eq!(m.subject.as_deref(), Some("Re: Вывод средств"));
        assert_eq!(
            m.from,
            Some(("ivan@mail.example.ru".into(), "Иван Петров".into()))
        );
        assert_eq!(m.text, "Спасибо, всё пришло.");
    }
}
