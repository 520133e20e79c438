//! Queue management: teams, labels, the activity timeline, automatic triage (priority, team,
//! labels, assignee, canned answers; see `store/desk.rs`), round-robin assignment and the
//! service-level clock (see `store/sla.rs`).

use super::*;
use crate::store::desk::{AssignPolicy, Triage};
use crate::store::sla::{SlaAnchors, SlaDue};
use crate::store::{Activity, Label, SlaBreach, Team, TeamSpec, TeamSpecById};

#[derive(sqlx::FromRow)]
struct TeamRow {
    id: i64,
    name: String,
    languages: String,
    auto_assign: bool,
    source: String,
}

#[derive(sqlx::FromRow)]
struct ActivityRow {
    id: i64,
    conversation_id: i64,
    agent_id: Option<i64>,
    actor: String,
    field: String,
    old_value: Option<String>,
    new_value: Option<String>,
    created_at: i64,
}

impl From<ActivityRow> for Activity {
    fn from(r: ActivityRow) -> Self {
        Activity {
            id: r.id,
            conversation_id: r.conversation_id,
            agent_id: r.agent_id,
            actor: r.actor,
            field: r.field,
            old_value: r.old_value,
            new_value: r.new_value,
            at: from_millis(r.created_at),
        }
    }
}

/// Who made a change, for the timeline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Actor<'a> {
    pub agent_id: Option<i64>,
    pub name: &'a str,
}

impl<'a> Actor<'a> {
    /// Automation: a rule, a detector, the assignment.
    pub(crate) fn automation(name: &'a str) -> Self {
        Self {
            agent_id: None,
            name,
        }
    }
}

pub(crate) async fn record(
    conn: &mut Conn,
    conversation_id: i64,
    actor: Actor<'_>,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO conversation_activity
             (conversation_id, agent_id, actor, field, old_value, new_value, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(conversation_id)
    .bind(actor.agent_id)
    .bind(actor.name)
    .bind(field)
    .bind(old)
    .bind(new)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Timeline entries for every workflow field that differs between `before` and `after`.
pub(crate) async fn record_changes(
    conn: &mut Conn,
    before: &Conversation,
    after: &Conversation,
    actor: Actor<'_>,
    now: i64,
) -> Result<()> {
    let id = after.id;
    if before.status != after.status {
        let (old, new) = (before.status.as_str(), after.status.as_str());
        record(conn, id, actor, "status", Some(old), Some(new), now).await?;
    }
    if before.priority != after.priority {
        let (old, new) = (before.priority.as_str(), after.priority.as_str());
        record(conn, id, actor, "priority", Some(old), Some(new), now).await?;
    }
    if before.assignee_id != after.assignee_id {
        let (old, new) = (
            before.assignee_id.map(|a| a.to_string()),
            after.assignee_id.map(|a| a.to_string()),
        );
        record(
            conn,
            id,
            actor,
            "assignee",
            old.as_deref(),
            new.as_deref(),
            now,
        )
        .await?;
    }
    if before.team != after.team {
        let (old, new) = (before.team.as_deref(), after.team.as_deref());
        record(conn, id, actor, "team", old, new, now).await?;
    }
    if before.labels != after.labels {
        let (old, new) = (before.labels.join(", "), after.labels.join(", "));
        let old = (!old.is_empty()).then_some(old.as_str());
        let new = (!new.is_empty()).then_some(new.as_str());
        record(conn, id, actor, "labels", old, new, now).await?;
    }
    Ok(())
}

/// A colour for a label nobody chose one for: stable per name, from a small readable palette.
pub(crate) fn default_color(name: &str) -> &'static str {
    const PALETTE: [&str; 8] = [
        "#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777",
    ];
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()]
}

/// Labels are short free text without the characters that would make the JSON list or a
/// filter ambiguous.
pub(crate) fn check_label(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 40 {
        return Err(StoreError::Invalid(format!(
            "label {name:?}: 1 to 40 characters"
        )));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\' || c == ',')
    {
        return Err(StoreError::Invalid(format!(
            "label {name:?}: no quotes, backslashes, commas or control characters"
        )));
    }
    Ok(name.to_owned())
}

/// Makes sure each label has a colour row (a new one gets its default colour).
async fn ensure_labels(conn: &mut Conn, labels: &[String], now: i64) -> Result<()> {
    for label in labels {
        sqlx::query(
            "INSERT INTO labels (name, color, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(label)
        .bind(default_color(label))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Writes the conversation's labels (already checked and de-duplicated).
pub(crate) async fn set_labels(
    conn: &mut Conn,
    conversation_id: i64,
    labels: &[String],
    now: i64,
) -> Result<()> {
    ensure_labels(conn, labels, now).await?;
    let json = serde_json::to_string(labels)
        .map_err(|e| StoreError::Invalid(format!("encoding labels: {e}")))?;
    sqlx::query("UPDATE conversations SET labels = $2 WHERE id = $1")
        .bind(conversation_id)
        .bind(json)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The team member to give a conversation to: online (seen since `online_since`), below
/// `capacity` open conversations, and assigned least recently (round-robin).
async fn pick_assignee(
    conn: &mut Conn,
    team_id: i64,
    policy: &AssignPolicy,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT a.id FROM team_members m JOIN agents a ON a.id = m.agent_id
         WHERE m.team_id = $1 AND a.disabled_at IS NULL AND a.last_active_at >= $2
           AND (SELECT COUNT(*) FROM conversations c
                WHERE c.assignee_id = a.id AND c.status = 'open') < $3
         ORDER BY COALESCE(a.last_assigned_at, 0), a.id LIMIT 1",
    )
    .bind(team_id)
    .bind(policy.online_since)
    .bind(policy.capacity)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Gives an open, unassigned conversation of an auto-assigning team to the next member;
/// returns whether it did.
pub(crate) async fn auto_assign(
    conn: &mut Conn,
    conversation_id: i64,
    policy: &AssignPolicy,
    now: i64,
) -> Result<bool> {
    /// Team, assignee, status, whether the team assigns automatically.
    type Row = (Option<i64>, Option<i64>, String, Option<bool>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT c.team_id, c.assignee_id, c.status, t.auto_assign
         FROM conversations c LEFT JOIN teams t ON t.id = c.team_id WHERE c.id = $1",
    )
    .bind(conversation_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((Some(team_id), None, status, Some(true))) = row else {
        return Ok(false);
    };
    if status != "open" {
        return Ok(false);
    }
    let Some(agent) = pick_assignee(conn, team_id, policy).await? else {
        return Ok(false);
    };
    sqlx::query("UPDATE conversations SET assignee_id = $2, updated_at = $3 WHERE id = $1")
        .bind(conversation_id)
        .bind(agent)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE agents SET last_assigned_at = $2 WHERE id = $1")
        .bind(agent)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let actor = Actor::automation("assignment");
    let new = agent.to_string();
    record(
        conn,
        conversation_id,
        actor,
        "assignee",
        None,
        Some(&new),
        now,
    )
    .await?;
    Ok(true)
}

/// Applies automation's triage to a conversation inside the caller's transaction: priority
/// only ever raised, a team only where no agent chose one, labels added, an assignee only
/// where there is none, each canned answer at most once per conversation. Returns the ids of
/// the canned answers queued.
pub(crate) async fn apply_triage(
    conn: &mut Conn,
    conversation_id: i64,
    channel: &str,
    triage: &Triage,
    now: i64,
    expires_at: i64,
) -> Result<Vec<i64>> {
    let current = inbox::conversation(conn, conversation_id).await?;
    if let Some(change) = &triage.priority
        && change.value.rank() > current.priority.rank()
    {
        sqlx::query(
            "UPDATE conversations SET priority = $2, priority_reason = $3, updated_at = $4
             WHERE id = $1",
        )
        .bind(conversation_id)
        .bind(change.value.as_str())
        .bind(&change.reason)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let actor = Actor::automation(&change.actor);
        let (old, new) = (current.priority.as_str(), change.value.as_str());
        record(
            conn,
            conversation_id,
            actor,
            "priority",
            Some(old),
            Some(new),
            now,
        )
        .await?;
    }
    let team_source: Option<String> =
        sqlx::query_scalar("SELECT team_source FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_one(&mut *conn)
            .await?;
    if team_source.as_deref() != Some("agent") {
        let wanted: Option<(i64, String, &str)> = match &triage.team {
            Some(change) => sqlx::query_as("SELECT id, name FROM teams WHERE name = $1")
                .bind(&change.value)
                .fetch_optional(&mut *conn)
                .await?
                .map(|(id, name): (i64, String)| (id, name, change.actor.as_str())),
            // No rule named a team: the first team answering in the customer's language.
            None if current.team_id.is_none() => match &triage.language {
                Some(language) => {
                    let pattern = format!("%\"{language}\"%");
                    sqlx::query_as(
                        "SELECT id, name FROM teams WHERE languages LIKE $1 ORDER BY id LIMIT 1",
                    )
                    .bind(pattern)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|(id, name): (i64, String)| (id, name, "language"))
                }
                None => None,
            },
            None => None,
        };
        if let Some((team_id, name, actor)) = wanted
            && current.team_id != Some(team_id)
        {
            sqlx::query(
                "UPDATE conversations SET team_id = $2, team_source = 'rule', updated_at = $3
                 WHERE id = $1",
            )
            .bind(conversation_id)
            .bind(team_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let actor = Actor::automation(actor);
            record(
                conn,
                conversation_id,
                actor,
                "team",
                current.team.as_deref(),
                Some(&name),
                now,
            )
            .await?;
        }
    }
    let mut labels = current.labels.clone();
    let mut added = Vec::new();
    for change in &triage.labels {
        let Ok(label) = check_label(&change.value) else {
            continue;
        };
        if !labels.contains(&label) {
            labels.push(label.clone());
            added.push((label, change.actor.as_str()));
        }
    }
    if !added.is_empty() {
        set_labels(conn, conversation_id, &labels, now).await?;
        for (label, actor) in added {
            let actor = Actor::automation(actor);
            record(
                conn,
                conversation_id,
                actor,
                "labels",
                None,
                Some(&label),
                now,
            )
            .await?;
        }
    }
    if let Some(change) = &triage.assignee
        && current.assignee_id.is_none()
    {
        let agent: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM agents WHERE lower(email) = lower($1) AND disabled_at IS NULL",
        )
        .bind(&change.value)
        .fetch_optional(&mut *conn)
        .await?;
        match agent {
            Some(agent) => {
                sqlx::query(
                    "UPDATE conversations SET assignee_id = $2, updated_at = $3 WHERE id = $1",
                )
                .bind(conversation_id)
                .bind(agent)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let actor = Actor::automation(&change.actor);
                let new = agent.to_string();
                record(
                    conn,
                    conversation_id,
                    actor,
                    "assignee",
                    None,
                    Some(&new),
                    now,
                )
                .await?;
            }
            None => tracing::warn!(actor = %change.actor, agent = %change.value,
                "routing rule names no active agent; left unassigned"),
        }
    }
    if let Some(policy) = &triage.auto_assign {
        auto_assign(conn, conversation_id, policy, now).await?;
    }
    let mut queued = Vec::new();
    let mut budget = triage.reply_budget;
    for change in &triage.canned {
        if budget <= 0 {
            break;
        }
        let sent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM conversation_activity
             WHERE conversation_id = $1 AND field = 'canned_answer' AND new_value = $2",
        )
        .bind(conversation_id)
        .bind(&change.value)
        .fetch_one(&mut *conn)
        .await?;
        if sent > 0 {
            continue;
        }
        let text: Option<String> =
            sqlx::query_scalar("SELECT text FROM canned_answers WHERE shortcut = $1")
                .bind(&change.value)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(text) = text else {
            tracing::warn!(actor = %change.actor, shortcut = %change.value,
                "routing rule names no canned answer; nothing sent");
            continue;
        };
        let reply = crate::store::outbox::Outbound::automatic(conversation_id, channel, &text);
        queued.push(outbox::queue_outbound(conn, reply, now, expires_at).await?);
        budget -= 1;
        let actor = Actor::automation(&change.actor);
        record(
            conn,
            conversation_id,
            actor,
            "canned_answer",
            None,
            Some(&change.value),
            now,
        )
        .await?;
    }
    Ok(queued)
}

/// What the SLA clock starts from, read inside the caller's transaction.
async fn anchors(conn: &mut Conn, conversation_id: i64) -> Result<(SlaAnchors, Priority, Status)> {
    let (created_at, reopened_at, first_replied_at, priority, status): (
        i64,
        Option<i64>,
        Option<i64>,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT created_at, reopened_at, first_replied_at, priority, status
         FROM conversations WHERE id = $1",
    )
    .bind(conversation_id)
    .fetch_one(&mut *conn)
    .await?;
    let waiting_since: Option<i64> = if first_replied_at.is_some() {
        sqlx::query_scalar(
            "SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = $1
               AND m.direction = 'inbound'
               AND m.id > (SELECT COALESCE(MAX(o.id), 0) FROM messages o
                   WHERE o.conversation_id = $1 AND o.direction = 'outbound'
                   AND o.sender_agent_id IS NOT NULL)",
        )
        .bind(conversation_id)
        .fetch_one(&mut *conn)
        .await?
    } else {
        None
    };
    Ok((
        SlaAnchors {
            opened_at: reopened_at.unwrap_or(created_at).max(created_at),
            first_replied_at,
            waiting_since,
        },
        Priority::parse(&priority).unwrap_or(Priority::Normal),
        Status::parse(&status).unwrap_or(Status::Open),
    ))
}

/// Recomputes the conversation's due times with `clock` (after a message, a reply, a
/// change of priority or status) and records a resolution given late (`resolving`). Returns
/// breaches newly recorded.
pub(crate) async fn refresh_sla(
    conn: &mut Conn,
    clock: Option<&dyn crate::store::sla::SlaClock>,
    conversation_id: i64,
    resolving: bool,
    now: i64,
) -> Result<Vec<SlaBreach>> {
    let Some(clock) = clock else {
        return Ok(Vec::new());
    };
    let (anchors, priority, status) = anchors(conn, conversation_id).await?;
    let due = clock.due(priority, &anchors);
    let breaches: String =
        sqlx::query_scalar("SELECT sla_breaches FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_one(&mut *conn)
            .await?;
    let mut breaches = string_list(&breaches);
    let mut new = Vec::new();
    if resolving
        && let Some(at) = due.resolution
        && now > at
        && !breaches.iter().any(|b| b == crate::store::sla::RESOLUTION)
    {
        breaches.push(crate::store::sla::RESOLUTION.to_owned());
        new.push(SlaBreach {
            conversation_id,
            target: crate::store::sla::RESOLUTION.to_owned(),
            priority,
            due_at: from_millis(at),
        });
    }
    let watch = due.watch(anchors.first_replied_at, status, now);
    let json = serde_json::to_string(&breaches)
        .map_err(|e| StoreError::Invalid(format!("encoding breaches: {e}")))?;
    sqlx::query(
        "UPDATE conversations SET sla_first_response_due = $2, sla_next_response_due = $3,
             sla_resolution_due = $4, sla_breaches = $5, sla_watch = $6 WHERE id = $1",
    )
    .bind(conversation_id)
    .bind(due.first_response)
    .bind(due.next_response)
    .bind(due.resolution)
    .bind(json)
    .bind(watch.or(sweep_missed(&due, &breaches, &anchors, status, now)))
    .execute(&mut *conn)
    .await?;
    Ok(new)
}

/// A target already past but not yet recorded is for the sweeper now.
fn sweep_missed(
    due: &SlaDue,
    breaches: &[String],
    anchors: &SlaAnchors,
    status: Status,
    now: i64,
) -> Option<i64> {
    due.missed(anchors.first_replied_at, status, now)
        .iter()
        .any(|t| !breaches.iter().any(|b| b == t))
        .then_some(now)
}

impl Repo {
    /// Hands the store the SLA policies (once, at start).
    pub fn set_sla_clock(&self, clock: std::sync::Arc<dyn crate::store::sla::SlaClock>) {
        let _ = self.clock.set(clock);
    }

    pub(crate) fn clock(&self) -> Option<&dyn crate::store::sla::SlaClock> {
        self.clock.get().map(|c| c.as_ref())
    }

    /// Writes the configured teams (by name; members by email), leaving teams created by the
    /// API alone. A member email naming no agent is returned, for the log.
    pub async fn sync_teams(&self, teams: &[TeamSpec]) -> Result<Vec<String>> {
        let mut tx = begin_write(&self.pool).await?;
        let now = now_ms();
        let mut unknown = Vec::new();
        for team in teams {
            let languages = serde_json::to_string(&team.languages)
                .map_err(|e| StoreError::Invalid(format!("encoding languages: {e}")))?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO teams (name, languages, auto_assign, source, created_at)
                 VALUES ($1, $2, $3, 'config', $4)
                 ON CONFLICT (name) DO UPDATE SET languages = excluded.languages,
                     auto_assign = excluded.auto_assign, source = 'config'
                 RETURNING id",
            )
            .bind(&team.name)
            .bind(languages)
            .bind(team.auto_assign)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM team_members WHERE team_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for email in &team.members {
                let agent: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM agents WHERE lower(email) = lower($1)")
                        .bind(email)
                        .fetch_optional(&mut *tx)
                        .await?;
                match agent {
                    Some(agent) => {
                        sqlx::query(
                            "INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2)
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(id)
                        .bind(agent)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => unknown.push(format!("team {:?}: no agent {email}", team.name)),
                }
            }
        }
        tx.commit().await?;
        Ok(unknown)
    }

    pub async fn teams(&self) -> Result<Vec<Team>> {
        let rows: Vec<TeamRow> = sqlx::query_as(
            "SELECT id, name, languages, auto_assign, source FROM teams ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        let members: Vec<(i64, i64)> =
            sqlx::query_as("SELECT team_id, agent_id FROM team_members ORDER BY agent_id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| Team {
                members: members
                    .iter()
                    .filter(|(t, _)| *t == r.id)
                    .map(|(_, a)| *a)
                    .collect(),
                id: r.id,
                name: r.name,
                languages: string_list(&r.languages),
                auto_assign: r.auto_assign,
                source: r.source,
            })
            .collect())
    }

    pub async fn team(&self, id: i64) -> Result<Team> {
        self.teams()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(StoreError::NotFound)
    }

    /// Creates (`id` None) or replaces an API team; configured teams are refused.
    pub async fn save_team(&self, id: Option<i64>, team: &TeamSpecById) -> Result<Team> {
        let mut tx = begin_write(&self.pool).await?;
        let languages = serde_json::to_string(&team.languages)
            .map_err(|e| StoreError::Invalid(format!("encoding languages: {e}")))?;
        let id = match id {
            None => {
                let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM teams WHERE name = $1")
                    .bind(&team.name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "a team is already named {:?}",
                        team.name
                    )));
                }
                sqlx::query_scalar(
                    "INSERT INTO teams (name, languages, auto_assign, source, created_at)
                     VALUES ($1, $2, $3, 'api', $4) RETURNING id",
                )
                .bind(&team.name)
                .bind(&languages)
                .bind(team.auto_assign)
                .bind(now_ms())
                .fetch_one(&mut *tx)
                .await?
            }
            Some(id) => {
                let source: Option<String> =
                    sqlx::query_scalar("SELECT source FROM teams WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match source.as_deref() {
                    None => return Err(StoreError::NotFound),
                    Some("config") => {
                        return Err(StoreError::Conflict(
                            "this team is defined in the configuration file; change it there"
                                .into(),
                        ));
                    }
                    Some(_) => {}
                }
                let other: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM teams WHERE name = $1 AND id <> $2")
                        .bind(&team.name)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if other.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "a team is already named {:?}",
                        team.name
                    )));
                }
                sqlx::query(
                    "UPDATE teams SET name = $2, languages = $3, auto_assign = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(&team.name)
                .bind(&languages)
                .bind(team.auto_assign)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM team_members WHERE team_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
        };
        for agent in &team.members {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM agents WHERE id = $1")
                .bind(agent)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::Invalid(format!("members: no agent {agent}")));
            }
            sqlx::query(
                "INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(agent)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.team(id).await
    }

    /// Deletes an API team; its conversations keep their place in the inbox without a team.
    pub async fn delete_team(&self, id: i64) -> Result<()> {
        let mut tx = begin_write(&self.pool).await?;
        let source: Option<String> = sqlx::query_scalar("SELECT source FROM teams WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        match source.as_deref() {
            None => return Err(StoreError::NotFound),
            Some("config") => {
                return Err(StoreError::Conflict(
                    "this team is defined in the configuration file; remove it there".into(),
                ));
            }
            Some(_) => {}
        }
        sqlx::query(
            "UPDATE conversations SET team_id = NULL, team_source = NULL WHERE team_id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn labels(&self) -> Result<Vec<Label>> {
        Ok(
            sqlx::query_as::<_, (String, String)>("SELECT name, color FROM labels ORDER BY name")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(name, color)| Label { name, color })
                .collect(),
        )
    }

    /// Creates a label or changes its colour.
    pub async fn save_label(&self, name: &str, color: &str) -> Result<Label> {
        let name = check_label(name)?;
        let valid = color.len() == 7
            && color.starts_with('#')
            && color[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !valid {
            return Err(StoreError::Invalid(format!(
                "color {color:?}: expected #rrggbb"
            )));
        }
        let color = color.to_ascii_lowercase();
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO labels (name, color, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET color = excluded.color",
        )
        .bind(&name)
        .bind(&color)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Label { name, color })
    }

    /// The timeline of a conversation's workflow changes, oldest first (at most 1,000).
    pub async fn activity(&self, conversation_id: i64) -> Result<Vec<Activity>> {
        let mut conn = self.pool.acquire().await?;
        inbox::conversation(&mut conn, conversation_id).await?;
        let rows: Vec<ActivityRow> = sqlx::query_as(
            "SELECT * FROM (SELECT id, conversation_id, agent_id, actor, field, old_value,
                 new_value, created_at FROM conversation_activity WHERE conversation_id = $1
                 ORDER BY id DESC LIMIT 1000) AS page ORDER BY id",
        )
        .bind(conversation_id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(Activity::from).collect())
    }

    /// Records the targets that fell due unmet since the last sweep, once each (the update is
    /// conditional on the watch time read, so one daemon of several records it), and
    /// announces them. Returns the breaches recorded.
    pub async fn sla_sweep(&self, limit: i64) -> Result<Vec<SlaBreach>> {
        let now = now_ms();
        let due: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, sla_watch FROM conversations WHERE sla_watch <= $1
             ORDER BY sla_watch LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut all = Vec::new();
        for (id, watch) in due {
            let mut tx = begin_write(&self.pool).await?;
            #[allow(clippy::type_complexity)]
            let row: Option<(
                Option<i64>,
                Option<i64>,
                Option<i64>,
                Option<i64>,
                String,
                String,
                String,
            )> = sqlx::query_as(
                "SELECT sla_first_response_due, sla_next_response_due, sla_resolution_due,
                     first_replied_at, sla_breaches, status, priority
                 FROM conversations WHERE id = $1 AND sla_watch = $2",
            )
            .bind(id)
            .bind(watch)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((first, next, resolution, replied, breaches, status, priority)) = row else {
                continue;
            };
            let due = SlaDue {
                first_response: first,
                next_response: next,
                resolution,
            };
            let status = Status::parse(&status).unwrap_or(Status::Open);
            let priority = Priority::parse(&priority).unwrap_or(Priority::Normal);
            let mut breaches = string_list(&breaches);
            let mut new = Vec::new();
            for target in due.missed(replied, status, now) {
                if breaches.iter().any(|b| b == target) {
                    continue;
                }
                breaches.push(target.to_owned());
                let at = match target {
                    crate::store::sla::FIRST_RESPONSE => first,
                    crate::store::sla::NEXT_RESPONSE => next,
                    _ => resolution,
                };
                new.push(SlaBreach {
                    conversation_id: id,
                    target: target.to_owned(),
                    priority,
                    due_at: from_millis(at.unwrap_or(now)),
                });
            }
            // Strictly after now: what fell due at this instant was just considered.
            let next_watch = due
                .watch(replied, status, now.saturating_add(1))
                .filter(|w| *w > now);
            let json = serde_json::to_string(&breaches)
                .map_err(|e| StoreError::Invalid(format!("encoding breaches: {e}")))?;
            sqlx::query("UPDATE conversations SET sla_breaches = $2, sla_watch = $3 WHERE id = $1")
                .bind(id)
                .bind(json)
                .bind(next_watch)
                .execute(&mut *tx)
                .await?;
            let conversation = if new.is_empty() {
                None
            } else {
                Some(inbox::conversation(&mut tx, id).await?)
            };
            tx.commit().await?;
            if let Some(conversation) = conversation {
                for breach in &new {
                    self.metrics.add(
                        crate::metrics::SLA_BREACHES,
                        &conversation.channel,
                        target_label(&breach.target),
                        1,
                    );
                }
                let events = new.clone();
                self.bus.emit(|| {
                    let mut out: Vec<Event> = events.into_iter().map(Event::SlaBreached).collect();
                    out.push(Event::ConversationUpdated(conversation));
                    out
                });
                all.extend(new);
            }
        }
        Ok(all)
    }

    /// Gives waiting conversations of auto-assigning teams to members who came online or
    /// have room again, oldest first; returns how many were assigned.
    pub async fn assign_waiting(&self, policy: &AssignPolicy, limit: i64) -> Result<usize> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT c.id FROM conversations c JOIN teams t ON t.id = c.team_id
             WHERE c.status = 'open' AND c.assignee_id IS NULL AND t.auto_assign
             ORDER BY c.created_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut assigned = 0;
        for id in ids {
            let mut tx = begin_write(&self.pool).await?;
            let now = now_ms();
            if auto_assign(&mut tx, id, policy, now).await? {
                let conversation = inbox::conversation(&mut tx, id).await?;
                tx.commit().await?;
                assigned += 1;
                self.bus
                    .emit(|| vec![Event::ConversationUpdated(conversation)]);
            }
            // Else nobody of its team has room: rolled back, the next may have a team that does.
        }
        Ok(assigned)
    }
}

/// The metrics label of a target (a `&'static str` for the counter's key).
fn target_label(target: &str) -> &'static str {
    match target {
        crate::store::sla::FIRST_RESPONSE => crate::store::sla::FIRST_RESPONSE,
        crate::store::sla::NEXT_RESPONSE => crate::store::sla::NEXT_RESPONSE,
        _ => crate::store::sla::RESOLUTION,
    }
}
