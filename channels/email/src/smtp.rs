//! Replies out over SMTP (lettre, pooled): From the channel address, To the contact, `Re:` subject,
//! a signed Message-ID, In-Reply-To and References from the conversation, text/plain (with an HTML
//! alternative when the agent used formatting) and the agent's files. One attempt per call: 4xx
//! and network trouble are temporary, 5xx permanent with the server's words as the reason.

use crate::config::{SmtpConfig, TlsMode, split_address};
use crate::thread;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use switchboard_core::{ChannelError, Outbound, SendError};

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

pub fn transport(config: &SmtpConfig) -> Result<Transport, ChannelError> {
    let tls_parameters = || {
        let mut builder = TlsParameters::builder(config.host.clone());
        if let Some(path) = &config.ca_file {
            for cert in crate::tls::read_ca_file(path)? {
                let cert = Certificate::from_der(cert.to_vec()).map_err(|e| {
                    ChannelError::Config(format!("smtp.ca_file {}: {e}", path.display()))
                })?;
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .build_rustls()
            .map_err(|e| ChannelError::Config(format!("smtp TLS: {e}")))
    };
    let tls = match config.tls {
        TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
        TlsMode::Starttls => Tls::Required(tls_parameters()?),
        TlsMode::None => Tls::None,
    };
    // builder_dangerous only means "no TLS preset": TLS is set explicitly just below.
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port())
        .tls(tls)
        .timeout(Some(config.timeout))
        .pool_config(PoolConfig::new().max_size(config.pool_size));
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}

/// `Re: <subject>` unless it already is a reply.
pub fn reply_subject(subject: Option<&str>) -> String {
    let subject = subject.map(str::trim).filter(|s| !s.is_empty());
    match subject {
        None => "Re: your message".into(),
        Some(s) if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) => s.to_owned(),
        Some(s) => format!("Re: {s}"),
    }
}

/// The agent's text as HTML when it carries Markdown formatting (emphasis, links, lists, code);
/// plain paragraphs give `None` and the mail stays text-only.
pub fn formatted_html(text: &str) -> Option<String> {
    use pulldown_cmark::{Event, Parser, Tag};
    let formatted = Parser::new(text).any(|event| {
        matches!(
            event,
            Event::Start(
                Tag::Emphasis
                    | Tag::Strong
                    | Tag::Link { .. }
                    | Tag::List(_)
                    | Tag::CodeBlock(_)
                    | Tag::Heading { .. }
                    | Tag::BlockQuote(_)
                    | Tag::Strikethrough
            ) | Event::Code(_)
        )
    });
    if !formatted {
        return None;
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, Parser::new(text));
    // Agents' text is trusted less than our own markup: raw HTML in it is cleaned like mail.
    Some(crate::convert::sanitize(&html))
}

pub struct Composer<'a> {
    pub from: &'a str,
    pub domain: &'a str,
    pub secret: &'a [u8],
}

impl Composer<'_> {
    /// The mail for one delivery attempt; the same message always gets the same Message-ID.
    pub fn compose(&self, message: &Outbound) -> Result<(Message, String), SendError> {
        let (name, address) = split_address(self.from)
            .ok_or_else(|| SendError::permanent("the channel address is not valid"))?;
        let from = Mailbox::new(
            (!name.is_empty()).then_some(name),
            address
                .parse()
                .map_err(|e| SendError::permanent(format!("channel address: {e}")))?,
        );
        let recipient = message.recipient.as_deref().ok_or_else(|| {
            SendError::permanent("the conversation has no email address to answer")
        })?;
        let to: Mailbox = recipient.parse().map_err(|e| {
            SendError::permanent(format!("{recipient:?} is not an email address: {e}"))
        })?;
        let id = thread::message_id(
            message.conversation_id,
            message.message_id,
            self.domain,
            self.secret,
        );
        let mut builder = Message::builder()
            .to(to)
            .subject(reply_subject(message.subject.as_deref()))
            .message_id(Some(id.clone()))
            .date_now();
        // The others on the thread stay on it (reply-all); an acknowledgement goes to the
        // sender alone. An address that does not parse is left out, not fatal.
        if !message.auto_generated {
            for person in &message.cc {
                match person.parse::<Mailbox>() {
                    Ok(cc) if cc.email != from.email => builder = builder.cc(cc),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(address = %person, error = %e, "Cc left out"),
                }
            }
        }
        let mut builder = builder.from(from);
        let answered = message
            .reply_to
            .clone()
            .or_else(|| message.references.last().cloned());
        if let Some(answered) = answered {
            builder = builder.in_reply_to(format!("<{answered}>"));
        }
        if !message.references.is_empty() {
            let mut references: Vec<&str> = message.references.iter().map(String::as_str).collect();
            if let Some(answered) = message.reply_to.as_deref()
                && !references.contains(&answered)
            {
                references.push(answered);
            }
            let header = references
                .iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(" ");
            builder = builder.references(header);
        }
        if message.auto_generated {
            // RFC 3834: other autoresponders must not answer this; Exchange honours the second.
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("Auto-Submitted"),
                    "auto-replied".into(),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                    "All".into(),
                ));
        }
        let text = SinglePart::plain(message.text.clone());
        let body = match formatted_html(&message.text) {
            Some(html) => MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::html(html)),
            None if message.attachments.is_empty() => {
                let mail = builder
                    .singlepart(text)
                    .map_err(|e| SendError::permanent(format!("building the mail: {e}")))?;
                return Ok((mail, unbracket(&id)));
            }
            None => MultiPart::mixed().singlepart(text),
        };
        let body = if message.attachments.is_empty() {
            body
        } else {
            let mut mixed = if body_is_alternative(&body) {
                MultiPart::mixed().multipart(body)
            } else {
                body
            };
            for file in &message.attachments {
                let content_type = ContentType::parse(&file.content_type)
                    .unwrap_or(ContentType::parse("application/octet-stream").expect("valid"));
                mixed = mixed.singlepart(
                    Attachment::new(file.filename.clone()).body(file.data.to_vec(), content_type),
                );
            }
            mixed
        };
        let mail = builder
            .multipart(body)
            .map_err(|e| SendError::permanent(format!("building the mail: {e}")))?;
        Ok((mail, unbracket(&id)))
    }
}

fn body_is_alternative(part: &MultiPart) -> bool {
    part.headers()
        .get_raw("Content-Type")
        .is_some_and(|ct| ct.starts_with("multipart/alternative"))
}

fn unbracket(id: &str) -> String {
    id.trim_matches(['<', '>']).to_owned()
}

/// One delivery attempt; the error says whether retrying can help.
pub async fn send(transport: &Transport, mail: &Message) -> Result<(), SendError> {
    match transport.send(mail.clone()).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP server: {e}"))),
        Err(e) => Err(SendError::retry(format!("SMTP: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::OutboundAttachment;

    fn outbound(text: &str) -> Outbound {
        Outbound {
            delivery_id: "d1".into(),
            message_id: 7,
            conversation_id: 42,
            thread_id: "first@customer.example".into(),
            recipient: Some("alice@customer.example".into()),
            subject: Some("Deposit missing".into()),
            text: text.into(),
            attachments: Vec::new(),
            reply_to: None,
            references: vec![
                "first@customer.example".into(),
                "second@customer.example".into(),
            ],
            cc: Vec::new(),
            agent_name: Some("Bob".into()),
            auto_generated: false,
            choices: Vec::new(),
            buttons: Vec::new(),
            progress: Default::default(),
        }
    }

    fn composer() -> Composer<'static> {
        Composer {
            from: "Wallet Support <support@example.com>",
            domain: "example.com",
            secret: b"secret",
        }
    }

    #[test]
    fn a_resent_reply_keeps_its_message_id_so_mail_clients_show_it_once() {
        let message = outbound("Hello Alice");
        let (first, id) = composer().compose(&message).unwrap();
        let retry = Outbound {
            progress: Default::default(),
            ..message.clone()
        };
        let (second, again) = composer().compose(&retry).unwrap();
        assert_eq!(id, again);
        let header = |mail: &Message| {
            String::from_utf8(mail.formatted())
                .unwrap()
                .lines()
                .find(|l| l.starts_with("Message-ID:"))
                .unwrap()
                .to_owned()
        };
        assert_eq!(header(&first), header(&second));
    }

    #[test]
    fn reply_carries_threading_headers_and_a_signed_id() {
        let (mail, id) = composer().compose(&outbound("Hello Alice")).unwrap();
        let raw = String::from_utf8(mail.formatted()).unwrap();
        assert_eq!(thread::conversation_of(&id, b"secret"), Some(42));
        assert!(raw.contains(&format!("Message-ID: <{id}>")), "{raw}");
        assert!(
            raw.contains("In-Reply-To: <second@customer.example>"),
            "{raw}"
        );
        assert!(
            raw.contains("References: <first@customer.example> <second@customer.example>"),
            "{raw}"
        );
        assert!(raw.contains("Subject: Re: Deposit missing"), "{raw}");
        assert!(
            raw.contains("From: \"Wallet Support\" <support@example.com>"),
            "{raw}"
        );
        assert!(raw.contains("To: alice@customer.example"), "{raw}");
        assert!(raw.contains("Content-Type: text/plain"), "{raw}");
        assert!(!raw.contains("text/html"), "{raw}");
        assert!(!raw.contains("Auto-Submitted"), "{raw}");
        let mut automatic = outbound("We received your message.");
        automatic.auto_generated = true;
        let raw = String::from_utf8(composer().compose(&automatic).unwrap().0.formatted()).unwrap();
        assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
        // Retries send the very same id, so the customer's client threads one mail.
        assert_eq!(composer().compose(&outbound("Hello Alice")).unwrap().1, id);
    }

    #[test]
    fn the_others_on_the_thread_are_copied_but_never_ourselves_or_on_an_acknowledgement() {
        let mut message = outbound("We found your deposit");
        message.cc = vec![
            "bob@customer.example".into(),
            "support@example.com".into(),
            "not an address".into(),
        ];
        let raw = String::from_utf8(composer().compose(&message).unwrap().0.formatted()).unwrap();
        assert!(raw.contains("Cc: bob@customer.example\r\n"), "{raw}");
        assert!(!raw.contains("Cc: support@"), "{raw}");
        assert!(!raw.contains("not an address"), "{raw}");
        message.auto_generated = true;
        let raw = String::from_utf8(composer().compose(&message).unwrap().0.formatted()).unwrap();
        assert!(!raw.contains("Cc:"), "{raw}");
    }

    #[test]
    fn formatting_adds_a_sanitized_html_alternative_and_files_go_mixed() {
        let mut message = outbound("Please **never** share your seed phrase. <script>x()</script>");
        message.attachments.push(OutboundAttachment {
            filename: "steps.pdf".into(),
            content_type: "application/pdf".into(),
            data: bytes::Bytes::from_static(b"%PDF-1.4"),
        });
        let (mail, _) = composer().compose(&message).unwrap();
        let raw = String::from_utf8(mail.formatted()).unwrap();
        assert!(raw.contains("multipart/mixed"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("<strong>never</strong>"), "{raw}");
        let html_part = raw.split("text/html").nth(1).unwrap();
        assert!(!html_part.contains("<script>"), "{raw}");
        assert!(raw.contains("filename=\"steps.pdf\""), "{raw}");
        assert!(formatted_html("just words.\n\nTwo paragraphs.").is_none());
    }

    #[test]
    fn subjects_get_one_re_and_bad_recipients_are_permanent() {
        assert_eq!(reply_subject(Some("RE: x")), "RE: x");
        assert_eq!(reply_subject(Some("x")), "Re: x");
        assert_eq!(reply_subject(None), "Re: your message");
        let mut message = outbound("hi");
        message.recipient = Some("not an address".into());
        assert!(matches!(
            composer().compose(&message),
            Err(SendError::Permanent { .. })
        ));
    }
}
