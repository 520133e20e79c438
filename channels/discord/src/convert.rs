//! Pure conversion of gateway payloads into normalized `Inbound` messages and routing facts (no
//! I/O), unit-tested against recorded JSON. Downloads and REST lookups happen in `inbound.rs`.

use serenity::all::{ChannelType, GuildChannel, Message, MessageType, MessageUpdateEvent, User};
use std::collections::HashSet;
use switchboard_core::{Change, Inbound, InboundAttachment, Sender};

/// What a channel id is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Dm,
    Support,
    /// A thread under a support channel: a customer's conversation.
    Thread,
    /// Anywhere else in a guild: not ours to read.
    Other,
}

/// A person's own words: not a bot's or a webhook's, not a system notice (joins, pins, "thread
/// created"), which Discord sends as messages of other types.
pub fn from_customer(message: &Message) -> bool {
    !message.author.bot
        && message.webhook_id.is_none()
        && matches!(
            message.kind,
            MessageType::Regular | MessageType::InlineReply
        )
}

/// What a guild channel is: a thread under one of the `support` channels is a customer's.
pub fn place_of_guild_channel(channel: &GuildChannel, support: &HashSet<u64>) -> Place {
    let thread = matches!(
        channel.kind,
        ChannelType::PublicThread | ChannelType::PrivateThread
    );
    let under_support = channel
        .parent_id
        .is_some_and(|p| support.contains(&p.get()));
    if thread && under_support {
        Place::Thread
    } else {
        Place::Other
    }
}

/// Whether the bot can still post in a thread it opened: a moderator may have locked it.
/// (An archived thread is fine: posting in it unarchives it.)
pub fn thread_open(channel: &GuildChannel) -> bool {
    !channel.thread_metadata.is_some_and(|m| m.locked)
}

/// The conversation of a customer in a support channel where no thread could be opened (the
/// bot lacks the permission): one per customer, answered in the channel itself.
pub fn in_channel_thread(channel: u64, customer: u64) -> String {
    format!("{channel}:{customer}")
}

/// The Discord channel a conversation's replies go to: the DM or thread itself, or the support
/// channel of an `in_channel_thread`.
pub fn channel_of(thread_id: &str) -> Option<u64> {
    let channel = thread_id.split(':').next()?.parse().ok()?;
    (channel != 0).then_some(channel)
}

/// A new customer message, in the conversation `thread_id` (the DM, the customer's thread).
pub fn inbound(
    message: &Message,
    thread_id: String,
    attachments: Vec<InboundAttachment>,
) -> Inbound {
    Inbound {
        thread_id,
        message_id: message.id.get().to_string(),
        sender: sender(&message.author),
        text: text_of(message),
        html: None,
        subject: None,
        attachments,
        sent_at: Some(*message.timestamp),
        reply_to: message
            .message_reference
            .as_ref()
            .and_then(|r| r.message_id)
            .map(|id| id.get().to_string()),
        change: Change::New,
        auto_generated: false,
        quiet: false,
        participants: Vec::new(),
    }
}

/// An edit of the message the event names, stored in `thread_id` as `sender`'s. Updates without
/// content are embeds unfurling, not edits: `None`.
pub fn edited(event: &MessageUpdateEvent, thread_id: String, sender: Sender) -> Option<Inbound> {
    let content = event.content.clone()?;
    let at = event
        .edited_timestamp
        .map(|t| *t)
        .unwrap_or_else(chrono::Utc::now);
    Some(Inbound {
        change: Change::Edited { at },
        ..Inbound::text(thread_id, event.id.get().to_string(), sender, content)
    })
}

/// The Discord user as a contact identity: the id is stable, the names are what agents see.
/// Our buttons' custom ids: this prefix, then the answer the press stands for.
pub const BUTTON_PREFIX: &str = "answer:";

/// The answer a pressed button of ours stands for.
pub fn pressed_answer(custom_id: &str) -> Option<&str> {
    custom_id
        .strip_prefix(BUTTON_PREFIX)
        .filter(|a| !a.trim().is_empty())
}

pub fn sender(user: &User) -> Sender {
    Sender {
        id: user.id.get().to_string(),
        display_name: user
            .global_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
        username: Some(user.name.clone()),
        language: None,
    }
}

/// The name of a customer's support thread (Discord allows 100 characters).
pub fn thread_name(user: &User) -> String {
    let who = user.global_name.as_deref().unwrap_or(&user.name);
    format!("Support: {who}").chars().take(100).collect()
}

/// The message's text; stickers, which have none, are named so the agent sees something.
fn text_of(message: &Message) -> String {
    let mut text = message.content.clone();
    for sticker in &message.sticker_items {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("[sticker: {}]", sticker.name));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A MESSAGE_CREATE payload as the gateway sends it (trimmed to the fields serenity needs).
    fn message(extra: Value) -> Message {
        let mut payload = json!({
            "id": "1310000000000000100", "channel_id": "1310000000000000001", "type": 0,
            "content": "My deposit has not arrived", "timestamp": "2026-11-24T10:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "flags": 0,
            "author": {"id": "80351110224678912", "username": "carol.c", "discriminator": "0",
                       "global_name": "Carol", "avatar": null}
        });
        payload
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(payload).unwrap()
    }

    fn channel(kind: u8, parent: Option<&str>, locked: bool) -> GuildChannel {
        serde_json::from_value(json!({
            "id": "1310000000000000050", "type": kind, "guild_id": "1310000000000000999",
            "parent_id": parent, "name": "Support: Carol", "position": 0,
            "permission_overwrites": [], "nsfw": false,
            "thread_metadata": {"archived": false, "auto_archive_duration": 10080,
                "archive_timestamp": "2026-11-24T10:00:00.000000+00:00", "locked": locked}
        }))
        .unwrap()
    }

    #[test]
    fn a_dm_keeps_the_users_ids_names_and_the_message_it_answers() {
        let m = message(json!({"type": 19, "message_reference": {
            "message_id": "1310000000000000090", "channel_id": "1310000000000000001"}}));
        assert!(from_customer(&m));
        let inbound = inbound(&m, "1310000000000000001".into(), Vec::new());
        assert_eq!(inbound.thread_id, "1310000000000000001");
        assert_eq!(inbound.message_id, "1310000000000000100");
        assert_eq!(inbound.sender.id, "80351110224678912");
        assert_eq!(inbound.sender.display_name, "Carol");
        assert_eq!(inbound.sender.username.as_deref(), Some("carol.c"));
        assert_eq!(inbound.reply_to.as_deref(), Some("1310000000000000090"));
        assert_eq!(inbound.text, "My deposit has not arrived");
        assert_eq!(
            inbound.sent_at.unwrap().to_rfc3339(),
            "2026-11-24T10:00:00+00:00"
        );
    }

    #[test]
    fn bots_webhooks_and_system_notices_are_not_customers() {
        let bot = message(json!({"author": {"id": "5", "username": "otherbot",
            "discriminator": "0", "avatar": null, "bot": true}}));
        assert!(!from_customer(&bot));
        let webhook = message(json!({"webhook_id": "77"}));
        assert!(!from_customer(&webhook));
        // 7: a member joined; 18: thread created.
        assert!(!from_customer(&message(json!({"type": 7}))));
        assert!(!from_customer(&message(json!({"type": 18}))));
    }

    #[test]
    fn stickers_are_named_and_users_without_a_display_name_keep_their_username() {
        let m = message(json!({"content": "", "sticker_items": [
            {"id": "1", "name": "thumbs up", "format_type": 1}],
            "author": {"id": "9", "username": "dave", "discriminator": "0", "avatar": null}}));
        let inbound = inbound(&m, "1".into(), Vec::new());
        assert_eq!(inbound.text, "[sticker: thumbs up]");
        assert_eq!(inbound.sender.display_name, "dave");
        assert_eq!(thread_name(&m.author), "Support: dave");
        let long = message(
            json!({"author": {"id": "9", "username": "d", "discriminator": "0",
            "avatar": null, "global_name": "x".repeat(200)}}),
        );
        assert_eq!(thread_name(&long.author).chars().count(), 100);
    }

    #[test]
    fn edits_carry_their_time_and_unfurled_embeds_are_not_edits() {
        let event: MessageUpdateEvent = serde_json::from_value(json!({
            "id": "1310000000000000100", "channel_id": "1310000000000000001",
            "content": "My deposit arrived, thanks",
            "edited_timestamp": "2026-11-24T10:05:00.000000+00:00"}))
        .unwrap();
        let edit = edited(&event, "1".into(), Sender::new("9", "Carol")).unwrap();
        assert_eq!(edit.text, "My deposit arrived, thanks");
        assert!(
            matches!(edit.change, Change::Edited { at } if at.to_rfc3339() == "2026-11-24T10:05:00+00:00")
        );
        let unfurl: MessageUpdateEvent = serde_json::from_value(json!({
            "id": "1310000000000000100", "channel_id": "1310000000000000001", "embeds": []}))
        .unwrap();
        assert_eq!(edited(&unfurl, "1".into(), Sender::new("9", "Carol")), None);
    }

    #[test]
    fn replies_go_to_the_thread_or_the_support_channel_of_an_in_channel_conversation() {
        assert_eq!(channel_of("1310000000000000001"), Some(1310000000000000001));
        let in_channel = in_channel_thread(1310000000000000002, 80351110224678912);
        assert_eq!(channel_of(&in_channel), Some(1310000000000000002));
        assert_eq!(channel_of("0"), None);
        assert_eq!(channel_of("general"), None);
    }

    #[test]
    fn only_threads_under_support_channels_are_conversations() {
        let support = HashSet::from([1310000000000000002]);
        let private = channel(12, Some("1310000000000000002"), false);
        assert_eq!(place_of_guild_channel(&private, &support), Place::Thread);
        let public = channel(11, Some("1310000000000000002"), false);
        assert_eq!(place_of_guild_channel(&public, &support), Place::Thread);
        let elsewhere = channel(11, Some("1310000000000000003"), false);
        assert_eq!(place_of_guild_channel(&elsewhere, &support), Place::Other);
        let text = channel(0, Some("1310000000000000002"), false);
        assert_eq!(place_of_guild_channel(&text, &support), Place::Other);
        assert!(thread_open(&private));
        assert!(!thread_open(&channel(
            12,
            Some("1310000000000000002"),
            true
        )));
    }
}
