//! Message-IDs for outbound mail that carry their conversation, signed with a server secret:
//! a reply is matched to its conversation even when the client dropped References, and a forged
//! or altered id is ignored.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `<sb.<conversation>.<message>.<signature>@<domain>>`, the signature over both ids.
pub fn message_id(conversation_id: i64, message_id: i64, domain: &str, secret: &[u8]) -> String {
    let signature = sign(conversation_id, message_id, secret);
    format!("<sb.{conversation_id}.{message_id}.{signature}@{domain}>")
}

/// The conversation a Message-ID we issued names, if its signature is valid.
pub fn conversation_of(id: &str, secret: &[u8]) -> Option<i64> {
    let local = id.trim().trim_start_matches('<').trim_end_matches('>');
    let local = local.split_once('@')?.0;
    let mut parts = local.strip_prefix("sb.")?.split('.');
    let conversation: i64 = parts.next()?.parse().ok()?;
    let message: i64 = parts.next()?.parse().ok()?;
    let signature = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(format!("{conversation}.{message}").as_bytes());
    // verify_truncated_left checks in constant time.
    let bytes = hex::decode(signature).ok()?;
    mac.verify_truncated_left(&bytes).ok()?;
    (bytes.len() == SIGNATURE_BYTES).then_some(conversation)
}

const SIGNATURE_BYTES: usize = 12;

fn sign(conversation_id: i64, message_id: i64, secret: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("{conversation_id}.{message_id}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..SIGNATURE_BYTES])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_ids_resolve_and_forged_ones_do_not() {
        let id = message_id(42, 7, "support.example.com", b"secret");
        assert!(id.starts_with("<sb.42.7.") && id.ends_with("@support.example.com>"));
        assert_eq!(conversation_of(&id, b"secret"), Some(42));
        assert_eq!(conversation_of(&id, b"other secret"), None);
        let forged = id.replace("sb.42.", "sb.43.");
        assert_eq!(conversation_of(&forged, b"secret"), None);
        let signature = id.split('.').nth(3).unwrap().split('@').next().unwrap();
        let short = id.replace(signature, &signature[..4]);
        assert_eq!(conversation_of(&short, b"secret"), None);
        assert_eq!(conversation_of("<CAF=abc@mail.gmail.com>", b"secret"), None);
    }
}
