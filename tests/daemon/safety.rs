//! Customer safety through the real daemon: wallet secrets never reach disk, the customer is
//! warned and the platform copy deleted, unsafe agent replies are refused, and identity is
//! verified by a one-time code sent over real SMTP.

use crate::helpers::{TestApp, eventually, id_of, spawn_app, spawn_app_with};
use crate::mail_servers::{Dovecot, SmtpServer};
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::ChannelConfig;

/// A valid BIP-39 phrase (a reference test vector, entropy 9e885d952ad362caeb4efe34a8e91bd2).
const PHRASE: &str = "scheme spot photo card baby mountain device kick cradle pact join borrow";

fn marked(text: &str) -> bool {
    text.contains("[seed phrase removed]")
}

/// Every file of the daemon's state: the database, its WAL and shared memory, attachments (on
/// PostgreSQL: the server's WAL, which every commit reaches first, instead of the database).
fn state_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![app.dir.path().to_path_buf()];
    dirs.extend(crate::postgres::wal_dir());
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn assert_nowhere_on_disk(app: &TestApp, needle: &str) {
    let files = state_files(app);
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("sb.db-wal") || f.parent().is_some_and(|d| d.ends_with("pg_wal"))),
        "the WAL is checked too: {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle:?} found in {}",
            file.display()
        );
    }
}

async fn conversation(app: &TestApp, id: i64) -> Value {
    app.get_json(&format!("/api/v1/conversations/{id}")).await["conversation"].clone()
}

#[tokio::test]
async fn a_seed_phrase_never_reaches_disk_and_the_customer_is_warned() {
    let app = spawn_app().await;
    let response = app
        .post_inbound(
            "website",
            json!({"thread_id": "t-seed", "message_id": "m1",
                   "sender": {"id": "v1", "name": "Carol"},
                   "subject": "help",
                   "text": format!("Is this right? My words are {PHRASE}. Is my wallet safe?"),
                   "attachments": [{"filename": "backup.txt", "content_type": "text/plain",
                       "data_base64": base64_of(&format!("1. {}", PHRASE.replace(' ', "\n2. ")))}]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["secret_removed"], true);
    let id = accepted["conversation_id"].as_i64().unwrap();

    let messages = app.wait_messages(id, 2).await;
    let stored = messages[0]["text"].as_str().unwrap();
    assert!(marked(stored), "{stored}");
    assert!(
        stored.starts_with("Is this right? My words are "),
        "{stored}"
    );
    assert!(stored.ends_with(". Is my wallet safe?"), "{stored}");
    // The warning goes out through the outbox like any reply, and is delivered.
    let warning = &messages[1];
    assert_eq!(warning["direction"], "outbound");
    assert!(
        warning["text"]
            .as_str()
            .unwrap()
            .starts_with("Security warning"),
        "{warning}"
    );
    app.wait_for_status(id, id_of(warning), "sent").await;

    let c = conversation(&app, id).await;
    assert_eq!(c["priority"], "urgent");
    assert_eq!(c["flags"], json!(["secret_removed"]));

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"switchboard_secrets_removed_total{channel="website",outcome="seed_phrase"} 1"#
        ),
        "{metrics}"
    );
    // Checkpointing would move the WAL into the database file: both are searched, and no word
    // run of the phrase is anywhere.
    assert_nowhere_on_disk(&app, "baby mountain device");
    assert_nowhere_on_disk(&app, "cradle");
    // The webhook got the warning, never the phrase.
    for request in app.hook.received() {
        assert!(!String::from_utf8_lossy(&request.body).contains("cradle"));
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn transaction_hashes_addresses_and_ordinary_words_are_kept_exactly() {
    let app = spawn_app().await;
    let texts = [
        "My withdrawal is stuck, txid: 0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060",
        "Deposit to 0x52908400098527886E0F7030069857D2E4169EE7 did not arrive",
        "See https://etherscan.io/tx/0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060",
        "交易哈希 0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060 还没到账",
        "I wrote down abandon ability able about above but lost the rest",
        "我的钱包密码忘记了，怎么找回？转账已经三天了还没有到账",
    ];
    for (n, text) in texts.iter().enumerate() {
        let accepted = app
            .customer_says(&format!("t{n}"), &format!("m{n}"), text)
            .await;
        assert_eq!(accepted["secret_removed"], false, "{text}");
        let id = accepted["conversation_id"].as_i64().unwrap();
        assert_eq!(app.messages(id).await[0]["text"], *text);
        assert_eq!(conversation(&app, id).await["priority"], "normal");
    }
}

#[tokio::test]
async fn a_private_key_in_an_edit_is_removed_from_the_message_and_its_revision() {
    let app = spawn_app().await;
    let key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    let accepted = app.customer_says("t-key", "m1", "what do I do").await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let response = app
        .post_inbound(
            "website",
            json!({"thread_id": "t-key", "message_id": "m2",
                   "sender": {"id": "visitor-t-key"}, "text": format!("my private key is {key}")}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let messages = app.wait_messages(id, 3).await;
    assert_eq!(
        messages[1]["text"],
        "my private key is [private key removed]"
    );
    assert_eq!(conversation(&app, id).await["priority"], "urgent");
    assert_nowhere_on_disk(&app, &key[..24]);
}

#[tokio::test]
async fn unsafe_replies_are_refused_with_422_and_nothing_is_queued() {
    let app = spawn_app().await;
    let accepted = app
        .customer_says("t-reply", "m1", "my transfer failed")
        .await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{id}/messages");
    let refused = [
        (
            "Please send us your seed phrase so we can restore the wallet",
            "seed_phrase",
        ),
        ("请把助记词发给我们核实", "seed_phrase"),
        (
            "Install AnyDesk and give me the 9-digit ID",
            "remote_access",
        ),
        (
            &format!("Is this yours? {PHRASE}") as &str,
            "contains_secret",
        ),
    ];
    for (text, category) in refused {
        let response = app
            .send_json(Method::POST, &path, json!({ "text": text }))
            .await;
        assert_eq!(response.status(), 422, "{text}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unsafe_request", "{text}");
        assert_eq!(body["category"], category, "{text}");
        assert!(body["error"].as_str().unwrap().len() > 10);
    }
    assert_eq!(app.messages(id).await.len(), 1, "nothing was queued");
    assert!(app.hook.received().is_empty(), "nothing was sent");
    // Warnings pass.
    app.reply_sent(
        id,
        "We will never ask for your seed phrase. Never share it with anyone.",
    )
    .await;
    app.reply_sent(id, "请勿向任何人透露您的助记词").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"switchboard_unsafe_replies_refused_total{channel="website",outcome="seed_phrase"} 2"#
        ),
        "{metrics}"
    );
    // A canned answer is a reply in waiting: the same guard.
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/canned_answers",
            json!({"shortcut": "seed", "title": "Seed", "text": "Please send your recovery phrase"}),
        )
        .await;
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn admins_see_refused_replies_on_their_event_stream() {
    let app = spawn_app().await;
    let accepted = app.customer_says("t-ev", "m1", "hi").await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let mut stream = app.get("/api/v1/events").await;
    assert_eq!(stream.status(), 200);
    let response = app
        .send_json(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
            json!({"text": "What is your private key?"}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let mut seen = String::new();
    while !seen.contains("reply.refused") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(r#""category":"private_key""#), "{seen}");
    assert!(
        !seen.contains("What is your"),
        "the text is not broadcast: {seen}"
    );
}

#[tokio::test]
async fn telegram_deletes_the_customers_message_and_warns_them() {
    use crate::telegram_fake::private_text;
    let (app, fake) = crate::telegram::spawn_with_bot().await;
    fake.push("message", private_text(4242, 7, &format!("here: {PHRASE}")));
    let c = app.wait_conversations("wallet-bot", 1).await[0].clone();
    let messages = app.wait_messages(id_of(&c), 1).await;
    assert!(marked(messages[0]["text"].as_str().unwrap()));
    let deletes = eventually(|| {
        let calls = fake.calls("deleteMessage");
        async move { (!calls.is_empty()).then_some(calls) }
    })
    .await;
    assert_eq!(deletes[0]["chat_id"], 4242);
    assert_eq!(deletes[0]["message_id"], 7);
    let warned = eventually(|| {
        let sends = fake.calls("sendMessage");
        async move {
            sends.into_iter().find(|s| {
                s["text"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("Security warning")
            })
        }
    })
    .await;
    assert_eq!(warned["chat_id"], 4242);
    for send in fake.calls("sendMessage") {
        assert!(!send.to_string().contains("cradle"));
    }
    assert_nowhere_on_disk(&app, "cradle");
}

#[tokio::test]
async fn discord_deletes_a_support_channel_post_but_cannot_delete_a_dm() {
    use crate::discord_fake::SUPPORT_CHANNEL;
    const CAROL: u64 = 424_242_424_242_424_242;
    let (app, fake) = crate::discord::spawn_with(switchboard_discord::ThreadMode::Private).await;
    let post = fake.push_message(SUPPORT_CHANNEL, true, CAROL, "Carol", PHRASE);
    app.wait_conversations("discord", 1).await;
    let path = format!(
        "/api/v10/channels/{SUPPORT_CHANNEL}/messages/{}",
        post["id"].as_str().unwrap()
    );
    fake.until("the post is deleted", |f| {
        f.calls()
            .iter()
            .any(|c| c.method == "DELETE" && c.path == path)
    })
    .await;
    // In a DM the bot cannot delete: the warning asks the customer to.
    let dm = fake.dm_channel(CAROL);
    fake.push_message(dm, false, CAROL, "Carol", &format!("again {PHRASE}"));
    fake.until("the DM customer is warned", |f| {
        f.sends_to(dm).iter().any(|c| {
            c.json["content"]
                .as_str()
                .unwrap_or("")
                .contains("If your message is still visible in this chat, delete it")
        })
    })
    .await;
    assert_nowhere_on_disk(&app, "cradle");
}

/// Asks the daemon to verify the customer of conversation `id`.
async fn verify(app: &TestApp, id: i64, body: Value) -> reqwest::Response {
    app.send_json(
        Method::POST,
        &format!("/api/v1/conversations/{id}/verify"),
        body,
    )
    .await
}

async fn spawn_verifying() -> (TestApp, SmtpServer, Dovecot) {
    let (dovecot, smtp) = tokio::join!(Dovecot::start(None), SmtpServer::start(None));
    let mail = crate::email::email_config(dovecot.port, smtp.port, None);
    let app = spawn_app_with(move |c| {
        c.channels.push(ChannelConfig::Email(mail));
        c.verification.email_channel = Some("support-mail".into());
    })
    .await;
    (app, smtp, dovecot)
}

/// The code in the latest mail the SMTP server received.
async fn code_mailed(smtp: &SmtpServer, n: usize) -> String {
    let mail = eventually(|| {
        let received = smtp.received();
        async move { (received.len() >= n).then(|| received[n - 1].clone()) }
    })
    .await;
    let text = String::from_utf8_lossy(&mail).to_string();
    assert!(text.contains("To: carol@customer.example"), "{text}");
    let at = text.find("code is ").expect("the mail names the code") + "code is ".len();
    text[at..at + 6].to_owned()
}

#[tokio::test]
async fn a_customer_is_verified_by_the_code_sent_to_their_email() {
    let (app, smtp, _dovecot) = spawn_verifying().await;
    let accepted = app
        .customer_says("t-v", "m1", "I lost access, please reset 2FA")
        .await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let response = verify(&app, id, json!({"email": "Carol@Customer.example"})).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["verification"]["status"], "pending");
    assert!(!body.to_string().contains("code_sha256"));
    let code = code_mailed(&smtp, 1).await;
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");

    // The customer is asked in their own conversation, without the code.
    let messages = app.wait_messages(id, 2).await;
    let prompt = messages[1]["text"].as_str().unwrap();
    assert!(prompt.contains("carol@customer.example"), "{prompt}");
    assert!(!prompt.contains(&code));

    app.customer_says("t-v", "m2", &format!("the code is {code}"))
        .await;
    let messages = app.wait_messages(id, 3).await;
    assert_eq!(
        messages[2]["text"],
        "the code is [verification code removed]"
    );
    let contact_id = conversation(&app, id).await["contact"]["id"].clone();
    let contact = eventually(|| {
        let app = &app;
        let path = format!("/api/v1/contacts/{contact_id}");
        async move {
            let contact = app.get_json(&path).await["contact"].clone();
            (!contact["verified_emails"].as_array().unwrap().is_empty()).then_some(contact)
        }
    })
    .await;
    assert_eq!(
        contact["verified_emails"][0]["email"],
        "carol@customer.example"
    );
    assert_eq!(contact["verified_emails"][0]["conversation_id"], id);
    assert_eq!(
        conversation(&app, id).await["contact"]["verified_emails"],
        json!(["carol@customer.example"])
    );
    let v = app
        .get_json(&format!("/api/v1/conversations/{id}/verification"))
        .await;
    assert_eq!(v["verification"]["status"], "verified");
    assert_nowhere_on_disk(&app, &format!("is {code}"));
}

#[tokio::test]
async fn five_wrong_codes_lock_the_attempt_and_the_agent_sees_why() {
    let (app, smtp, _dovecot) = spawn_verifying().await;
    let accepted = app.customer_says("t-w", "m1", "change my email").await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let response = verify(&app, id, json!({"email": "carol@customer.example"})).await;
    assert_eq!(response.status(), 202);
    let code = code_mailed(&smtp, 1).await;
    let wrong = |n: u32| {
        let c: u32 = code.parse().unwrap();
        format!("{:06}", (c + n) % 1_000_000)
    };
    for n in 1..=5 {
        app.customer_says("t-w", &format!("w{n}"), &format!("is it {}?", wrong(n)))
            .await;
    }
    let v = eventually(|| {
        let app = &app;
        async move {
            let v = app
                .get_json(&format!("/api/v1/conversations/{id}/verification"))
                .await;
            (v["verification"]["status"] == "locked").then_some(v)
        }
    })
    .await;
    assert_eq!(v["verification"]["failed_attempts"], 5);
    assert_eq!(
        conversation(&app, id).await["flags"],
        json!(["verification_locked"])
    );
    // Even the right code does nothing now.
    app.customer_says("t-w", "late", &code).await;
    let contact_id = conversation(&app, id).await["contact"]["id"].clone();
    let contact = app
        .get_json(&format!("/api/v1/contacts/{contact_id}"))
        .await;
    assert_eq!(contact["contact"]["verified_emails"], json!([]));
}

#[tokio::test]
async fn verification_without_an_email_channel_is_a_conflict() {
    let app = spawn_app().await;
    let accepted = app.customer_says("t-x", "m1", "hi").await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let response = verify(&app, id, json!({"email": "carol@customer.example"})).await;
    assert_eq!(response.status(), 409);
    let response = verify(&app, id, json!({"email": "not an address"})).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_safety_notice_follows_every_greeting() {
    let fake = crate::telegram_fake::FakeTelegram::start().await;
    let bot = crate::telegram::bot_config(&fake);
    let app = spawn_app_with(move |c| {
        crate::helpers::front_desk_says(c, "Hi! An agent will answer soon.");
        c.channels.push(ChannelConfig::Telegram(bot));
        c.safety.notice = "We only answer here and never DM you first.".into();
    })
    .await;
    fake.push(
        "message",
        crate::telegram_fake::private_text(77, 1, "/start"),
    );
    let sends = eventually(|| {
        let sends = fake.calls("sendMessage");
        async move { (!sends.is_empty()).then_some(sends) }
    })
    .await;
    let text = sends[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Hi! An agent"), "{text}");
    assert!(
        text.ends_with("\n\nWe only answer here and never DM you first."),
        "{text}"
    );
    drop(app);
}

/// A customer mails their phrase in the plain part, the HTML part and a text file.
fn mail_with_phrase() -> Vec<u8> {
    let support = crate::email::SUPPORT;
    format!(
        "From: Erin <erin@customer.example>\r\nTo: Wallet Support <{support}>\r\n\
         Subject: wallet empty\r\nMessage-ID: <seed-1@customer.example>\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
         --alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         My balance is gone. My words: {PHRASE}. Please check.\r\n\
         --alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <p>My balance is gone. My words: <b>{PHRASE}</b>. Please check.</p>\r\n\
         --alt--\r\n\
         --outer\r\nContent-Type: text/plain; name=\"backup.txt\"\r\n\
         Content-Disposition: attachment; filename=\"backup.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--outer--\r\n",
        base64_of(&format!("wallet backup\n{PHRASE}\n"))
    )
    .into_bytes()
}

#[tokio::test]
async fn a_phrase_mailed_over_imap_is_removed_from_every_part_and_the_customer_warned() {
    let crate::email::MailSetup { app, dovecot, smtp } = crate::email::spawn_mail().await;
    dovecot.append(&mail_with_phrase()).await;
    let id = id_of(&app.wait_conversations(crate::email::CHANNEL, 1).await[0]);
    let message = app.wait_messages(id, 1).await[0].clone();
    let text = message["text"].as_str().unwrap();
    assert_eq!(
        text.trim(),
        "My balance is gone. My words: [seed phrase removed]. Please check."
    );
    let html = message["html"].as_str().unwrap();
    assert!(marked(html) && !html.contains("cradle"), "{html}");
    let file = &message["attachments"][0];
    assert_eq!(file["filename"], "backup.txt");
    let body = app
        .get(file["url"].as_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body, "wallet backup\n[seed phrase removed]\n");
    // The original mail, kept with every message, cannot be cut like text: it is not kept.
    let original = &message["attachments"][1];
    assert_eq!(original["filename"], "original.eml");
    assert!(original["url"].is_null(), "{original}");
    assert!(original["note"].as_str().unwrap().contains("wallet secret"));
    let flagged = conversation(&app, id).await;
    assert_eq!(flagged["priority"], "urgent");
    assert_eq!(flagged["flags"], json!(["secret_removed"]));

    // The warning goes back by mail, in the thread.
    let warning = eventually(|| {
        let received = smtp.received();
        async move { received.first().cloned() }
    })
    .await;
    let warning = String::from_utf8_lossy(&warning).to_string();
    assert!(warning.contains("erin@customer.example"), "{warning}");
    assert!(
        warning.contains("seed-1@customer.example"),
        "a reply in the thread: {warning}"
    );
    assert!(!warning.contains("cradle"));
    let messages = app.wait_messages(id, 2).await;
    assert_eq!(messages[1]["auto_generated"], true);
    assert_nowhere_on_disk(&app, "cradle pact");
    assert_nowhere_on_disk(&app, "cradle</b>");
    app.stop().await;
}

#[tokio::test]
async fn a_phrase_only_in_the_quoted_history_keeps_the_original_mail_off_disk() {
    let crate::email::MailSetup { app, dovecot, .. } = crate::email::spawn_mail().await;
    let body =
        format!("Any news?\r\n\r\nOn Mon, 23 Nov 2026, Erin wrote:\r\n> my words are {PHRASE}\r\n");
    let raw = crate::email::mail(
        "erin@customer.example",
        "q-1@customer.example",
        "news",
        "",
        &body,
    );
    dovecot.append(&raw).await;
    let id = id_of(&app.wait_conversations(crate::email::CHANNEL, 1).await[0]);
    let message = app.wait_messages(id, 1).await[0].clone();
    assert_eq!(message["text"].as_str().unwrap().trim(), "Any news?");
    let original = &message["attachments"][0];
    assert_eq!(original["filename"], "original.eml");
    assert!(original["url"].is_null(), "{original}");
    assert_eq!(
        conversation(&app, id).await["flags"],
        json!(["secret_removed"])
    );
    assert_nowhere_on_disk(&app, "cradle pact");
    app.stop().await;
}
