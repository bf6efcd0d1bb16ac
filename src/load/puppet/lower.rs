//! Lowering for Puppet 7: module files with the application-orchestration statements
//! (`application`, `site`, `produces`/`consumes`) blanked out, and nothing else changed, so
//! Puppet 7 parses them and line and column numbers in Puppet's own errors still point at
//! the user's code.

use sha2::{Digest, Sha256};

use crate::lang::ast::{SourceFile, StatementKind};
use crate::model::{MainManifest, PackageFile, PuppetCode};

fn is_orchestration(kind: &StatementKind) -> bool {
    matches!(kind, StatementKind::Application(_) | StatementKind::Site(_) | StatementKind::CapabilityMapping(_))
}

/// The file's text with every orchestration statement replaced by spaces (newlines kept).
pub fn blank_orchestration(text: &str, file: &SourceFile) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for statement in file.statements.iter().filter(|statement| is_orchestration(&statement.kind)) {
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

/// The main manifest's files, blanked and joined in Puppet's order. Puppet 7 reads it from
/// standard input before the node's components, so the first file keeps its line numbers.
/// The digest covers only the statements that remain, so editing the site changes it not.
pub fn main_manifest(files: &[(&str, &SourceFile)]) -> MainManifest {
    let mut text = String::new();
    let mut hasher = Sha256::new();
    for (source, file) in files {
        let mut kept = false;
        for statement in file.statements.iter().filter(|statement| !is_orchestration(&statement.kind)) {
            let range = statement.span.range();
            hasher.update(source.get(range).unwrap_or_default().as_bytes());
            hasher.update([0]);
            kept = true;
        }
        // A manifest of nothing but orchestration adds nothing to a node's run.
        if !kept {
            continue;
        }
        text.push_str(&blank_orchestration(source, file));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    let digest = crate::text::hex(&hasher.finalize());
    MainManifest { text, digest }
}

/// The module path as Puppet 7 gets it, named by a digest of every path and content and of
/// the main manifest.
pub fn puppet_code(modulepath: Vec<String>, mut files: Vec<PackageFile>, main_manifest: MainManifest) -> PuppetCode {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(file.path.as_bytes());
        hasher.update([0, u8::from(file.executable)]);
        hasher.update((file.content.len() as u64).to_le_bytes());
        hasher.update(&file.content);
    }
    if !main_manifest.text.is_empty() {
        hasher.update(main_manifest.digest.as_bytes());
    }
    let code_id = crate::text::hex(&hasher.finalize());
    PuppetCode { code_id, modulepath, files, main_manifest }
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
