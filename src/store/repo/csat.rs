//! Satisfaction surveys: sent after an agent resolved a conversation (one per resolution,
//! only when an agent replied, at most one per contact in `min_interval`), answered by the
//! customer's next messages, which ingest reads as the rating and the comment instead of
//! reopening the conversation.

use super::*;
use crate::store::outbox::{Outbound, after_ms};
use crate::store::{SurveyDue, SurveySettings};
use std::collections::HashMap;
use std::time::Duration;

const ACTOR: &str = "csat";

impl super::Repo {
    /// Turns the survey on (once, at start).
    pub fn set_surveys(&self, settings: Arc<SurveySettings>) {
        let _ = self.surveys.set(settings);
    }

    pub(in crate::store) fn survey_settings(&self) -> Option<&SurveySettings> {
        self.surveys.get().map(|s| s.as_ref())
    }

    /// Conversations resolved by an agent whose survey is still to be sent, oldest first.
    pub async fn surveys_due(&self, limit: i64) -> Result<Vec<SurveyDue>> {
        if self.survey_settings().is_none() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT id, channel, language, status_since FROM conversations
             WHERE survey_state = 'due' AND status = 'resolved' ORDER BY status_since LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(conversation_id, channel, language, resolved_at)| SurveyDue {
                    conversation_id,
                    channel,
                    language,
                    resolved_at,
                },
            )
            .collect())
    }

    /// Sends the survey `text` with rating `buttons` unless the conversation was reopened
    /// meanwhile, another daemon sent it, no agent ever replied or the contact was asked
    /// recently (then the resolution goes without one); returns whether it was sent.
    pub async fn send_survey(
        &self,
        due: &SurveyDue,
        text: &str,
        buttons: &[String],
        expiry: Duration,
    ) -> Result<bool> {
        let Some(settings) = self.surveys.get().cloned() else {
            return Ok(false);
        };
        let result = self
            .send_survey_tx(due, text, buttons, expiry, &settings)
            .await;
        self.writes.record(&result);
        let Some((message, conversation)) = result? else {
            return Ok(false);
        };
        self.bus.emit(|| {
            // The conversation event tells an open inbox to read the new timeline entry.
            vec![
                Event::MessageCreated(message),
                Event::ConversationUpdated(conversation),
            ]
        });
        Ok(true)
    }

    async fn send_survey_tx(
        &self,
        due: &SurveyDue,
        text: &str,
        buttons: &[String],
        expiry: Duration,
        settings: &SurveySettings,
    ) -> Result<Option<(Message, Conversation)>> {
        let now = now_ms();
        let mut tx = begin_write(&self.pool).await?;
        let (contact_id, answered, asked_recently): (i64, bool, bool) = sqlx::query_as(
            "SELECT c.contact_id,
                 EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
                     AND m.direction = 'outbound' AND m.sender_agent_id IS NOT NULL),
                 EXISTS (SELECT 1 FROM surveys s WHERE s.contact_id = c.contact_id
                     AND s.asked_at > $2)
             FROM conversations c WHERE c.id = $1",
        )
        .bind(due.conversation_id)
        .bind(now.saturating_sub(settings.min_interval))
        .fetch_one(&mut *tx)
        .await?;
        let send = answered && !asked_recently;
        let taken = sqlx::query(
            "UPDATE conversations SET survey_state = CASE WHEN $3 THEN 'rating' ELSE NULL END,
                 survey_until = CASE WHEN $3 THEN $4 ELSE NULL END
             WHERE id = $1 AND survey_state = 'due' AND status = 'resolved' AND status_since = $2",
        )
        .bind(due.conversation_id)
        .bind(due.resolved_at)
        .bind(send)
        .bind(now.saturating_add(settings.rating_window))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 || !send {
            tx.commit().await?;
            if taken > 0 {
                tracing::debug!(
                    conversation = due.conversation_id,
                    answered,
                    asked_recently,
                    "resolved without a survey"
                );
            }
            return Ok(None);
        }
        let question = Outbound {
            buttons,
            ..Outbound::automatic(due.conversation_id, &due.channel, text)
        };
        let message_id =
            outbox::queue_outbound(&mut tx, question, now, after_ms(now, expiry)).await?;
        let survey_id: i64 = sqlx::query_scalar(
            "INSERT INTO surveys (conversation_id, contact_id, channel, message_id, asked_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(due.conversation_id)
        .bind(contact_id)
        .bind(&due.channel)
        .bind(message_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE conversations SET survey_id = $2 WHERE id = $1")
            .bind(due.conversation_id)
            .bind(survey_id)
            .execute(&mut *tx)
            .await?;
        let actor = queue::Actor::automation(ACTOR);
        queue::record(
            &mut tx,
            due.conversation_id,
            actor,
            "survey",
            None,
            Some("sent"),
            now,
        )
        .await?;
        let message = inbox::message(&mut tx, message_id).await?;
        let conversation = inbox::conversation(&mut tx, due.conversation_id).await?;
        tx.commit().await?;
        Ok(Some((message, conversation)))
    }
}

/// A conversation whose survey waits for an answer, as ingest sees it.
#[derive(Debug, Clone)]
pub(in crate::store) struct SurveyWait {
    pub(in crate::store) survey_id: i64,
    /// `rating` or `comment`.
    pub(in crate::store) state: String,
    pub(in crate::store) until: i64,
    pub(in crate::store) language: Option<String>,
    pub(in crate::store) score: Option<i64>,
}

/// What one customer message did to its conversation's survey.
#[derive(Debug, Clone)]
pub(in crate::store) struct SurveyAnswer {
    pub(in crate::store) conversation_id: i64,
    pub(in crate::store) survey_id: i64,
    pub(in crate::store) score: u8,
    pub(in crate::store) comment: Option<String>,
    /// Whether this message was the comment (else a rating, maybe with a comment in it).
    pub(in crate::store) commented: bool,
    /// A rating given again after the first (a second button press): not thanked again.
    pub(in crate::store) changed: bool,
    pub(in crate::store) language: Option<String>,
}

/// The surveys waiting for an answer among `conversations` (one statement).
pub(in crate::store) async fn waiting(
    conn: &mut Conn,
    conversations: &[i64],
    now: i64,
) -> Result<HashMap<i64, SurveyWait>> {
    type Row = (i64, i64, String, i64, Option<String>, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(sql::SURVEYS_WAITING)
        .bind(serde_json::to_string(conversations).map_err(|e| StoreError::Invalid(e.to_string()))?)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, survey_id, state, until, language, score)| {
            (
                id,
                SurveyWait {
                    survey_id,
                    state,
                    until,
                    language,
                    score,
                },
            )
        })
        .collect())
}

/// Reads one customer message against its conversation's waiting survey: a rating while one
/// is asked for, the comment (or a changed rating) after a rating. `None`: an ordinary
/// message, which reopens the conversation as usual.
pub(in crate::store) fn answer(
    wait: &mut SurveyWait,
    conversation_id: i64,
    text: &str,
    rating: Option<&crate::automation::csat::Rating>,
    at: i64,
    settings: &SurveySettings,
) -> Option<SurveyAnswer> {
    if at > wait.until {
        return None;
    }
    let answer = match (wait.state.as_str(), rating) {
        ("rating", Some(r)) => SurveyAnswer {
            conversation_id,
            survey_id: wait.survey_id,
            score: r.score,
            comment: r.comment.clone(),
            commented: false,
            changed: false,
            language: wait.language.clone(),
        },
        // A second tap of a button, or a bare number: the customer changed their mind.
        ("comment", Some(r)) if r.comment.is_none() => SurveyAnswer {
            conversation_id,
            survey_id: wait.survey_id,
            score: r.score,
            comment: None,
            commented: false,
            changed: true,
            language: wait.language.clone(),
        },
        ("comment", _) if !text.trim().is_empty() => SurveyAnswer {
            conversation_id,
            survey_id: wait.survey_id,
            score: u8::try_from(wait.score.unwrap_or(0).clamp(1, 5)).unwrap_or(5),
            comment: Some(text.trim().to_owned()),
            commented: true,
            changed: false,
            language: wait.language.clone(),
        },
        _ => return None,
    };
    // After a rating without a comment, the next message within the window is the comment.
    if answer.comment.is_none() {
        wait.state = "comment".into();
        wait.until = at.saturating_add(settings.comment_window);
        wait.score = Some(i64::from(answer.score));
    } else {
        wait.state = "done".into();
    }
    Some(answer)
}

/// Records the group's survey answers on the surveys and their conversations, thanks the
/// customer once per answer (in the same transaction, so exactly once) and announces them.
pub(in crate::store) async fn record_answers(
    conn: &mut Conn,
    answers: &[SurveyAnswer],
    settings: &SurveySettings,
    channels: &HashMap<i64, String>,
    now: i64,
    listening: bool,
    events: &mut Vec<Event>,
) -> Result<()> {
    for a in answers {
        if a.commented {
            sqlx::query("UPDATE surveys SET comment = $2, commented_at = $3 WHERE id = $1")
                .bind(a.survey_id)
                .bind(&a.comment)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        } else {
            sqlx::query(
                "UPDATE surveys SET score = $2, comment = $3, rated_at = $4,
                     commented_at = CASE WHEN $3 IS NULL THEN NULL ELSE $4 END
                 WHERE id = $1",
            )
            .bind(a.survey_id)
            .bind(i64::from(a.score))
            .bind(&a.comment)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        let waits_for_comment = a.comment.is_none();
        sqlx::query(
            "UPDATE conversations SET csat_score = $2, csat_comment = $3, updated_at = $4,
                 survey_state = CASE WHEN $5 THEN 'comment' ELSE NULL END,
                 survey_until = CASE WHEN $5 THEN $6 ELSE NULL END
             WHERE id = $1",
        )
        .bind(a.conversation_id)
        .bind(i64::from(a.score))
        .bind(&a.comment)
        .bind(now)
        .bind(waits_for_comment)
        .bind(now.saturating_add(settings.comment_window))
        .execute(&mut *conn)
        .await?;
        let actor = queue::Actor::automation(ACTOR);
        let (field, value) = if a.commented {
            ("csat_comment", "added".to_owned())
        } else {
            ("csat", a.score.to_string())
        };
        queue::record(
            conn,
            a.conversation_id,
            actor,
            field,
            None,
            Some(&value),
            now,
        )
        .await?;
        let texts = if waits_for_comment {
            &settings.thanks
        } else {
            &settings.comment_thanks
        };
        let language = a.language.as_deref().unwrap_or("en");
        let thanks = texts.get(language).or_else(|| texts.get("en"));
        let channel = channels.get(&a.conversation_id);
        if let (Some(text), Some(channel), false) = (thanks, channel, a.changed)
            && !text.is_empty()
        {
            let reply = Outbound::automatic(a.conversation_id, channel, text);
            let id =
                outbox::queue_outbound(conn, reply, now, after_ms(now, settings.expiry)).await?;
            if listening {
                events.push(Event::MessageCreated(inbox::message(conn, id).await?));
            }
        }
        if listening {
            events.push(Event::CsatRated(crate::store::CsatRated {
                conversation_id: a.conversation_id,
                survey_id: a.survey_id,
                score: a.score,
                comment: a.comment.clone(),
            }));
            events.push(Event::ConversationUpdated(
                inbox::conversation(conn, a.conversation_id).await?,
            ));
        }
    }
    Ok(())
}
