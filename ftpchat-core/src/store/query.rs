//! What a user types into a search box, as an FTS5 query that cannot be anything else.

/// Turns a user's search text into an FTS5 query: every word must appear (in the text or
/// an attachment's file name), each word matching the words that start with it (`meet`
/// finds "meeting"), except one-letter words, which match only themselves (a one-letter
/// prefix would match most of a room, and costs as much to look up).
///
/// Each word becomes an FTS5 string (`"..."`, inner quotes doubled), so nothing the user
/// types is query syntax: quotes, `*`, `-`, `^`, `:`, parentheses, `AND`/`OR`/`NOT` and
/// `NEAR` are words or separators like any other. Inside a string the tokenizer splits as
/// it does for stored text, so `don't` matches the phrase "don t". Words without a letter
/// or digit (punctuation, emoji: the tokenizer indexes neither) are dropped; `None` when
/// no word is left.
pub(crate) fn fts_query(input: &str) -> Option<String> {
    let mut out = String::with_capacity(input.len() + 8);
    for word in input
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| w.chars().any(char::is_alphanumeric))
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push('"');
        out.push_str(&word.replace('"', "\"\""));
        out.push('"');
        // The prefix applies to the phrase's last token: the last run of letters and digits.
        let last_token_len = word
            .rsplit(|c: char| !c.is_alphanumeric())
            .find(|t| !t.is_empty())
            .map_or(0, |t| t.chars().count());
        if last_token_len >= 2 {
            out.push('*');
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn words_become_strings() {
        assert_eq!(fts_query("hello").as_deref(), Some("\"hello\"*"));
        assert_eq!(
            fts_query("  meet  Friday ").as_deref(),
            Some("\"meet\"* \"Friday\"*")
        );
        assert_eq!(fts_query("a b").as_deref(), Some("\"a\" \"b\""));
        assert_eq!(
            fts_query("say \"hi\"").as_deref(),
            Some("\"say\"* \"\"\"hi\"\"\"*")
        );
        assert_eq!(fts_query("don't").as_deref(), Some("\"don't\""));
        assert_eq!(fts_query("NEAR(a b)").as_deref(), Some("\"NEAR(a\" \"b)\""));
        assert_eq!(fts_query("-x*").as_deref(), Some("\"-x*\""));
        assert_eq!(fts_query("* - \" 😀 ..."), None);
        assert_eq!(fts_query(""), None);
        assert_eq!(fts_query("a\0b").as_deref(), Some("\"a\" \"b\""));
    }
}
