//! What agents read and change: the inbox list, conversations, messages, contacts, and the
//! conversation-level writes (status, assignment, merge).

use super::*;

/// The columns of `ConversationRow`, from `conversations c JOIN contacts k`.
const CONVERSATION_COLUMNS: &str = sql::CONVERSATION_COLUMNS;

#[derive(sqlx::FromRow)]
pub(in crate::store) struct ConversationRow {
    pub(in crate::store) id: i64,
    pub(in crate::store) channel: String,
    pub(in crate::store) status: String,
    pub(in crate::store) priority: String,
    pub(in crate::store) subject: Option<String>,
    pub(in crate::store) assignee_id: Option<i64>,
    pub(in crate::store) created_at: i64,
    pub(in crate::store) last_message_at: i64,
    pub(in crate::store) contact_id: i64,
    pub(in crate::store) contact_name: String,
    pub(in crate::store) flags: String,
    pub(in crate::store) language: Option<String>,
    pub(in crate::store) intake: Option<String>,
    pub(in crate::store) team_id: Option<i64>,
    pub(in crate::store) team_name: Option<String>,
    pub(in crate::store) labels: String,
    pub(in crate::store) priority_reason: Option<String>,
    pub(in crate::store) sla_first_response_due: Option<i64>,
    pub(in crate::store) sla_next_response_due: Option<i64>,
    pub(in crate::store) sla_resolution_due: Option<i64>,
    pub(in crate::store) first_replied_at: Option<i64>,
    pub(in crate::store) sla_breaches: String,
    pub(in crate::store) snoozed_until: Option<i64>,
    pub(in crate::store) csat_score: Option<i64>,
    pub(in crate::store) csat_comment: Option<String>,
    pub(in crate::store) verified_emails: String,
}

impl From<ConversationRow> for Conversation {
    fn from(r: ConversationRow) -> Self {
        let status = Status::parse(&r.status).unwrap_or(Status::Open);
        let due = crate::store::sla::SlaDue {
            first_response: r.sla_first_response_due,
            next_response: r.sla_next_response_due,
            resolution: r.sla_resolution_due,
        };
        let sla = (!due.is_empty()).then(|| {
            // Recorded breaches, and those the sweeper has yet to record.
            let mut breaches = string_list(&r.sla_breaches);
            for target in due.missed(r.first_replied_at, status, now_ms()) {
                if !breaches.iter().any(|b| b == target) {
                    breaches.push(target.to_owned());
                }
            }
            crate::store::Sla {
                first_response_due_at: due.first_response.map(from_millis),
                next_response_due_at: due.next_response.map(from_millis),
                resolution_due_at: due.resolution.map(from_millis),
                first_response_at: r.first_replied_at.map(from_millis),
                breached: !breaches.is_empty(),
                breaches,
            }
        });
        Conversation {
            id: r.id,
            channel: r.channel,
            status,
            priority: Priority::parse(&r.priority).unwrap_or(Priority::Normal),
            flags: string_list(&r.flags),
            subject: r.subject,
            contact: ContactRef {
                id: r.contact_id,
                display_name: r.contact_name,
                verified_emails: string_list(&r.verified_emails),
            },
            assignee_id: r.assignee_id,
            team_id: r.team_id,
            team: r.team_name,
            labels: string_list(&r.labels),
            priority_reason: r.priority_reason,
            snoozed_until: r.snoozed_until.map(from_millis),
            csat: r.csat_score.map(|score| crate::store::Csat {
                score: u8::try_from(score.clamp(1, 5)).unwrap_or(5),
                comment: r.csat_comment,
            }),
            sla,
            language: r.language,
            intake: r
                .intake
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
            created_at: from_millis(r.created_at),
            last_message_at: from_millis(r.last_message_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    conversation_id: i64,
    direction: String,
    text: String,
    html: Option<String>,
    sender_name: String,
    sender_agent_id: Option<i64>,
    sender_contact_id: Option<i64>,
    created_at: i64,
    sent_at: Option<i64>,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    delivery_status: Option<String>,
    error: Option<String>,
    external_id: Option<String>,
    reply_to_external_id: Option<String>,
    auto_generated: bool,
    language: Option<String>,
}

const MESSAGE_SELECT: &str = "SELECT m.id, m.conversation_id, m.direction, m.text, m.html,
    m.sender_name, m.sender_agent_id, i.contact_id AS sender_contact_id, m.created_at, m.sent_at,
    m.edited_at, m.deleted_at, m.delivery_status, m.error, m.external_id, m.reply_to_external_id,
    m.auto_generated, m.language
    FROM messages m LEFT JOIN contact_identities i ON i.id = m.sender_identity_id";

impl MessageRow {
    fn into_message(self, attachments: Vec<Attachment>, revisions: Vec<Revision>) -> Message {
        Message {
            id: self.id,
            conversation_id: self.conversation_id,
            direction: Direction::parse(&self.direction).unwrap_or(Direction::Inbound),
            text: self.text,
            html: self.html,
            sender: MessageSender {
                display_name: self.sender_name,
                agent_id: self.sender_agent_id,
                contact_id: self.sender_contact_id,
            },
            created_at: from_millis(self.created_at),
            sent_at: self.sent_at.map(from_millis),
            edited_at: self.edited_at.map(from_millis),
            deleted_at: self.deleted_at.map(from_millis),
            delivery_status: self
                .delivery_status
                .as_deref()
                .and_then(DeliveryStatus::parse),
            error: self.error,
            external_id: self.external_id,
            reply_to: self.reply_to_external_id,
            auto_generated: self.auto_generated,
            language: self.language,
            attachments,
            revisions,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: i64,
    message_id: i64,
    filename: String,
    content_type: String,
    size: Option<i64>,
    sha256: Option<String>,
    note: Option<String>,
}

impl From<AttachmentRow> for Attachment {
    fn from(r: AttachmentRow) -> Self {
        Attachment {
            id: r.id,
            url: r
                .sha256
                .as_ref()
                .map(|_| format!("/api/v1/attachments/{}", r.id)),
            filename: r.filename,
            content_type: r.content_type,
            size: r.size,
            note: r.note,
        }
    }
}

/// One message with its attachments and revisions, inside any transaction.
pub(crate) async fn message(conn: &mut Conn, id: i64) -> Result<Message> {
    let sql = sqlx::AssertSqlSafe(format!("{MESSAGE_SELECT} WHERE m.id = $1"));
    let row: MessageRow = sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let attachments: Vec<AttachmentRow> = sqlx::query_as(
        "SELECT id, message_id, filename, content_type, size, sha256, note FROM attachments
         WHERE message_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let revisions: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, text, replaced_at FROM message_revisions WHERE message_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(row.into_message(
        attachments.into_iter().map(Attachment::from).collect(),
        revisions.into_iter().map(revision).collect(),
    ))
}

/// Messages from their rows, each with its attachments and revisions (`(message_id, kind,
/// text, replaced_at)`), in the rows' order.
fn assemble(
    rows: Vec<MessageRow>,
    attachments: Vec<AttachmentRow>,
    revisions: Vec<(i64, String, String, i64)>,
) -> Vec<Message> {
    let mut by_message: std::collections::HashMap<i64, (Vec<Attachment>, Vec<Revision>)> =
        Default::default();
    for a in attachments {
        by_message.entry(a.message_id).or_default().0.push(a.into());
    }
    for (message_id, kind, text, at) in revisions {
        by_message
            .entry(message_id)
            .or_default()
            .1
            .push(revision((kind, text, at)));
    }
    rows.into_iter()
        .map(|row| {
            let (a, r) = by_message.remove(&row.id).unwrap_or_default();
            row.into_message(a, r)
        })
        .collect()
}

fn revision((kind, text, at): (String, String, i64)) -> Revision {
    Revision {
        kind,
        text,
        replaced_at: from_millis(at),
    }
}

pub(crate) async fn conversation(conn: &mut Conn, id: i64) -> Result<Conversation> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts k ON k.id = c.contact_id
         WHERE c.id = $1"
    ));
    let row: Option<ConversationRow> = sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(Conversation::from).ok_or(StoreError::NotFound)
}

impl Repo {
    /// The inbox, newest activity first, keyset-paginated on (last_message_at, id).
    pub async fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<(Vec<Conversation>, Option<(i64, i64)>)> {
        let (unassigned, assignee) = match filter.assignee {
            None => (false, None),
            Some(AssigneeFilter::Unassigned) => (true, None),
            Some(AssigneeFilter::Agent(id)) => (false, Some(id)),
        };
        let like = filter.query.as_deref().map(crate::store::contains_pattern);
        let phrase = filter.query.as_deref().and_then(search_param);
        // One or two characters the index cannot find (not East Asian) scan the messages.
        let in_messages = if phrase.is_some() {
            sql::IN_INDEXED_MESSAGES
        } else {
            sql::SCAN_MESSAGES
        };
        let (cursor_at, cursor_id) = filter.cursor.unzip();
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts k ON k.id = c.contact_id
             WHERE ($1 IS NULL OR c.status = $1)
               AND ($2 IS NULL OR c.channel = $2)
               AND (NOT $3 OR c.assignee_id IS NULL)
               AND ($4 IS NULL OR c.assignee_id = $4)
               AND ($5 IS NULL OR c.subject {like} $5 ESCAPE '\\'
                    OR k.display_name {like} $5 ESCAPE '\\' OR {in_messages})
               AND ($6 IS NULL OR c.last_message_at < $6 OR (c.last_message_at = $6 AND c.id < $7))
               AND (NOT $10 OR c.team_id IS NULL)
               AND ($11 IS NULL OR c.team_id = $11)
               AND ($12 IS NULL OR c.labels LIKE $12 ESCAPE '\\')
               AND ($13 IS NULL OR c.priority = $13)
               AND ($14 IS NULL OR c.language = $14)
             ORDER BY c.last_message_at DESC, c.id DESC
             LIMIT $8",
            like = sql::ILIKE
        ));
        let limit = filter.limit.clamp(1, 200);
        let (no_team, team) = match filter.team {
            None => (false, None),
            Some(crate::store::TeamFilter::None) => (true, None),
            Some(crate::store::TeamFilter::Team(id)) => (false, Some(id)),
        };
        // Labels hold no quotes (`queue::check_label`), so the quoted name matches one element.
        let label = filter.label.as_deref().map(|l| {
            let escaped = l
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%\"{escaped}\"%")
        });
        let rows: Vec<ConversationRow> = sqlx::query_as(sql)
            .bind(filter.status.map(Status::as_str))
            .bind(&filter.channel)
            .bind(unassigned)
            .bind(assignee)
            .bind(like)
            .bind(cursor_at)
            .bind(cursor_id)
            .bind(limit + 1)
            .bind(phrase)
            .bind(no_team)
            .bind(team)
            .bind(label)
            .bind(filter.priority.map(Priority::as_str))
            .bind(&filter.language)
            .fetch_all(&self.pool)
            .await?;
        let mut conversations: Vec<Conversation> = rows.into_iter().map(Into::into).collect();
        let next = if conversations.len() as i64 > limit {
            conversations.truncate(limit as usize);
            conversations
                .last()
                .map(|c| (c.last_message_at.timestamp_millis(), c.id))
        } else {
            None
        };
        Ok((conversations, next))
    }

    pub async fn conversation(&self, id: i64) -> Result<Conversation> {
        conversation(&mut *self.pool.acquire().await?, id).await
    }

    /// Changes workflow fields as `by` (None: automation), recording each change in the
    /// timeline and recomputing the SLA clock when priority or status changed.
    pub async fn update_conversation(
        &self,
        id: i64,
        patch: &ConversationPatch,
        by: Option<&Agent>,
    ) -> Result<Conversation> {
        let result = self.update_conversation_tx(id, patch, by).await;
        self.writes.record(&result);
        let (before, after, breaches) = result?;
        if after != before || !breaches.is_empty() {
            let event = after.clone();
            self.bus.emit(|| {
                let mut events: Vec<Event> = breaches.into_iter().map(Event::SlaBreached).collect();
                events.push(Event::ConversationUpdated(event));
                events
            });
        }
        Ok(after)
    }

    async fn update_conversation_tx(
        &self,
        id: i64,
        patch: &ConversationPatch,
        by: Option<&Agent>,
    ) -> Result<(Conversation, Conversation, Vec<crate::store::SlaBreach>)> {
        let mut tx = begin_write(&self.pool).await?;
        let before = conversation(&mut tx, id).await?;
        if let Some(Some(agent)) = patch.assignee_id {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM agents WHERE id = $1 AND disabled_at IS NULL")
                    .bind(agent)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::Invalid(format!(
                    "assignee_id {agent}: no such active agent"
                )));
            }
        }
        if let Some(Some(team)) = patch.team_id {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM teams WHERE id = $1")
                .bind(team)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::Invalid(format!("team_id {team}: no such team")));
            }
        }
        let now = now_ms();
        // A reason given by automation no longer holds once an agent sets the priority.
        let clear_reason = patch.priority.is_some_and(|p| p != before.priority);
        let status = patch.status.unwrap_or(before.status);
        let snooze = match patch.snoozed_until {
            Some(_) if status != Status::Snoozed => {
                return Err(StoreError::Invalid(
                    "snoozed_until: only with status snoozed".into(),
                ));
            }
            Some(until) => Some(until),
            // Snoozing anew without a time: until the customer writes.
            None if patch.status == Some(Status::Snoozed) => Some(None),
            None => None,
        };
        // The statement's right-hand sides all see the row as it was.
        sqlx::query(
            "UPDATE conversations SET status = COALESCE($2, status), priority = COALESCE($3, priority),
                 assignee_id = CASE WHEN $4 THEN $5 ELSE assignee_id END,
                 team_id = CASE WHEN $6 THEN $7 ELSE team_id END,
                 team_source = CASE WHEN $6 THEN 'agent' ELSE team_source END,
                 priority_reason = CASE WHEN $8 THEN NULL ELSE priority_reason END,
                 status_since = CASE WHEN COALESCE($2, status) <> status THEN $9 ELSE status_since END,
                 reminded_at = CASE WHEN COALESCE($2, status) <> status THEN NULL ELSE reminded_at END,
                 snoozed_until = CASE WHEN COALESCE($2, status) <> 'snoozed' THEN NULL
                     WHEN $10 THEN $11 ELSE snoozed_until END,
                 survey_state = CASE WHEN COALESCE($2, status) = status THEN survey_state
                     WHEN COALESCE($2, status) = 'resolved' AND $12 THEN 'due' ELSE NULL END,
                 survey_until = CASE WHEN COALESCE($2, status) = status THEN survey_until
                     ELSE NULL END,
                 updated_at = $9
             WHERE id = $1",
        )
        .bind(id)
        .bind(patch.status.map(Status::as_str))
        .bind(patch.priority.map(Priority::as_str))
        .bind(patch.assignee_id.is_some())
        .bind(patch.assignee_id.flatten())
        .bind(patch.team_id.is_some())
        .bind(patch.team_id.flatten())
        .bind(clear_reason)
        .bind(now)
        .bind(snooze.is_some())
        .bind(snooze.flatten())
        // An agent's resolution asks for the survey, unless they said not to.
        .bind(by.is_some() && self.surveys.get().is_some() && patch.survey != Some(false))
        .execute(&mut *tx)
        .await?;
        if let Some(labels) = &patch.labels {
            let mut checked: Vec<String> = Vec::with_capacity(labels.len());
            for label in labels {
                let label = super::queue::check_label(label)?;
                if !checked.contains(&label) {
                    checked.push(label);
                }
            }
            if checked.len() > 50 {
                return Err(StoreError::Invalid("labels: at most 50".into()));
            }
            super::queue::set_labels(&mut tx, id, &checked, now).await?;
        }
        let mut after = conversation(&mut tx, id).await?;
        let actor = super::queue::Actor {
            agent_id: by.map(|a| a.id),
            name: if by.is_some() { "agent" } else { "automation" },
        };
        super::queue::record_changes(&mut tx, &before, &after, actor, now).await?;
        let mut breaches = Vec::new();
        if before.priority != after.priority || before.status != after.status {
            let resolving = after.status == Status::Resolved && before.status != Status::Resolved;
            breaches = super::queue::refresh_sla(&mut tx, self.clock(), id, resolving, now).await?;
            after = conversation(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok((before, after, breaches))
    }

    /// All messages of a conversation, oldest first, with attachments and revisions.
    pub async fn messages(&self, conversation_id: i64) -> Result<Vec<Message>> {
        Ok(self.messages_page(conversation_id, None, i64::MAX).await?.0)
    }

    /// The newest `limit` messages before message id `before` (all when `None`), oldest first,
    /// and the id to pass as `before` for the page older than these (when there is one).
    pub async fn messages_page(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<Message>, Option<i64>)> {
        let mut conn = self.pool.acquire().await?;
        conversation(&mut conn, conversation_id).await?;
        let before = before.unwrap_or(i64::MAX);
        // One more than asked tells whether an older page exists.
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT * FROM ({MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.id < $2
                 ORDER BY m.id DESC LIMIT $3) AS page ORDER BY id"
        ));
        let mut rows: Vec<MessageRow> = sqlx::query_as(sql)
            .bind(conversation_id)
            .bind(before)
            .bind(limit.saturating_add(1))
            .fetch_all(&mut *conn)
            .await?;
        let older = usize::try_from(limit).is_ok_and(|limit| rows.len() > limit);
        if older {
            rows.remove(0);
        }
        let next_before = if older {
            rows.first().map(|r| r.id)
        } else {
            None
        };
        let (Some(first), Some(last)) = (rows.first().map(|r| r.id), rows.last().map(|r| r.id))
        else {
            return Ok((Vec::new(), None));
        };
        let attachments: Vec<AttachmentRow> = sqlx::query_as(
            "SELECT a.id, a.message_id, a.filename, a.content_type, a.size, a.sha256, a.note
             FROM attachments a JOIN messages m ON m.id = a.message_id
             WHERE m.conversation_id = $1 AND m.id BETWEEN $2 AND $3 ORDER BY a.id",
        )
        .bind(conversation_id)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?;
        let revisions: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT r.message_id, r.kind, r.text, r.replaced_at FROM message_revisions r
             JOIN messages m ON m.id = r.message_id
             WHERE m.conversation_id = $1 AND m.id BETWEEN $2 AND $3 ORDER BY r.id",
        )
        .bind(conversation_id)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?;
        Ok((assemble(rows, attachments, revisions), next_before))
    }

    /// The messages with these ids that exist, by id, with their attachments and revisions:
    /// three queries however many (other daemons' events are read back with it).
    pub async fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(ids)
            .map_err(|e| StoreError::Invalid(format!("encoding ids: {e}")))?;
        let list = sql::ID_LIST;
        let mut conn = self.pool.acquire().await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "{MESSAGE_SELECT} WHERE m.id IN ({list}) ORDER BY m.id"
        ));
        let rows: Vec<MessageRow> = sqlx::query_as(sql).bind(&ids).fetch_all(&mut *conn).await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT id, message_id, filename, content_type, size, sha256, note FROM attachments
             WHERE message_id IN ({list}) ORDER BY id"
        ));
        let attachments: Vec<AttachmentRow> =
            sqlx::query_as(sql).bind(&ids).fetch_all(&mut *conn).await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT message_id, kind, text, replaced_at FROM message_revisions
             WHERE message_id IN ({list}) ORDER BY id"
        ));
        let revisions: Vec<(i64, String, String, i64)> =
            sqlx::query_as(sql).bind(&ids).fetch_all(&mut *conn).await?;
        Ok(assemble(rows, attachments, revisions))
    }

    pub async fn message(&self, id: i64) -> Result<Message> {
        message(&mut *self.pool.acquire().await?, id).await
    }

    pub async fn attachment(&self, id: i64) -> Result<AttachmentFile> {
        let row: Option<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT filename, content_type, sha256, note FROM attachments WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let (filename, content_type, sha256, note) = row.ok_or(StoreError::NotFound)?;
        Ok(AttachmentFile {
            filename,
            content_type,
            sha256,
            note,
        })
    }

    /// A contact with every channel identity and conversation; a merged contact resolves to
    /// the one it was merged into.
    pub async fn contact(&self, id: i64) -> Result<Contact> {
        let mut conn = self.pool.acquire().await?;
        let mut id = id;
        let (display_name, created_at) = loop {
            let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
                "SELECT display_name, created_at, merged_into FROM contacts WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            match row.ok_or(StoreError::NotFound)? {
                (_, _, Some(into)) => id = into,
                (name, at, None) => break (name, at),
            }
        };
        let identities: Vec<Identity> = sqlx::query_as(
            "SELECT channel, external_id, display_name, username, language
                 FROM contact_identities WHERE contact_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let verified: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT v.email, v.verified_at, a.conversation_id
                 FROM contact_verified_emails v JOIN verifications a ON a.id = v.verification_id
                 WHERE v.contact_id = $1 ORDER BY v.verified_at",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN contacts k ON k.id = c.contact_id
             WHERE c.contact_id = $1 ORDER BY c.last_message_at DESC, c.id DESC"
        ));
        let conversations: Vec<ConversationRow> =
            sqlx::query_as(sql).bind(id).fetch_all(&mut *conn).await?;
        Ok(Contact {
            id,
            display_name,
            created_at: from_millis(created_at),
            identities,
            verified_emails: verified
                .into_iter()
                .map(|(email, at, conversation_id)| VerifiedEmail {
                    email,
                    verified_at: from_millis(at),
                    conversation_id,
                })
                .collect(),
            conversations: conversations.into_iter().map(Into::into).collect(),
        })
    }

    /// Moves every identity and conversation of `from` to `into`: one customer who wrote on two
    /// channels becomes one contact. `from` remains as a pointer so old links still resolve.
    pub async fn merge_contacts(&self, from: i64, into: i64) -> Result<Contact> {
        if from == into {
            return Err(StoreError::Invalid(
                "a contact cannot be merged into itself".into(),
            ));
        }
        let mut tx = begin_write(&self.pool).await?;
        for id in [from, into] {
            let merged: Option<Option<i64>> =
                sqlx::query_scalar("SELECT merged_into FROM contacts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match merged {
                None => return Err(StoreError::NotFound),
                Some(Some(_)) => {
                    return Err(StoreError::Conflict(format!(
                        "contact {id} was already merged"
                    )));
                }
                Some(None) => {}
            }
        }
        let now = now_ms();
        sqlx::query("UPDATE contact_identities SET contact_id = $2 WHERE contact_id = $1")
            .bind(from)
            .bind(into)
            .execute(&mut *tx)
            .await?;
        // Proofs move along; one the target already holds keeps its own (earlier) date.
        sqlx::query(
            "INSERT INTO contact_verified_emails (contact_id, email, verified_at, verification_id)
             SELECT $2, email, verified_at, verification_id FROM contact_verified_emails
             WHERE contact_id = $1
             ON CONFLICT DO NOTHING",
        )
        .bind(from)
        .bind(into)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM contact_verified_emails WHERE contact_id = $1")
            .bind(from)
            .execute(&mut *tx)
            .await?;
        let moved: Vec<i64> = sqlx::query_scalar(
            "UPDATE conversations SET contact_id = $2, updated_at = $3 WHERE contact_id = $1 RETURNING id",
        )
        .bind(from)
        .bind(into)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("UPDATE contacts SET merged_into = $2, updated_at = $3 WHERE id = $1")
            .bind(from)
            .bind(into)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let mut changed = Vec::with_capacity(moved.len());
        for id in moved {
            changed.push(conversation(&mut tx, id).await?);
        }
        // In the database, so the ingest writers of every daemon on it see the merge.
        sqlx::query(
            "INSERT INTO store_counters (name, value) VALUES ('merge_generation', 1)
             ON CONFLICT (name) DO UPDATE SET value = store_counters.value + 1",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.bus.emit(|| {
            changed
                .into_iter()
                .map(Event::ConversationUpdated)
                .collect()
        });
        self.contact(into).await
    }
}
