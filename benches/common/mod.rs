//! What the benchmarks share (each bench includes this with `#[path]`; a folder, so cargo does not take it for a bench).

use std::time::Duration;

/// "p50 …, p99 …, max …" of a set of timings.
pub fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    format!(
        "p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        p(0.5),
        p(0.99),
        v[v.len() - 1]
    )
}
