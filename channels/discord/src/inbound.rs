//! Inbound: serenity's gateway client feeds an ordered queue; one consumer routes each message
//! (DM, support channel, customer thread), downloads its files and commits it with the per-channel
//! cursor. After every READY or RESUMED the channels in the cursor are read back from their history
//! (after the last stored id) so messages posted while the bot was away are not lost; ingest is
//! idempotent on the message id, so none are stored twice.

use crate::DiscordChannel;
use crate::convert::{self, Place};
use crate::error::{THREAD_EXISTS, UNKNOWN_CHANNEL, code_of};
use serenity::all::{
    AutoArchiveDuration, ChannelType, ComponentInteraction, Context, CreateInteractionResponse,
    CreateThread, EventHandler, GatewayIntents, GetMessages, GuildChannel, Interaction, Message,
    MessageId, MessageUpdateEvent, PartialGuildChannel, Ready, ResumedEvent,
};
use serenity::client::ClientBuilder;
use serenity::model::channel::Channel as DiscordChannelModel;
use serenity::model::id::{ChannelId, GuildId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use switchboard_core::{
    AttachmentData, Change, ChannelError, Inbound, InboundAttachment, InboundSink,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Channels whose position the cursor keeps (the most recently active ones).
const CURSOR_CHANNELS: usize = 512;
/// History pages (of 100) read per channel after a reconnect.
const BACKFILL_PAGES: usize = 50;

/// What each channel id is, learned once per daemon run.
pub struct Routes {
    support: HashSet<u64>,
    places: Mutex<HashMap<u64, Place>>,
}

impl Routes {
    pub fn new(config: &crate::DiscordConfig) -> Self {
        Self {
            support: config.support_channel_ids().into_iter().collect(),
            places: Mutex::default(),
        }
    }
}

#[derive(Clone)]
enum Work {
    Create(Box<Message>),
    Update(Box<MessageUpdateEvent>),
    Delete {
        message: MessageId,
    },
    /// Connected (READY) or resumed: read what was missed.
    Backfill,
    /// A thread was deleted or changed (locked, moved): what we know of it is looked up again.
    Forget(u64),
    /// A customer pressed one of our buttons.
    Press(Box<ComponentInteraction>),
}

struct Handler {
    queue: mpsc::UnboundedSender<Work>,
}

// serenity runs each handler call in its own task; the unbounded send is immediate, so events
// reach the single consumer in gateway order.
#[serenity::async_trait]
impl EventHandler for Handler {
    async fn message(&self, _: Context, message: Message) {
        let _ = self.queue.send(Work::Create(Box::new(message)));
    }

    async fn message_update(
        &self,
        _: Context,
        _: Option<Message>,
        _: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        let _ = self.queue.send(Work::Update(Box::new(event)));
    }

    async fn message_delete(
        &self,
        _: Context,
        _: ChannelId,
        message: MessageId,
        _: Option<GuildId>,
    ) {
        let _ = self.queue.send(Work::Delete { message });
    }

    // A moderator purging messages: each is marked deleted like a single delete.
    async fn message_delete_bulk(
        &self,
        _: Context,
        _: ChannelId,
        messages: Vec<MessageId>,
        _: Option<GuildId>,
    ) {
        for message in messages {
            let _ = self.queue.send(Work::Delete { message });
        }
    }

    async fn thread_update(&self, _: Context, _: Option<GuildChannel>, thread: GuildChannel) {
        let _ = self.queue.send(Work::Forget(thread.id.get()));
    }

    async fn thread_delete(
        &self,
        _: Context,
        thread: PartialGuildChannel,
        _: Option<GuildChannel>,
    ) {
        let _ = self.queue.send(Work::Forget(thread.id.get()));
    }

    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        if let Interaction::Component(press) = interaction {
            let _ = self.queue.send(Work::Press(Box::new(press)));
        }
    }

    async fn ready(&self, _: Context, ready: Ready) {
        tracing::info!(bot = %ready.user.name, guilds = ready.guilds.len(), "discord gateway ready");
        let _ = self.queue.send(Work::Backfill);
    }

    async fn resume(&self, _: Context, _: ResumedEvent) {
        tracing::info!("discord gateway session resumed");
        let _ = self.queue.send(Work::Backfill);
    }
}

/// The channel cursor: `{"channels": {"<channel id>": <last stored message id>}}`, committed with
/// the messages, so history backfill survives restarts. Customers' threads are routes in the
/// store (`InboundSink::route`); cursors from before that still carry them in `threads`, which
/// are moved over on start.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Cursor {
    channels: BTreeMap<u64, u64>,
    #[serde(default, skip_serializing)]
    threads: BTreeMap<String, u64>,
}

/// The route key of a customer's thread under a support channel.
fn thread_key(support: u64, customer: u64) -> String {
    format!("thread:{support}:{customer}")
}

impl Cursor {
    fn advance(&mut self, channel: u64, message: u64) {
        let last = self.channels.entry(channel).or_default();
        *last = (*last).max(message);
        if self.channels.len() > CURSOR_CHANNELS {
            // Forget the channel quiet the longest (snowflakes grow with time).
            if let Some((&quiet, _)) = self.channels.iter().min_by_key(|(_, m)| **m) {
                self.channels.remove(&quiet);
            }
        }
    }
}

pub async fn run(
    channel: &DiscordChannel,
    sink: Arc<dyn InboundSink>,
    shutdown: CancellationToken,
) -> Result<(), ChannelError> {
    // Asked first and classified here: serenity would fall back to Discord's public gateway.
    let gateway = tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        gateway = channel.http.get_gateway() => gateway,
    };
    if let Err(e) = gateway {
        return Err(match crate::error::classify(e) {
            switchboard_core::SendError::Permanent { reason } => {
                ChannelError::Config(format!("{reason} (is the bot token right?)"))
            }
            other => ChannelError::Transient(format!("Discord gateway lookup: {other}")),
        });
    }
    let (queue, mut work) = mpsc::unbounded_channel();
    let intents = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT;
    let mut client = ClientBuilder::new_with_http(crate::http(&channel.config), intents)
        .event_handler(Handler { queue })
        .await
        .map_err(|e| ChannelError::Transient(format!("Discord client: {e}")))?;
    let shards = client.shard_manager.clone();
    let mut cursor: Cursor = sink
        .cursor()
        .await?
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or_default();
    adopt_cursor_threads(&mut cursor, sink.as_ref()).await?;
    let consume = async {
        while let Some(item) = work.recv().await {
            channel
                .handle_retrying(item, &mut cursor, sink.as_ref())
                .await?;
        }
        Ok::<(), ChannelError>(())
    };
    let result = tokio::select! {
        _ = shutdown.cancelled() => Ok(()),
        started = client.start() => match started {
            Err(serenity::Error::Gateway(
                serenity::gateway::GatewayError::DisallowedGatewayIntents
                | serenity::gateway::GatewayError::InvalidGatewayIntents,
            )) => Err(ChannelError::Config(
                "Discord refused the MESSAGE CONTENT intent: enable it in the developer portal \
                 (Bot → Privileged Gateway Intents → Message Content Intent)"
                    .into(),
            )),
            Err(serenity::Error::Gateway(serenity::gateway::GatewayError::InvalidAuthentication)) => {
                Err(ChannelError::Config("Discord rejected the bot token".into()))
            }
            Err(e) => Err(ChannelError::Transient(format!("Discord gateway: {e}"))),
            Ok(()) => Err(ChannelError::Transient("Discord gateway closed".into())),
        },
        consumed = consume => consumed,
    };
    shards.shutdown_all().await;
    result
}

/// Threads an older version kept in the cursor become routes; the next commit drops them.
async fn adopt_cursor_threads(
    cursor: &mut Cursor,
    sink: &dyn InboundSink,
) -> Result<(), ChannelError> {
    for (key, thread) in std::mem::take(&mut cursor.threads) {
        sink.set_route(&format!("thread:{key}"), Some(&thread.to_string()))
            .await?;
    }
    Ok(())
}

/// Tries of one gateway event against a failing store before the channel restarts.
const SINK_ATTEMPTS: u32 = 4;

impl DiscordChannel {
    /// A store hiccup (a busy or briefly unwritable database) must not cost a message: Discord
    /// will not send the event again, and the backfill after a restart only knows channels in the
    /// cursor, so a new customer's first DM would be gone. The event is tried a few times first.
    async fn handle_retrying(
        &self,
        work: Work,
        cursor: &mut Cursor,
        sink: &dyn InboundSink,
    ) -> Result<(), ChannelError> {
        let mut wait = std::time::Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self.handle(work.clone(), cursor, sink).await {
                Err(ChannelError::Sink(e)) if attempt < SINK_ATTEMPTS => {
                    tracing::warn!(channel = %self.config.name, attempt, error = %e,
                        "storing a Discord event failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    async fn handle(
        &self,
        work: Work,
        cursor: &mut Cursor,
        sink: &dyn InboundSink,
    ) -> Result<(), ChannelError> {
        match work {
            Work::Create(message) => self.store_new(&message, cursor, sink).await,
            Work::Update(event) => self.store_edit(&event, cursor, sink).await,
            Work::Delete { message } => {
                let Some((thread_id, sender)) =
                    sink.message_origin(&message.get().to_string()).await?
                else {
                    tracing::debug!(message = %message, "delete of a message we never stored");
                    return Ok(());
                };
                let deleted = Inbound {
                    change: Change::Deleted {
                        at: chrono::Utc::now(),
                    },
                    ..Inbound::text(thread_id, message.get().to_string(), sender, "")
                };
                sink.commit(vec![deleted], None).await?;
                Ok(())
            }
            Work::Backfill => self.backfill(cursor, sink).await,
            Work::Forget(thread) => {
                self.routes.places.lock().unwrap().remove(&thread);
                Ok(())
            }
            Work::Press(press) => self.store_press(&press, sink).await,
        }
    }

    /// A button press becomes the customer's message with the button's answer, in the
    /// conversation the button was posted to; then Discord is told it was received (without a
    /// new message: the answer to it goes out through the outbox).
    async fn store_press(
        &self,
        press: &ComponentInteraction,
        sink: &dyn InboundSink,
    ) -> Result<(), ChannelError> {
        let Some(answer) = convert::pressed_answer(&press.data.custom_id) else {
            tracing::debug!(custom_id = %press.data.custom_id, "a component that is not ours");
            return Ok(());
        };
        if press.user.bot {
            return Ok(());
        }
        let channel = press.channel_id.get();
        let thread_id = match self.place_of(press.channel_id, press.guild_id).await {
            Place::Dm | Place::Thread => channel.to_string(),
            Place::Support => convert::in_channel_thread(channel, press.user.id.get()),
            Place::Other => return Ok(()),
        };
        let inbound = Inbound {
            reply_to: Some(press.message.id.get().to_string()),
            // The interaction id is unique per press.
            ..Inbound::text(
                thread_id,
                format!("interaction:{}", press.id.get()),
                convert::sender(&press.user),
                answer,
            )
        };
        sink.commit(vec![inbound], None).await?;
        if let Err(e) = press
            .create_response(&self.http, CreateInteractionResponse::Acknowledge)
            .await
        {
            // Discord shows "interaction failed" to the customer; the answer is stored anyway.
            tracing::debug!(error = %e, "acknowledging a button press failed");
        }
        Ok(())
    }

    async fn store_new(
        &self,
        message: &Message,
        cursor: &mut Cursor,
        sink: &dyn InboundSink,
    ) -> Result<(), ChannelError> {
        if !convert::from_customer(message) {
            return Ok(());
        }
        let channel = message.channel_id.get();
        let thread_id = match self.place_of(message.channel_id, message.guild_id).await {
            Place::Dm | Place::Thread => channel.to_string(),
            Place::Support => match self.thread_for(message, sink).await? {
                Some(thread) => {
                    // A new thread's history starts here too: after a restart it is backfilled.
                    cursor.advance(thread, message.id.get());
                    thread.to_string()
                }
                // Could not open a thread (permissions): rather than lose the message, the
                // customer gets a conversation of their own answered in the channel itself.
                None => convert::in_channel_thread(channel, message.author.id.get()),
            },
            Place::Other => return Ok(()),
        };
        let attachments = self.download(&message.attachments).await;
        {
            let mut posted_in = self.posted_in.lock().unwrap();
            if posted_in.len() >= crate::POSTED_IN_LIMIT {
                posted_in.clear();
            }
            posted_in.insert(message.id.get(), channel);
        }
        let inbound = convert::inbound(message, thread_id, attachments);
        cursor.advance(channel, message.id.get());
        sink.commit(
            vec![inbound],
            Some(serde_json::to_string(cursor).expect("serializes")),
        )
        .await?;
        Ok(())
    }

    async fn store_edit(
        &self,
        event: &MessageUpdateEvent,
        cursor: &mut Cursor,
        sink: &dyn InboundSink,
    ) -> Result<(), ChannelError> {
        // Embeds unfurling also arrive as updates, without content: nothing was edited.
        if event.content.is_none() {
            return Ok(());
        }
        let id = event.id.get().to_string();
        let (thread_id, sender) = match sink.message_origin(&id).await? {
            Some(origin) => origin,
            None => match &event.author {
                Some(author) if !author.bot => {
                    let place = self.place_of(event.channel_id, event.guild_id).await;
                    if !matches!(place, Place::Dm | Place::Thread) {
                        return Ok(());
                    }
                    (event.channel_id.get().to_string(), convert::sender(author))
                }
                _ => return Ok(()),
            },
        };
        let Some(edited) = convert::edited(event, thread_id, sender) else {
            return Ok(());
        };
        cursor.advance(event.channel_id.get(), event.id.get());
        sink.commit(vec![edited], None).await?;
        Ok(())
    }

    /// Reads every remembered channel's history after its last stored message.
    async fn backfill(
        &self,
        cursor: &mut Cursor,
        sink: &dyn InboundSink,
    ) -> Result<(), ChannelError> {
        let positions: Vec<(u64, u64)> = cursor.channels.iter().map(|(c, m)| (*c, *m)).collect();
        let mut fetched = 0usize;
        for (channel, after) in positions {
            let mut after = after;
            for _ in 0..BACKFILL_PAGES {
                let page = ChannelId::new(channel)
                    .messages(
                        &self.http,
                        GetMessages::new().after(MessageId::new(after)).limit(100),
                    )
                    .await;
                let mut page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        // A deleted thread or lost access must not stop the others.
                        tracing::warn!(channel, error = %e, "history backfill skipped");
                        break;
                    }
                };
                page.sort_by_key(|m| m.id);
                let full = page.len() == 100;
                for message in &page {
                    after = after.max(message.id.get());
                    // Stored already (before a restart): routing it again could open a second
                    // thread for the same customer message.
                    if sink
                        .message_origin(&message.id.get().to_string())
                        .await?
                        .is_some()
                    {
                        continue;
                    }
                    self.store_new(message, cursor, sink).await?;
                }
                fetched += page.len();
                if !full {
                    break;
                }
            }
        }
        if fetched > 0 {
            tracing::info!(channel = %self.config.name, messages = fetched, "history backfilled");
        }
        Ok(())
    }

    async fn place_of(&self, channel: ChannelId, guild: Option<GuildId>) -> Place {
        let id = channel.get();
        if guild.is_none() {
            return Place::Dm;
        }
        if self.routes.support.contains(&id) {
            return Place::Support;
        }
        if let Some(place) = self.routes.places.lock().unwrap().get(&id) {
            return *place;
        }
        let place = match self.http.get_channel(channel).await {
            Ok(DiscordChannelModel::Guild(c)) => {
                convert::place_of_guild_channel(&c, &self.routes.support)
            }
            Ok(DiscordChannelModel::Private(_)) => Place::Dm,
            Ok(_) => Place::Other,
            Err(e) => {
                // Not cached: the next message asks again.
                tracing::warn!(channel = id, error = %e, "could not look up a channel");
                return Place::Other;
            }
        };
        self.routes.places.lock().unwrap().insert(id, place);
        place
    }

    /// Whether a thread remembered from earlier can still take the conversation: a moderator
    /// may have deleted or locked it meanwhile. Asked once per thread and daemon run; when
    /// Discord cannot say (network), the thread is kept rather than a second one opened.
    async fn thread_usable(&self, thread: u64) -> bool {
        if self.routes.places.lock().unwrap().get(&thread) == Some(&Place::Thread) {
            return true;
        }
        match self.http.get_channel(ChannelId::new(thread)).await {
            Ok(DiscordChannelModel::Guild(c)) if convert::thread_open(&c) => {
                let place = convert::place_of_guild_channel(&c, &self.routes.support);
                self.routes.places.lock().unwrap().insert(thread, place);
                place == Place::Thread
            }
            Ok(_) => false,
            Err(e) if code_of(&e) == Some(UNKNOWN_CHANNEL) => false,
            Err(e) => {
                tracing::warn!(thread, error = %e, "could not check a customer's thread");
                true
            }
        }
    }

    /// The customer's thread under a support channel: theirs if one is open, else a new one.
    async fn thread_for(
        &self,
        message: &Message,
        sink: &dyn InboundSink,
    ) -> Result<Option<u64>, ChannelError> {
        let support = message.channel_id;
        let customer = message.author.id.get();
        let key = thread_key(support.get(), customer);
        if let Some(thread) = sink.route(&key).await?.and_then(|t| t.parse::<u64>().ok()) {
            if self.thread_usable(thread).await {
                return Ok(Some(thread));
            }
            tracing::info!(
                thread,
                "the customer's thread is gone or locked: opening a new one"
            );
            sink.set_route(&key, None).await?;
        }
        let name = convert::thread_name(&message.author);
        let created = match self.config.thread_mode {
            crate::ThreadMode::Public => {
                let builder = CreateThread::new(name)
                    .kind(ChannelType::PublicThread)
                    .auto_archive_duration(AutoArchiveDuration::OneWeek);
                match support
                    .create_thread_from_message(&self.http, message.id, builder)
                    .await
                {
                    Ok(thread) => Ok(thread.id.get()),
                    // 160004: a thread already exists for this message (we opened it before a
                    // restart); a thread started from a message has the message's id.
                    Err(e) if code_of(&e) == Some(THREAD_EXISTS) => Ok(message.id.get()),
                    Err(e) => Err(e),
                }
            }
            crate::ThreadMode::Private => {
                let builder = CreateThread::new(name)
                    .kind(ChannelType::PrivateThread)
                    .invitable(false)
                    .auto_archive_duration(AutoArchiveDuration::OneWeek);
                match support.create_thread(&self.http, builder).await {
                    Ok(thread) => {
                        let id = thread.id;
                        if let Err(e) = id.add_thread_member(&self.http, message.author.id).await {
                            tracing::warn!(thread = %id, error = %e, "could not add the customer to their thread");
                        }
                        Ok(id.get())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match created {
            Ok(thread) => {
                // Remembered at once, before any message of it is stored: a restart in between
                // finds the same thread instead of opening a second one.
                sink.set_route(&key, Some(&thread.to_string())).await?;
                self.routes
                    .places
                    .lock()
                    .unwrap()
                    .insert(thread, Place::Thread);
                Ok(Some(thread))
            }
            Err(e) => {
                tracing::warn!(channel = %support, error = %e, "could not open a support thread");
                Ok(None)
            }
        }
    }

    async fn download(&self, files: &[serenity::all::Attachment]) -> Vec<InboundAttachment> {
        let mut out = Vec::with_capacity(files.len());
        for file in files {
            let content_type = file
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            let size = u64::from(file.size);
            let data = if size > self.config.max_attachment_bytes {
                AttachmentData::Missing {
                    note: format!(
                        "{} MB, over the {} MB download limit",
                        size.div_ceil(1 << 20),
                        self.config.max_attachment_bytes >> 20
                    ),
                    size: Some(size),
                }
            } else {
                match self.fetch(&file.url).await {
                    Ok(bytes) => AttachmentData::Bytes(bytes),
                    Err(e) => AttachmentData::Missing {
                        note: format!("download failed: {e}"),
                        size: Some(size),
                    },
                }
            };
            out.push(InboundAttachment {
                filename: file.filename.clone(),
                content_type,
                data,
            });
        }
        out
    }

    async fn fetch(&self, url: &str) -> Result<bytes::Bytes, reqwest::Error> {
        self.files
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::SinkError;

    /// A store that refuses the first `fail` commits, then keeps what it is given.
    #[derive(Default)]
    struct FlakySink {
        fail: Mutex<u32>,
        stored: Mutex<Vec<(Vec<Inbound>, Option<String>)>>,
        routes: Mutex<std::collections::HashMap<String, String>>,
    }

    #[async_trait::async_trait]
    impl InboundSink for FlakySink {
        async fn commit(
            &self,
            batch: Vec<Inbound>,
            cursor: Option<String>,
        ) -> Result<(), SinkError> {
            let mut fail = self.fail.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(SinkError("database is locked".into()));
            }
            self.stored.lock().unwrap().push((batch, cursor));
            Ok(())
        }

        async fn cursor(&self) -> Result<Option<String>, SinkError> {
            Ok(None)
        }

        async fn route(&self, key: &str) -> Result<Option<String>, SinkError> {
            Ok(self.routes.lock().unwrap().get(key).cloned())
        }

        async fn set_route(&self, key: &str, target: Option<&str>) -> Result<(), SinkError> {
            let mut routes = self.routes.lock().unwrap();
            match target {
                Some(t) => routes.insert(key.to_owned(), t.to_owned()),
                None => routes.remove(key),
            };
            Ok(())
        }
    }

    fn channel() -> DiscordChannel {
        let config: crate::DiscordConfig = serde_json::from_value(serde_json::json!({
            "name": "discord", "token": "MTIz.NDU2.Nzg5", "api_url": "http://127.0.0.1:9"
        }))
        .unwrap();
        DiscordChannel::new(config).unwrap()
    }

    fn first_dm() -> Box<Message> {
        Box::new(
            serde_json::from_value(serde_json::json!({
                "id": "1310000000000000100", "channel_id": "1310000000000000001", "type": 0,
                "content": "Hi, first time here", "timestamp": "2026-11-24T10:00:00.000000+00:00",
                "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
                "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "flags": 0,
                "author": {"id": "80351110224678912", "username": "carol", "discriminator": "0",
                           "avatar": null}
            }))
            .unwrap(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_hiccup_is_retried_and_a_lasting_failure_restarts_the_channel() {
        let channel = channel();
        let sink = FlakySink {
            fail: Mutex::new(2),
            ..Default::default()
        };
        let mut cursor = Cursor::default();
        channel
            .handle_retrying(Work::Create(first_dm()), &mut cursor, &sink)
            .await
            .unwrap();
        let stored = sink.stored.lock().unwrap().clone();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].0[0].text, "Hi, first time here");
        // The DM channel is in the committed cursor: a later backfill reads it.
        assert!(
            stored[0]
                .1
                .as_deref()
                .unwrap()
                .contains("1310000000000000001")
        );

        let broken = FlakySink {
            fail: Mutex::new(u32::MAX),
            ..Default::default()
        };
        let result = channel
            .handle_retrying(Work::Create(first_dm()), &mut Cursor::default(), &broken)
            .await;
        assert!(matches!(result, Err(ChannelError::Sink(_))));
        assert_eq!(*broken.fail.lock().unwrap(), u32::MAX - SINK_ATTEMPTS);
    }

    #[test]
    fn cursor_keeps_the_latest_per_channel_and_forgets_the_quietest() {
        let mut cursor = Cursor::default();
        cursor.advance(1, 10);
        cursor.advance(1, 5);
        assert_eq!(cursor.channels[&1], 10);
        for c in 2..=(CURSOR_CHANNELS as u64 + 1) {
            cursor.advance(c, 100 + c);
        }
        assert_eq!(cursor.channels.len(), CURSOR_CHANNELS);
        assert!(!cursor.channels.contains_key(&1));
        let text = serde_json::to_string(&cursor).unwrap();
        let back: Cursor = serde_json::from_str(&text).unwrap();
        assert_eq!(back.channels, cursor.channels);
        assert!(
            !text.contains("threads"),
            "threads are routes now, not cursor state"
        );
    }

    #[tokio::test]
    async fn threads_in_an_old_cursor_become_routes() {
        let sink = FlakySink::default();
        let mut cursor: Cursor =
            serde_json::from_str(r#"{"channels":{"1":2},"threads":{"7:8":9,"7:10":11}}"#).unwrap();
        adopt_cursor_threads(&mut cursor, &sink).await.unwrap();
        assert_eq!(
            sink.route(&thread_key(7, 8)).await.unwrap().as_deref(),
            Some("9")
        );
        assert_eq!(
            sink.route(&thread_key(7, 10)).await.unwrap().as_deref(),
            Some("11")
        );
        assert_eq!(
            serde_json::to_string(&cursor).unwrap(),
            r#"{"channels":{"1":2}}"#
        );
    }
}
