//! Byte offsets to 1-based line and column numbers, for rendering diagnostics.
//!
//! Columns count characters, not bytes, so a message about `café` points at the right place.
//! The index keeps only line starts and the positions of multi-byte characters, not the text.

/// Maps byte offsets of one source text to `(line, column)`.
#[derive(Clone, Debug)]
pub struct LineIndex {
    /// Byte offset of the start of each line; always starts with 0.
    line_starts: Vec<u32>,
    /// `(offset, extra_bytes)` for every character longer than one byte, in order.
    multibyte: Vec<(u32, u32)>,
}

impl LineIndex {
    pub fn new(src: &str) -> LineIndex {
        let mut line_starts = vec![0];
        let mut multibyte = Vec::new();
        for (offset, c) in src.char_indices() {
            if c == '\n' {
                line_starts.push(offset as u32 + 1);
            } else if c.len_utf8() > 1 {
                multibyte.push((offset as u32, c.len_utf8() as u32 - 1));
            }
        }
        LineIndex { line_starts, multibyte }
    }

    /// The 1-based line and 1-based character column of `offset`.
    ///
    /// An offset inside a multi-byte character counts as that character; offsets past the end
    /// are clamped to the last line.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let line_start = self.line_starts[line];
        let first = self.multibyte.partition_point(|&(at, _)| at < line_start);
        let last = self.multibyte.partition_point(|&(at, _)| at < offset);
        let extra: u32 = self.multibyte[first..last].iter().map(|&(at, extra)| extra.min(offset - at)).sum();
        (line as u32 + 1, offset - line_start - extra + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn lines_and_columns_are_one_based() {
        let index = LineIndex::new("ab\ncd\n\nef");
        assert_eq!(index.line_col(0), (1, 1));
        assert_eq!(index.line_col(2), (1, 3));
        assert_eq!(index.line_col(3), (2, 1));
        assert_eq!(index.line_col(7), (4, 1));
        assert_eq!(index.line_col(9), (4, 3));
    }

    #[test]
    fn columns_count_characters() {
        let src = "é = 'ü'\n  ✓x";
        let index = LineIndex::new(src);
        assert_eq!(index.line_col(src.find('=').unwrap() as u32), (1, 3));
        assert_eq!(index.line_col(src.find('\'').unwrap() as u32), (1, 5));
        assert_eq!(index.line_col(src.find('x').unwrap() as u32), (2, 4));
    }

    #[test]
    fn offsets_past_the_end_stay_on_the_last_line() {
        let index = LineIndex::new("a\nb");
        assert_eq!(index.line_col(3), (2, 2));
        assert_eq!(index.line_col(100), (2, 99));
    }
}
