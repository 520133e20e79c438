//! Edits and deletes: the earlier text becomes a revision, never overwritten.

use super::*;

/// An edit or delete: the earlier text becomes a revision, never overwritten.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply_change(
    conn: &mut Conn,
    group: &mut Group<'_>,
    channel: &str,
    item: &PreparedInbound,
    identity: &IdentityInfo,
    conversation_id: i64,
    at: i64,
    deleted: bool,
) -> Result<IngestItem> {
    let inbound = &item.inbound;
    let report = |message_id, outcome| IngestItem {
        message_id,
        conversation_id,
        outcome,
        secret_removed: item.secret_removed,
        opened: false,
        answered_survey: false,
    };
    let found: Option<(i64, String, Option<String>, Option<i64>)> = sqlx::query_as(
        // A customer edits or deletes their own messages: look among the inbound ones first
        // (an outbound message may carry the same platform id); a moderator's delete of one of
        // our replies still finds it.
        "SELECT id, text, html, deleted_at FROM messages WHERE channel = $1 AND external_id = $2
         AND (direction = 'inbound' OR $3) ORDER BY direction = 'inbound' DESC LIMIT 1",
    )
    .bind(channel)
    .bind(&inbound.message_id)
    .bind(deleted)
    .fetch_optional(&mut *conn)
    .await?;
    let id = match found {
        None if deleted => {
            tracing::info!(channel, external_id = %inbound.message_id, "delete of an unknown message skipped");
            return Ok(report(None, Outcome::Skipped));
        }
        // An edit of a message never seen (sent while we were away): store its current text.
        None => {
            let id = insert_edited(
                conn,
                channel,
                conversation_id,
                identity,
                item,
                at,
                group.now,
            )
            .await?;
            let newest = group.touched.entry(conversation_id).or_insert(at);
            *newest = (*newest).max(at);
            if group.listening {
                group
                    .events
                    .push(Event::MessageCreated(inbox::message(conn, id).await?));
            }
            return Ok(report(Some(id), Outcome::Created));
        }
        Some((_, _, _, Some(_))) if deleted => return Ok(report(None, Outcome::Duplicate)),
        Some((id, text, html, _)) if deleted => {
            revise(conn, id, "delete", &text, html.as_deref(), at).await?;
            sqlx::query("UPDATE messages SET deleted_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            id
        }
        Some((_, text, html, _)) if text == inbound.text && html == inbound.html => {
            return Ok(report(None, Outcome::Duplicate));
        }
        Some((id, text, html, _)) => {
            revise(conn, id, "edit", &text, html.as_deref(), at).await?;
            sqlx::query("UPDATE messages SET text = $2, html = $3, edited_at = $4 WHERE id = $1")
                .bind(id)
                .bind(&inbound.text)
                .bind(&inbound.html)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            id
        }
    };
    if group.listening {
        group
            .events
            .push(Event::MessageUpdated(inbox::message(conn, id).await?));
    }
    Ok(report(Some(id), Outcome::Updated))
}

pub(super) async fn insert_edited(
    conn: &mut Conn,
    channel: &str,
    conversation_id: i64,
    identity: &IdentityInfo,
    item: &PreparedInbound,
    edited_at: i64,
    now: i64,
) -> Result<i64> {
    let inbound = &item.inbound;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, channel, direction, sender_identity_id, sender_name,
             text, html, external_id, reply_to_external_id, auto_generated, sent_at, edited_at, created_at,
             language)
         VALUES ($1, $2, 'inbound', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(conversation_id)
    .bind(channel)
    .bind(identity.id)
    .bind(sender_name(inbound))
    .bind(&inbound.text)
    .bind(&inbound.html)
    .bind(&inbound.message_id)
    .bind(&inbound.reply_to)
    .bind(inbound.auto_generated)
    .bind(inbound.sent_at.map(|t| t.timestamp_millis()))
    .bind(edited_at)
    .bind(now)
    .bind(&item.language)
    .fetch_one(&mut *conn)
    .await?;
    insert_attachments(conn, id, &item.attachments, now).await?;
    Ok(id)
}

pub(super) async fn revise(
    conn: &mut Conn,
    message_id: i64,
    kind: &str,
    text: &str,
    html: Option<&str>,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO message_revisions (message_id, kind, text, html, replaced_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(message_id)
    .bind(kind)
    .bind(text)
    .bind(html)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
