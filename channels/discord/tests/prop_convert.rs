//! Property tests of the Discord payload conversion: gateway frames as Discord (or an impostor)
//! sends them, read by serenity's `GatewayEvent` (what its shard parses) and turned into
//! `Inbound` by `convert`. MESSAGE_CREATE, MESSAGE_UPDATE, MESSAGE_DELETE and
//! MESSAGE_DELETE_BULK with random fields, wrong types, out-of-range snowflakes, unknown event
//! names and any Unicode never panic; a customer's message keeps exactly its text, ids, sender
//! and reply target; bots, webhooks and system notices are not customers; edits without content
//! are not edits; and the thread-id helpers round-trip.
//!
//! Cases: 256 per property by default; `PROPTEST_CASES` overrides.

use switchboard_discord::convert;

use proptest::prelude::*;
use serde_json::{Value, json};
use serenity::all::Message;
use serenity::model::event::{Event, GatewayEvent};
use switchboard_core::{Change, Sender};

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

/// One gateway dispatch frame, as raw JSON text (`d` given raw, so it may hold numbers no
/// `serde_json::Value` can).
fn frame(event: &str, d: &str) -> String {
    format!(
        r#"{{"op":0,"s":42,"t":{},"d":{d}}}"#,
        serde_json::to_string(event).unwrap()
    )
}

fn read(frame: &str) -> Option<Event> {
    match serde_json::from_str::<GatewayEvent>(frame) {
        Ok(GatewayEvent::Dispatch(_, event)) => Some(event),
        Ok(other) => panic!("a dispatch frame read as {other:?}"),
        Err(_) => None,
    }
}

/// A JSON string literal; with `escape`, every non-ASCII character as `\uXXXX` (astral ones as
/// a UTF-16 surrogate pair).
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

fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            2 => prop::char::range(' ', '~'),
            1 => prop::sample::select(vec!['😀', '𝄞', '\u{200d}', '\u{feff}', '\u{0}', '\n', '@']),
        ],
        0..120,
    )
    .prop_map(|c| c.into_iter().collect())
}

/// A snowflake Discord could send: non-zero, as a string.
fn snowflake() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..u64::MAX, Just(u64::MAX - 1), Just(1)]
}

/// A well-formed customer MESSAGE_CREATE.
#[derive(Debug, Clone)]
struct Created {
    id: u64,
    channel: u64,
    author: u64,
    username: String,
    global_name: Option<String>,
    content: String,
    reply_to: Option<u64>,
    stickers: Vec<String>,
    inline_reply: bool,
    escape: bool,
}

fn created() -> impl Strategy<Value = Created> {
    (
        (snowflake(), snowflake(), snowflake()),
        ("[a-z0-9._]{2,32}", prop::option::of(any_text())),
        (any_text(), prop::option::of(snowflake())),
        (
            prop::collection::vec("[a-z ]{1,20}", 0..3),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (id, channel, author),
                (username, global_name),
                (content, reply_to),
                (stickers, inline_reply, escape),
            )| {
                Created {
                    id,
                    channel,
                    author,
                    username,
                    global_name,
                    content,
                    reply_to,
                    stickers,
                    inline_reply,
                    escape,
                }
            },
        )
}

impl Created {
    fn payload(&self) -> Value {
        let e = self.escape;
        // Built as text so the `\u` escapes reach serde as Discord would send them.
        let global = self
            .global_name
            .as_deref()
            .map_or("null".to_owned(), |g| json_str(g, e));
        let text = format!(
            r#"{{"id":"{}","channel_id":"{}","type":{},"content":{},
            "timestamp":"2026-11-24T10:00:00.000000+00:00","edited_timestamp":null,"tts":false,
            "mention_everyone":false,"mentions":[],"mention_roles":[],"attachments":[],
            "embeds":[],"pinned":false,"flags":0,
            "author":{{"id":"{}","username":{},"discriminator":"0","global_name":{global},"avatar":null}}}}"#,
            self.id,
            self.channel,
            if self.inline_reply { 19 } else { 0 },
            json_str(&self.content, e),
            self.author,
            json_str(&self.username, e),
        );
        let mut payload: Value = serde_json::from_str(&text).unwrap();
        if let Some(r) = self.reply_to {
            payload["message_reference"] =
                json!({"message_id": r.to_string(), "channel_id": self.channel.to_string()});
        }
        if !self.stickers.is_empty() {
            payload["sticker_items"] = self
                .stickers
                .iter()
                .enumerate()
                .map(|(i, name)| json!({"id": (i + 1).to_string(), "name": name, "format_type": 1}))
                .collect();
        }
        payload
    }

    /// What an agent should read: the content, then each sticker named on its own line.
    fn expected_text(&self) -> String {
        let mut text = self.content.clone();
        for s in &self.stickers {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("[sticker: {s}]"));
        }
        text
    }

    fn message(&self) -> Message {
        match read(&frame("MESSAGE_CREATE", &self.payload().to_string())) {
            Some(Event::MessageCreate(e)) => e.message,
            other => panic!("not a MESSAGE_CREATE: {other:?}"),
        }
    }
}

/// Arbitrary JSON with keys mostly from Discord's message vocabulary.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        any::<u64>().prop_map(|n| Value::String(n.to_string())),
        prop::sample::select(vec![
            "0",
            "-1",
            "18446744073709551616",
            "2026-11-24T10:00:00Z",
            "x"
        ])
        .prop_map(|s| Value::String(s.into())),
        any_text().prop_map(Value::String),
    ];
    let key = prop_oneof![
        4 => prop::sample::select(vec![
            "id", "channel_id", "guild_id", "type", "content", "timestamp", "edited_timestamp",
            "author", "username", "global_name", "bot", "webhook_id", "message_reference",
            "message_id", "sticker_items", "name", "attachments", "embeds", "mentions", "ids",
            "flags", "member", "thread", "referenced_message", "tts", "pinned",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Raw JSON for a snowflake field that serenity must refuse or read as that number.
fn odd_snowflake() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| format!("\"{n}\"")),
        any::<u64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "\"0\"",
            "0",
            "-1",
            "\"-1\"",
            "\"18446744073709551616\"",
            "18446744073709551616",
            "1e400",
            "1.5",
            "\"\"",
            "\" 5\"",
            "\"+5\"",
            "null",
            "[]",
            "{}",
            "true",
        ])
        .prop_map(str::to_owned),
    ]
}

/// The number a snowflake's raw JSON denotes, when it is one.
fn snowflake_value(raw: &str) -> Option<u64> {
    raw.trim_matches('"').trim_start_matches('+').parse().ok()
}

proptest! {
    #![proptest_config(config(256))]

    /// A customer's message keeps exactly its text (stickers named after it), its ids, its
    /// author's identity and its reply target, whatever Unicode it holds and however escaped.
    #[test]
    fn a_customer_message_round_trips(c in created(), thread in "[0-9]{1,20}(:[0-9]{1,20})?") {
        let message = c.message();
        prop_assert!(convert::from_customer(&message));
        let inbound = convert::inbound(&message, thread.clone(), Vec::new());
        prop_assert_eq!(&inbound.text, &c.expected_text());
        prop_assert_eq!(&inbound.thread_id, &thread);
        prop_assert_eq!(&inbound.message_id, &c.id.to_string());
        prop_assert_eq!(&inbound.sender.id, &c.author.to_string());
        prop_assert_eq!(inbound.sender.username.as_deref(), Some(c.username.as_str()));
        prop_assert_eq!(&inbound.sender.display_name, c.global_name.as_ref().unwrap_or(&c.username));
        prop_assert_eq!(inbound.reply_to, c.reply_to.map(|r| r.to_string()));
        prop_assert_eq!(inbound.change, Change::New);
        prop_assert_eq!(inbound.sent_at.map(|t| t.to_rfc3339()), Some("2026-11-24T10:00:00+00:00".to_owned()));
    }

    /// Bots, webhooks and every message type but a plain message or an inline reply (joins,
    /// pins, thread notices, unknown future types) are not a customer's words.
    #[test]
    fn bots_webhooks_and_system_messages_are_not_customers(
        c in created(),
        what in 0u8..3,
        kind in (1u8..=255).prop_filter("customer types", |k| *k != 19),
    ) {
        let mut payload = c.payload();
        match what {
            0 => payload["author"]["bot"] = json!(true),
            1 => payload["webhook_id"] = json!("77"),
            _ => payload["type"] = json!(kind),
        }
        if let Some(Event::MessageCreate(e)) = read(&frame("MESSAGE_CREATE", &payload.to_string())) {
            prop_assert!(!convert::from_customer(&e.message), "{}", payload);
        }
    }

    /// An edit keeps exactly its new text and time; an update without content (embeds
    /// unfurling) is no edit.
    #[test]
    fn edits_round_trip_and_contentless_updates_are_not_edits(
        id in snowflake(),
        channel in snowflake(),
        content in prop::option::of(any_text()),
        escape in any::<bool>(),
        minute in 0u32..60,
    ) {
        let edited_at = format!("2026-11-24T10:{minute:02}:00.000000+00:00");
        let mut d = format!(r#"{{"id":"{id}","channel_id":"{channel}","edited_timestamp":"{edited_at}""#);
        if let Some(text) = &content {
            d.push_str(&format!(r#","content":{}"#, json_str(text, escape)));
        }
        d.push('}');
        let Some(Event::MessageUpdate(event)) = read(&frame("MESSAGE_UPDATE", &d)) else {
            return Err(TestCaseError::fail(format!("not read: {d}")));
        };
        let sender = Sender::new("9", "Carol");
        let edit = convert::edited(&event, "t".into(), sender.clone());
        match &content {
            None => prop_assert_eq!(edit, None),
            Some(text) => {
                let edit = edit.expect("an edit");
                prop_assert_eq!(&edit.text, text);
                prop_assert_eq!(&edit.message_id, &id.to_string());
                prop_assert_eq!(&edit.sender, &sender);
                let at = match edit.change {
                    Change::Edited { at } => Some(at.to_rfc3339()),
                    _ => None,
                };
                prop_assert_eq!(at, Some(format!("2026-11-24T10:{minute:02}:00+00:00")));
            }
        }
    }

    /// Deletes, single or bulk, with any snowflake-ish ids: refused (or an unknown event), or
    /// read as exactly the numbers sent (never a zero id, which serenity's ids cannot hold).
    #[test]
    fn deletes_keep_their_ids_or_are_refused(
        id in odd_snowflake(),
        channel in odd_snowflake(),
        bulk in prop::collection::vec(odd_snowflake(), 0..5),
    ) {
        let single = format!(r#"{{"id":{id},"channel_id":{channel}}}"#);
        match read(&frame("MESSAGE_DELETE", &single)) {
            Some(Event::MessageDelete(e)) => {
                prop_assert_eq!(Some(e.message_id.get()), snowflake_value(&id), "{}", single);
                prop_assert_eq!(Some(e.channel_id.get()), snowflake_value(&channel));
            }
            // Refused, or (serenity's way with a payload it cannot read) an unknown event.
            None | Some(Event::Unknown(_)) => {}
            Some(other) => return Err(TestCaseError::fail(format!("{single} read as {other:?}"))),
        }
        let many = format!(r#"{{"ids":[{}],"channel_id":{channel}}}"#, bulk.join(","));
        match read(&frame("MESSAGE_DELETE_BULK", &many)) {
            Some(Event::MessageDeleteBulk(e)) => {
                let got: Vec<Option<u64>> = e.ids.iter().map(|i| Some(i.get())).collect();
                let want: Vec<Option<u64>> = bulk.iter().map(|b| snowflake_value(b)).collect();
                prop_assert_eq!(got, want, "{}", many);
            }
            // Refused, or (serenity's way with a payload it cannot read) an unknown event.
            None | Some(Event::Unknown(_)) => {}
            Some(other) => return Err(TestCaseError::fail(format!("{many} read as {other:?}"))),
        }
    }

    /// Random JSON as any message event, or under an event name nobody knows: no panic; a
    /// MESSAGE_CREATE that serenity reads converts to exactly its JSON's id, author and content;
    /// no other event name is read as a message event.
    #[test]
    fn random_payloads_never_panic_and_convert_faithfully(
        event in prop_oneof![
            3 => prop::sample::select(vec!["MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"]).prop_map(str::to_owned),
            1 => "[A-Z_]{1,24}",
        ],
        base in prop::option::of(created()),
        noise in prop::collection::btree_map(
            "[a-z_]{1,10}|id|channel_id|type|content|author|timestamp|message_reference|sticker_items|webhook_id",
            json_value(), 0..5),
    ) {
        let mut d = base.as_ref().map_or_else(|| json!({}), Created::payload);
        for (k, v) in noise {
            d[k] = v;
        }
        match read(&frame(&event, &d.to_string())) {
            Some(Event::MessageCreate(e)) => {
                prop_assert_eq!(event.as_str(), "MESSAGE_CREATE");
                let m = e.message;
                let _ = convert::from_customer(&m);
                let inbound = convert::inbound(&m, "t".into(), Vec::new());
                let id = |v: &Value| match v {
                    Value::String(s) => s.parse::<u64>().ok(),
                    v => v.as_u64(),
                };
                prop_assert_eq!(Some(inbound.message_id.parse::<u64>().unwrap()), id(&d["id"]));
                prop_assert_eq!(Some(inbound.sender.id.parse::<u64>().unwrap()), id(&d["author"]["id"]));
                let content = d["content"].as_str().unwrap_or("");
                prop_assert!(inbound.text.starts_with(content), "{:?} from {}", inbound.text, d);
                prop_assert_eq!(
                    inbound.text.len() > content.len(),
                    d["sticker_items"].as_array().is_some_and(|a| !a.is_empty()),
                    "only stickers add to the text"
                );
            }
            Some(Event::MessageUpdate(e)) => {
                prop_assert_eq!(event.as_str(), "MESSAGE_UPDATE");
                let edit = convert::edited(&e, "t".into(), Sender::new("9", "C"));
                prop_assert_eq!(edit.map(|i| i.text), e.content.clone());
            }
            Some(Event::MessageDelete(_)) => prop_assert_eq!(event.as_str(), "MESSAGE_DELETE"),
            Some(Event::MessageDeleteBulk(_)) => prop_assert_eq!(event.as_str(), "MESSAGE_DELETE_BULK"),
            // A payload serenity cannot read arrives as an unknown event: skipped, like other
            // events a random name may hit (READY, TYPING_START, ...).
            Some(_) | None => {}
        }
    }

    /// A support thread's name is "Support: <name>" cut to Discord's 100 characters.
    #[test]
    fn thread_names_fit_discord(c in created()) {
        let message = c.message();
        let name = convert::thread_name(&message.author);
        prop_assert!(name.chars().count() <= 100);
        let who = c.global_name.as_ref().unwrap_or(&c.username);
        let full = format!("Support: {who}");
        prop_assert!(full.starts_with(&name));
        prop_assert_eq!(name.chars().count(), full.chars().count().min(100));
    }

    /// A conversation answered in a support channel replies to that channel; `channel_of` never
    /// names channel 0 and reads only the part before the first ':'.
    #[test]
    fn thread_ids_round_trip(channel in snowflake(), customer in any::<u64>(), junk in "\\PC{0,30}") {
        prop_assert_eq!(convert::channel_of(&convert::in_channel_thread(channel, customer)), Some(channel));
        prop_assert_eq!(convert::channel_of(&channel.to_string()), Some(channel));
        if let Some(n) = convert::channel_of(&junk) {
            prop_assert!(n != 0);
            prop_assert_eq!(junk.split(':').next().and_then(|s| s.parse().ok()), Some(n));
        }
    }
}
