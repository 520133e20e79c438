//! The IMAP loop: catch up from the committed UID, then IDLE (or poll) until the mailbox changes,
//! catch up again. Mails are fetched with BODY.PEEK, committed together with the new
//! `UIDVALIDITY:UID` cursor, and only then flagged `\Seen`. Any failure ends the session; the
//! supervisor reconnects with backoff and the cursor makes the catch-up exact.

use crate::EmailChannel;
use crate::convert::{self, ParsedMail};
use crate::imap::{self, Session, timed};
use crate::thread;
use futures_util::TryStreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use switchboard_core::{
    AttachmentData, ChannelError, Inbound, InboundAttachment, InboundSink, Sender,
};
use tokio_util::sync::CancellationToken;

/// A fetch is split so one round trip carries at most this many mails or bytes.
const FETCH_MAILS: usize = 50;
const FETCH_BYTES: u64 = 32 * 1024 * 1024;

/// `v1:<uidvalidity>:<last stored uid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub validity: u32,
    pub uid: u32,
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix("v1:")?.split(':');
        let validity = parts.next()?.parse().ok()?;
        let uid = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self { validity, uid })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v1:{}:{}", self.validity, self.uid)
    }
}

pub async fn run(
    channel: &EmailChannel,
    sink: Arc<dyn InboundSink>,
    shutdown: CancellationToken,
) -> Result<(), ChannelError> {
    let config = &channel.config.imap;
    let opened = tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        opened = imap::open(config, &channel.imap_tls) => opened?,
    };
    let (mut session, mailbox, idle) = opened;
    let validity = mailbox
        .uid_validity
        .ok_or_else(|| imap::transient("SELECT", "the server sent no UIDVALIDITY"))?;
    // Mail read on a first sync (or a resync) is history: it is stored but not answered.
    let mut live = false;
    let mut cursor = match sink.cursor().await?.as_deref().and_then(Cursor::parse) {
        Some(c) if c.validity == validity => {
            live = true;
            c
        }
        previous => {
            // A new mailbox or one the server renumbered: read it all again. Mails already stored
            // are recognised by Message-ID, so nothing is stored twice.
            if let Some(previous) = previous {
                tracing::warn!(channel = %channel.config.name, old = previous.validity, new = validity,
                    "UIDVALIDITY changed: resynchronising the mailbox");
            }
            Cursor { validity, uid: 0 }
        }
    };
    tracing::info!(channel = %channel.config.name, mailbox = %config.mailbox, idle, %cursor,
        "IMAP mailbox selected");
    let updates = session.unsolicited_responses.clone();
    loop {
        while updates.try_recv().is_ok() {}
        cursor = catch_up(
            channel,
            &mut session,
            cursor,
            live,
            sink.as_ref(),
            &shutdown,
        )
        .await?;
        live = true;
        if shutdown.is_cancelled() {
            let _ = timed(config.timeout, "LOGOUT", session.logout()).await;
            return Ok(());
        }
        if !idle {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(config.poll_interval) => {}
            }
            continue;
        }
        let mut handle = session.idle();
        timed(config.timeout, "IDLE", handle.init()).await?;
        // Mail that arrived after the catch-up but before IDLE began is announced before
        // the server's continuation; async-imap files it with the unsolicited responses.
        let pending = updates.try_recv().is_ok();
        if !pending {
            let (wait, _stop) = handle.wait_with_timeout(config.idle_refresh);
            let woke = tokio::select! {
                _ = shutdown.cancelled() => None,
                woke = wait => Some(woke),
            };
            match woke {
                None => return Ok(()),
                Some(Err(e)) => return Err(imap::transient("IDLE", e)),
                Some(Ok(why)) => {
                    let why = match why {
                        async_imap::extensions::idle::IdleResponse::NewData(_) => "mailbox changed",
                        async_imap::extensions::idle::IdleResponse::Timeout => "refresh",
                        async_imap::extensions::idle::IdleResponse::ManualInterrupt => "ended",
                    };
                    tracing::debug!(channel = %channel.config.name, why, "IDLE woke up");
                }
            }
        }
        session = timed(config.timeout, "DONE", handle.done()).await?;
    }
}

/// Fetches every mail above `cursor`, commits them in size-bounded batches with the advancing
/// cursor, and returns the cursor after the last one.
async fn catch_up(
    channel: &EmailChannel,
    session: &mut Session,
    mut cursor: Cursor,
    live: bool,
    sink: &dyn InboundSink,
    shutdown: &CancellationToken,
) -> Result<Cursor, ChannelError> {
    let config = &channel.config.imap;
    let limit = config.timeout;
    // `n:*` always matches the highest UID even when it is below n: filter.
    let range = format!("{}:*", cursor.uid + 1);
    let sizes: Vec<(u32, u64)> = timed(limit, "FETCH sizes", async {
        let stream = session.uid_fetch(&range, "(UID RFC822.SIZE)").await?;
        let fetched: Vec<_> = stream.try_collect().await?;
        Ok::<_, async_imap::error::Error>(
            fetched
                .iter()
                .filter_map(|f| Some((f.uid?, u64::from(f.size.unwrap_or(0)))))
                .filter(|(uid, _)| *uid > cursor.uid)
                .collect(),
        )
    })
    .await?;
    let mut sizes = sizes;
    sizes.sort_unstable();
    sizes.dedup_by_key(|(uid, _)| *uid);
    for chunk in chunks(&sizes) {
        if shutdown.is_cancelled() {
            break;
        }
        let mut raw: Vec<(u32, Vec<u8>, Option<u64>)> = Vec::with_capacity(chunk.len());
        let (small, big): (Vec<_>, Vec<_>) = chunk
            .iter()
            .partition(|(_, size)| *size <= config.max_message_bytes);
        for (set, query, oversize) in [
            (small, "(UID BODY.PEEK[])", false),
            (big, "(UID BODY.PEEK[HEADER])", true),
        ] {
            if set.is_empty() {
                continue;
            }
            let uids = set
                .iter()
                .map(|(uid, _)| uid.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let bytes: Vec<(u32, Vec<u8>)> = timed(limit * 4, "FETCH bodies", async {
                let stream = session.uid_fetch(&uids, query).await?;
                let fetched: Vec<_> = stream.try_collect().await?;
                Ok::<_, async_imap::error::Error>(
                    fetched
                        .iter()
                        .filter_map(|f| {
                            let body = if oversize { f.header() } else { f.body() };
                            Some((f.uid?, body.unwrap_or_default().to_vec()))
                        })
                        .collect(),
                )
            })
            .await?;
            for (uid, bytes) in bytes {
                let size = set.iter().find(|(u, _)| *u == uid).map(|(_, s)| *s);
                raw.push((uid, bytes, oversize.then_some(size).flatten()));
            }
        }
        raw.sort_by_key(|(uid, ..)| *uid);
        let last = chunk.last().map(|(uid, _)| *uid).unwrap_or(cursor.uid);
        let mut batch = channel.to_batch(&raw, sink).await?;
        if !live {
            // Mail read on a first sync (or a resync) is history: stored, never answered.
            batch.iter_mut().for_each(|inbound| inbound.quiet = true);
        }
        let next = Cursor {
            validity: cursor.validity,
            uid: last,
        };
        sink.commit(batch, Some(next.to_string())).await?;
        cursor = next;
        if config.mark_seen {
            let uids = chunk
                .iter()
                .map(|(uid, _)| uid.to_string())
                .collect::<Vec<_>>()
                .join(",");
            // Cosmetic for people reading the mailbox: the cursor, not the flag, is the truth.
            let flagged = timed(limit, "STORE \\Seen", async {
                let stream = session.uid_store(&uids, "+FLAGS.SILENT (\\Seen)").await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await;
            if let Err(e) = flagged {
                tracing::warn!(channel = %channel.config.name, error = %e, "could not flag mail seen");
            }
        }
    }
    Ok(cursor)
}

fn chunks(sizes: &[(u32, u64)]) -> Vec<&[(u32, u64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, (_, size)) in sizes.iter().enumerate() {
        if i > start && (i - start >= FETCH_MAILS || bytes + size > FETCH_BYTES) {
            out.push(&sizes[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(&sizes[start..]);
    }
    out
}

/// The threads of the mails earlier in a batch (not committed yet, so the store cannot tell).
#[derive(Default)]
struct BatchThreads {
    /// Message-ID → thread.
    by_message: HashMap<String, String>,
    /// Thread → the people on it.
    people: HashMap<String, HashSet<String>>,
}

impl BatchThreads {
    fn add(&mut self, inbound: &Inbound) {
        self.by_message
            .insert(inbound.message_id.clone(), inbound.thread_id.clone());
        let people = self.people.entry(inbound.thread_id.clone()).or_default();
        people.insert(inbound.sender.id.clone());
        people.extend(inbound.participants.iter().cloned());
    }

    /// The thread of a cited mail, if `sender` is one of its people.
    fn thread_for(&self, cited: &str, sender: &str) -> Option<&String> {
        let thread = self.by_message.get(cited)?;
        self.people
            .get(thread)
            .is_some_and(|p| p.contains(sender))
            .then_some(thread)
    }
}

/// A mail Cc-ing more people than this adds only the first ones to its conversation: replies
/// must not become a way to mail crowds.
const MAX_PARTICIPANTS: usize = 10;

/// What became of one fetched mail.
enum Outcome {
    Store(Box<Inbound>),
    /// Our own outgoing mail, or a bounce recorded on the message it bounced.
    Skip(&'static str),
}

impl EmailChannel {
    /// Converts fetched mails in UID order, threading each against the ones before it in the
    /// batch and against the store.
    async fn to_batch(
        &self,
        raw: &[(u32, Vec<u8>, Option<u64>)],
        sink: &dyn InboundSink,
    ) -> Result<Vec<Inbound>, ChannelError> {
        let mut seen = BatchThreads::default();
        let mut batch = Vec::with_capacity(raw.len());
        for (uid, bytes, oversize) in raw {
            match self.convert(bytes, *oversize, &seen, sink).await? {
                Outcome::Store(inbound) => {
                    seen.add(&inbound);
                    batch.push(*inbound);
                }
                Outcome::Skip(why) => {
                    tracing::info!(channel = %self.config.name, uid, why, "mail not stored");
                }
            }
        }
        Ok(batch)
    }

    async fn convert(
        &self,
        raw: &[u8],
        oversize: Option<u64>,
        seen: &BatchThreads,
        sink: &dyn InboundSink,
    ) -> Result<Outcome, ChannelError> {
        let mail = convert::parse(raw);
        let (address, name) = mail
            .from
            .clone()
            .unwrap_or_else(|| (UNKNOWN_SENDER.into(), "Unknown sender".into()));
        if self.is_ours(&address)
            || thread::conversation_of(&mail.message_id, self.thread_secret()).is_some()
        {
            return Ok(Outcome::Skip("our own outgoing mail"));
        }
        if let Some(original) = &mail.bounce_of {
            let reason = bounce_reason(raw, &mail);
            if sink.mark_failed(original, &reason).await? {
                return Ok(Outcome::Skip("bounce recorded on the outbound message"));
            }
        }
        let thread_id = self.thread_of(&mail, &address, seen, sink).await?;
        let mut attachments = mail.attachments.clone();
        let mut text = if mail.text.trim().is_empty() {
            mail.full_text.trim().to_owned()
        } else {
            mail.text.clone()
        };
        match oversize {
            Some(size) => {
                text = format!(
                    "{text}\n\n[This mail is {} MB, over the configured limit: only its headers \
                     were fetched. It is still in the mailbox.]",
                    size.div_ceil(1024 * 1024)
                )
                .trim()
                .to_owned();
            }
            // The original as received: the full quoted history, every header (phishing
            // reports), and whatever the decoder could not make sense of.
            None => attachments.push(InboundAttachment {
                filename: "original.eml".into(),
                content_type: "message/rfc822".into(),
                data: AttachmentData::Bytes(bytes::Bytes::copy_from_slice(raw)),
            }),
        }
        // The people on the mail join its conversation; robots add nobody.
        let mut participants: Vec<String> = Vec::new();
        if !mail.auto_generated && address != UNKNOWN_SENDER {
            for person in std::iter::once(&address).chain(&mail.recipients) {
                if !self.is_ours(person) && !participants.contains(person) {
                    participants.push(person.clone());
                }
            }
            participants.truncate(MAX_PARTICIPANTS);
        }
        // Mail of no readable sender cannot be answered.
        let quiet = address == UNKNOWN_SENDER;
        Ok(Outcome::Store(Box::new(Inbound {
            thread_id,
            message_id: mail.message_id.clone(),
            sender: Sender::new(address, name),
            text,
            html: mail.html.clone(),
            subject: mail.subject.clone(),
            attachments,
            sent_at: mail.sent_at,
            reply_to: mail.in_reply_to.first().cloned(),
            change: switchboard_core::Change::New,
            auto_generated: mail.auto_generated,
            quiet,
            participants,
        })))
    }

    /// The conversation a mail continues, if its sender is one of that conversation's people
    /// (its contact, or someone a mail of it was addressed to); otherwise it starts its own
    /// thread, named by its Message-ID.
    async fn thread_of(
        &self,
        mail: &ParsedMail,
        sender: &str,
        seen: &BatchThreads,
        sink: &dyn InboundSink,
    ) -> Result<String, ChannelError> {
        // The most recent reference first: In-Reply-To, then References from the end.
        let mut cited: Vec<String> = mail.in_reply_to.clone();
        for id in mail.references.iter().rev() {
            if !cited.contains(id) {
                cited.push(id.clone());
            }
        }
        cited.retain(|id| !id.is_empty() && *id != mail.message_id);
        for id in &cited {
            if let Some(thread) = seen.thread_for(id, sender) {
                return Ok(thread.clone());
            }
        }
        let conversations: Vec<i64> = cited
            .iter()
            .filter_map(|id| thread::conversation_of(id, self.thread_secret()))
            .collect();
        if let Some(thread) = sink.find_thread(sender, &cited, &conversations).await? {
            return Ok(thread);
        }
        Ok(mail.message_id.clone())
    }
}

const UNKNOWN_SENDER: &str = "unknown-sender@switchboard.invalid";

/// Why a bounce says the mail failed: the DSN's Diagnostic-Code or Status, else its first lines.
fn bounce_reason(raw: &[u8], mail: &ParsedMail) -> String {
    let text = String::from_utf8_lossy(raw);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| {
                let (key, value) = l.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .filter(|v| !v.is_empty())
    };
    let detail = field("Diagnostic-Code")
        .or_else(|| field("Status").map(|s| format!("status {s}")))
        .unwrap_or_else(|| {
            let summary: String = mail
                .full_text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            summary.chars().take(300).collect()
        });
    format!("bounced: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_other_shapes() {
        let c = Cursor {
            validity: 1700000000,
            uid: 42,
        };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        assert_eq!(Cursor::parse("1700000000:42"), None);
        assert_eq!(Cursor::parse("v1:1:2:3"), None);
        assert_eq!(Cursor::parse("v1:x:2"), None);
    }

    #[test]
    fn fetches_are_bounded_by_count_and_bytes() {
        let many: Vec<(u32, u64)> = (1..=120).map(|u| (u, 1000)).collect();
        let sizes: Vec<usize> = chunks(&many).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [50, 50, 20]);
        let big = [(1, 20 << 20), (2, 20 << 20), (3, 100 << 20), (4, 1)];
        let sizes: Vec<usize> = chunks(&big).iter().map(|c| c.len()).collect();
        // A mail above the byte budget still goes, alone.
        assert_eq!(sizes, [1, 1, 1, 1]);
        assert!(chunks(&[]).is_empty());
    }
}
