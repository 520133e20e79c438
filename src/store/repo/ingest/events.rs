//! The events a stored message announces.

use super::*;

/// The `message.created` event, built from what is at hand; only attachments need a read.
pub(super) async fn created_event(
    conn: &mut Conn,
    id: i64,
    conversation_id: i64,
    identity: &IdentityInfo,
    item: &PreparedInbound,
    now: i64,
) -> Result<Event> {
    if !item.attachments.is_empty() {
        return Ok(Event::MessageCreated(inbox::message(conn, id).await?));
    }
    let inbound = &item.inbound;
    Ok(Event::MessageCreated(Message {
        id,
        conversation_id,
        direction: Direction::Inbound,
        text: inbound.text.clone(),
        html: inbound.html.clone(),
        sender: MessageSender {
            display_name: sender_name(inbound).to_owned(),
            agent_id: None,
            contact_id: Some(identity.contact_id),
        },
        created_at: from_millis(now),
        sent_at: inbound.sent_at,
        edited_at: None,
        deleted_at: None,
        delivery_status: None,
        error: None,
        external_id: Some(inbound.message_id.clone()),
        reply_to: inbound.reply_to.clone(),
        auto_generated: inbound.auto_generated,
        language: item.language.clone(),
        attachments: Vec::<Attachment>::new(),
        revisions: Vec::new(),
    }))
}

/// How the sender appeared when writing this message (the contact's name may change later).
pub(super) fn sender_name(inbound: &Inbound) -> &str {
    if inbound.sender.display_name.trim().is_empty() {
        &inbound.sender.id
    } else {
        &inbound.sender.display_name
    }
}
