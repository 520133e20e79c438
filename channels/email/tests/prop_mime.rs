//! Property tests of the MIME conversion (`convert::parse`, raw mail → `ParsedMail`) and of the
//! quote/signature separation (`quote::new_text`), on arbitrary bytes, on generated mail (random
//! headers with RFC 2047 encoded-words in random charsets, multipart trees with random boundaries
//! and transfer encodings) and on the fixtures cut short at random points.
//!
//! Cases: 256 per property by default (fewer for the slowest generators); `PROPTEST_CASES`
//! overrides every one.

use proptest::prelude::*;
use switchboard_core::AttachmentData;
use switchboard_email::convert::{ParsedMail, parse};
use switchboard_email::quote::new_text;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        // An explicit PROPTEST_CASES wins over the per-test default.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// What must hold for any input: parsing twice gives the same result (ingest is idempotent on
/// the Message-ID), the new text is part of the full text, and decoding never blows up the text
/// beyond a small multiple of the input (one invalid byte is at most one U+FFFD, 3 bytes).
fn check_invariants(raw: &[u8]) -> Result<ParsedMail, TestCaseError> {
    let Some(mail) = parse_unless_known_panic(raw) else {
        return Err(TestCaseError::reject("mail-parser's known debug assertion"));
    };
    prop_assert_eq!(&mail, &parse(raw), "parsing is deterministic");
    prop_assert!(!mail.message_id.is_empty());
    prop_assert!(
        !mail.message_id.starts_with('<') && !mail.message_id.ends_with('>'),
        "Message-ID keeps no angle brackets: {:?}",
        mail.message_id
    );
    prop_assert!(
        mail.full_text.contains(&mail.text),
        "the new text {:?} is not part of the full text {:?}",
        mail.text,
        mail.full_text
    );
    prop_assert!(mail.text.len() <= mail.full_text.len());
    let bound = 4 * raw.len() + 64;
    prop_assert!(
        mail.full_text.len() <= bound,
        "full text {} bytes from {} input bytes",
        mail.full_text.len(),
        raw.len()
    );
    let replacements = mail.full_text.matches('\u{fffd}').count();
    prop_assert!(
        replacements <= raw.len(),
        "{} U+FFFD from {} bytes",
        replacements,
        raw.len()
    );
    if let Some(subject) = &mail.subject {
        prop_assert!(subject.len() <= bound, "subject {} bytes", subject.len());
        prop_assert_eq!(subject.trim(), subject.as_str(), "subject is trimmed");
    }
    for a in &mail.attachments {
        if let AttachmentData::Bytes(b) = &a.data {
            prop_assert!(b.len() <= raw.len(), "attachment larger than the mail");
        }
        prop_assert!(!a.filename.is_empty() && !a.content_type.is_empty());
        prop_assert_eq!(a.content_type.to_ascii_lowercase(), a.content_type.clone());
    }
    let mut seen = std::collections::HashSet::new();
    for r in &mail.recipients {
        prop_assert!(r.contains('@'), "recipient without @: {:?}", r);
        // ASCII lower-casing, as convert.rs does it (non-ASCII letters keep their case).
        prop_assert_eq!(
            r.to_ascii_lowercase(),
            r.clone(),
            "recipients are lower-cased"
        );
        prop_assert!(seen.insert(r.clone()), "recipient {:?} repeated", r);
    }
    if let Some((address, name)) = &mail.from {
        prop_assert_eq!(
            address.to_ascii_lowercase(),
            address.clone(),
            "From address lower-cased"
        );
        prop_assert!(!name.is_empty());
    }
    if let Some(html) = &mail.html {
        // Text that only looks like markup is escaped (`&lt;script`); real tags are checked.
        for tag in html.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or("").to_ascii_lowercase();
            let mut words = tag.split_whitespace();
            let name = words.next().unwrap_or("").trim_start_matches('/');
            prop_assert!(
                !["script", "img", "style", "iframe"].contains(&name),
                "sanitized HTML keeps <{}>: {}",
                name,
                html
            );
            prop_assert!(
                !words.any(|w| w.starts_with("on") && w.contains('=')),
                "sanitized HTML keeps an event handler: {}",
                html
            );
            prop_assert!(
                !tag.contains("javascript:"),
                "sanitized HTML keeps javascript: {}",
                html
            );
        }
    }
    Ok(mail)
}

/// What mail-parser 0.11.9 panics with in debug builds on some nested message/rfc822 parts
/// (a `debug_assert!(false, ..)` at parsers/message.rs:485; release builds carry on). Kept as
/// an ignored test below; the properties set these inputs aside so they can find other bugs.
const KNOWN_DEBUG_ASSERT: &str = "Invalid part ID, could not find multipart.";

/// `parse`, or `None` when it hit the known mail-parser debug assertion (silenced, so the
/// output stays readable; any other panic is reported as usual).
fn parse_unless_known_panic(raw: &[u8]) -> Option<ParsedMail> {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload_as_str() != Some(KNOWN_DEBUG_ASSERT) {
                default(info);
            }
        }));
    });
    match std::panic::catch_unwind(|| parse(raw)) {
        Ok(mail) => Some(mail),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            if message.as_deref() == Some(KNOWN_DEBUG_ASSERT) {
                None
            } else {
                std::panic::resume_unwind(payload)
            }
        }
    }
}

// ---- generators -----------------------------------------------------------------------------

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_lines(bytes: &[u8], eol: &str) -> String {
    let encoded = base64(bytes);
    let mut out = String::new();
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push_str(eol);
    }
    out
}

/// Quoted-printable with soft line breaks, as RFC 2045 writes it.
fn quoted_printable(bytes: &[u8], eol: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let last_on_line = bytes.get(i + 1).is_none_or(|&n| n == b'\n');
        let piece = match b {
            b'\n' => {
                out.push_str(eol);
                line = 0;
                continue;
            }
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => continue,
            b' ' | b'\t' if !last_on_line => (b as char).to_string(),
            33..=60 | 62..=126 => (b as char).to_string(),
            _ => format!("={b:02X}"),
        };
        if line + piece.len() > 75 {
            out.push('=');
            out.push_str(eol);
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

/// An RFC 2047 Q-encoding of raw bytes (the payload of `=?charset?Q?...?=`).
fn q_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b' ' => "_".to_owned(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("={b:02X}"),
        })
        .collect()
}

fn charset() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "utf-8", "UTF-8", "us-ascii", "iso-8859-1", "iso-8859-2", "iso-8859-15",
            "windows-1250", "windows-1251", "windows-1252", "koi8-r", "shift_jis", "euc-jp",
            "iso-2022-jp", "gb2312", "gbk", "gb18030", "big5", "euc-kr", "utf-16", "utf-16le",
            "utf-16be", "utf-7", "unknown-8bit", "x-unknown", "",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z0-9_-]{1,20}",
    ]
}

/// One encoded-word over random bytes in a random charset, sometimes malformed.
fn encoded_word() -> impl Strategy<Value = String> {
    (
        charset(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..40),
        0u8..6,
    )
        .prop_map(|(cs, b, bytes, damage)| {
            let payload = if b { base64(&bytes) } else { q_encode(&bytes) };
            let word = format!("=?{cs}?{}?{payload}?=", if b { "B" } else { "Q" });
            match damage {
                // Unterminated, missing pieces, bad base64.
                0 => word.trim_end_matches("?=").to_owned(),
                1 => format!("=?{cs}??{payload}?="),
                2 => format!("=?{cs}?B?{payload}@@==?="),
                _ => word,
            }
        })
}

/// A header value: plain text, encoded-words, raw 8-bit bytes, folded at random points.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => "[ -~]{0,20}".prop_map(String::into_bytes),
        3 => encoded_word().prop_map(String::into_bytes),
        1 => "\\PC{0,10}".prop_map(String::into_bytes),
        1 => prop::collection::vec(128u8..=255, 0..8),
        1 => Just(b"\r\n ".to_vec()),
        1 => Just(b"\r\n\t".to_vec()),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|p| p.join(&b" "[..]))
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "Subject", "From", "To", "Cc", "Date", "Message-ID", "In-Reply-To", "References",
            "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
            "Auto-Submitted", "Precedence", "X-Autoreply", "Reply-To", "Sender",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Za-z][A-Za-z0-9-]{0,20}",
    ]
}

/// RFC 2046 boundary characters, and the nasty cases: empty, one character, a space.
fn boundary() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[0-9A-Za-z'()+_,./:=?-]{1,69}",
        1 => Just(String::new()),
        1 => Just("-".to_owned()),
        1 => Just("a b".to_owned()),
    ]
}

#[derive(Debug, Clone)]
enum Part {
    Leaf {
        content_type: String,
        charset: Option<String>,
        encoding: &'static str,
        filename: Option<String>,
        body: Vec<u8>,
    },
    Multi {
        subtype: &'static str,
        boundary: String,
        /// Sometimes the closing delimiter is left out, as broken mailers do.
        closed: bool,
        children: Vec<Part>,
    },
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[ -~\n]{0,200}".prop_map(String::into_bytes),
        2 => "\\PC{0,80}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        // Quotes, signatures and attributions for the separation; HTML the sanitizer must clean.
        1 => Just(b"New text.\n\nOn Mon, 3 Nov 2026, A <a@example.com> wrote:\n> old\n-- \nsig\n".to_vec()),
        1 => Just(b"<p onclick=\"x()\">hi<script>alert(1)</script><img src=\"http://t.example/p.gif\"><style>p{}</style><a href=\"javascript:x\">l</a></p>".to_vec()),
    ]
}

fn leaf() -> impl Strategy<Value = Part> {
    (
        prop::sample::select(vec![
            "text/plain",
            "text/plain",
            "text/html",
            "application/octet-stream",
            "image/png",
            "message/rfc822",
            "text/x-unknown",
            "TEXT/PLAIN",
            "multipart/mixed",
        ]),
        prop::option::of(charset()),
        prop::sample::select(vec![
            "7bit",
            "8bit",
            "binary",
            "base64",
            "quoted-printable",
            "x-uuencode",
            "BASE64",
            "",
        ]),
        prop::option::of("[a-z]{1,8}\\.[a-z]{3}"),
        body_bytes(),
    )
        .prop_map(|(ct, charset, encoding, filename, body)| Part::Leaf {
            content_type: ct.to_owned(),
            charset,
            encoding,
            filename,
            body,
        })
}

fn part_tree() -> impl Strategy<Value = Part> {
    leaf().prop_recursive(3, 12, 4, |inner| {
        (
            prop::sample::select(vec!["mixed", "alternative", "related", "report", "digest"]),
            boundary(),
            prop::bool::weighted(0.85),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(subtype, boundary, closed, children)| Part::Multi {
                subtype,
                boundary,
                closed,
                children,
            })
    })
}

fn write_part(part: &Part, eol: &str, out: &mut Vec<u8>) {
    match part {
        Part::Leaf {
            content_type,
            charset,
            encoding,
            filename,
            body,
        } => {
            let mut ct = format!("Content-Type: {content_type}");
            if let Some(cs) = charset {
                ct.push_str(&format!("; charset=\"{cs}\""));
            }
            out.extend_from_slice(ct.as_bytes());
            out.extend_from_slice(eol.as_bytes());
            if !encoding.is_empty() {
                out.extend_from_slice(
                    format!("Content-Transfer-Encoding: {encoding}{eol}").as_bytes(),
                );
            }
            if let Some(name) = filename {
                out.extend_from_slice(
                    format!("Content-Disposition: attachment; filename=\"{name}\"{eol}").as_bytes(),
                );
            }
            out.extend_from_slice(eol.as_bytes());
            match encoding.to_ascii_lowercase().as_str() {
                "base64" => out.extend_from_slice(base64_lines(body, eol).as_bytes()),
                "quoted-printable" => out.extend_from_slice(quoted_printable(body, eol).as_bytes()),
                _ => out.extend_from_slice(body),
            }
        }
        Part::Multi {
            subtype,
            boundary,
            closed,
            children,
        } => {
            out.extend_from_slice(
                format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"{eol}{eol}")
                    .as_bytes(),
            );
            out.extend_from_slice(format!("preamble{eol}").as_bytes());
            for child in children {
                out.extend_from_slice(format!("{eol}--{boundary}{eol}").as_bytes());
                write_part(child, eol, out);
            }
            if *closed {
                out.extend_from_slice(format!("{eol}--{boundary}--{eol}").as_bytes());
            }
        }
    }
}

/// A whole mail: a few known headers (kept to check what comes out), random extra headers, and a
/// part tree; CRLF or bare LF throughout.
#[derive(Clone)]
struct Mail {
    raw: Vec<u8>,
    message_id: Option<String>,
    from: Option<(String, String)>,
}

/// Shrunk failures print the mail as text, not as a list of numbers.
impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("raw", &String::from_utf8_lossy(&self.raw))
            .field("message_id", &self.message_id)
            .field("from", &self.from)
            .finish()
    }
}

fn mail() -> impl Strategy<Value = Mail> {
    (
        any::<bool>(),
        prop::option::of("[a-z0-9.=_-]{1,20}@[a-z]{1,10}\\.example"),
        prop::option::of((
            "[a-z0-9._]{1,12}@[a-z]{1,10}\\.example",
            "[A-Za-z][A-Za-z ]{0,15}[A-Za-z]",
        )),
        prop::collection::vec((header_name(), header_value()), 0..6),
        part_tree(),
    )
        .prop_map(|(crlf, message_id, from, extra, body)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut raw = Vec::new();
            if let Some(id) = &message_id {
                raw.extend_from_slice(format!("Message-ID: <{id}>{eol}").as_bytes());
            }
            if let Some((address, name)) = &from {
                raw.extend_from_slice(format!("From: {name} <{address}>{eol}").as_bytes());
            }
            for (name, value) in &extra {
                // A second Message-ID or From would make the expectation ambiguous.
                if ["message-id", "from"].contains(&name.to_ascii_lowercase().as_str()) {
                    continue;
                }
                raw.extend_from_slice(name.as_bytes());
                raw.extend_from_slice(b": ");
                raw.extend_from_slice(value);
                raw.extend_from_slice(eol.as_bytes());
            }
            raw.extend_from_slice(format!("MIME-Version: 1.0{eol}").as_bytes());
            write_part(&body, eol, &mut raw);
            Mail {
                raw,
                message_id,
                from: from.map(|(a, n)| (a.to_ascii_lowercase(), n)),
            }
        })
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    all.sort();
    assert!(all.len() >= 10, "fixtures missing");
    all
}

/// Where the header block ends (after its blank line), if it does.
fn header_end(raw: &[u8]) -> Option<usize> {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    [crlf, lf].into_iter().flatten().min()
}

// ---- properties -----------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Any bytes at all: no panic, and every invariant.
    #[test]
    fn arbitrary_bytes_parse_deterministically_within_bounds(
        raw in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        check_invariants(&raw)?;
    }

    /// Header-like lines of arbitrary bytes over a short body: the header parser's paths.
    #[test]
    fn arbitrary_headers_parse_deterministically_within_bounds(
        headers in prop::collection::vec((header_name(), header_value()), 0..10),
        body in body_bytes(),
    ) {
        let mut raw = Vec::new();
        for (name, value) in headers {
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(b": ");
            raw.extend_from_slice(&value);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(&body);
        check_invariants(&raw)?;
    }

    /// A UTF-8 subject in one encoded-word (B or Q) decodes to exactly that subject (trimmed).
    #[test]
    fn utf8_encoded_word_subjects_round_trip(subject in "\\PC{1,40}", b in any::<bool>()) {
        prop_assume!(!subject.trim().is_empty());
        let word = if b {
            format!("=?utf-8?B?{}?=", base64(subject.as_bytes()))
        } else {
            format!("=?utf-8?Q?{}?=", q_encode(subject.as_bytes()))
        };
        let raw = format!(
            "From: a@example.com\r\nMessage-ID: <x@example.com>\r\nSubject: {word}\r\n\r\nbody\r\n"
        );
        let mail = check_invariants(raw.as_bytes())?;
        prop_assert_eq!(mail.subject.as_deref(), Some(subject.trim()));
    }

    /// A single text/plain UTF-8 body, base64 or quoted-printable, decodes to exactly its text.
    #[test]
    fn single_part_utf8_bodies_round_trip(text in "[^\r]{0,300}", b in any::<bool>()) {
        let (encoding, body) = if b {
            ("base64", base64_lines(text.as_bytes(), "\r\n"))
        } else {
            ("quoted-printable", quoted_printable(text.as_bytes(), "\r\n"))
        };
        let raw = format!(
            "From: a@example.com\r\nMessage-ID: <x@example.com>\r\nContent-Type: text/plain; \
             charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n{body}"
        );
        let mail = check_invariants(raw.as_bytes())?;
        let want = if b { text.clone() } else { text.replace('\n', "\r\n") };
        prop_assert_eq!(mail.full_text, want);
    }

    /// `new_text` never gives more than it was given: a prefix of the body, trimmed at its end,
    /// and applying it again changes nothing.
    #[test]
    fn new_text_is_a_trimmed_prefix_and_idempotent(body in body_text()) {
        let new = new_text(&body);
        prop_assert!(body.starts_with(new), "{:?} is not a prefix of {:?}", new, body);
        prop_assert_eq!(new.trim_end(), new);
        prop_assert_eq!(new_text(new), new, "idempotent");
    }

    /// A body with none of the markers' characters is kept whole (only trailing space goes).
    #[test]
    fn text_without_markers_is_kept_whole(body in "[a-zA-Z0-9 ,.!?\n\u{e0}-\u{ff}]{0,300}") {
        prop_assume!(!["On ", "Am ", "Le ", "From:"].iter().any(|m| body.contains(m)));
        prop_assert_eq!(new_text(&body), body.trim_end());
    }

    /// Quoted history or a signature appended below the customer's words never changes them.
    #[test]
    fn appended_quotes_and_signatures_are_cut_off(
        words in "[a-zA-Z0-9 ,.!?]{1,60}(\n[a-zA-Z0-9 ,.!?]{1,60}){0,4}",
        tail in prop::sample::select(vec![
            "\n\nOn Mon, 3 Nov 2026 at 10:00, Support <s@example.com> wrote:\n> old\n",
            "\n\nAm 03.11.2026 um 10:00 schrieb Support <s@example.com>:\n> alt\n",
            "\n\nLe 3 nov. 2026 à 10:00, Support <s@example.com> a écrit :\n> ancien\n",
            "\n-- \nAnna\n+49 30 1234\n",
            "\n-----Original Message-----\nFrom: x\n",
            "\r\n\r\nFrom: Support <s@example.com>\r\nSent: Monday\r\n",
            "\n> quoted\n> more\n",
            "\n________________________________\nFrom: x\n",
        ]),
    ) {
        prop_assume!(!["On ", "Am ", "Le ", "From:"].iter().any(|m| words.contains(m)));
        let body = format!("{words}{tail}");
        prop_assert_eq!(new_text(&body), words.trim_end());
    }

    /// Fixtures cut at a random point: invariants hold, and once the header block is complete
    /// the Message-ID, sender and subject are those of the whole mail.
    #[test]
    fn truncated_fixtures_keep_their_headers(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>()) {
        let all = fixtures();
        let (name, raw) = &all[which.index(all.len())];
        let cut = at.index(raw.len() + 1);
        let whole = parse(raw);
        let part = check_invariants(&raw[..cut])?;
        if header_end(raw).is_some_and(|end| cut >= end) {
            if !whole.message_id.starts_with("sha256-") {
                prop_assert_eq!(&part.message_id, &whole.message_id, "{} cut at {}", name, cut);
            }
            prop_assert_eq!(&part.from, &whole.from, "{} cut at {}", name, cut);
            prop_assert_eq!(&part.subject, &whole.subject, "{} cut at {}", name, cut);
        }
    }
}

/// Arbitrary text shaped like mail bodies: lines of words, quote and signature markers.
fn body_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        4 => "[ -~]{0,40}",
        1 => "\\PC{0,20}",
        1 => prop::sample::select(vec![
            "-- ", "> q", "On Mon, X <x@y.z> wrote:", "On Mon, X", "<x@y.z> wrote:",
            "From: x", "Sent: y", "Date: z", "-----Original Message-----", "   ",
            "Am 1. schrieb X:", "Le 1, X a écrit :", "X <x@y.z>:", "________________________________",
        ])
        .prop_map(str::to_owned),
    ];
    (
        prop::collection::vec(line, 0..12),
        prop::sample::select(vec!["\n", "\r\n"]),
    )
        .prop_map(|(lines, eol)| lines.join(eol))
}

proptest! {
    #![proptest_config(config(128))]

    /// Generated mail (random headers and encoded-words, part trees with random boundaries,
    /// charsets and transfer encodings): the invariants hold, and the Message-ID and sender
    /// given in the headers are what comes out.
    #[test]
    fn generated_mail_keeps_its_id_and_sender(mail in mail()) {
        let parsed = check_invariants(&mail.raw)?;
        if let Some(id) = &mail.message_id {
            prop_assert_eq!(&parsed.message_id, id);
        }
        if let Some((address, name)) = &mail.from {
            prop_assert_eq!(parsed.from, Some((address.clone(), name.clone())));
        }
    }

    /// Generated mail cut short at a random point: still every invariant.
    #[test]
    fn generated_mail_cut_short_parses(mail in mail(), at in any::<prop::sample::Index>()) {
        let cut = at.index(mail.raw.len() + 1);
        check_invariants(&mail.raw[..cut])?;
    }
}

/// The smallest mail found that trips mail-parser's debug assertion: a multipart with two
/// message/rfc822 parts, the first not a mail, the second empty. Debug builds (tests, `cargo
/// run`) panic inside `convert::parse`; release builds parse it.
#[test]
#[ignore = "bug: mail-parser 0.11.9 debug_assert (parsers/message.rs:485) panics parse() in debug builds"]
fn two_broken_rfc822_parts_do_not_panic() {
    let raw = b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: message/rfc822\n\n0\n--b\nContent-Type: message/rfc822\n\n\n\n--b--\n";
    let mail = parse(raw);
    assert!(!mail.message_id.is_empty());
}
