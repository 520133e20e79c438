//! Agents' private notes on conversations and the team's canned answers.

use super::*;

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: i64,
    conversation_id: i64,
    agent_id: i64,
    agent_name: String,
    text: String,
    created_at: i64,
}

impl From<NoteRow> for Note {
    fn from(r: NoteRow) -> Self {
        Note {
            id: r.id,
            conversation_id: r.conversation_id,
            agent_id: r.agent_id,
            agent_name: r.agent_name,
            text: r.text,
            created_at: from_millis(r.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct CannedRow {
    id: i64,
    shortcut: String,
    title: String,
    text: String,
    updated_at: i64,
}

impl From<CannedRow> for CannedAnswer {
    fn from(r: CannedRow) -> Self {
        CannedAnswer {
            id: r.id,
            shortcut: r.shortcut,
            title: r.title,
            text: r.text,
            updated_at: from_millis(r.updated_at),
        }
    }
}

fn unique_shortcut(e: sqlx::Error, shortcut: &str) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("a canned answer with shortcut {shortcut:?} exists"))
        }
        e => e.into(),
    }
}

impl Repo {
    pub async fn add_note(&self, conversation_id: i64, agent: &Agent, text: &str) -> Result<Note> {
        let mut tx = begin_write(&self.pool).await?;
        inbox::conversation(&mut tx, conversation_id).await?;
        let row: NoteRow = sqlx::query_as(
            "INSERT INTO notes (conversation_id, agent_id, text, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id, conversation_id, agent_id, $5 AS agent_name, text, created_at",
        )
        .bind(conversation_id)
        .bind(agent.id)
        .bind(text)
        .bind(now_ms())
        .bind(&agent.name)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let note = Note::from(row);
        let event = note.clone();
        self.bus.emit(|| vec![Event::NoteCreated(event)]);
        Ok(note)
    }

    pub async fn notes(&self, conversation_id: i64) -> Result<Vec<Note>> {
        let mut conn = self.pool.acquire().await?;
        inbox::conversation(&mut conn, conversation_id).await?;
        let rows: Vec<NoteRow> = sqlx::query_as(
            "SELECT n.id, n.conversation_id, n.agent_id, a.name AS agent_name, n.text, n.created_at
             FROM notes n JOIN agents a ON a.id = n.agent_id
             WHERE n.conversation_id = $1 ORDER BY n.id",
        )
        .bind(conversation_id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Canned answers whose shortcut, title or text contains `query`, by shortcut.
    pub async fn canned_answers(&self, query: Option<&str>) -> Result<Vec<CannedAnswer>> {
        let like = query.map(crate::store::contains_pattern);
        let rows: Vec<CannedRow> = sqlx::query_as(
            "SELECT id, shortcut, title, text, updated_at FROM canned_answers
             WHERE $1 IS NULL OR shortcut LIKE $1 ESCAPE '\\' OR title LIKE $1 ESCAPE '\\'
                 OR text LIKE $1 ESCAPE '\\'
             ORDER BY shortcut",
        )
        .bind(like)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn add_canned_answer(
        &self,
        agent: &Agent,
        shortcut: &str,
        title: &str,
        text: &str,
    ) -> Result<CannedAnswer> {
        let now = now_ms();
        let row: CannedRow = sqlx::query_as(
            "INSERT INTO canned_answers (shortcut, title, text, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id, shortcut, title, text, updated_at",
        )
        .bind(shortcut)
        .bind(title)
        .bind(text)
        .bind(agent.id)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| unique_shortcut(e, shortcut))?;
        Ok(row.into())
    }

    pub async fn update_canned_answer(
        &self,
        id: i64,
        shortcut: Option<&str>,
        title: Option<&str>,
        text: Option<&str>,
    ) -> Result<CannedAnswer> {
        let row: Option<CannedRow> = sqlx::query_as(
            "UPDATE canned_answers SET shortcut = COALESCE($2, shortcut), title = COALESCE($3, title),
                 text = COALESCE($4, text), updated_at = $5
             WHERE id = $1 RETURNING id, shortcut, title, text, updated_at",
        )
        .bind(id)
        .bind(shortcut)
        .bind(title)
        .bind(text)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unique_shortcut(e, shortcut.unwrap_or_default()))?;
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    pub async fn delete_canned_answer(&self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM canned_answers WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
