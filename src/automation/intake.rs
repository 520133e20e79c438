//! Intake answers: what counts as a chain, a transaction hash (per chain), an address, an
//! amount, a time or a screenshot, found anywhere in what the customer wrote.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Chain,
    TxHash,
    Address,
    Amount,
    Time,
    Screenshot,
    Text,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Chain => "chain",
            Check::TxHash => "tx_hash",
            Check::Address => "address",
            Check::Amount => "amount",
            Check::Time => "time",
            Check::Screenshot => "screenshot",
            Check::Text => "text",
        }
    }
}

/// Chains the desk recognises: canonical id, address/hash family, and the names customers use.
const CHAINS: &[(&str, Family, &[&str])] = &[
    (
        "ethereum",
        Family::Evm,
        &["ethereum", "eth", "erc20", "erc-20", "以太坊", "以太"],
    ),
    (
        "bsc",
        Family::Evm,
        &[
            "bsc",
            "bnb",
            "bep20",
            "bep-20",
            "binance smart chain",
            "bnb chain",
            "币安链",
            "币安智能链",
        ],
    ),
    ("polygon", Family::Evm, &["polygon", "matic"]),
    ("arbitrum", Family::Evm, &["arbitrum", "arb"]),
    ("optimism", Family::Evm, &["optimism", "op mainnet"]),
    (
        "base",
        Family::Evm,
        &["base chain", "base network", "base mainnet"],
    ),
    ("avalanche", Family::Evm, &["avalanche", "avax", "c-chain"]),
    (
        "tron",
        Family::Tron,
        &["tron", "trx", "trc20", "trc-20", "波场"],
    ),
    ("bitcoin", Family::Bitcoin, &["bitcoin", "btc", "比特币"]),
    ("solana", Family::Solana, &["solana", "sol", "spl"]),
];

pub const EXPLORERS: &[(&str, &str)] = &[
    ("ethereum", "https://etherscan.io/tx/{tx}"),
    ("bsc", "https://bscscan.com/tx/{tx}"),
    ("polygon", "https://polygonscan.com/tx/{tx}"),
    ("arbitrum", "https://arbiscan.io/tx/{tx}"),
    ("optimism", "https://optimistic.etherscan.io/tx/{tx}"),
    ("base", "https://basescan.org/tx/{tx}"),
    ("avalanche", "https://snowtrace.io/tx/{tx}"),
    ("tron", "https://tronscan.org/#/transaction/{tx}"),
    ("bitcoin", "https://mempool.space/tx/{tx}"),
    ("solana", "https://solscan.io/tx/{tx}"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Evm,
    Tron,
    Bitcoin,
    Solana,
}

fn family(chain: &str) -> Option<Family> {
    CHAINS
        .iter()
        .find(|(id, ..)| *id == chain)
        .map(|(_, f, _)| *f)
}

/// Longest answer kept for free text and times.
const MAX_KEPT: usize = 300;

/// The answer to a question of kind `check` in `text` (and its `images`), or `None` when
/// there is none. `chain` is the chain already known, which decides what a hash looks like.
pub fn find(check: Check, text: &str, images: i64, chain: Option<&str>) -> Option<String> {
    match check {
        Check::Chain => find_chain(text).map(str::to_owned),
        Check::TxHash => find_tx_hash(text, chain).map(|(hash, _)| hash),
        Check::Address => find_address(text, chain),
        Check::Amount => find_amount(text),
        Check::Time => find_time(text),
        Check::Screenshot => (images > 0).then(|| format!("{images} image(s) attached")),
        Check::Text => {
            let t = text.trim();
            (!t.is_empty()).then(|| cut(t))
        }
    }
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_KEPT).collect()
}

/// Whether `phrase` (lower-case) is in `text`: as whole words for Latin script, as a
/// substring for CJK.
pub fn mentions(text_lower: &str, phrase: &str) -> bool {
    let phrase = phrase.trim().to_lowercase();
    if phrase.is_empty() {
        return false;
    }
    if !phrase.is_ascii() {
        return text_lower.contains(&phrase);
    }
    let mut from = 0;
    while let Some(at) = text_lower[from..].find(&phrase) {
        let start = from + at;
        let end = start + phrase.len();
        let before = text_lower[..start].chars().next_back();
        let after = text_lower[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        from = end;
    }
    false
}

pub fn find_chain(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    // A one-word answer to "which network?" may be a name too common to look for in prose.
    if let Some((id, ..)) = CHAINS.iter().find(|(id, ..)| *id == lower.trim()) {
        return Some(id);
    }
    CHAINS
        .iter()
        .find(|(_, _, names)| names.iter().any(|n| mentions(&lower, n)))
        .map(|(id, ..)| *id)
}

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn is_base58(s: &str) -> bool {
    s.chars().all(|c| BASE58.contains(c))
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Tokens that could be hashes or addresses: runs of ASCII letters and digits (and `0x`).
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| t.len() >= 25)
}

/// A transaction hash and the chain family it fits. With the chain known, only that chain's
/// form counts: EVM `0x` + 64 hex; TRON and Bitcoin 64 hex; Solana a base58 signature
/// (64 bytes: 86–88 characters).
pub fn find_tx_hash(text: &str, chain: Option<&str>) -> Option<(String, Option<&'static str>)> {
    let wanted = chain.and_then(family);
    for token in tokens(text) {
        let evm = token.len() == 66
            && (token.starts_with("0x") || token.starts_with("0X"))
            && is_hex(&token[2..]);
        let bare = token.len() == 64 && is_hex(token);
        let solana = (86..=88).contains(&token.len()) && is_base58(token);
        let fits = match wanted {
            Some(Family::Evm) => evm,
            Some(Family::Tron) | Some(Family::Bitcoin) => bare,
            Some(Family::Solana) => solana,
            None => evm || bare || solana,
        };
        if fits {
            let guessed = if evm {
                None
            } else if solana {
                Some("solana")
            } else {
                None
            };
            let hash = if evm || bare {
                token.to_ascii_lowercase()
            } else {
                token.to_owned()
            };
            return Some((hash, guessed));
        }
    }
    None
}

fn is_evm_hash(token: &str) -> bool {
    token.len() == 66 && (token.starts_with("0x") || token.starts_with("0X")) && is_hex(&token[2..])
}

pub fn has_evm_hash(text: &str) -> bool {
    tokens(text).any(is_evm_hash)
}

/// Stands in for a shielded hash while the secret guard reads the text (private use area).
const SHIELD: char = '\u{F8FF}';

/// Replaces each `0x` + 64-hex token with a marker the secret guard does not look at; returns
/// them for `restore_evm_hashes`.
pub fn shield_evm_hashes(text: &mut String) -> Vec<String> {
    let hashes: Vec<String> = tokens(text)
        .filter(|t| is_evm_hash(t))
        .map(str::to_owned)
        .collect();
    for (n, hash) in hashes.iter().enumerate() {
        *text = text.replacen(hash.as_str(), &format!("{SHIELD}{n}{SHIELD}"), 1);
    }
    hashes
}

pub fn restore_evm_hashes(text: &mut String, hashes: &[String]) {
    for (n, hash) in hashes.iter().enumerate() {
        *text = text.replacen(&format!("{SHIELD}{n}{SHIELD}"), hash, 1);
    }
}

/// An address: EVM `0x` + 40 hex; TRON `T` + 33 base58; Bitcoin legacy/P2SH base58 or bech32
/// `bc1…`; Solana 32–44 base58 characters.
pub fn find_address(text: &str, chain: Option<&str>) -> Option<String> {
    let wanted = chain.and_then(family);
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| t.len() >= 26)
        .find(|token| {
            let evm = token.len() == 42 && token.starts_with("0x") && is_hex(&token[2..]);
            let tron = token.len() == 34 && token.starts_with('T') && is_base58(token);
            let bech32 = token.starts_with("bc1")
                && (14..=74).contains(&token.len())
                && token[3..]
                    .chars()
                    .all(|c| "qpzry9x8gf2tvdw0s3jn54khce6mua7l".contains(c));
            let legacy = (26..=35).contains(&token.len())
                && (token.starts_with('1') || token.starts_with('3'))
                && is_base58(token);
            let solana = (32..=44).contains(&token.len()) && is_base58(token);
            match wanted {
                Some(Family::Evm) => evm,
                Some(Family::Tron) => tron,
                Some(Family::Bitcoin) => bech32 || legacy,
                Some(Family::Solana) => solana,
                None => evm || tron || bech32 || legacy || solana,
            }
        })
        .map(str::to_owned)
}

/// A number (`100`, `0.5`, `1,000.25`), with the token after it when there is one.
pub fn find_amount(text: &str) -> Option<String> {
    let mut all = text
        .split(|c: char| c.is_whitespace() || !c.is_ascii())
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| !w.is_empty())
        .peekable();
    while let Some(word) = all.next() {
        let number = word.replace(',', "");
        let (digits, unit) = match number.find(|c: char| c.is_ascii_alphabetic()) {
            Some(at) => (&number[..at], Some(number[at..].to_ascii_uppercase())),
            None => (number.as_str(), None),
        };
        // A hash or an address is not an amount.
        if digits.is_empty() || digits.len() > 24 {
            continue;
        }
        if digits
            .parse::<f64>()
            .map_or(true, |v| !v.is_finite() || v <= 0.0)
        {
            continue;
        }
        let unit = unit.filter(|u| u.len() <= 6).or_else(|| {
            all.peek()
                .filter(|w| {
                    (2..=6).contains(&w.len()) && w.chars().all(|c| c.is_ascii_alphabetic())
                })
                .map(|w| w.to_ascii_uppercase())
        });
        return Some(match unit {
            Some(unit) => format!("{digits} {unit}"),
            None => digits.to_owned(),
        });
    }
    None
}

/// Something that says when: a date or clock time, or words like "yesterday" / "昨天".
pub fn find_time(text: &str) -> Option<String> {
    const WORDS: &[&str] = &[
        "today",
        "yesterday",
        "ago",
        "morning",
        "afternoon",
        "evening",
        "night",
        "last week",
        "hour",
        "hours",
        "minutes",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "今天",
        "昨天",
        "前天",
        "小时前",
        "分钟前",
        "上午",
        "下午",
        "晚上",
        "早上",
        "凌晨",
        "号",
        "日",
        "点",
    ];
    let lower = text.to_lowercase();
    let clock = text.as_bytes().windows(3).any(|w| {
        w[0].is_ascii_digit()
            && (w[1] == b':' || w[1] == b'-' || w[1] == b'/')
            && w[2].is_ascii_digit()
    });
    (clock || WORDS.iter().any(|w| mentions(&lower, w))).then(|| cut(text.trim()))
}

/// The explorer link of `hash` on `chain`, from the configured templates or the built-in ones.
pub fn explorer_url(
    configured: &std::collections::BTreeMap<String, String>,
    chain: &str,
    hash: &str,
) -> Option<String> {
    let template = configured.get(chain).map(String::as_str).or_else(|| {
        EXPLORERS
            .iter()
            .find(|(id, _)| *id == chain)
            .map(|(_, t)| *t)
    })?;
    // The hash passed a validator: hex or base58 only, nothing to escape.
    Some(template.replace("{tx}", hash))
}

/// An example answer, shown when an answer is asked again.
pub fn example(check: Check, chain: Option<&str>) -> &'static str {
    match (check, chain.and_then(family)) {
        (Check::Chain, _) => "TRON, Ethereum, BSC, Bitcoin, Solana",
        (Check::TxHash, Some(Family::Evm)) => {
            "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"
        }
        (Check::TxHash, Some(Family::Tron) | Some(Family::Bitcoin)) => {
            "a1075db55d416d3ca199f55b6084e2115b9345e16c5cf302fc80e9d5fbf5d48d"
        }
        (Check::TxHash, Some(Family::Solana)) => {
            "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"
        }
        (Check::TxHash, None) => {
            "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"
        }
        (Check::Address, Some(Family::Tron)) => "TJCnKsPa7y5okkXvQAidZBzqx3QyQ6sxMW",
        (Check::Address, Some(Family::Bitcoin)) => "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        (Check::Address, Some(Family::Solana)) => "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV",
        (Check::Address, _) => "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
        (Check::Amount, _) => "250 USDT",
        (Check::Time, _) => "2026-12-01 14:30",
        (Check::Screenshot, _) => "📎",
        (Check::Text, _) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVM_TX: &str = "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060";
    const HEX_TX: &str = "a1075db55d416d3ca199f55b6084e2115b9345e16c5cf302fc80e9d5fbf5d48d";
    const SOL_TX: &str =
        "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW";

    #[test]
    fn transaction_hashes_per_chain() {
        // (text, chain known, expected hash)
        let table: &[(&str, Option<&str>, Option<&str>)] = &[
            (EVM_TX, Some("ethereum"), Some(EVM_TX)),
            (
                &format!("my tx: {EVM_TX}, please check"),
                Some("bsc"),
                Some(EVM_TX),
            ),
            (HEX_TX, Some("tron"), Some(HEX_TX)),
            (HEX_TX, Some("bitcoin"), Some(HEX_TX)),
            (HEX_TX, Some("ethereum"), None),
            (EVM_TX, Some("tron"), None),
            (SOL_TX, Some("solana"), Some(SOL_TX)),
            (SOL_TX, Some("ethereum"), None),
            (&format!("哈希是{HEX_TX}谢谢"), None, Some(HEX_TX)),
            (
                "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b2206",
                Some("ethereum"),
                None,
            ),
            (
                "0xZZ504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060",
                None,
                None,
            ),
            ("I don't have it", None, None),
        ];
        for (text, chain, expected) in table {
            let found = find(Check::TxHash, text, 0, *chain);
            assert_eq!(found.as_deref(), *expected, "{text} on {chain:?}");
        }
        let upper = EVM_TX.to_ascii_uppercase().replacen("0X", "0x", 1);
        assert_eq!(
            find(Check::TxHash, &upper, 0, None).as_deref(),
            Some(EVM_TX)
        );
    }

    #[test]
    fn chains_addresses_amounts_times() {
        assert_eq!(find_chain("it was on TRC20"), Some("tron"));
        assert_eq!(find_chain("用的波场网络"), Some("tron"));
        assert_eq!(find_chain("BNB chain"), Some("bsc"));
        assert_eq!(find_chain("ethereum mainnet"), Some("ethereum"));
        assert_eq!(find_chain("something"), None);
        assert_eq!(find_chain("basement"), None);
        assert_eq!(find_chain("the base of it"), None);
        assert_eq!(find_chain(" Base "), Some("base"));
        let cases: &[(&str, Option<&str>, bool)] = &[
            (
                "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
                Some("ethereum"),
                true,
            ),
            ("TJCnKsPa7y5okkXvQAidZBzqx3QyQ6sxMW", Some("tron"), true),
            (
                "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
                Some("tron"),
                false,
            ),
            (
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                Some("bitcoin"),
                true,
            ),
            ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", Some("bitcoin"), true),
            (
                "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV",
                Some("solana"),
                true,
            ),
            ("no address here", None, false),
        ];
        for (text, chain, ok) in cases {
            assert_eq!(
                find(Check::Address, text, 0, *chain).is_some(),
                *ok,
                "{text}"
            );
        }
        assert_eq!(
            find_amount("I sent 1,250.5 usdt").as_deref(),
            Some("1250.5 USDT")
        );
        assert_eq!(find_amount("100USDT").as_deref(), Some("100 USDT"));
        assert_eq!(
            find_amount("about 0.3 eth yesterday").as_deref(),
            Some("0.3 ETH")
        );
        assert_eq!(find_amount("转了 500").as_deref(), Some("500"));
        assert_eq!(find_amount("none"), None);
        assert!(find_time("yesterday at 14:30").is_some());
        assert!(find_time("昨天下午").is_some());
        assert!(find_time("2026-12-01").is_some());
        assert!(find_time("I do not know").is_none());
        assert!(find(Check::Screenshot, "", 1, None).is_some());
        assert!(find(Check::Screenshot, "here", 0, None).is_none());
    }

    #[test]
    fn explorer_links_use_the_configured_template_first() {
        let mut configured = std::collections::BTreeMap::new();
        assert_eq!(
            explorer_url(&configured, "tron", HEX_TX).unwrap(),
            format!("https://tronscan.org/#/transaction/{HEX_TX}")
        );
        configured.insert("tron".into(), "https://example.org/t/{tx}".into());
        assert_eq!(
            explorer_url(&configured, "tron", HEX_TX).unwrap(),
            format!("https://example.org/t/{HEX_TX}")
        );
        assert_eq!(explorer_url(&configured, "dogecoin", HEX_TX), None);
    }
}
