//! The rows of new messages: one multi-row insert per group, the conversations they touch,
//! the guard's flags, and their attachments.

use super::*;

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(format!("encoding rows: {e}")))
}

/// Inserts every pending new message with one statement: the rows travel as one JSON array
/// parameter (see `sql::INSERT_MESSAGES`), so the statement is prepared once and reused, whatever the
/// group size. Already stored ones (same channel + external id) are reported as duplicates.
pub(super) async fn flush_new(
    conn: &mut Conn,
    group: &mut Group<'_>,
    surveys: Option<&crate::store::SurveySettings>,
) -> Result<()> {
    if group.pending.is_empty() {
        return Ok(());
    }
    let pending = std::mem::take(&mut group.pending);
    if surveys.is_some() {
        let mut unknown: Vec<i64> = pending
            .iter()
            .map(|p| p.conversation_id)
            .filter(|id| !group.surveys.contains_key(id))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            let mut found = super::super::csat::waiting(conn, &unknown, group.now).await?;
            for id in unknown {
                group.surveys.insert(id, found.remove(&id));
            }
        }
    }
    let rows: Vec<serde_json::Value> = pending
        .iter()
        .map(|p| {
            let inbound = &p.item.inbound;
            serde_json::json!([
                p.conversation_id,
                &**p.channel,
                p.identity.id,
                sender_name(inbound),
                inbound.text,
                inbound.html,
                inbound.message_id,
                inbound.reply_to,
                inbound.auto_generated,
                inbound.sent_at.map(|t| t.timestamp_millis()),
                p.item.language,
            ])
        })
        .collect();
    let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let inserted: Vec<(i64, String, String)> = sqlx::query_as(sql::INSERT_MESSAGES)
        .bind(rows)
        .bind(group.now)
        .fetch_all(&mut *conn)
        .await?;
    let mut created: HashMap<(String, String), i64> = inserted
        .into_iter()
        .map(|(id, channel, external)| ((channel, external), id))
        .collect();
    for p in &pending {
        let key = (p.channel.to_string(), p.item.inbound.message_id.clone());
        // `remove`: a message repeated inside the group is created once, then a duplicate.
        let Some(id) = created.remove(&key) else {
            continue;
        };
        insert_attachments(conn, id, &p.item.attachments, group.now).await?;
        group.reports[p.job].items[p.slot] = IngestItem {
            message_id: Some(id),
            conversation_id: p.conversation_id,
            outcome: Outcome::Created,
            secret_removed: p.item.secret_removed,
            opened: false,
            answered_survey: false,
        };
        if p.item.secret_removed {
            let expires = p.warning_expires_at;
            group
                .flagged
                .push((p.conversation_id, p.channel, p.item, expires));
        }
        let inbound = &p.item.inbound;
        let answer = match (surveys, group.surveys.get_mut(&p.conversation_id)) {
            (Some(settings), Some(slot @ Some(_))) if !inbound.auto_generated && !inbound.quiet => {
                let wait = slot.as_mut().expect("matched Some");
                let answer = super::super::csat::answer(
                    wait,
                    p.conversation_id,
                    &inbound.text,
                    p.item.rating.as_ref(),
                    group.now,
                    settings,
                );
                // An ordinary message ends the survey: it reopens the conversation.
                if answer.is_none() || wait.state == "done" {
                    *slot = None;
                }
                answer
            }
            _ => None,
        };
        if let Some(answer) = answer {
            group.reports[p.job].items[p.slot].answered_survey = true;
            group.answered.push(id);
            group
                .answer_channels
                .insert(p.conversation_id, p.channel.to_string());
            group.answers.push(answer);
            if group.listening {
                let event =
                    created_event(conn, id, p.conversation_id, &p.identity, p.item, group.now)
                        .await?;
                group.events.push(event);
            }
            continue;
        }
        let at = p
            .item
            .inbound
            .sent_at
            .map_or(group.now, |t| t.timestamp_millis());
        let newest = group.touched.entry(p.conversation_id).or_insert(at);
        *newest = (*newest).max(at);
        if group.listening {
            let event =
                created_event(conn, id, p.conversation_id, &p.identity, p.item, group.now).await?;
            group.events.push(event);
        }
    }
    Ok(())
}

/// A customer who sent a wallet secret needs an agent now: the conversation turns urgent and
/// carries the `secret_removed` mark (rare: one statement per group that has any).
pub(super) async fn flag_conversations(conn: &mut Conn, group: &mut Group<'_>) -> Result<()> {
    if group.flagged.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = group.flagged.iter().map(|f| f.0).collect();
    ids.sort_unstable();
    ids.dedup();
    sqlx::query(sql::FLAG_SECRET_REMOVED)
        .bind(to_json(&ids)?)
        .execute(&mut *conn)
        .await?;
    // One warning per conversation and group, however many of its messages held a secret.
    let mut warned: Vec<i64> = Vec::new();
    for &(conversation_id, channel, item, expires_at) in &group.flagged {
        let Some(text) = item.warning.as_deref() else {
            continue;
        };
        if warned.contains(&conversation_id) {
            continue;
        }
        warned.push(conversation_id);
        let reply = crate::store::outbox::Outbound::automatic(conversation_id, channel, text);
        let id = outbox::queue_outbound(conn, reply, group.now, expires_at).await?;
        if group.listening {
            let message = inbox::message(conn, id).await?;
            group.events.push(Event::MessageCreated(message));
        }
    }
    Ok(())
}

/// New customer activity moves conversations up the inbox and reopens resolved or snoozed ones:
/// one statement for the whole group.
pub(super) async fn touch_conversations(conn: &mut Conn, group: &mut Group<'_>) -> Result<()> {
    if group.touched.is_empty() {
        return Ok(());
    }
    let touched: Vec<(i64, i64)> = group.touched.drain().collect();
    let touched =
        serde_json::to_string(&touched).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let rows: Vec<TouchedRow> = sqlx::query_as(sql::TOUCH_CONVERSATIONS)
        .bind(touched)
        .bind(group.now)
        .fetch_all(&mut *conn)
        .await?;
    group.reopened.extend(
        rows.iter()
            .filter(|r| r.reopened_at == Some(group.now))
            .map(|r| r.id),
    );
    if !group.listening {
        return Ok(());
    }
    let contacts: Vec<i64> = rows.iter().map(|r| r.contact_id).collect();
    let verified: Vec<(i64, String)> = sqlx::query_as(sql::VERIFIED_EMAILS_OF)
        .bind(to_json(&contacts)?)
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        let contact_name = match group.contact_names.get(&row.contact_id) {
            Some(name) => name.clone(),
            None => {
                sqlx::query_scalar("SELECT display_name FROM contacts WHERE id = $1")
                    .bind(row.contact_id)
                    .fetch_one(&mut *conn)
                    .await?
            }
        };
        let team_name = match row.team_id {
            Some(team) => {
                sqlx::query_scalar("SELECT name FROM teams WHERE id = $1")
                    .bind(team)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            None => None,
        };
        let verified_emails: Vec<&String> = verified
            .iter()
            .filter(|(c, _)| *c == row.contact_id)
            .map(|(_, e)| e)
            .collect();
        let full = inbox::ConversationRow {
            id: row.id,
            channel: row.channel,
            status: row.status,
            priority: row.priority,
            subject: row.subject,
            assignee_id: row.assignee_id,
            created_at: row.created_at,
            last_message_at: row.last_message_at,
            contact_id: row.contact_id,
            contact_name,
            flags: row.flags,
            language: row.language,
            intake: row.intake,
            team_id: row.team_id,
            team_name,
            labels: row.labels,
            priority_reason: row.priority_reason,
            // Customer activity ends every snooze.
            snoozed_until: None,
            csat_score: row.csat_score,
            csat_comment: row.csat_comment,
            sla_first_response_due: row.sla_first_response_due,
            sla_next_response_due: row.sla_next_response_due,
            sla_resolution_due: row.sla_resolution_due,
            first_replied_at: row.first_replied_at,
            sla_breaches: row.sla_breaches,
            verified_emails: serde_json::to_string(&verified_emails)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
        };
        group
            .events
            .push(Event::ConversationUpdated(Conversation::from(full)));
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(super) struct TouchedRow {
    pub(super) id: i64,
    pub(super) channel: String,
    pub(super) status: String,
    pub(super) priority: String,
    pub(super) flags: String,
    pub(super) subject: Option<String>,
    pub(super) assignee_id: Option<i64>,
    pub(super) created_at: i64,
    pub(super) last_message_at: i64,
    pub(super) contact_id: i64,
    pub(super) language: Option<String>,
    pub(super) intake: Option<String>,
    pub(super) reopened_at: Option<i64>,
    pub(super) team_id: Option<i64>,
    pub(super) labels: String,
    pub(super) priority_reason: Option<String>,
    pub(super) sla_first_response_due: Option<i64>,
    pub(super) sla_next_response_due: Option<i64>,
    pub(super) sla_resolution_due: Option<i64>,
    pub(super) first_replied_at: Option<i64>,
    pub(super) sla_breaches: String,
    pub(super) csat_score: Option<i64>,
    pub(super) csat_comment: Option<String>,
}

pub(in crate::store) async fn insert_attachments(
    conn: &mut Conn,
    message_id: i64,
    attachments: &[PreparedAttachment],
    now: i64,
) -> Result<()> {
    for a in attachments {
        sqlx::query(
            "INSERT INTO attachments (message_id, filename, content_type, size, sha256, note, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(message_id)
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.size)
        .bind(&a.sha256)
        .bind(&a.note)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
