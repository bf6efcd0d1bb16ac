//! Sticky comments: one comment per pull request and key, found again by a hidden marker
//! and edited in place, so a pull request shows the newest preview and not a trail of them.
//!
//! A comment longer than forges take ([`MAX_COMMENT_CHARS`], GitHub's limit) is split over
//! several, each starting with its own marker (`part="2"`). Splits fall between lines, and
//! a split inside a code block or a `<details>` block closes it at the end of one part and
//! opens it again at the start of the next, so every part is whole Markdown and no value
//! inside a block can spill out of it. Past [`MAX_PARTS`] the rest is cut, with a note.
//!
//! [`upsert`] is the same for every forge, over its [`CommentApi`]: list the pull request's
//! comments, edit the parts that exist (the oldest comment with a part's marker is that
//! part), create the missing ones, delete old parts beyond the new count. Each step only
//! moves the forge towards the wanted comments, so a delivery cut short and tried again
//! ends the same as one that went through.

use std::collections::BTreeMap;
use std::future::Future;

use super::{DeliveryError, PullComment};

/// The longest comment forges take, in characters (GitHub's limit; Gitea and GitLab take
/// longer ones).
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// At most this many comments hold one sticky comment; the rest is cut with a note.
pub const MAX_PARTS: usize = 20;

/// Room kept in each part for its marker, its `part N of M` line, and the lines that close
/// and reopen blocks around a split.
const HEADROOM: usize = 1_024;

/// What an outdated comment says above its last content.
const OUTDATED: &str = "**Outdated:** this pull request is closed, and this comment will not be updated again.";

/// A comment as a forge lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeComment {
    pub id: u64,
    pub body: String,
}

/// What a forge offers to keep comments on a pull request.
pub trait CommentApi: Sync {
    /// Every comment of a pull request, in any order.
    fn list(&self, number: u64) -> impl Future<Output = Result<Vec<ForgeComment>, DeliveryError>> + Send;
    fn create(&self, number: u64, body: &str) -> impl Future<Output = Result<(), DeliveryError>> + Send;
    fn update(&self, number: u64, id: u64, body: &str) -> impl Future<Output = Result<(), DeliveryError>> + Send;
    fn delete(&self, number: u64, id: u64) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// Makes the pull request's comments for `comment.key` say `comment`, in place.
pub async fn upsert(api: &impl CommentApi, comment: &PullComment) -> Result<(), DeliveryError> {
    let wanted = parts(comment);
    let mut existing = api.list(comment.number).await?;
    // Forges number comments in the order they were made: the oldest one with a marker is
    // the part, so a copy of the marker posted later by someone else is never taken for it.
    existing.sort_by_key(|found| found.id);
    let mut found: BTreeMap<usize, &ForgeComment> = BTreeMap::new();
    for candidate in &existing {
        if let Some(part) = part_of(&candidate.body, &comment.key) {
            found.entry(part).or_insert(candidate);
        }
    }
    for (index, body) in wanted.iter().enumerate() {
        match found.get(&(index + 1)) {
            // Forges may store line ends as CRLF; an equal text needs no edit.
            Some(old) if old.body.replace("\r\n", "\n") == *body => {}
            Some(old) => api.update(comment.number, old.id, body).await?,
            None => api.create(comment.number, body).await?,
        }
    }
    for (_, old) in found.range(wanted.len() + 1..) {
        api.delete(comment.number, old.id).await?;
    }
    Ok(())
}

/// The hidden marker that starts part `part` (from 1) of the comment `key`. Keys are made by
/// ordo from environment names, which hold no `"` and no `>`.
pub fn marker(key: &str, part: usize) -> String {
    format!("<!-- ordo-sticky key=\"{key}\" part=\"{part}\" -->")
}

/// Which part of comment `key` a comment's body is, when it starts with that marker.
fn part_of(body: &str, key: &str) -> Option<usize> {
    let rest = body.strip_prefix("<!-- ordo-sticky key=\"")?.strip_prefix(key)?.strip_prefix("\" part=\"")?;
    let (digits, rest) = rest.split_once('"')?;
    if !rest.starts_with(" -->") {
        return None;
    }
    digits.parse().ok().filter(|part| *part >= 1)
}

/// The bodies of the comments that say `comment`, each with its marker.
pub fn parts(comment: &PullComment) -> Vec<String> {
    let text = if comment.outdated {
        format!(
            "{OUTDATED}\n\n<details><summary>The comment as it was last posted</summary>\n\n{}\n</details>\n",
            comment.body.trim_end()
        )
    } else {
        comment.body.clone()
    };
    let mut chunks = split(&text, MAX_COMMENT_CHARS - HEADROOM);
    if chunks.len() > MAX_PARTS {
        let cut: usize = chunks[MAX_PARTS..].iter().map(|chunk| chunk.chars().count()).sum();
        chunks.truncate(MAX_PARTS);
        chunks[MAX_PARTS - 1].push_str(&format!(
            "\n*{cut} more characters are not shown here: forges limit how long a comment may be.*\n"
        ));
    }
    let n_parts = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| {
            let part = if n_parts > 1 { format!("*Part {} of {n_parts}.*\n\n", index + 1) } else { String::new() };
            format!("{}\n{part}{chunk}", marker(&comment.key, index + 1))
        })
        .collect()
}

/// A fenced code block being read: its opening line, and what closes it.
#[derive(Debug, Clone)]
struct Fence {
    opener: String,
    marker: char,
    length: usize,
}

/// The blocks open at a point of the text: `<details>` blocks (their opening lines), and a
/// code block inside the innermost of them.
#[derive(Debug, Clone, Default)]
struct Open {
    details: Vec<String>,
    fence: Option<Fence>,
}

impl Open {
    /// The state after `line`.
    fn after(&self, line: &str) -> Open {
        let mut next = self.clone();
        match &self.fence {
            Some(fence) => {
                if fence_of(line).is_some_and(|(marker, length, info)| {
                    marker == fence.marker && length >= fence.length && info.is_empty()
                }) {
                    next.fence = None;
                }
            }
            None => {
                let trimmed = line.trim();
                if let Some((marker, length, _)) = fence_of(line) {
                    next.fence = Some(Fence { opener: trimmed.to_string(), marker, length });
                } else if trimmed.starts_with("<details") {
                    next.details.push(trimmed.to_string());
                } else if trimmed.starts_with("</details>") {
                    next.details.pop();
                }
            }
        }
        next
    }

    /// The lines that close every open block, innermost first.
    fn closers(&self) -> String {
        let mut out = String::new();
        if let Some(fence) = &self.fence {
            out.push_str(&fence.marker.to_string().repeat(fence.length));
            out.push('\n');
        }
        for _ in &self.details {
            out.push_str("</details>\n");
        }
        out
    }

    /// The lines that open the same blocks again, outermost first.
    fn openers(&self) -> String {
        let mut out = String::new();
        for details in &self.details {
            out.push_str(details);
            out.push_str("\n\n");
        }
        if let Some(fence) = &self.fence {
            out.push_str(&fence.opener);
            out.push('\n');
        }
        out
    }
}

/// A code fence line (CommonMark): up to three spaces, then three or more backticks or
/// tildes, then an info string (without backticks after backticks).
fn fence_of(line: &str) -> Option<(char, usize, &str)> {
    let line = line.trim_end_matches(['\n', '\r']);
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let marker = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = rest.chars().take_while(|c| *c == marker).count();
    let info = rest[length..].trim();
    (length >= 3 && !(marker == '`' && info.contains('`'))).then_some((marker, length, info))
}

/// Splits Markdown into chunks of at most `limit` characters, between lines, closing the
/// blocks open at each split and opening them again after it.
fn split(text: &str, limit: usize) -> Vec<String> {
    // A line longer than this is cut into pieces, each ending a line of its own.
    let longest_piece = limit / 2;
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    // Characters of `current` that only reopen blocks: a chunk of just those says nothing.
    let mut reopened = 0;
    let mut open = Open::default();
    for line in text.split_inclusive('\n') {
        for piece in pieces(line, longest_piece) {
            let next = open.after(&piece);
            let size = piece.chars().count();
            if used + size + next.closers().chars().count() > limit && used > reopened {
                current.push_str(&open.closers());
                chunks.push(std::mem::take(&mut current));
                current = open.openers();
                used = current.chars().count();
                reopened = used;
            }
            current.push_str(&piece);
            used += size;
            open = next;
        }
    }
    if used > reopened || chunks.is_empty() {
        current.push_str(&open.closers());
        chunks.push(current);
    }
    chunks
}

/// A line as pieces of at most `longest` characters, each ending with a newline.
fn pieces(line: &str, longest: usize) -> Vec<String> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    if body.chars().count() <= longest {
        return vec![format!("{body}\n")];
    }
    let chars: Vec<char> = body.chars().collect();
    chars.chunks(longest).map(|chunk| chunk.iter().collect::<String>() + "\n").collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Whether every code block a chunk opens, it also closes.
    fn fences_balanced(chunk: &str) -> bool {
        let mut open = Open::default();
        for line in chunk.split_inclusive('\n') {
            open = open.after(line);
        }
        open.fence.is_none() && open.details.is_empty()
    }

    fn comment(body: &str) -> PullComment {
        PullComment { number: 3, key: "ordo/production/plan".into(), body: body.into(), outdated: false }
    }

    #[test]
    fn a_short_comment_is_one_part_with_its_marker() {
        let parts = parts(&comment("### Plan\n\nnothing to do\n"));
        assert_eq!(
            parts,
            ["<!-- ordo-sticky key=\"ordo/production/plan\" part=\"1\" -->\n### Plan\n\nnothing to do\n"]
        );
        assert_eq!(part_of(&parts[0], "ordo/production/plan"), Some(1));
        assert_eq!(part_of(&parts[0], "ordo/production"), None);
        assert_eq!(
            part_of("text <!-- ordo-sticky key=\"ordo/production/plan\" part=\"1\" -->", "ordo/production/plan"),
            None
        );
    }

    #[test]
    fn long_comments_split_between_lines_without_breaking_a_block() {
        let mut body = String::from("# Preview\n\n<details><summary>Changes</summary>\n\n");
        for index in 0..4 {
            body.push_str(&format!("`c{index}` on `n{index}`\n\n````diff\n"));
            for line in 0..3_000 {
                body.push_str(&format!("-old value {index} {line} ```\n+new value {index} {line}\n"));
            }
            body.push_str("````\n\n");
        }
        body.push_str("</details>\n\nThe end.\n");
        body.push_str(&format!("{}\n", "x".repeat(100_000)));
        let parts = parts(&comment(&body));
        assert!(parts.len() >= 4, "{} parts", parts.len());
        for (index, part) in parts.iter().enumerate() {
            assert!(part.chars().count() <= MAX_COMMENT_CHARS, "part {index}: {}", part.chars().count());
            assert!(fences_balanced(part), "part {index} leaves a block open:\n{}", &part[part.len() - 200..]);
            assert_eq!(part_of(part, "ordo/production/plan"), Some(index + 1));
            assert!(part.contains(&format!("*Part {} of {}.*", index + 1, parts.len())));
        }
        // Every line of the body is in a part, in order.
        let all: String = parts.concat();
        let mut position = 0;
        for line in body.lines().filter(|line| line.starts_with('+') || line.starts_with('-')) {
            position += all[position..].find(line).unwrap_or_else(|| panic!("{line:?} is missing or out of order"));
        }
        assert!(all.contains("The end."));
    }

    #[test]
    fn past_the_most_parts_the_rest_is_cut_with_a_note() {
        let body = "line of text\n".repeat(MAX_COMMENT_CHARS * (MAX_PARTS + 2) / 13);
        let parts = parts(&comment(&body));
        assert_eq!(parts.len(), MAX_PARTS);
        assert!(parts[MAX_PARTS - 1].contains("more characters are not shown here"));
        assert!(parts.iter().all(|part| part.chars().count() <= MAX_COMMENT_CHARS));
    }

    #[test]
    fn the_outdated_form_keeps_the_last_content_below_a_notice() {
        let parts = parts(&PullComment { outdated: true, ..comment("### Plan\n") });
        assert!(parts[0].contains("**Outdated:**") && parts[0].contains("### Plan"), "{}", parts[0]);
        assert!(fences_balanced(&parts[0]));
    }

    /// Comments kept in memory, as a forge keeps them.
    #[derive(Default)]
    struct Board {
        comments: Mutex<Vec<ForgeComment>>,
        calls: Mutex<Vec<String>>,
    }

    impl CommentApi for Board {
        async fn list(&self, _number: u64) -> Result<Vec<ForgeComment>, DeliveryError> {
            self.calls.lock().unwrap().push("list".into());
            Ok(self.comments.lock().unwrap().clone())
        }
        async fn create(&self, _number: u64, body: &str) -> Result<(), DeliveryError> {
            let mut comments = self.comments.lock().unwrap();
            let id = comments.iter().map(|comment| comment.id).max().unwrap_or(0) + 1;
            self.calls.lock().unwrap().push(format!("create {id}"));
            comments.push(ForgeComment { id, body: body.to_string() });
            Ok(())
        }
        async fn update(&self, _number: u64, id: u64, body: &str) -> Result<(), DeliveryError> {
            self.calls.lock().unwrap().push(format!("update {id}"));
            let mut comments = self.comments.lock().unwrap();
            comments.iter_mut().find(|comment| comment.id == id).unwrap().body = body.to_string();
            Ok(())
        }
        async fn delete(&self, _number: u64, id: u64) -> Result<(), DeliveryError> {
            self.calls.lock().unwrap().push(format!("delete {id}"));
            self.comments.lock().unwrap().retain(|comment| comment.id != id);
            Ok(())
        }
    }

    #[tokio::test]
    async fn upserts_edit_in_place_grow_and_shrink() {
        let board = Board::default();
        board.comments.lock().unwrap().push(ForgeComment { id: 1, body: "LGTM".into() });
        upsert(&board, &comment("first\n")).await.unwrap();
        upsert(&board, &comment("first\n")).await.unwrap();
        upsert(&board, &comment("second\n")).await.unwrap();
        let long = "a line that repeats\n".repeat(8_000);
        upsert(&board, &comment(&long)).await.unwrap();
        // A copy of the marker posted later is not taken for the comment.
        let copy = board.comments.lock().unwrap()[1].body.clone();
        board.comments.lock().unwrap().push(ForgeComment { id: 50, body: copy });
        upsert(&board, &comment("short again\n")).await.unwrap();
        assert_eq!(
            board.calls.lock().unwrap().join(", "),
            "list, create 2, list, list, update 2, list, update 2, create 3, create 4, list, update 2, delete 3, delete 4"
        );
        let bodies: Vec<(u64, String)> =
            board.comments.lock().unwrap().iter().map(|comment| (comment.id, comment.body.clone())).collect();
        assert_eq!(bodies.len(), 3);
        assert_eq!(bodies[1], (2, format!("{}\nshort again\n", marker("ordo/production/plan", 1))));
    }
}
