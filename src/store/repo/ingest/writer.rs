//! The one writer task: gathers queued batches into a group, commits the group in one
//! transaction, and falls back to one batch per transaction when the group fails.

use super::*;

/// A connection for the writer alone, with its larger page cache. It is closed when the writer
/// lets it go, never handed back to the pool: readers would keep that cache (eight of them made
/// the daemon 1.3 GB large).
async fn writer_connection(store: &Repo) -> Result<PoolConnection<Db>> {
    let mut c = store.pool.acquire().await?;
    c.close_on_drop();
    prepare_writer(&mut c).await;
    Ok(c)
}

pub(in crate::store) async fn writer(store: Repo, mut rx: mpsc::Receiver<Job>) {
    let mut caches = Caches::default();
    // One connection for all ingest: its page cache stays warm because no other connection
    // writes in between (a pool would hand out connections whose caches another one staled).
    let mut conn: Option<PoolConnection<Db>> = None;
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        // Producers answered by the previous commit are still queueing their next batch: give
        // them a moment so this group is a full one rather than a handful (a few µs, no timer).
        for _ in 0..GATHER_YIELDS {
            if jobs.len() >= MAX_GROUP {
                break;
            }
            let before = jobs.len();
            tokio::task::yield_now().await;
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if jobs.len() == before {
                break;
            }
        }
        if conn.is_none() {
            match writer_connection(&store).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "ingest cannot get a database connection");
                    for job in jobs.drain(..) {
                        let _ = job.reply.send(Err(StoreError::Unavailable(format!(
                            "no database connection: {e}"
                        ))));
                    }
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connection acquired above");
        let result = commit_group(&store, c, &mut caches, &jobs).await;
        store.writes.record(&result);
        match result {
            Ok((reports, events)) => {
                store.bus.emit(|| events);
                for (job, report) in jobs.drain(..).zip(reports) {
                    count(&store, &job.channel, &report);
                    let _ = job.reply.send(Ok(report));
                }
            }
            Err(e) => {
                caches.rollback();
                if jobs.len() > 1 {
                    tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed, committing batches one by one");
                }
                // The connection itself may be what failed (a COMMIT that failed can leave it
                // inside the transaction): retry on a fresh one; the old one is closed.
                conn = None;
                for job in jobs.drain(..) {
                    if conn.is_none() {
                        conn = writer_connection(&store).await.ok();
                    }
                    let Some(c) = conn.as_mut() else {
                        let _ = job.reply.send(Err(StoreError::Unavailable(
                            "no database connection".into(),
                        )));
                        continue;
                    };
                    let result =
                        commit_group(&store, c, &mut caches, std::slice::from_ref(&job)).await;
                    store.writes.record(&result);
                    if result.is_err() {
                        conn = None;
                    }
                    let reply = match result {
                        Ok((mut reports, events)) => {
                            store.bus.emit(|| events);
                            reports.iter().for_each(|r| count(&store, &job.channel, r));
                            Ok(reports.pop().unwrap_or_default())
                        }
                        Err(e) => {
                            caches.rollback();
                            tracing::warn!(channel = %job.channel, error = %e, "inbound batch rejected");
                            Err(e)
                        }
                    };
                    let _ = job.reply.send(reply);
                }
            }
        }
    }
}

/// Every customer message stored now is queued for the front desk, in this transaction (so it
/// is answered exactly once whatever crashes); the first one of a conversation this group
/// opened or reopened is marked so, for the acknowledgement, and in its report.
async fn queue_automation(
    conn: &mut Conn,
    group: &mut Group<'_>,
    jobs: &[Job],
    opened: &[i64],
) -> Result<()> {
    let mut rows: Vec<(i64, i64, &str)> = Vec::new();
    let mut seen: Vec<i64> = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for (slot, item) in job.batch.iter().enumerate() {
            let report = &mut group.reports[j].items[slot];
            let (Outcome::Created, Some(message_id)) = (report.outcome, report.message_id) else {
                continue;
            };
            let inbound = &item.inbound;
            if inbound.auto_generated || inbound.quiet || group.answered.contains(&message_id) {
                continue;
            }
            let conversation = report.conversation_id;
            let first = !seen.contains(&conversation);
            seen.push(conversation);
            let trigger = if first && opened.contains(&conversation) {
                "opened"
            } else if first && group.reopened.contains(&conversation) {
                "reopened"
            } else {
                "message"
            };
            report.opened = trigger != "message";
            rows.push((message_id, conversation, trigger));
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(sql::QUEUE_AUTOMATION)
        .bind(to_json(&rows)?)
        .bind(group.now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) fn count(store: &Repo, channel: &str, report: &IngestReport) {
    use crate::metrics::INBOUND;
    let n = |o: Outcome| report.items.iter().filter(|i| i.outcome == o).count() as u64;
    let m = &store.metrics;
    m.add(INBOUND, channel, "created", n(Outcome::Created));
    m.add(INBOUND, channel, "updated", n(Outcome::Updated));
    m.add(INBOUND, channel, "duplicate", n(Outcome::Duplicate));
    m.add(INBOUND, channel, "skipped", n(Outcome::Skipped));
}

/// A new message waiting for the group's multi-row insert.
pub(super) struct PendingNew<'a> {
    pub(super) job: usize,
    pub(super) warning_expires_at: i64,
    pub(super) slot: usize,
    pub(super) channel: &'a Arc<str>,
    pub(super) item: &'a PreparedInbound,
    pub(super) identity: IdentityInfo,
    pub(super) conversation_id: i64,
}

pub(super) struct Group<'a> {
    pub(super) now: i64,
    pub(super) listening: bool,
    pub(super) reports: Vec<IngestReport>,
    pub(super) events: Vec<Event>,
    pub(super) pending: Vec<PendingNew<'a>>,
    /// Conversations that received new messages, with the newest message time.
    pub(super) touched: HashMap<i64, i64>,
    /// Conversations where the guard cut a secret from a message stored now, with the message.
    pub(super) flagged: Vec<(i64, &'a Arc<str>, &'a PreparedInbound, i64)>,
    pub(super) contact_names: HashMap<i64, String>,
    /// Conversations this group reopened (resolved or snoozed before).
    pub(super) reopened: Vec<i64>,
    /// Surveys waiting for an answer, of the conversations looked at so far.
    pub(super) surveys: HashMap<i64, Option<super::super::csat::SurveyWait>>,
    /// Messages that answered a survey: they neither reopen nor go to the front desk.
    pub(super) answers: Vec<super::super::csat::SurveyAnswer>,
    pub(super) answered: Vec<i64>,
    pub(super) answer_channels: HashMap<i64, String>,
}

pub(super) async fn commit_group(
    store: &Repo,
    conn: &mut PoolConnection<Db>,
    caches: &mut Caches,
    jobs: &[Job],
) -> Result<(Vec<IngestReport>, Vec<Event>)> {
    let mut tx = begin_write_on(conn).await?;
    // Read under the write lock: a merge that committed before it is visible here.
    let generation: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(value), 0) FROM store_counters WHERE name = 'merge_generation'",
    )
    .fetch_one(&mut *tx)
    .await?;
    if generation != caches.generation {
        caches.identities.clear();
        caches.generation = generation;
    }
    let mut group = Group {
        now: now_ms(),
        listening: store.bus.listening(),
        reports: jobs.iter().map(|_| IngestReport::default()).collect(),
        events: Vec::new(),
        pending: Vec::new(),
        touched: HashMap::new(),
        flagged: Vec::new(),
        contact_names: HashMap::new(),
        reopened: Vec::new(),
        surveys: HashMap::new(),
        answers: Vec::new(),
        answered: Vec::new(),
        answer_channels: HashMap::new(),
    };
    let opened = prefetch(&mut tx, caches, jobs, group.now).await?;
    // The people on new messages: (job, slot, conversation, addresses).
    let mut people: Vec<(usize, usize, i64, &[String])> = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for item in &job.batch {
            let inbound = &item.inbound;
            let identity = resolve_identity(&mut tx, caches, &job.channel, inbound).await?;
            group
                .contact_names
                .insert(identity.contact_id, identity.contact_name.clone());
            let conversation_id = caches
                .conversation(&(job.channel.clone(), inbound.thread_id.clone()))
                .ok_or_else(|| StoreError::Invalid("conversation was not resolved".into()))?;
            let slot = group.reports[j].items.len();
            group.reports[j].items.push(IngestItem {
                message_id: None,
                conversation_id,
                outcome: Outcome::Duplicate,
                secret_removed: item.secret_removed,
                opened: false,
                answered_survey: false,
            });
            if inbound.change == Change::New && !inbound.participants.is_empty() {
                people.push((j, slot, conversation_id, &inbound.participants));
            }
            match inbound.change {
                Change::New => group.pending.push(PendingNew {
                    job: j,
                    warning_expires_at: job.warning_expires_at,
                    slot,
                    channel: &job.channel,
                    item,
                    identity,
                    conversation_id,
                }),
                Change::Edited { at } | Change::Deleted { at } => {
                    // Earlier new messages of the group must exist before they can be edited.
                    flush_new(&mut tx, &mut group, store.survey_settings()).await?;
                    let deleted = matches!(inbound.change, Change::Deleted { .. });
                    let item_report = apply_change(
                        &mut tx,
                        &mut group,
                        &job.channel,
                        item,
                        &identity,
                        conversation_id,
                        at.timestamp_millis(),
                        deleted,
                    )
                    .await?;
                    if item.secret_removed && item_report.outcome != Outcome::Duplicate {
                        let expires = job.warning_expires_at;
                        group
                            .flagged
                            .push((conversation_id, &job.channel, item, expires));
                        group.touched.entry(conversation_id).or_insert(0);
                    }
                    group.reports[j].items[slot] = item_report;
                }
            }
        }
    }
    flush_new(&mut tx, &mut group, store.survey_settings()).await?;
    flag_conversations(&mut tx, &mut group).await?;
    if let Some(settings) = store.survey_settings() {
        super::super::csat::record_answers(
            &mut tx,
            &group.answers,
            settings,
            &group.answer_channels,
            group.now,
            group.listening,
            &mut group.events,
        )
        .await?;
    }
    touch_conversations(&mut tx, &mut group).await?;
    queue_automation(&mut tx, &mut group, jobs, &opened).await?;
    // Only messages stored now add people: a re-read old mail must not bring back someone an
    // agent took off the thread.
    let participants: Vec<(i64, &str)> = people
        .into_iter()
        .filter(|(j, slot, ..)| group.reports[*j].items[*slot].outcome == Outcome::Created)
        .flat_map(|(_, _, conversation, addresses)| {
            addresses.iter().map(move |a| (conversation, a.as_str()))
        })
        .collect();
    if !participants.is_empty() {
        sqlx::query(sql::ADD_PARTICIPANTS)
            .bind(to_json(&participants)?)
            .bind(group.now)
            .execute(&mut *tx)
            .await?;
    }
    let mut cursors: Vec<(&str, &str)> = Vec::new();
    for job in jobs {
        if let Some(cursor) = &job.cursor {
            cursors.retain(|(c, _)| *c != &*job.channel);
            cursors.push((&job.channel, cursor));
        }
    }
    for (channel, cursor) in cursors {
        sqlx::query(
            "INSERT INTO channel_cursors (channel, cursor, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (channel) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(channel)
        .bind(cursor)
        .bind(group.now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    caches.commit();
    Ok((group.reports, group.events))
}
