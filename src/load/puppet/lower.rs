//! Lowering for Puppet 7: module files with the application-orchestration statements
//! (`application`, `site`, `produces`/`consumes`) blanked out, and nothing else changed, so
//! Puppet 7 parses them and line and column numbers in Puppet's own errors still point at
//! the user's code.

use sha2::{Digest, Sha256};

use crate::lang::ast::{SourceFile, StatementKind};
use crate::model::{PackageFile, PuppetCode};

/// The file's text with every orchestration statement replaced by spaces (newlines kept).
pub fn blank_orchestration(text: &str, file: &SourceFile) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for statement in &file.statements {
        let orchestration = matches!(
            statement.kind,
            StatementKind::Application(_) | StatementKind::Site(_) | StatementKind::CapabilityMapping(_)
        );
        if !orchestration {
            continue;
        }
        let range = statement.span.range();
        let end = range.end.min(bytes.len());
        for byte in &mut bytes[range.start.min(end)..end] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    }
    // Only ASCII spaces replaced whole characters' bytes, so the text is still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_string())
}

/// The module path as Puppet 7 gets it, named by a digest of every path and content.
pub fn puppet_code(modulepath: Vec<String>, mut files: Vec<PackageFile>) -> PuppetCode {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(file.path.as_bytes());
        hasher.update([0, u8::from(file.executable)]);
        hasher.update((file.content.len() as u64).to_le_bytes());
        hasher.update(&file.content);
    }
    let code_id = crate::text::hex(&hasher.finalize());
    PuppetCode { code_id, modulepath, files }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orchestration_statements_become_spaces_and_lines_stay() {
        let text = "define lamp::db($user) {\n  notify { $user: }\n}\nLamp::Db produces Sql {\n  host => 'x',\n}\napplication lamp() {\n  lamp::db { $name: }\n}\nclass after {}\n";
        let parse = crate::lang::parse(text);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        let lowered = blank_orchestration(text, &parse.file);
        assert_eq!(lowered.len(), text.len());
        assert_eq!(lowered.lines().count(), text.lines().count());
        assert!(lowered.contains("define lamp::db($user) {\n  notify { $user: }\n}\n"));
        assert!(lowered.ends_with("class after {}\n"));
        assert!(!lowered.contains("produces") && !lowered.contains("application"));
        let reparsed = crate::lang::parse(&lowered);
        assert!(reparsed.errors.is_empty());
        assert_eq!(reparsed.file.statements.len(), 2);
    }
}
