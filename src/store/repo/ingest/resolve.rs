//! Id resolution: the senders' identities and contacts, and the conversations, found or
//! created in bulk for a group, with caches that survive only committed groups.

use super::*;

/// A sender's identity as the writer remembers it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct IdentityInfo {
    pub(super) id: i64,
    pub(super) contact_id: i64,
    pub(super) contact_name: String,
    pub(super) display_name: String,
    pub(super) username: Option<String>,
    pub(super) language: Option<String>,
}

pub(super) type Key = (Arc<str>, String);

/// Id lookups the writer need not repeat. Entries made inside a transaction are staged and only
/// become visible for later groups once it committed; a rollback forgets them.
#[derive(Default)]
pub(super) struct Caches {
    pub(super) identities: HashMap<Key, IdentityInfo>,
    pub(super) conversations: HashMap<Key, i64>,
    pub(super) staged_identities: HashMap<Key, IdentityInfo>,
    pub(super) staged_conversations: HashMap<Key, i64>,
    /// The store's merge generation these identities were read at.
    pub(super) generation: i64,
}

/// Bounds the caches' memory; past it they are simply emptied and refilled from the database.
pub(super) const CACHE_LIMIT: usize = 200_000;

impl Caches {
    pub(super) fn identity(&self, key: &Key) -> Option<&IdentityInfo> {
        self.staged_identities
            .get(key)
            .or_else(|| self.identities.get(key))
    }

    pub(super) fn conversation(&self, key: &Key) -> Option<i64> {
        self.staged_conversations
            .get(key)
            .or_else(|| self.conversations.get(key))
            .copied()
    }

    pub(super) fn commit(&mut self) {
        if self.identities.len() + self.conversations.len() > CACHE_LIMIT {
            self.identities.clear();
            self.conversations.clear();
        }
        self.identities.extend(self.staged_identities.drain());
        self.conversations.extend(self.staged_conversations.drain());
    }

    pub(super) fn rollback(&mut self) {
        self.staged_identities.clear();
        self.staged_conversations.clear();
    }
}

/// Resolves the group's unknown identities and conversations with a handful of statements:
/// one lookup each, then the missing ones created in bulk. Ids are assigned here, under the
/// write lock (`begin_write`), so new contacts and identities link without a round trip each.
pub(super) async fn prefetch(
    conn: &mut Conn,
    caches: &mut Caches,
    jobs: &[Job],
    now: i64,
) -> Result<Vec<i64>> {
    let mut senders: HashMap<Key, &Inbound> = HashMap::new();
    for job in jobs {
        for item in &job.batch {
            let key: Key = (job.channel.clone(), item.inbound.sender.id.clone());
            if caches.identity(&key).is_none() {
                senders.entry(key).or_insert(&item.inbound);
            }
        }
    }
    if !senders.is_empty() {
        let keys: Vec<(&str, &str)> = senders.keys().map(|(c, e)| (&**c, e.as_str())).collect();
        #[derive(sqlx::FromRow)]
        struct Found {
            channel: String,
            external_id: String,
            #[sqlx(flatten)]
            info: IdentityInfo,
        }
        let found: Vec<Found> = sqlx::query_as(sql::FIND_IDENTITIES)
            .bind(to_json(&keys)?)
            .fetch_all(&mut *conn)
            .await?;
        for row in found {
            let key = (Arc::from(row.channel.as_str()), row.external_id);
            if let Some((key, _)) = senders.remove_entry(&key) {
                caches.staged_identities.insert(key, row.info);
            }
        }
    }
    if !senders.is_empty() {
        let contact_ids = next_ids(conn, "contacts", senders.len()).await?;
        let identity_ids = next_ids(conn, "contact_identities", senders.len()).await?;
        let mut contacts = Vec::with_capacity(senders.len());
        let mut identities = Vec::with_capacity(senders.len());
        for (n, (key, inbound)) in senders.into_iter().enumerate() {
            let sender = &inbound.sender;
            let info = IdentityInfo {
                id: identity_ids[n],
                contact_id: contact_ids[n],
                contact_name: sender_name(inbound).to_owned(),
                display_name: sender.display_name.clone(),
                username: sender.username.clone(),
                language: sender.language.clone(),
            };
            contacts.push(serde_json::json!([info.contact_id, info.contact_name]));
            identities.push(serde_json::json!([
                info.id,
                info.contact_id,
                &*key.0,
                key.1,
                info.display_name,
                info.username,
                info.language
            ]));
            caches.staged_identities.insert(key, info);
        }
        sqlx::query(sql::INSERT_CONTACTS)
            .bind(to_json(&contacts)?)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query(sql::INSERT_IDENTITIES)
            .bind(to_json(&identities)?)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }

    let mut threads: HashMap<Key, &Inbound> = HashMap::new();
    for job in jobs {
        for item in &job.batch {
            let key: Key = (job.channel.clone(), item.inbound.thread_id.clone());
            if caches.conversation(&key).is_none() {
                threads.entry(key).or_insert(&item.inbound);
            }
        }
    }
    if threads.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<(&str, &str)> = threads.keys().map(|(c, t)| (&**c, t.as_str())).collect();
    let found: Vec<(i64, String, String)> = sqlx::query_as(sql::FIND_CONVERSATIONS)
        .bind(to_json(&keys)?)
        .fetch_all(&mut *conn)
        .await?;
    for (id, channel, thread) in found {
        if let Some((key, _)) = threads.remove_entry(&(Arc::from(channel.as_str()), thread)) {
            caches.staged_conversations.insert(key, id);
        }
    }
    if threads.is_empty() {
        return Ok(Vec::new());
    }
    let ids = next_ids(conn, "conversations", threads.len()).await?;
    let mut rows = Vec::with_capacity(threads.len());
    for (n, (key, inbound)) in threads.into_iter().enumerate() {
        let id = ids[n];
        let identity_key: Key = (key.0.clone(), inbound.sender.id.clone());
        let contact_id = caches
            .identity(&identity_key)
            .map(|i| i.contact_id)
            .ok_or_else(|| StoreError::Invalid("sender identity was not resolved".into()))?;
        let at = inbound.sent_at.map_or(now, |t| t.timestamp_millis());
        rows.push(serde_json::json!([
            id,
            &*key.0,
            key.1,
            contact_id,
            inbound.subject,
            at
        ]));
        caches.staged_conversations.insert(key, id);
    }
    sqlx::query(sql::INSERT_CONVERSATIONS)
        .bind(to_json(&rows)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(ids)
}

/// The sender's identity (resolved by `prefetch`), refreshed when the platform shows a new
/// name, username or language.
pub(super) async fn resolve_identity(
    conn: &mut Conn,
    caches: &mut Caches,
    channel: &Arc<str>,
    inbound: &Inbound,
) -> Result<IdentityInfo> {
    let sender = &inbound.sender;
    let key: Key = (channel.clone(), sender.id.clone());
    let mut info = caches
        .identity(&key)
        .cloned()
        .ok_or_else(|| StoreError::Invalid("sender identity was not resolved".into()))?;
    let changed = info.display_name != sender.display_name
        || info.username != sender.username
        || info.language != sender.language;
    if changed {
        sqlx::query(
            "UPDATE contact_identities SET display_name = $2, username = $3, language = $4 WHERE id = $1",
        )
        .bind(info.id)
        .bind(&sender.display_name)
        .bind(&sender.username)
        .bind(&sender.language)
        .execute(&mut *conn)
        .await?;
        info.display_name = sender.display_name.clone();
        info.username = sender.username.clone();
        info.language = sender.language.clone();
        caches.staged_identities.insert(key, info.clone());
    }
    Ok(info)
}
