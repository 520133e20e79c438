//! Customer safety, as pure text functions (no I/O, no database, no channel): the daemon calls
//! [`scrub`] on every inbound message before anything is stored, and [`check_reply`] on every
//! agent reply before it is queued.

pub mod reply;
pub mod secrets;

pub use reply::Refusal;
pub use secrets::{Scrubbed, SecretKind, scrub, scrub_html};

/// Refuses a reply that asks the customer for a secret, or that itself carries one.
pub fn check_reply(text: &str) -> Result<(), Refusal> {
    if let Some(found) = scrub(text) {
        return Err(Refusal::contains_secret(&found));
    }
    reply::check_request(text)
}
