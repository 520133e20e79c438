//! A scriptable in-memory channel for tests: records every send and answers from a script
//! (Ok, retry, permanent, slow), so dispatcher behaviour is tested without any network.

use crate::{Channel, ChannelError, InboundSink, Outbound, SendError, SendReceipt};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One scripted answer to a `send` call.
#[derive(Debug, Clone)]
pub enum Script {
    Ok,
    Fail(SendError),
    /// Wait this long, then succeed.
    Slow(Duration),
    /// Panic inside `send`, as a buggy adapter might.
    Panic,
}

#[derive(Default)]
struct State {
    script: VecDeque<Script>,
    sent: Vec<Outbound>,
    attempts: usize,
    /// `run` panics this many more times before it runs normally.
    run_panics: usize,
    runs: usize,
}

/// Answers `Ok` once its script is exhausted.
#[derive(Clone)]
pub struct FakeChannel {
    name: String,
    state: Arc<Mutex<State>>,
}

impl FakeChannel {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            state: Arc::default(),
        }
    }

    /// Queues the answers for the next sends, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Script>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    /// Messages delivered successfully, in delivery order.
    pub fn sent(&self) -> Vec<Outbound> {
        self.state.lock().unwrap().sent.clone()
    }

    /// Every `send` call, successful or not.
    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().attempts
    }

    /// The next `times` inbound loops panic at once, as a buggy adapter's might.
    pub fn panic_on_run(&self, times: usize) {
        self.state.lock().unwrap().run_panics = times;
    }

    /// How often `run` was started.
    pub fn runs(&self) -> usize {
        self.state.lock().unwrap().runs
    }
}

#[async_trait]
impl Channel for FakeChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "fake"
    }

    async fn run(
        &self,
        _sink: Arc<dyn InboundSink>,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        let panic = {
            let mut state = self.state.lock().unwrap();
            state.runs += 1;
            let panic = state.run_panics > 0;
            state.run_panics = state.run_panics.saturating_sub(1);
            panic
        };
        if panic {
            panic!("scripted inbound panic");
        }
        shutdown.cancelled().await;
        Ok(())
    }

    async fn send(&self, message: &Outbound) -> Result<SendReceipt, SendError> {
        let answer = {
            let mut state = self.state.lock().unwrap();
            state.attempts += 1;
            state.script.pop_front().unwrap_or(Script::Ok)
        };
        match answer {
            Script::Ok => {}
            Script::Fail(err) => return Err(err),
            Script::Slow(delay) => tokio::time::sleep(delay).await,
            Script::Panic => panic!("scripted adapter panic"),
        }
        let mut state = self.state.lock().unwrap();
        state.sent.push(message.clone());
        Ok(SendReceipt {
            external_id: Some(format!("fake-{}", message.message_id)),
        })
    }
}
