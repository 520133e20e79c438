//! Pure conversion of Bot API updates into normalized `Inbound` messages (no I/O), unit-tested
//! against recorded JSON. File downloads are described here and fetched by `inbound.rs`.

use switchboard_core::{Change, Inbound, Sender};
use teloxide::types::{CallbackQuery, Message, Update, UpdateKind, User};

/// The bot itself, for group addressing rules.
#[derive(Debug, Clone)]
pub struct BotIdentity {
    pub id: u64,
    pub username: String,
}

/// A file the message carries, to be fetched with getFile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub file_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: Option<u64>,
}

/// What an update means for Switchboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Converted {
    Message {
        inbound: Box<Inbound>,
        files: Vec<FileRef>,
    },
    /// A press of one of our inline buttons: the customer's answer, and the query to answer
    /// (Telegram shows a spinner on the button until then).
    Pressed {
        inbound: Box<Inbound>,
        query_id: String,
    },
    /// Not for us (another update kind, a group message not addressed to the bot, a bot).
    Skip(&'static str),
}

/// Message ids are only unique inside a chat, so the external id carries the chat.
pub fn external_id(chat_id: i64, message_id: i32) -> String {
    format!("{chat_id}:{message_id}")
}

pub fn convert(update: &Update, bot: &BotIdentity) -> Converted {
    match &update.kind {
        UpdateKind::Message(m) => message(m, bot, Change::New),
        UpdateKind::EditedMessage(m) => {
            let at = m.edit_date().copied().unwrap_or(m.date);
            message(m, bot, Change::Edited { at })
        }
        UpdateKind::CallbackQuery(q) => pressed(q),
        UpdateKind::Error(_) => Skip("unknown update kind"),
        _ => Skip("update kind not handled"),
    }
}

use Converted::Skip;

fn sender(user: &User) -> Sender {
    Sender {
        id: user.id.0.to_string(),
        display_name: user.full_name(),
        username: user.username.clone(),
        language: user.language_code.clone(),
    }
}

fn message(m: &Message, bot: &BotIdentity, change: Change) -> Converted {
    let Some(user) = m.from.as_ref() else {
        return Skip("message without a sender");
    };
    if user.is_bot {
        return Skip("message from a bot");
    }
    let chat_id = m.chat.id.0;
    let thread_id = if m.chat.is_private() {
        chat_id.to_string()
    } else if m.chat.is_group() || m.chat.is_supergroup() {
        if !addressed_to_bot(m, bot) {
            return Skip("group message not addressed to the bot");
        }
        // One conversation per customer inside a group.
        format!("{chat_id}:{}", user.id.0)
    } else {
        return Skip("channel posts are not conversations");
    };
    let (text, files) = content(m);
    let inbound = Inbound {
        sent_at: Some(m.date),
        reply_to: m.reply_to_message().map(|r| external_id(chat_id, r.id.0)),
        change,
        ..Inbound::text(thread_id, external_id(chat_id, m.id.0), sender(user), text)
    };
    Converted::Message {
        inbound: Box::new(inbound),
        files,
    }
}

/// A button press becomes the customer's message with the button's text, in the conversation
/// of the chat (and, in a group, of the customer) the button was under.
fn pressed(q: &CallbackQuery) -> Converted {
    if q.from.is_bot {
        return Skip("button pressed by a bot");
    }
    let (Some(data), Some(message)) = (q.data.as_deref(), q.message.as_ref()) else {
        return Skip("button press without data or message");
    };
    let chat = message.chat();
    let thread_id = if chat.is_private() {
        chat.id.0.to_string()
    } else if chat.is_group() || chat.is_supergroup() {
        format!("{}:{}", chat.id.0, q.from.id.0)
    } else {
        return Skip("button press in a channel");
    };
    let inbound = Inbound {
        reply_to: Some(external_id(chat.id.0, message.id().0)),
        // The query id is unique per press: a redelivered update is a duplicate.
        ..Inbound::text(
            thread_id,
            format!("callback:{}", q.id.0),
            sender(&q.from),
            data,
        )
    };
    Converted::Pressed {
        inbound: Box::new(inbound),
        query_id: q.id.0.clone(),
    }
}

/// In groups only a mention of the bot, a command, or a reply to the bot opens a conversation.
fn addressed_to_bot(m: &Message, bot: &BotIdentity) -> bool {
    let text = m.text().or(m.caption()).unwrap_or("");
    let mention = format!("@{}", bot.username.to_lowercase());
    text.to_lowercase().contains(&mention)
        || text.starts_with('/')
        || m.reply_to_message()
            .and_then(|r| r.from.as_ref())
            .is_some_and(|u| u.id.0 == bot.id)
}

/// The text an agent reads, and the files to fetch.
fn content(m: &Message) -> (String, Vec<FileRef>) {
    let caption = m.caption().unwrap_or("").to_owned();
    let file =
        |id: &teloxide::types::FileId, name: String, mime: Option<String>, size: u32| FileRef {
            file_id: id.0.clone(),
            filename: name,
            content_type: mime.unwrap_or_else(|| "application/octet-stream".into()),
            size: Some(u64::from(size)),
        };
    if let Some(text) = m.text() {
        return (text.to_owned(), Vec::new());
    }
    if let Some(sizes) = m.photo() {
        // Telegram sends several sizes of one photo; keep the largest.
        let files = sizes
            .iter()
            .max_by_key(|p| p.width * p.height)
            .map(|p| {
                file(
                    &p.file.id,
                    format!("photo-{}.jpg", p.file.unique_id),
                    Some("image/jpeg".into()),
                    p.file.size,
                )
            })
            .into_iter()
            .collect();
        return (caption, files);
    }
    if let Some(d) = m.document() {
        let name = d
            .file_name
            .clone()
            .unwrap_or_else(|| format!("document-{}", d.file.unique_id));
        let mime = d.mime_type.as_ref().map(|m| m.to_string());
        return (caption, vec![file(&d.file.id, name, mime, d.file.size)]);
    }
    if let Some(v) = m.video() {
        let name = v
            .file_name
            .clone()
            .unwrap_or_else(|| format!("video-{}.mp4", v.file.unique_id));
        let mime = v.mime_type.as_ref().map(|m| m.to_string());
        return (caption, vec![file(&v.file.id, name, mime, v.file.size)]);
    }
    if let Some(v) = m.voice() {
        let mime = v
            .mime_type
            .as_ref()
            .map(|m| m.to_string())
            .or(Some("audio/ogg".into()));
        return (
            caption,
            vec![file(
                &v.file.id,
                format!("voice-{}.ogg", v.file.unique_id),
                mime,
                v.file.size,
            )],
        );
    }
    if let Some(a) = m.audio() {
        let name = a
            .file_name
            .clone()
            .unwrap_or_else(|| format!("audio-{}", a.file.unique_id));
        let mime = a.mime_type.as_ref().map(|m| m.to_string());
        return (caption, vec![file(&a.file.id, name, mime, a.file.size)]);
    }
    if let Some(a) = m.animation() {
        let name = a
            .file_name
            .clone()
            .unwrap_or_else(|| format!("animation-{}.mp4", a.file.unique_id));
        let mime = a.mime_type.as_ref().map(|m| m.to_string());
        return (caption, vec![file(&a.file.id, name, mime, a.file.size)]);
    }
    if let Some(s) = m.sticker() {
        let text = match &s.emoji {
            Some(emoji) => format!("[sticker {emoji}]"),
            None => "[sticker]".to_owned(),
        };
        return (text, Vec::new());
    }
    if let Some(l) = m.location() {
        return (
            format!("[location {:.6}, {:.6}]", l.latitude, l.longitude),
            Vec::new(),
        );
    }
    if let Some(c) = m.contact() {
        let name = [c.first_name.as_str(), c.last_name.as_deref().unwrap_or("")].join(" ");
        return (
            format!("[contact {} {}]", name.trim(), c.phone_number),
            Vec::new(),
        );
    }
    if caption.is_empty() {
        ("[unsupported message type]".to_owned(), Vec::new())
    } else {
        (caption, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bot() -> BotIdentity {
        BotIdentity {
            id: 999,
            username: "Wallet_Bot".into(),
        }
    }

    /// Through text, as from the wire: teloxide's `Update` does not deserialize from a `Value`.
    fn update(kind: &str, message: serde_json::Value) -> Update {
        serde_json::from_str(&json!({ "update_id": 1, kind: message }).to_string()).unwrap()
    }

    fn private(extra: serde_json::Value) -> serde_json::Value {
        let mut m = json!({
            "message_id": 7, "date": 1_790_000_000,
            "chat": { "id": 42, "type": "private", "first_name": "Ann" },
            "from": { "id": 42, "is_bot": false, "first_name": "Ann", "last_name": "Lee",
                      "username": "ann", "language_code": "de" }
        });
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m
    }

    fn converted(u: &Update) -> (Inbound, Vec<FileRef>) {
        match convert(u, &bot()) {
            Converted::Message { inbound, files } => (*inbound, files),
            Converted::Pressed { .. } => panic!("a press, not a message"),
            Converted::Skip(why) => panic!("skipped: {why}"),
        }
    }

    #[test]
    fn private_text_keeps_sender_identity_and_chat_scoped_ids() {
        let (m, files) = converted(&update("message", private(json!({ "text": "Hallo" }))));
        assert_eq!(m.thread_id, "42");
        assert_eq!(m.message_id, "42:7");
        assert_eq!(m.text, "Hallo");
        assert_eq!(m.sender.display_name, "Ann Lee");
        assert_eq!(m.sender.username.as_deref(), Some("ann"));
        assert_eq!(m.sender.language.as_deref(), Some("de"));
        assert_eq!(m.sent_at.unwrap().timestamp(), 1_790_000_000);
        assert!(files.is_empty());
    }

    #[test]
    fn edits_carry_their_edit_time_and_replies_their_target() {
        let u = update(
            "edited_message",
            private(json!({ "text": "fixed", "edit_date": 1_790_000_060,
                "reply_to_message": { "message_id": 3, "date": 1, "chat": { "id": 42, "type": "private", "first_name": "Ann" }, "text": "x" } })),
        );
        let (m, _) = converted(&u);
        assert!(matches!(m.change, Change::Edited { at } if at.timestamp() == 1_790_000_060));
        assert_eq!(m.reply_to.as_deref(), Some("42:3"));
    }

    #[test]
    fn media_keeps_the_largest_photo_and_describes_what_has_no_file() {
        let photo = private(json!({ "caption": "receipt", "photo": [
            { "file_id": "s", "file_unique_id": "1", "width": 90, "height": 90, "file_size": 1 },
            { "file_id": "l", "file_unique_id": "2", "width": 800, "height": 600, "file_size": 9 } ] }));
        let (m, files) = converted(&update("message", photo));
        assert_eq!(m.text, "receipt");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].file_id, "l");
        let location = private(json!({ "location": { "latitude": 52.52, "longitude": 13.405 } }));
        assert_eq!(
            converted(&update("message", location)).0.text,
            "[location 52.520000, 13.405000]"
        );
        let contact =
            private(json!({ "contact": { "phone_number": "+4912345", "first_name": "Bob" } }));
        assert_eq!(
            converted(&update("message", contact)).0.text,
            "[contact Bob +4912345]"
        );
    }

    #[test]
    fn group_messages_count_only_when_addressed_to_the_bot() {
        let group = |text: &str| {
            json!({ "message_id": 9, "date": 1, "chat": { "id": -100, "type": "group", "title": "G" },
                    "from": { "id": 5, "is_bot": false, "first_name": "Eve" }, "text": text })
        };
        assert!(matches!(
            convert(&update("message", group("hello all")), &bot()),
            Converted::Skip(_)
        ));
        let (m, _) = converted(&update("message", group("@wallet_bot help")));
        assert_eq!(
            m.thread_id, "-100:5",
            "one conversation per customer in a group"
        );
        assert!(matches!(
            converted(&update("message", group("/start"))).0.change,
            Change::New
        ));
    }

    #[test]
    fn bots_and_unknown_update_kinds_are_skipped() {
        let mut from_bot = private(json!({ "text": "beep" }));
        from_bot["from"]["is_bot"] = json!(true);
        assert!(matches!(
            convert(&update("message", from_bot), &bot()),
            Converted::Skip(_)
        ));
        let unknown: Update =
            serde_json::from_str(r#"{ "update_id": 2, "brand_new_kind": { "x": 1 } }"#).unwrap();
        assert!(matches!(convert(&unknown, &bot()), Converted::Skip(_)));
    }

    #[test]
    fn a_button_press_is_the_customers_answer_in_their_conversation() {
        let press = |chat: serde_json::Value, from_bot: bool| {
            json!({
                "id": "q-77",
                "from": { "id": 42, "is_bot": from_bot, "first_name": "Ann" },
                "message": {
                    "message_id": 9, "date": 1_790_000_000, "chat": chat,
                    "from": { "id": 999, "is_bot": true, "first_name": "Bot" },
                    "text": "How would you rate us?"
                },
                "chat_instance": "c-1",
                "data": "4"
            })
        };
        let private_chat = json!({ "id": 42, "type": "private", "first_name": "Ann" });
        let Converted::Pressed { inbound, query_id } = convert(
            &update("callback_query", press(private_chat.clone(), false)),
            &bot(),
        ) else {
            panic!("a press is an answer");
        };
        assert_eq!(query_id, "q-77");
        assert_eq!(
            (
                inbound.thread_id.as_str(),
                inbound.message_id.as_str(),
                inbound.text.as_str()
            ),
            ("42", "callback:q-77", "4")
        );
        assert_eq!(inbound.reply_to.as_deref(), Some("42:9"));
        assert_eq!(inbound.sender.id, "42");
        let group = json!({ "id": -100, "type": "supergroup", "title": "Wallet users" });
        let Converted::Pressed { inbound, .. } =
            convert(&update("callback_query", press(group, false)), &bot())
        else {
            panic!("a press in a group is the presser's answer");
        };
        assert_eq!(inbound.thread_id, "-100:42");
        assert!(matches!(
            convert(&update("callback_query", press(private_chat, true)), &bot()),
            Converted::Skip(_)
        ));
    }
}

/// What is left of a getUpdates answer teloxide could not parse as a whole: the updates that do
/// parse (lone UTF-16 surrogates, which JSON allows but Rust strings do not, become U+FFFD), and
/// the offset past every update in it, so one malformed update is skipped (and logged) instead
/// of being fetched again forever. `None` when not even the update ids can be read.
pub fn salvage_updates(raw: &str) -> Option<(Vec<Update>, i32)> {
    let answer: serde_json::Value = serde_json::from_str(&replace_lone_surrogates(raw)).ok()?;
    let results = answer.get("result")?.as_array()?;
    let mut updates = Vec::with_capacity(results.len());
    let mut last: Option<i64> = None;
    for value in results {
        let id = value.get("update_id").and_then(serde_json::Value::as_i64)?;
        last = Some(last.map_or(id, |l| l.max(id)));
        // From text, as teloxide reads it: its Update does not deserialize from a `Value`.
        match serde_json::from_str::<Update>(&value.to_string()) {
            Ok(update) => updates.push(update),
            Err(e) => {
                tracing::warn!(update_id = id, error = %e, "unreadable Telegram update skipped")
            }
        }
    }
    let next = i32::try_from(last?).map_or(i32::MAX, |id| id.saturating_add(1));
    Some((updates, next))
}

/// Rewrites `\uXXXX` escapes of lone surrogates in JSON text as `\ufffd`; pairs stay.
fn replace_lone_surrogates(json: &str) -> std::borrow::Cow<'_, str> {
    fn escape_at(b: &[u8], i: usize) -> Option<u16> {
        let hex = b.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    }
    let b = json.as_bytes();
    if !json.contains("\\u") {
        return json.into();
    }
    let mut out = String::with_capacity(json.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match escape_at(b, i) {
            Some(high @ 0xD800..=0xDBFF)
                if escape_at(b, i + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) =>
            {
                let _ = high;
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.push_str(&json[copied..i]);
                out.push_str("\\ufffd");
                i += 6;
                copied = i;
            }
            // Any other escape (`\\`, `\"`, `\n`, a plain `\uXXXX`) is skipped whole.
            _ => i += 2,
        }
    }
    out.push_str(&json[copied..]);
    out.into()
}

#[cfg(test)]
mod salvage_tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        assert_eq!(replace_lone_surrogates(r#""a\ud800b""#), r#""a\ufffdb""#);
        assert_eq!(
            replace_lone_surrogates(r#""\ud83d\ude00""#),
            r#""\ud83d\ude00""#
        );
        assert_eq!(
            replace_lone_surrogates(r#""\\ud800""#),
            r#""\\ud800""#,
            "an escaped backslash"
        );
        assert_eq!(
            replace_lone_surrogates(r#""\udc00\ud800""#),
            r#""\ufffd\ufffd""#
        );
    }

    #[test]
    fn an_unreadable_update_is_skipped_and_the_offset_moves_past_it() {
        let raw = r#"{"ok":true,"result":[
            {"update_id":7,"message":{"message_id":1,"date":1790000000,
             "chat":{"id":42,"type":"private","first_name":"Ann"},
             "from":{"id":42,"is_bot":false,"first_name":"Ann"},"text":"hi \ud800 there"}},
            {"update_id":8,"message":{"message_id":"not a number"}}]}"#;
        let (updates, next) = salvage_updates(raw).unwrap();
        assert_eq!(next, 9);
        // teloxide reads what it cannot parse as an unknown kind (`UpdateKind::Error`), which
        // converts to a skip; the message next to it is kept.
        assert!(!matches!(
            updates.last().unwrap().kind,
            UpdateKind::Message(_)
        ));
        let UpdateKind::Message(message) = &updates[0].kind else {
            panic!("a message: {:?}", updates[0].kind)
        };
        assert_eq!(message.text(), Some("hi \u{fffd} there"));
        assert!(salvage_updates("not json").is_none());
    }
}
