//! Customer safety, the daemon's side: the secret guard applied to every inbound message before
//! it is stored, what happens after (a warning to the customer, the platform copy deleted), and
//! the texts the customer sees. The detection itself is `switchboard_safety` (pure text).

use crate::config::{SafetyConfig, VerificationConfig};
use crate::delivery::Dispatcher;
use crate::store::IngestReport;
use std::collections::BTreeMap;
use switchboard_core::{AttachmentData, Inbound};
use switchboard_safety::{SecretKind, scrub, scrub_html};

/// What replaces a one-time code in the stored message.
pub const CODE_MARKER: &str = "[verification code removed]";

/// Text attachments bigger than this are not scanned (a log file, an export) but kept as they
/// are: scanning stays bounded, and such files are not where people paste a phrase.
const MAX_SCANNED_ATTACHMENT: usize = 1 << 20;

/// Cuts wallet secrets out of everything of `inbound` that gets stored: text, HTML, subject,
/// sender name and text attachments. Returns the kinds found (empty: nothing changed).
pub fn scrub_inbound(inbound: &mut Inbound) -> Vec<SecretKind> {
    let mut found = Vec::new();
    let mut take = |text: &mut String, html: bool| {
        let cleaned = if html { scrub_html(text) } else { scrub(text) };
        if let Some(cleaned) = cleaned {
            *text = cleaned.text;
            found.extend(cleaned.found);
        }
    };
    take(&mut inbound.text, false);
    if let Some(html) = &mut inbound.html {
        take(html, true);
    }
    if let Some(subject) = &mut inbound.subject {
        take(subject, false);
    }
    take(&mut inbound.sender.display_name, false);
    for attachment in &mut inbound.attachments {
        let AttachmentData::Bytes(bytes) = &attachment.data else {
            continue;
        };
        if attachment
            .content_type
            .eq_ignore_ascii_case("message/rfc822")
        {
            let kinds = mail_secrets(bytes);
            if !kinds.is_empty() {
                // A mail cannot be cut like text (encoded parts, signatures): it is not kept.
                attachment.data = AttachmentData::Missing {
                    note: ORIGINAL_DROPPED.into(),
                    size: None,
                };
                found.extend(kinds);
            }
            continue;
        }
        if !is_text(&attachment.content_type, &attachment.filename)
            || bytes.len() > MAX_SCANNED_ATTACHMENT
        {
            continue;
        }
        // Not UTF-8: not text a person typed; kept as it came.
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        if let Some(cleaned) = scrub(text) {
            attachment.data = AttachmentData::Bytes(cleaned.text.into_bytes().into());
            found.extend(cleaned.found);
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// The note that stands for a kept mail the guard found a secret in.
const ORIGINAL_DROPPED: &str =
    "original mail not kept: it held a wallet secret (removed from the message above)";

/// Mails bigger than this are not decoded again here: the email channel's own limit is lower.
const MAX_SCANNED_MAIL: usize = 64 << 20;

/// The secrets in a whole mail as received: its raw text, subject, and every decoded text part,
/// quoted history and nested mails included (what the message row shows is only the new text).
fn mail_secrets(raw: &[u8]) -> Vec<SecretKind> {
    let mut found = Vec::new();
    let mut check = |text: &str, html: bool| {
        let cleaned = if html { scrub_html(text) } else { scrub(text) };
        if let Some(cleaned) = cleaned {
            found.extend(cleaned.found);
        }
    };
    check(
        &String::from_utf8_lossy(&raw[..raw.len().min(MAX_SCANNED_ATTACHMENT)]),
        false,
    );
    if raw.len() <= MAX_SCANNED_MAIL
        && let Some(mail) = mail_parser::MessageParser::default().parse(raw)
    {
        scan_mail(&mail, 0, &mut check);
    }
    found.sort_unstable();
    found.dedup();
    found
}

fn scan_mail(mail: &mail_parser::Message<'_>, depth: usize, check: &mut impl FnMut(&str, bool)) {
    use mail_parser::{MimeHeaders, PartType};
    if let Some(subject) = mail.subject() {
        check(subject, false);
    }
    for part in &mail.parts {
        match &part.body {
            PartType::Text(text) if text.len() <= MAX_SCANNED_ATTACHMENT => check(text, false),
            PartType::Html(html) if html.len() <= MAX_SCANNED_ATTACHMENT => check(html, true),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes)
                if bytes.len() <= MAX_SCANNED_ATTACHMENT =>
            {
                let content_type = part
                    .content_type()
                    .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")))
                    .unwrap_or_default();
                let name = part.attachment_name().unwrap_or("");
                if is_text(&content_type, name)
                    && let Ok(text) = std::str::from_utf8(bytes)
                {
                    check(text, false);
                }
            }
            // Forwarded mail inside mail; a bound keeps a crafted nesting cheap.
            PartType::Message(inner) if depth < 3 => scan_mail(inner, depth + 1, check),
            _ => {}
        }
    }
}

/// Types a customer's pasted secret can hide in: plain text, JSON (keystore files), CSV, ...
fn is_text(content_type: &str, filename: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    let name = filename.to_ascii_lowercase();
    t.starts_with("text/")
        || t.contains("json")
        || t.contains("xml")
        || [".txt", ".json", ".csv", ".md", ".log", ".key"]
            .iter()
            .any(|e| name.ends_with(e))
        || name.starts_with("utc--")
}

/// The 6-digit numbers standing alone in `text` (not part of a longer number).
fn code_candidates(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if !bytes[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 6 {
                return Some((start, &text[start..i]));
            }
        }
        None
    })
}

/// Whether `text` may hold a one-time code (cheap: decides whether the store is asked).
pub fn has_code_candidate(text: &str) -> bool {
    code_candidates(text).next().is_some()
}

/// Cuts every 6-digit number `is_code` accepts out of the text and HTML; returns whether any was.
pub fn remove_code(inbound: &mut Inbound, is_code: impl Fn(&str) -> bool) -> bool {
    let codes: Vec<String> = code_candidates(&inbound.text)
        .filter(|(_, c)| is_code(c))
        .map(|(_, c)| c.to_owned())
        .collect();
    for code in &codes {
        inbound.text = inbound.text.replace(code.as_str(), CODE_MARKER);
        if let Some(html) = &mut inbound.html {
            *html = html.replace(code.as_str(), CODE_MARKER);
        }
    }
    if !codes.is_empty() {
        // The kept original mail holds the code too (perhaps encoded): it goes.
        for attachment in &mut inbound.attachments {
            if attachment
                .content_type
                .eq_ignore_ascii_case("message/rfc822")
            {
                attachment.data = AttachmentData::Missing {
                    note: "original mail not kept: it held a one-time code".into(),
                    size: None,
                };
            }
        }
    }
    !codes.is_empty()
}

/// The customer's language as a key of the text tables: the platform's tag when it gave one,
/// else detected from what they wrote, else English.
pub fn language(tag: Option<&str>, text: &str) -> String {
    crate::automation::language::detect(tag, text).unwrap_or_else(|| "en".into())
}

fn table(
    defaults: &[(&str, &str)],
    configured: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut texts: BTreeMap<String, String> = defaults
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    texts.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    texts
}

fn pick<'a>(texts: &'a BTreeMap<String, String>, language: &str) -> &'a str {
    texts
        .get(language)
        .or_else(|| texts.get("en"))
        .map_or("", String::as_str)
}

const WARNING: &[(&str, &str)] = &[
    (
        "en",
        "Security warning: your message contained a wallet recovery phrase or private key. We removed it and did not store it. Treat it as compromised: create a new wallet and move your funds there now. If your message is still visible in this chat, delete it. Support will never ask you for your recovery phrase, private key or passwords.",
    ),
    (
        "zh",
        "安全警告：您的消息中包含钱包助记词或私钥。我们已将其删除，没有保存。请视其为已泄露：立即创建新钱包并将资金转入新钱包。如果您的消息仍显示在此对话中，请将其删除。客服绝不会向您索要助记词、私钥或密码。",
    ),
    (
        "es",
        "Aviso de seguridad: su mensaje contenía una frase de recuperación o una clave privada. La eliminamos y no la guardamos. Considérela comprometida: cree una cartera nueva y mueva sus fondos a ella ahora. Si su mensaje sigue visible en este chat, bórrelo. El soporte nunca le pedirá su frase de recuperación, su clave privada ni sus contraseñas.",
    ),
    (
        "ru",
        "Предупреждение о безопасности: ваше сообщение содержало сид-фразу или приватный ключ. Мы удалили их и не сохранили. Считайте их скомпрометированными: создайте новый кошелёк и сейчас же переведите туда средства. Если ваше сообщение всё ещё видно в этом чате, удалите его. Поддержка никогда не просит сид-фразу, приватный ключ или пароли.",
    ),
];

const PROMPT: &[(&str, &str)] = &[
    (
        "en",
        "To confirm your identity we sent a 6-digit code to {email}. Please reply here with that code. It is valid for 10 minutes. Never share it anywhere else.",
    ),
    (
        "zh",
        "为确认您的身份，我们已向 {email} 发送了 6 位验证码。请在此对话中回复该验证码，10 分钟内有效。请勿在其他任何地方透露它。",
    ),
    (
        "es",
        "Para confirmar su identidad enviamos un código de 6 dígitos a {email}. Responda aquí con ese código. Es válido durante 10 minutos. No lo comparta en ningún otro lugar.",
    ),
    (
        "ru",
        "Чтобы подтвердить вашу личность, мы отправили 6-значный код на {email}. Ответьте здесь этим кодом. Он действует 10 минут. Никому больше его не сообщайте.",
    ),
];

const CODE_EMAIL: &[(&str, &str)] = &[
    (
        "en",
        "Your verification code is {code}\n\nType it into your support conversation to confirm that this address is yours. It is valid for 10 minutes.\n\nIf you did not ask support to verify you, ignore this mail. We will never ask you for your recovery phrase, private key or passwords.",
    ),
    (
        "zh",
        "您的验证码是 {code}\n\n请在客服对话中输入该验证码，以确认此邮箱属于您。10 分钟内有效。\n\n如果您没有请求客服验证身份，请忽略此邮件。我们绝不会向您索要助记词、私钥或密码。",
    ),
    (
        "es",
        "Su código de verificación es {code}\n\nEscríbalo en su conversación con soporte para confirmar que esta dirección es suya. Es válido durante 10 minutos.\n\nSi no pidió a soporte que lo verificara, ignore este correo. Nunca le pediremos su frase de recuperación, su clave privada ni sus contraseñas.",
    ),
    (
        "ru",
        "Ваш код подтверждения: {code}\n\nВведите его в переписке с поддержкой, чтобы подтвердить, что этот адрес ваш. Код действует 10 минут.\n\nЕсли вы не просили поддержку вас проверить, проигнорируйте это письмо. Мы никогда не просим сид-фразу, приватный ключ или пароли.",
    ),
];

/// The customer-facing texts of the guard and of verification, defaults merged with config.
#[derive(Debug, Clone)]
pub struct Texts {
    notice: String,
    warning: BTreeMap<String, String>,
    prompt: BTreeMap<String, String>,
    code_email: BTreeMap<String, String>,
    pub code_subject: String,
}

impl Default for Texts {
    fn default() -> Self {
        Self::new(&SafetyConfig::default(), &VerificationConfig::default())
    }
}

impl Texts {
    pub fn new(safety: &SafetyConfig, verification: &VerificationConfig) -> Self {
        Self {
            notice: safety.notice.trim().to_owned(),
            warning: table(WARNING, &safety.warning),
            prompt: table(PROMPT, &verification.prompt),
            code_email: table(CODE_EMAIL, &verification.email_text),
            code_subject: verification
                .email_subject
                .clone()
                .unwrap_or_else(|| "Your verification code".into()),
        }
    }

    /// An acknowledgement with the configured safety line under it.
    pub fn with_notice(&self, text: &str) -> String {
        if self.notice.is_empty() {
            text.to_owned()
        } else {
            format!("{text}\n\n{}", self.notice)
        }
    }

    pub fn warning(&self, language: &str) -> &str {
        pick(&self.warning, language)
    }

    pub fn prompt(&self, language: &str, email: &str) -> String {
        pick(&self.prompt, language).replace("{email}", email)
    }

    pub fn code_email(&self, language: &str, code: &str) -> String {
        pick(&self.code_email, language).replace("{code}", code)
    }
}

/// What the guard needs to know of an inbound message once it is stored.
pub struct Origin {
    pub thread_id: String,
    pub message_id: String,
    pub language: String,
}

impl Origin {
    pub fn of(batch: &[Inbound]) -> Vec<Origin> {
        batch
            .iter()
            .map(|i| Origin {
                thread_id: i.thread_id.clone(),
                message_id: i.message_id.clone(),
                language: language(i.sender.language.as_deref(), &i.text),
            })
            .collect()
    }
}

/// After a batch is stored (with the warning to each customer whose new message held a secret,
/// queued in the same transaction): the dispatcher is woken for the warnings, and the platform
/// is asked to delete those messages where the bot may (and for the thanks to survey answers).
pub fn after_ingest(
    dispatcher: &Dispatcher,
    channel: &str,
    origins: &[Origin],
    report: &IngestReport,
) {
    use crate::store::Outcome;
    // A survey answer was thanked in the same transaction.
    let mut any = report.items.iter().any(|i| i.answered_survey);
    for (item, origin) in report.items.iter().zip(origins) {
        if !item.secret_removed || !matches!(item.outcome, Outcome::Created | Outcome::Updated) {
            continue;
        }
        dispatcher.retract(channel, &origin.thread_id, &origin.message_id);
        any = true;
    }
    if any {
        dispatcher.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::{InboundAttachment, Sender};

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn every_stored_part_of_a_message_is_scrubbed() {
        let mut inbound = Inbound::text(
            "t",
            "m",
            Sender::new("u", "Alice"),
            format!("help {PHRASE}"),
        );
        inbound.html = Some(format!("<p>help {PHRASE}</p>"));
        inbound.subject = Some(format!("my words {PHRASE}"));
        inbound.attachments = vec![InboundAttachment {
            filename: "words.txt".into(),
            content_type: "text/plain".into(),
            data: AttachmentData::Bytes(PHRASE.as_bytes().to_vec().into()),
        }];
        let found = scrub_inbound(&mut inbound);
        assert_eq!(found, vec![SecretKind::SeedPhrase]);
        assert!(!inbound.text.contains("abandon"), "{}", inbound.text);
        assert!(!inbound.html.as_deref().unwrap().contains("abandon"));
        assert!(!inbound.subject.as_deref().unwrap().contains("abandon"));
        let AttachmentData::Bytes(bytes) = &inbound.attachments[0].data else {
            panic!("attachment lost")
        };
        assert!(!String::from_utf8_lossy(bytes).contains("abandon"));
    }

    #[test]
    fn only_standalone_six_digit_numbers_are_codes() {
        let found: Vec<&str> = code_candidates("code 123456, order 12345678, 654321.")
            .map(|(_, c)| c)
            .collect();
        assert_eq!(found, ["123456", "654321"]);
        let mut inbound = Inbound::text("t", "m", Sender::new("u", "A"), "it is 123456 ok 999999");
        inbound.attachments = vec![InboundAttachment {
            filename: "original.eml".into(),
            content_type: "message/rfc822".into(),
            data: AttachmentData::Bytes(b"Subject: x\r\n\r\nit is 123456 ok"[..].into()),
        }];
        assert!(remove_code(&mut inbound, |c| c == "123456"));
        assert_eq!(inbound.text, format!("it is {CODE_MARKER} ok 999999"));
        assert!(matches!(
            inbound.attachments[0].data,
            AttachmentData::Missing { .. }
        ));
    }

    #[test]
    fn language_comes_from_the_platform_then_the_script() {
        assert_eq!(language(Some("zh-hans"), "hello"), "zh");
        assert_eq!(language(None, "我的钱包"), "zh");
        assert_eq!(language(None, "Мой кошелёк"), "ru");
        assert_eq!(language(None, "help"), "en");
        let texts = Texts::default();
        assert!(texts.warning("fr").starts_with("Security warning"));
        assert!(texts.warning("zh").starts_with("安全警告"));
    }
}
