//! Property tests of the Telegram update conversion: JSON as the Bot API (or an impostor) sends
//! it, through teloxide's `Update` (as `handle_webhook` and getUpdates read it) and
//! `convert::convert`. Arbitrary update-shaped JSON (random fields, wrong types, huge numbers,
//! unknown kinds, any Unicode, escaped astral characters and lone surrogates) never panics, and
//! gives a message only for a well-formed message update, whose ids and text are the update's;
//! everything else is refused (a 400 for the webhook) or skipped. Also the outbound split at
//! Telegram's 4096 UTF-16 code units.
//!
//! Cases: 96 per property by default (teloxide's untagged message enums make each case a few
//! milliseconds in debug builds); `PROPTEST_CASES` overrides.

use proptest::prelude::*;
use switchboard_core::{Change, Inbound};
use switchboard_telegram::convert::{BotIdentity, Converted, FileRef, convert};
use switchboard_telegram::outbound;
use teloxide::types::Update;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        // An explicit PROPTEST_CASES wins over the per-test default.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

fn bot() -> BotIdentity {
    BotIdentity {
        id: 999,
        username: "Wallet_Bot".into(),
    }
}

#[derive(Debug)]
enum Outcome {
    /// The JSON is not an update: the webhook answers 400.
    Refused,
    Skipped(#[allow(dead_code)] &'static str),
    Message(Box<Inbound>, Vec<FileRef>),
}

fn outcome(json: &str) -> Outcome {
    let Ok(update) = serde_json::from_str::<Update>(json) else {
        return Outcome::Refused;
    };
    let first = convert(&update, &bot());
    // Conversion is pure: the same update converts the same way twice.
    assert_eq!(first, convert(&update, &bot()), "deterministic for {json}");
    match first {
        Converted::Skip(why) => Outcome::Skipped(why),
        Converted::Message { inbound, files } => Outcome::Message(inbound, files),
        Converted::Pressed { inbound, .. } => Outcome::Message(inbound, Vec::new()),
    }
}

/// A JSON string literal; with `escape`, every non-ASCII character as `\uXXXX` (astral ones as a
/// UTF-16 surrogate pair), the way some clients and proxies write them.
fn json_str(s: &str, escape: bool) -> String {
    if !escape {
        return serde_json::to_string(s).unwrap();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// An object from (key, raw JSON) pairs, in this order (teloxide reads the first kind key).
fn object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Any Unicode text, control and astral characters included.
fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            2 => prop::char::range(' ', '~'),
            1 => prop::sample::select(vec!['😀', '𝄞', '\u{200d}', '\u{feff}', '\u{0}', '\n', '"', '\\']),
        ],
        0..120,
    )
    .prop_map(|c| c.into_iter().collect())
}

/// Raw JSON that no required field of a message accepts: wrong types, numbers out of every
/// integer range, fractions.
fn invalid_value() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "null",
        "true",
        "\"7\"",
        "\"\"",
        "[]",
        "{}",
        "1.5",
        "-1.5e3",
        "1e400",
        "18446744073709551616",
        "-9223372036854775809",
        "340282366920938463463374607431768211456",
        "[1]",
        "{\"id\": 1}",
    ])
    .prop_map(str::to_owned)
}

/// A well-formed private or group text message update.
#[derive(Debug, Clone)]
struct Valid {
    update_id: u32,
    edited: bool,
    group: bool,
    chat_id: i64,
    user_id: u64,
    message_id: i32,
    date: i64,
    edit_date: i64,
    text: String,
    first_name: String,
    last_name: Option<String>,
    escape: bool,
}

fn valid() -> impl Strategy<Value = Valid> {
    (
        (any::<u32>(), any::<bool>(), prop::bool::weighted(0.3)),
        (1i64..(1 << 52), 1u64..(1 << 52), 1i32..=i32::MAX),
        (0i64..4_000_000_000, 0i64..4_000_000_000),
        (
            any_text(),
            any_text(),
            prop::option::of(any_text()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (update_id, edited, group),
                (chat_id, user_id, message_id),
                (date, edit_date),
                (text, first_name, last_name, escape),
            )| Valid {
                update_id,
                edited,
                group,
                chat_id,
                user_id,
                message_id,
                date,
                edit_date,
                text,
                first_name,
                last_name,
                escape,
            },
        )
}

impl Valid {
    /// The text as sent: in a group it mentions the bot, or the message would not be for us.
    fn sent_text(&self) -> String {
        if self.group {
            format!("@wallet_bot {}", self.text)
        } else {
            self.text.clone()
        }
    }

    /// The message object's fields, each as raw JSON, in Bot API order.
    fn message_fields(&self) -> Vec<(&'static str, String)> {
        let e = self.escape;
        let chat = if self.group {
            object(&[
                ("id", (-self.chat_id).to_string()),
                ("type", "\"group\"".into()),
                ("title", "\"G\"".into()),
            ])
        } else {
            object(&[
                ("id", self.chat_id.to_string()),
                ("type", "\"private\"".into()),
                ("first_name", json_str(&self.first_name, e)),
            ])
        };
        let mut from = vec![
            ("id", self.user_id.to_string()),
            ("is_bot", "false".into()),
            ("first_name", json_str(&self.first_name, e)),
        ];
        if let Some(last) = &self.last_name {
            from.push(("last_name", json_str(last, e)));
        }
        let mut fields = vec![
            ("message_id", self.message_id.to_string()),
            ("from", object(&from)),
            ("chat", chat),
            ("date", self.date.to_string()),
        ];
        if self.edited {
            fields.push(("edit_date", self.edit_date.to_string()));
        }
        fields.push(("text", json_str(&self.sent_text(), e)));
        fields
    }

    fn kind(&self) -> &'static str {
        if self.edited {
            "edited_message"
        } else {
            "message"
        }
    }

    fn json_with(&self, fields: &[(&str, String)]) -> String {
        object(&[
            ("update_id", self.update_id.to_string()),
            (self.kind(), object(fields)),
        ])
    }

    fn json(&self) -> String {
        self.json_with(&self.message_fields())
    }

    fn chat(&self) -> i64 {
        if self.group {
            -self.chat_id
        } else {
            self.chat_id
        }
    }
}

/// Update kinds teloxide knows besides the two Switchboard reads.
const OTHER_KINDS: &[&str] = &[
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
];

/// Arbitrary JSON, keys drawn mostly from the Bot API's message vocabulary so that random
/// values land on the fields teloxide reads.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        (0i64..4_000_000_000).prop_map(Value::from),
        any_text().prop_map(Value::String),
        prop::sample::select(vec![
            "private",
            "group",
            "supergroup",
            "channel",
            "bot_command"
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    let key = prop_oneof![
        4 => prop::sample::select(vec![
            "message_id", "from", "chat", "date", "text", "id", "is_bot", "first_name",
            "last_name", "username", "type", "title", "caption", "photo", "document", "file_id",
            "file_unique_id", "file_size", "width", "height", "reply_to_message", "edit_date",
            "entities", "sticker", "emoji", "location", "latitude", "longitude", "contact",
            "phone_number", "voice", "mime_type", "sender_chat", "message_thread_id",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config(96))]

    /// A well-formed text message (private, or a group message mentioning the bot) becomes a
    /// message with exactly its text, chat-scoped ids, sender and times, whether its non-ASCII
    /// characters arrive as UTF-8 or as `\u` escapes (astral ones as surrogate pairs).
    #[test]
    fn a_valid_text_message_round_trips(v in valid()) {
        let json = v.json();
        let Outcome::Message(m, files) = outcome(&json) else {
            return Err(TestCaseError::fail(format!("no message from {json}")));
        };
        prop_assert_eq!(&m.text, &v.sent_text());
        prop_assert!(files.is_empty());
        let thread = if v.group {
            format!("{}:{}", v.chat(), v.user_id)
        } else {
            v.chat().to_string()
        };
        prop_assert_eq!(&m.thread_id, &thread);
        prop_assert_eq!(&m.message_id, &format!("{}:{}", v.chat(), v.message_id));
        prop_assert_eq!(&m.sender.id, &v.user_id.to_string());
        let name = match &v.last_name {
            Some(last) => format!("{} {last}", v.first_name),
            None => v.first_name.clone(),
        };
        prop_assert_eq!(&m.sender.display_name, &name);
        prop_assert_eq!(m.sent_at.map(|t| t.timestamp()), Some(v.date));
        if v.edited {
            prop_assert!(
                matches!(m.change, Change::Edited { at } if at.timestamp() == v.edit_date),
                "{:?}",
                m.change
            );
        } else {
            prop_assert_eq!(m.change, Change::New);
        }
    }

    /// The same message in a group without a mention, a command or a reply to the bot is not
    /// for us.
    #[test]
    fn unaddressed_group_messages_are_skipped(v in valid(), text in "[a-z ]{0,40}") {
        let v = Valid { group: true, ..v };
        let mut fields = v.message_fields();
        fields.retain(|(k, _)| *k != "text");
        fields.push(("text", json_str(&text, false)));
        prop_assert!(matches!(outcome(&v.json_with(&fields)), Outcome::Skipped(_)));
    }

    /// A required field removed or holding a value of the wrong type or range, a sender that
    /// is a bot, a channel: refused or skipped, never a message.
    #[test]
    fn broken_messages_give_no_message(
        v in valid(),
        field in prop::sample::select(vec!["message_id", "from", "chat", "date", "chat.id",
            "chat.type", "from.id", "from.is_bot", "from.first_name"]),
        value in prop::option::of(invalid_value()),
    ) {
        // A string is a valid name.
        prop_assume!(!(field == "from.first_name" && value.as_deref().is_some_and(|v| v.starts_with('"'))));
        let json = v.json();
        let mut update: serde_json::Value = serde_json::from_str(&json).unwrap();
        let message = &mut update[v.kind()];
        let (target, key) = match field.split_once('.') {
            Some((outer, key)) => (&mut message[outer], key),
            None => (message, field),
        };
        let target = target.as_object_mut().unwrap();
        // Raw text: serde_json::Value cannot hold 1e400 or integers past u64.
        let placeholder = "\"__PLACEHOLDER__\"";
        match &value {
            Some(_) => target.insert(key.into(), serde_json::Value::String("__PLACEHOLDER__".into())),
            None => target.remove(key),
        };
        let broken = serde_json::to_string(&update)
            .unwrap()
            .replace(placeholder, value.as_deref().unwrap_or(""));
        let result = outcome(&broken);
        prop_assert!(!matches!(result, Outcome::Message(..)), "{} gave {:?}", broken, result);
    }

    /// Bots and channel posts are skipped even when well formed.
    #[test]
    fn bots_and_channels_are_skipped(v in valid(), channel in any::<bool>()) {
        let mut update: serde_json::Value = serde_json::from_str(&v.json()).unwrap();
        if channel {
            update[v.kind()]["chat"] = serde_json::json!({"id": -1001, "type": "channel", "title": "C"});
        } else {
            update[v.kind()]["from"]["is_bot"] = serde_json::json!(true);
        }
        let result = outcome(&update.to_string());
        prop_assert!(matches!(result, Outcome::Skipped(_)), "{:?}", result);
    }

    /// Any update kind but `message` and `edited_message`, known to teloxide or invented, with
    /// any payload (even a valid message): skipped or refused.
    #[test]
    fn other_and_unknown_kinds_are_never_messages(
        v in valid(),
        kind in prop_oneof![prop::sample::select(OTHER_KINDS.to_vec()).prop_map(str::to_owned), "[a-z_]{1,20}"],
        payload in prop_oneof![Just(None), json_value().prop_map(Some)],
    ) {
        prop_assume!(kind != "message" && kind != "edited_message" && kind != "update_id");
        let payload = payload.map_or_else(|| object(&v.message_fields()), |p| p.to_string());
        let json = object(&[("update_id", v.update_id.to_string()), (&kind, payload)]);
        let result = outcome(&json);
        prop_assert!(!matches!(result, Outcome::Message(..)), "{} gave {:?}", json, result);
        if OTHER_KINDS.contains(&kind.as_str()) {
            prop_assert!(!matches!(result, Outcome::Refused), "a valid update of a known kind");
        }
    }

    /// Random JSON under `message`: no panic, and when it is a message after all, what came out
    /// is exactly what the JSON says (ids, sender, text), never something invented.
    #[test]
    fn random_message_payloads_convert_faithfully(
        update_id in prop_oneof![any::<u32>().prop_map(|n| n.to_string()), invalid_value()],
        kind in prop::sample::select(vec!["message", "edited_message"]),
        base in prop::option::of(valid()),
        noise in prop::collection::btree_map("[a-z_]{1,10}|message_id|from|chat|date|text|caption|photo|sticker|location|contact|document|reply_to_message", json_value(), 0..6),
    ) {
        // Start from a valid message (or nothing) and overwrite fields with random JSON.
        let mut message = match &base {
            Some(v) => serde_json::from_str::<serde_json::Value>(&object(&v.message_fields())).unwrap(),
            None => serde_json::json!({}),
        };
        // Keys that cannot make teloxide read the message as media instead of text.
        // (A malformed reply_to_message is one too: teloxide then reads another message kind.)
        const PLAIN: &[&str] = &["message_id", "from", "chat", "date", "text", "edit_date"];
        let only_plain = noise.keys().all(|k| PLAIN.contains(&k.as_str()));
        for (k, value) in noise {
            message[k] = value;
        }
        let json = object(&[("update_id", update_id), (kind, message.to_string())]);
        if let Outcome::Message(m, files) = outcome(&json) {
            let chat = message["chat"]["id"].as_i64();
            let id = message["message_id"].as_i64();
            prop_assert!(chat.is_some() && id.is_some(), "a message from {} without ids", json);
            let (chat, id) = (chat.unwrap_or_default(), id.unwrap_or_default());
            prop_assert_eq!(&m.message_id, &format!("{chat}:{id}"));
            let in_chat = m.thread_id == chat.to_string() || m.thread_id.starts_with(&format!("{}:", chat));
            prop_assert!(in_chat, "thread {} outside chat {}", m.thread_id, chat);
            prop_assert_eq!(Some(m.sender.id.clone()), message["from"]["id"].as_u64().map(|i| i.to_string()));
            prop_assert_eq!(message["from"]["is_bot"].as_bool(), Some(false));
            prop_assert_eq!(m.sent_at.map(|t| t.timestamp()), message["date"].as_i64());
            match message["text"].as_str() {
                Some(text) if only_plain => prop_assert_eq!(&m.text, text),
                // A payload with both text and media fields (which Telegram never sends) may be
                // read as the media: then its caption or a description, nothing invented.
                text => {
                    let caption = message["caption"].as_str().unwrap_or("");
                    let described = m.text.starts_with('[') && m.text.ends_with(']');
                    prop_assert!(
                        Some(m.text.as_str()) == text || m.text == caption || described,
                        "text {:?} from {}",
                        m.text,
                        json
                    );
                }
            }
            for f in &files {
                prop_assert!(!f.file_id.is_empty() || message.to_string().contains("\"file_id\":\"\""));
                prop_assert!(!f.filename.is_empty() && !f.content_type.is_empty());
            }
        }
    }

    /// A lone surrogate escape anywhere in a string (the text, a name) is not JSON text serde
    /// accepts: refused as a whole, never a message with a mangled text.
    #[test]
    fn lone_surrogates_are_refused(
        v in valid(),
        surrogate in prop_oneof![0xd800u32..0xdc00, 0xdc00u32..0xe000],
    ) {
        let v = Valid { escape: true, text: format!("{}#{}", v.text, v.text), ..v };
        let json = v.json();
        // Put `\uDxxx` where the '#' is: a high surrogate without its low half or the reverse.
        let escaped = json.replacen('#', &format!("\\u{surrogate:04x}"), 1);
        let result = outcome(&escaped);
        prop_assert!(matches!(result, Outcome::Refused), "{} gave {:?}", escaped, result);
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Replies go out in parts of at most 4096 UTF-16 code units (Telegram's count), none
    /// empty, losing nothing but whitespace at the cuts.
    #[test]
    fn replies_split_within_telegrams_utf16_limit(
        pieces in prop::collection::vec(
            prop::sample::select(vec![
                "word", "a", "supercalifragilistic", " ", " ", " ", "\n", "\n\n", "😀", "𝄞",
                "👩‍👩‍👧", "中文", "é",
            ]),
            0..4000,
        ),
    ) {
        let text = pieces.concat();
        let parts = outbound::split(&text, outbound::MAX_CHARS);
        for part in &parts {
            prop_assert!(!part.is_empty());
            prop_assert!(part.encode_utf16().count() <= 4096, "{} units", part.encode_utf16().count());
        }
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        prop_assert_eq!(squeeze(&parts.concat()), squeeze(&text));
    }
}

/// Found by `random_message_payloads_convert_faithfully`: a text message with a reply target
/// teloxide cannot read (here one without `chat` and `date`; `"entities": {}` does the same)
/// falls through teloxide's untagged message kinds to one without text, and `convert` stores
/// "[unsupported message type]": the customer's words are lost without a trace in the log.
/// Either the text or a skip would do; a made-up message should not.
#[test]
#[ignore = "bug: a text message with an unreadable reply_to_message is stored as \"[unsupported message type]\", its text lost"]
fn a_text_message_with_an_unreadable_reply_keeps_its_text_or_is_skipped() {
    let json = r#"{"update_id":1,"message":{"message_id":1,"date":0,
        "chat":{"id":1,"type":"private","first_name":"A"},
        "from":{"id":1,"is_bot":false,"first_name":"A"},
        "text":"hello","reply_to_message":{"message_id":1}}}"#;
    match outcome(json) {
        Outcome::Message(m, _) => assert_eq!(m.text, "hello"),
        Outcome::Refused | Outcome::Skipped(_) => {}
    }
}
