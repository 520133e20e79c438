//! Keeps sends within Telegram's limits (about 1 message/s per private chat, 20/min per group,
//! 30/s per bot) by waiting before a send, never by retrying: the outbox owns retries, and
//! teloxide's Throttle adaptor would retry on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_private_chat: Duration,
    pub per_group: Duration,
    pub per_bot: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_private_chat: Duration::from_secs(1),
            per_group: Duration::from_secs(3),
            per_bot: Duration::from_millis(34),
        }
    }
}

pub struct Pacer {
    limits: Limits,
    state: Mutex<(Instant, HashMap<i64, Instant>)>,
}

impl Pacer {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    /// Reserves the next slot for `chat` and returns when it has come.
    pub async fn wait(&self, chat: i64) {
        let at = {
            let mut state = self.state.lock().unwrap();
            let now = Instant::now();
            // Group and supergroup ids are negative.
            let interval = if chat < 0 {
                self.limits.per_group
            } else {
                self.limits.per_private_chat
            };
            let chat_slot = state.1.get(&chat).copied().unwrap_or(now).max(now);
            let at = chat_slot.max(state.0);
            state.0 = at + self.limits.per_bot;
            state.1.insert(chat, at + interval);
            if state.1.len() > 10_000 {
                state.1.retain(|_, next| *next > now);
            }
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_chat_is_paced_while_other_chats_go_at_bot_speed() {
        let pacer = Pacer::new(Limits::default());
        let start = Instant::now();
        pacer.wait(1).await;
        pacer.wait(1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        let before = Instant::now();
        pacer.wait(2).await;
        pacer.wait(3).await;
        assert!(before.elapsed() <= Duration::from_millis(68));
        let before = Instant::now();
        pacer.wait(-100).await;
        pacer.wait(-100).await;
        assert!(before.elapsed() >= Duration::from_secs(3));
    }
}
