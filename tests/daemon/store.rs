//! Ingest through the library: idempotency, edits and deletes as revisions, cursor atomicity,
//! attachments, concurrent group commits.

use bytes::Bytes;
use chrono::Utc;
use switchboard::store::{FileStore, Ingestor, Storage, Store};
use switchboard_core::{AttachmentData, Change, Inbound, InboundAttachment, Sender};
use tempfile::TempDir;

async fn store() -> (Store, Ingestor, TempDir) {
    let dir = TempDir::new().unwrap();
    let url = crate::postgres::database_url(dir.path());
    let storage = Storage::open(&url, &dir.path().join("data")).await.unwrap();
    let store = storage.store.clone();
    let backend = if crate::postgres::on_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(store.backend_name(), backend);
    let ingestor = storage.ingestor();
    (store, ingestor, dir)
}

fn photo() -> InboundAttachment {
    InboundAttachment {
        filename: "receipt.png".into(),
        content_type: "image/png".into(),
        data: AttachmentData::Bytes(Bytes::from_static(b"\x89PNG fake")),
    }
}

fn msg(thread: &str, id: &str, text: &str) -> Inbound {
    Inbound::text(thread, id, Sender::new("u1", "Dana"), text)
}

#[tokio::test]
async fn messages_and_cursor_commit_together_and_replay_is_harmless() {
    let (store, ingestor, _dir) = store().await;
    let batch = vec![
        msg("t1", "1", "a"),
        msg("t1", "2", "b"),
        msg("t2", "3", "c"),
    ];
    ingestor
        .ingest("tg", batch.clone(), Some("offset=3".into()))
        .await
        .unwrap();
    assert_eq!(
        store.cursor("tg").await.unwrap().as_deref(),
        Some("offset=3")
    );
    // The adapter crashed before acknowledging upstream and receives the same batch again.
    let report = ingestor
        .ingest("tg", batch, Some("offset=3".into()))
        .await
        .unwrap();
    assert!(
        report.items.iter().all(|i| i.message_id.is_none()),
        "{report:?}"
    );
    let (conversations, _) = store.list_conversations(&Default::default()).await.unwrap();
    assert_eq!(conversations.len(), 2);
    let total = store.messages(conversations[0].id).await.unwrap().len()
        + store.messages(conversations[1].id).await.unwrap().len();
    assert_eq!(total, 3);
    // The same external id on another channel is another message.
    let other = ingestor
        .ingest("discord", vec![msg("t1", "1", "a")], None)
        .await
        .unwrap();
    assert!(other.items[0].message_id.is_some());
}

#[tokio::test]
async fn edits_and_deletes_keep_the_earlier_text_as_history() {
    let (store, ingestor, _dir) = store().await;
    let r = ingestor
        .ingest("tg", vec![msg("t1", "1", "send to 0xABC")], None)
        .await
        .unwrap();
    let id = r.items[0].message_id.unwrap();
    let edited_at = Utc::now();
    let edit = Inbound {
        change: Change::Edited { at: edited_at },
        ..msg("t1", "1", "send to 0xDEF")
    };
    ingestor
        .ingest("tg", vec![edit.clone()], None)
        .await
        .unwrap();
    // The same edit delivered twice adds no second revision.
    ingestor.ingest("tg", vec![edit], None).await.unwrap();
    let m = store.message(id).await.unwrap();
    assert_eq!(m.text, "send to 0xDEF");
    assert_eq!(
        m.edited_at.unwrap().timestamp_millis(),
        edited_at.timestamp_millis()
    );
    assert_eq!(m.revisions.len(), 1);
    assert_eq!(m.revisions[0].text, "send to 0xABC");
    assert_eq!(m.revisions[0].kind, "edit");

    let delete = Inbound {
        change: Change::Deleted { at: Utc::now() },
        ..msg("t1", "1", "")
    };
    ingestor.ingest("tg", vec![delete], None).await.unwrap();
    let m = store.message(id).await.unwrap();
    assert!(m.deleted_at.is_some());
    assert_eq!(m.text, "send to 0xDEF", "content stays visible to agents");
    assert_eq!(m.revisions.len(), 2);

    // Deleting a message never seen is skipped, not invented.
    let ghost = Inbound {
        change: Change::Deleted { at: Utc::now() },
        ..msg("t1", "99", "")
    };
    let r = ingestor.ingest("tg", vec![ghost], None).await.unwrap();
    assert!(r.items[0].message_id.is_none());
    assert_eq!(
        store
            .messages(r.items[0].conversation_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn attachments_are_stored_content_addressed_and_missing_ones_keep_a_note() {
    let (store, ingestor, dir) = store().await;
    let photo = photo();
    let huge = InboundAttachment {
        filename: "video.mp4".into(),
        content_type: "video/mp4".into(),
        data: AttachmentData::Missing {
            note: "larger than the 20 MB Bot API limit".into(),
            size: Some(50_000_000),
        },
    };
    let inbound = Inbound {
        attachments: vec![photo.clone(), huge],
        ..msg("t1", "1", "see attached")
    };
    let again = Inbound {
        attachments: vec![photo],
        ..msg("t2", "2", "same file")
    };
    let r = ingestor
        .ingest("tg", vec![inbound, again], None)
        .await
        .unwrap();
    let m = store.message(r.items[0].message_id.unwrap()).await.unwrap();
    assert_eq!(m.attachments.len(), 2);
    assert!(m.attachments[0].url.is_some());
    assert_eq!(m.attachments[0].size, Some(9));
    assert_eq!(m.attachments[1].url, None);
    assert_eq!(
        m.attachments[1].note.as_deref(),
        Some("larger than the 20 MB Bot API limit")
    );
    let file = store.attachment(m.attachments[0].id).await.unwrap();
    let files = FileStore::new(&dir.path().join("data")).unwrap();
    let path = files.path_of(file.sha256.as_deref().unwrap()).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), b"\x89PNG fake");
}

#[tokio::test]
async fn messages_read_by_id_are_the_ones_read_one_by_one() {
    // What another daemon's events are rebuilt from: the same as `message`, in id order,
    // an unknown id left out.
    let (store, ingestor, _dir) = store().await;
    let photo = photo();
    let batch = vec![
        Inbound {
            attachments: vec![photo],
            ..msg("t1", "1", "see attached")
        },
        msg("t2", "2", "first text"),
        msg("t1", "3", "and more"),
    ];
    let r = ingestor.ingest("tg", batch, None).await.unwrap();
    let edit = Inbound {
        change: Change::Edited { at: Utc::now() },
        ..msg("t2", "2", "second text")
    };
    ingestor.ingest("tg", vec![edit], None).await.unwrap();
    let mut ids: Vec<i64> = r.items.iter().map(|i| i.message_id.unwrap()).collect();
    let mut one_by_one = Vec::new();
    for id in &ids {
        one_by_one.push(store.message(*id).await.unwrap());
    }
    assert_eq!(one_by_one[0].attachments.len(), 1);
    assert_eq!(one_by_one[1].revisions.len(), 1);
    ids.reverse();
    ids.push(i64::MAX);
    assert_eq!(store.messages_by_id(&ids).await.unwrap(), one_by_one);
    assert!(store.messages_by_id(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_batches_from_many_channels_all_commit_exactly_once() {
    let (store, ingestor, _dir) = store().await;
    let mut tasks = Vec::new();
    for channel in 0..8 {
        let ingestor = ingestor.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let m = msg(&format!("thread-{}", i % 5), &format!("{i}"), "x");
                ingestor
                    .ingest(
                        &format!("ch{channel}"),
                        vec![m.clone(), m],
                        Some(format!("{i}")),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let filter = switchboard::store::ConversationFilter {
        limit: 200,
        ..Default::default()
    };
    let (conversations, _) = store.list_conversations(&filter).await.unwrap();
    assert_eq!(conversations.len(), 40);
    let mut total = 0;
    for c in &conversations {
        total += store.messages(c.id).await.unwrap().len();
    }
    assert_eq!(total, 400);
    for channel in 0..8 {
        assert_eq!(
            store
                .cursor(&format!("ch{channel}"))
                .await
                .unwrap()
                .as_deref(),
            Some("49")
        );
    }
}

#[tokio::test]
async fn contact_identity_keeps_language_and_username() {
    let (store, ingestor, _dir) = store().await;
    let sender = Sender {
        username: Some("dana_k".into()),
        language: Some("uk".into()),
        ..Sender::new("42", "Dana K")
    };
    let r = ingestor
        .ingest("tg", vec![Inbound::text("42", "1", sender, "Привіт")], None)
        .await
        .unwrap();
    let c = store
        .conversation(r.items[0].conversation_id)
        .await
        .unwrap();
    let contact = store.contact(c.contact.id).await.unwrap();
    assert_eq!(contact.identities[0].username.as_deref(), Some("dana_k"));
    assert_eq!(contact.identities[0].language.as_deref(), Some("uk"));
    assert_eq!(store.messages(c.id).await.unwrap()[0].text, "Привіт");
}

#[tokio::test]
async fn a_message_and_its_edit_in_one_batch_are_applied_in_order() {
    let (store, ingestor, _dir) = store().await;
    let edit = Inbound {
        change: Change::Edited { at: Utc::now() },
        ..msg("t1", "1", "second version")
    };
    let r = ingestor
        .ingest(
            "tg",
            vec![
                msg("t1", "1", "first version"),
                edit,
                msg("t1", "2", "next"),
            ],
            None,
        )
        .await
        .unwrap();
    let id = r.items[0].message_id.unwrap();
    assert_eq!(
        r.items[1].message_id,
        Some(id),
        "the edit names the message it changed"
    );
    let m = store.message(id).await.unwrap();
    assert_eq!(m.text, "second version");
    assert_eq!(m.revisions[0].text, "first version");
    assert_eq!(
        store
            .messages(r.items[0].conversation_id)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn only_newly_stored_mail_adds_people_to_a_thread() {
    let (store, ingestor, _dir) = store().await;
    let with_people = |id: &str, people: &[&str]| Inbound {
        participants: people.iter().map(|p| p.to_string()).collect(),
        ..msg("t1", id, "hello")
    };
    let first = with_people("1", &["u1", "bob@example.com", "eve@example.com"]);
    let report = ingestor
        .ingest("mail", vec![first.clone()], None)
        .await
        .unwrap();
    let conversation = report.items[0].conversation_id;
    assert_eq!(
        store.participants(conversation).await.unwrap(),
        ["u1", "bob@example.com", "eve@example.com"]
    );
    // An agent takes Eve off the thread; the same mail read again (a mailbox resync) does not
    // bring her back, a new mail naming someone else adds them.
    store
        .set_participants(conversation, &["u1".into(), "bob@example.com".into()])
        .await
        .unwrap();
    ingestor.ingest("mail", vec![first], None).await.unwrap();
    ingestor
        .ingest(
            "mail",
            vec![with_people("2", &["u1", "carol@example.com"])],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.participants(conversation).await.unwrap(),
        ["u1", "bob@example.com", "carol@example.com"]
    );
}

#[tokio::test]
async fn a_secret_and_its_warning_are_stored_together_and_a_redelivery_adds_neither() {
    let (store, ingestor, _dir) = store().await;
    let phrase = "scheme spot photo card baby mountain device kick cradle pact join borrow";
    let mut first = msg("t1", "1", &format!("my words: {phrase}"));
    first.sender.language = Some("es".into());
    // Two messages with secrets in one conversation and batch: one warning.
    let second = msg("t1", "2", &format!("again {phrase}"));
    let report = ingestor
        .ingest(
            "tg",
            vec![first.clone(), second.clone()],
            Some("c=2".into()),
        )
        .await
        .unwrap();
    assert!(report.items.iter().all(|i| i.secret_removed));
    let conversation = report.items[0].conversation_id;
    // No call after the ingest: the warning is already there, queued for delivery.
    let warnings = |messages: Vec<switchboard::store::Message>| {
        messages
            .into_iter()
            .filter(|m| m.auto_generated)
            .map(|m| (m.text, m.delivery_status))
            .collect::<Vec<_>>()
    };
    let found = warnings(store.messages(conversation).await.unwrap());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].0.contains("frase"),
        "the customer's language: {}",
        found[0].0
    );
    assert_eq!(
        found[0].1,
        Some(switchboard::store::DeliveryStatus::Pending)
    );
    // The adapter crashed before acknowledging and receives the batch again.
    ingestor
        .ingest("tg", vec![first, second], Some("c=2".into()))
        .await
        .unwrap();
    assert_eq!(
        warnings(store.messages(conversation).await.unwrap()).len(),
        1
    );
    let stored = store.messages(conversation).await.unwrap();
    assert!(
        stored.iter().all(|m| !m.text.contains("cradle")),
        "{stored:?}"
    );
}

#[tokio::test]
async fn search_finds_any_substring_in_any_script_regardless_of_case_and_follows_edits() {
    use switchboard::store::ConversationFilter;
    let (store, ingestor, _dir) = store().await;
    let texts = [
        ("de", "Meine Überweisung ist seit gestern nicht angekommen"),
        ("zh", "我的充值还没有到账，请帮我查一下交易哈希"),
        ("ru", "Я забыл ПАРОЛЬ от кошелька"),
        ("en", "My DEPOSIT of 0.5 BTC is \"pending\" since Monday"),
        ("ja", "送金が失敗しました"),
        ("ko", "지갑을 잃어버렸어요"),
        ("pct", "fee was 100% of the amount_left"),
    ];
    let mut ids = std::collections::HashMap::new();
    for (thread, text) in texts {
        let r = ingestor
            .ingest("tg", vec![msg(thread, thread, text)], None)
            .await
            .unwrap();
        ids.insert(thread, r.items[0].conversation_id);
    }
    let search = |q: &str| {
        let store = store.clone();
        let q = q.to_owned();
        async move {
            let filter = ConversationFilter {
                query: Some(q),
                ..Default::default()
            };
            let (found, _) = store.list_conversations(&filter).await.unwrap();
            let mut ids: Vec<i64> = found.iter().map(|c| c.id).collect();
            ids.sort_unstable();
            ids
        }
    };
    // Before the indexer ran, the messages are found by a scan (ASCII case folding only).
    let zh = ids["zh"];
    assert_eq!(search("交易哈希").await, vec![zh]);
    assert_eq!(search("deposit of").await, vec![ids["en"]]);
    assert_eq!(store.index_for_search(4).await.unwrap(), 4);
    assert_eq!(store.index_for_search(100).await.unwrap(), 3);
    assert_eq!(store.index_for_search(100).await.unwrap(), 0);

    // (query, the conversations it must find), now from the index

    let table: &[(&str, &[&str])] = &[
        ("überweisung", &["de"]),
        ("ÜBERWEISUNG", &["de"]),
        ("gestern nicht", &["de"]),
        ("到账", &["zh"]), // two characters: below the trigram index, still found
        ("交易哈希", &["zh"]),
        ("пароль", &["ru"]), // Cyrillic, other case
        ("Кошелька", &["ru"]),
        ("deposit of 0.5", &["en"]),
        ("\"pending\"", &["en"]), // quotes are literal, not FTS syntax
        ("posi", &["en"]),        // inside a word
        ("失敗", &["ja"]),
        ("100%", &["pct"]), // LIKE wildcards are literal
        ("t_l", &["pct"]),
        ("amount_left", &["pct"]),
        ("Ü", &["de"]), // one letter: a scan (case folded in ASCII only)
        ("dan", &["de", "zh", "ru", "en", "ja", "ko", "pct"]), // the contact's name: all
        ("nothing like this", &[]),
        ("OR", &[]), // FTS operators are text
        ("NEAR(a b)", &[]),
    ];
    for (q, expected) in table {
        let mut want: Vec<i64> = expected.iter().map(|t| ids[t]).collect();
        want.sort_unstable();
        assert_eq!(search(q).await, want, "search {q:?}");
    }

    // An edit re-indexes: the new text is found, the old one no longer.
    let edit = Inbound {
        change: Change::Edited { at: Utc::now() },
        ..msg("de", "de", "Hat sich ERLEDIGT, ДАНКЕ")
    };
    ingestor.ingest("tg", vec![edit], None).await.unwrap();
    // Until it is indexed again, the edited message is scanned.
    assert_eq!(search("erledigt").await, vec![ids["de"]]);
    assert_eq!(search("überweisung").await, Vec::<i64>::new());
    assert_eq!(store.index_for_search(100).await.unwrap(), 1);
    assert_eq!(search("erledigt").await, vec![ids["de"]]);
    assert_eq!(search("данке").await, vec![ids["de"]]);
    assert_eq!(search("überweisung").await, Vec::<i64>::new());
    assert_eq!(store.index_for_search(100).await.unwrap(), 0);

    // Edited twice before the indexer comes back: indexed once, with the last text.
    for text in ["zwischenstand eins", "endstand zwei"] {
        let edit = Inbound {
            change: Change::Edited { at: Utc::now() },
            ..msg("de", "de", text)
        };
        ingestor.ingest("tg", vec![edit], None).await.unwrap();
    }
    assert_eq!(store.index_for_search(100).await.unwrap(), 1);
    assert_eq!(search("endstand").await, vec![ids["de"]]);
    assert_eq!(search("zwischenstand").await, Vec::<i64>::new());
    assert_eq!(search("erledigt").await, Vec::<i64>::new());

    // A message edited before the indexer reached it is indexed with its new text.
    let r = ingestor
        .ingest("tg", vec![msg("late", "late", "first draft")], None)
        .await
        .unwrap();
    let late = r.items[0].conversation_id;
    let edit = Inbound {
        change: Change::Edited { at: Utc::now() },
        ..msg("late", "late", "Пожалуйста, ответьте")
    };
    ingestor.ingest("tg", vec![edit], None).await.unwrap();
    assert_eq!(store.index_for_search(100).await.unwrap(), 1);
    assert_eq!(search("ПОЖАЛУЙСТА").await, vec![late]);
    assert_eq!(search("first draft").await, Vec::<i64>::new());
}
