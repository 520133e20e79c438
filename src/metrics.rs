//! Prometheus metrics, kept as plain counters (a handful of labelled series does not need a
//! metrics framework) and rendered in the text exposition format at `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// (metric, channel, outcome) → count.
type Series = BTreeMap<(&'static str, String, &'static str), u64>;

/// A handle on the daemon's counters: clones count into the same series.
#[derive(Default, Clone)]
pub struct Metrics {
    counters: Arc<Mutex<Series>>,
}

pub const INBOUND: &str = "switchboard_inbound_messages_total";
pub const DELIVERIES: &str = "switchboard_delivery_attempts_total";
pub const SECRETS_REMOVED: &str = "switchboard_secrets_removed_total";
pub const UNSAFE_REPLIES: &str = "switchboard_unsafe_replies_refused_total";
pub const VERIFICATIONS: &str = "switchboard_verifications_total";
pub const SLA_BREACHES: &str = "switchboard_sla_breaches_total";

impl Metrics {
    pub fn add(&self, metric: &'static str, channel: &str, outcome: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        let mut counters = self.counters.lock().unwrap();
        *counters
            .entry((metric, channel.to_owned(), outcome))
            .or_default() += n;
    }

    /// The exposition text; `gauges` are (name, help, labels, value) read at scrape time.
    pub fn render(&self, gauges: &[(&str, &str, String, f64)]) -> String {
        let mut out = String::new();
        let help = [
            (
                INBOUND,
                "Inbound messages stored, by channel and outcome (created, duplicate, updated).",
            ),
            (
                DELIVERIES,
                "Outbound delivery attempts, by channel and outcome (delivered, retry, failed).",
            ),
            (
                SECRETS_REMOVED,
                "Inbound messages a wallet secret was cut from, by channel and kind (seed_phrase, private_key, extended_key, keystore).",
            ),
            (
                UNSAFE_REPLIES,
                "Agent replies refused for asking a customer for a secret, by channel and category.",
            ),
            (
                VERIFICATIONS,
                "Identity verifications by one-time code, by channel and outcome (sent, verified, wrong_code, locked).",
            ),
            (
                SLA_BREACHES,
                "Service-level targets missed, by channel and outcome (first_response, next_response, resolution).",
            ),
        ];
        let counters = self.counters.lock().unwrap();
        for (name, text) in help {
            let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} counter");
            for ((metric, channel, outcome), value) in counters.iter() {
                if *metric == name {
                    let _ = writeln!(
                        out,
                        "{name}{{channel=\"{}\",outcome=\"{outcome}\"}} {value}",
                        escape(channel)
                    );
                }
            }
        }
        let mut last = "";
        for (name, text, labels, value) in gauges {
            if *name != last {
                let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} gauge");
                last = name;
            }
            let _ = writeln!(out, "{name}{labels} {value}");
        }
        out
    }
}

/// Label values are operator-chosen channel names, but escape them as the format requires.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_exposition_format() {
        let m = Metrics::default();
        m.add(INBOUND, "web", "created", 2);
        m.add(INBOUND, "web", "created", 1);
        m.add(DELIVERIES, "tg", "failed", 1);
        let text = m.render(&[(
            "switchboard_outbox_pending",
            "Replies waiting.",
            String::new(),
            4.0,
        )]);
        assert!(
            text.contains(
                r#"switchboard_inbound_messages_total{channel="web",outcome="created"} 3"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"switchboard_delivery_attempts_total{channel="tg",outcome="failed"} 1"#
            )
        );
        assert!(
            text.contains("# TYPE switchboard_outbox_pending gauge\nswitchboard_outbox_pending 4")
        );
        assert_eq!(escape("a\"b"), "a\\\"b");
    }
}
