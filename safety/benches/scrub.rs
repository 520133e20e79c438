//! Cost of scanning one inbound message for wallet secrets (`cargo bench -p switchboard-safety
//! --bench scrub`). No criterion: a warm-up, then a timed loop per message, printing ns/message.

use std::hint::black_box;
use std::time::Instant;

use switchboard_safety::{scrub, scrub_html};

const ITERATIONS: u32 = 200_000;

const ENGLISH: &str = "Hi team, I sent 250 USDT from my exchange account to this wallet about two hours ago. \
The exchange shows the withdrawal as completed and gave me a transaction id, but my balance in the app \
still says zero. I already restarted the app and checked the network (Tron). Can you please check what \
is going on? Thanks, Sam";

const CHINESE: &str = "你好，我昨天晚上从交易所提了一笔USDT到这个钱包地址，交易所显示已经完成，\
但是钱包里的余额一直没有变化。我已经重启过应用，也确认了网络是波场，请问这是什么原因？\
需要我提供交易哈希吗？麻烦尽快帮我处理，谢谢！";

const WITH_PHRASE: &str = "Hello, the app asked me to restore my wallet and now it says the words are wrong. \
These are the words I wrote down: legal winner thank year wave sausage worth useful legal winner thank \
yellow. I am sure I copied them correctly from the paper. What should I do now? Thank you very much!";

fn email() -> String {
    let para = "Dear support team,\n\nI have been using the wallet for about a year and never had a problem \
until last week. On Monday I tried to swap some ETH for USDC inside the app. The swap screen showed a \
quote, I confirmed it, and the app said the transaction was submitted. Since then the ETH is gone from my \
balance but no USDC has arrived. The activity tab shows the swap as pending. I checked the explorer link \
from the activity tab and it says the transaction failed because of low gas, but the fee was still taken.\n\n";
    let mut s = String::new();
    while s.len() < 2048 {
        s.push_str(para);
    }
    s.push_str("Could you tell me whether the funds will come back by themselves, or what I need to do?\n\nBest regards,\nAlex\n");
    s
}

fn bench(name: &str, f: impl Fn() -> bool) {
    // `cargo bench … -- english` runs only the cases whose name contains that word (for perf).
    if let Some(filter) = std::env::args().nth(1).filter(|a| !a.starts_with('-'))
        && !name.to_lowercase().contains(&filter.to_lowercase())
    {
        return;
    }
    for _ in 0..ITERATIONS / 10 {
        black_box(f());
    }
    let start = Instant::now();
    let mut hits = 0u32;
    for _ in 0..ITERATIONS {
        hits += u32::from(black_box(f()));
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS);
    let found = if hits > 0 {
        "secret found"
    } else {
        "nothing found"
    };
    println!("{name:<44} {ns:>9.0} ns/message  ({found})");
}

fn main() {
    let email = email();
    let html = format!(
        "<html><body><p>{}</p></body></html>",
        email.replace("\n\n", "</p><p>")
    );
    assert!(scrub(ENGLISH).is_none() && scrub(CHINESE).is_none() && scrub(&email).is_none());
    assert!(scrub(WITH_PHRASE).is_some());
    // The message of `cargo bench --bench ingest` (a chat line with a transaction hash).
    let tx = format!(
        "Message 41234: my deposit of 0.5 BTC has not arrived yet, tx 0x{:064x}",
        41234
    );
    bench("chat line with a tx hash (no secret)", || {
        scrub(black_box(&tx)).is_some()
    });
    bench(
        &format!("English, no secret ({} bytes)", ENGLISH.len()),
        || scrub(black_box(ENGLISH)).is_some(),
    );
    bench(
        &format!("Chinese, no secret ({} bytes)", CHINESE.len()),
        || scrub(black_box(CHINESE)).is_some(),
    );
    bench(
        &format!(
            "English with a 12-word phrase ({} bytes)",
            WITH_PHRASE.len()
        ),
        || scrub(black_box(WITH_PHRASE)).is_some(),
    );
    bench(
        &format!("e-mail body, no secret ({} bytes)", email.len()),
        || scrub(black_box(&email)).is_some(),
    );
    bench(
        &format!("HTML e-mail, no secret ({} bytes)", html.len()),
        || scrub_html(black_box(&html)).is_some(),
    );
}
