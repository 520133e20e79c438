//! Full-text search: what is indexed for a message and how a query is looked up; the SQL is in
//! `repo/search.rs`.

use std::time::Duration;

/// Most messages indexed in one transaction: long enough to amortize the index's segment
/// writes, short enough not to hold the write lock away from ingest for long.
pub(crate) const INDEX_BATCH: i64 = 2_000;

/// How long the indexer sleeps once it has caught up; what arrives meanwhile is found by a scan.
pub(crate) const INDEX_IDLE: Duration = Duration::from_millis(250);

/// The pause between full batches (a backlog, e.g. the history of an upgraded database): ingest
/// gets the write lock in between instead of waiting in SQLite's busy retries.
pub(crate) const INDEX_BREATHER: Duration = Duration::from_millis(5);

/// Characters of a message whose two-character runs are indexed (a long mail's tail is still
/// found by three-character queries).
const MAX_PAIRS_CHARS: usize = 100_000;

/// Scripts written without spaces between words, or with two-syllable words inside longer
/// runs: Chinese, Japanese kana, Korean Hangul.
fn east_asian(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Every run of two East Asian characters in `text`, each followed by a space: the trigram
/// index then holds "XY " for each, so a two-character query has three characters to find.
pub(crate) fn pairs(text: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in text.chars().take(MAX_PAIRS_CHARS) {
        let here = east_asian(c).then_some(c);
        if let (Some(a), Some(b)) = (prev, here) {
            out.push(a);
            out.push(b);
            out.push(' ');
        }
        prev = here;
    }
    out
}

/// How a query is looked up in the index: an FTS5 expression on one column, every character
/// literal (operators and quotes are text). `None`: a scan of the messages finds it (one
/// character, or two that are not East Asian).
pub(crate) fn fts_query(query: &str) -> Option<String> {
    let quoted = |column: &str, text: &str| format!("{column} : \"{}\"", text.replace('"', "\"\""));
    let chars: Vec<char> = query.chars().take(3).collect();
    match chars.as_slice() {
        [_, _, _] => Some(quoted("text", query)),
        [a, b] if east_asian(*a) && east_asian(*b) => Some(quoted("pairs", &format!("{a}{b} "))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_character_runs_of_east_asian_text_become_pairs() {
        assert_eq!(pairs("我的充值"), "我的 的充 充值 ");
        assert_eq!(pairs("ok 充值 ok"), "充值 ");
        assert_eq!(
            pairs("지갑을 잃어버렸어요"),
            "지갑 갑을 잃어 어버 버렸 렸어 어요 "
        );
        assert_eq!(pairs("パスワード"), "パス スワ ワー ード ");
        assert_eq!(pairs("password"), "");
    }

    #[test]
    fn queries_are_literal_and_short_ones_use_the_pairs() {
        assert_eq!(
            fts_query("seed phrase").as_deref(),
            Some("text : \"seed phrase\"")
        );
        assert_eq!(
            fts_query("say \"hi\"").as_deref(),
            Some("text : \"say \"\"hi\"\"\"")
        );
        assert_eq!(fts_query("充值").as_deref(), Some("pairs : \"充值 \""));
        assert_eq!(fts_query("ok"), None);
        assert_eq!(fts_query("币"), None);
        assert_eq!(fts_query(""), None);
    }
}
