//! Text helpers every chat adapter needs.

/// Splits `text` into parts of at most `max` UTF-16 units (what Telegram and Discord count),
/// preferring paragraph breaks, then line breaks, then spaces; a single overlong word is cut. A
/// character wider than `max` on its own becomes a part of its own.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        // Astral characters count twice in UTF-16: measure conservatively.
        let units = |s: &str| s.chars().map(char::len_utf16).sum::<usize>();
        if units(rest) <= max {
            parts.push(rest.to_owned());
            break;
        }
        let mut end = 0;
        let mut used = 0;
        for (i, c) in rest.char_indices() {
            if used + c.len_utf16() > max {
                break;
            }
            used += c.len_utf16();
            end = i + c.len_utf8();
        }
        // A first character wider than `max` (or `max` 0): it goes alone rather than looping.
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let window = &rest[..end];
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|sep| {
                window
                    .rfind(sep)
                    .filter(|&at| at > max / 4)
                    .map(|at| at + sep.len())
            })
            .unwrap_or(end);
        parts.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_wider_than_the_limit_does_not_loop() {
        assert_eq!(split_text("😀", 1), ["😀"]);
        assert_eq!(split_text("ab", 0), ["a", "b"]);
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_text("hello", 4096), ["hello"]);
    }

    #[test]
    fn long_text_splits_on_paragraphs_then_words_and_loses_nothing() {
        let para = "word ".repeat(700);
        let text = format!("{}\n\n{}", para.trim(), para.trim());
        let parts = split_text(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= 4096));
        assert_eq!(parts.join(" ").split_whitespace().count(), 1400);
        let words = "abcdefghij ".repeat(1000);
        let parts = split_text(&words, 4096);
        assert!(
            parts
                .iter()
                .all(|p| p.chars().count() <= 4096 && !p.ends_with(' '))
        );
        assert_eq!(parts.concat().replace(' ', "").len(), 10_000);
    }

    #[test]
    fn an_overlong_word_is_cut_and_astral_characters_count_double() {
        let parts = split_text(&"x".repeat(5000), 4096);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            [4096, 904]
        );
        let emoji = "😀".repeat(3000);
        let parts = split_text(&emoji, 4096);
        assert_eq!(parts[0].chars().count(), 2048);
        assert_eq!(parts.concat(), emoji);
    }
}
