//! Parses every `.pp` file shipped by Debian's `puppet-module-*` packages (about 1,900 files and
//! 165,000 lines of real modules, all accepted by Puppet 7) and requires zero syntax errors.
//!
//! This is the main evidence that `lang` accepts the language as people write it. The corpus is
//! installed system-wide; when it is missing the test fails and says how to install it, so it
//! can never pass vacuously.

use std::path::{Path, PathBuf};

use ordo::lang::{self, LineIndex};

const CORPUS: &str = "/usr/share/puppet/modules.available";
const INSTALL: &str = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
     $(apt-cache search --names-only '^puppet-module-' | cut -d' ' -f1)";

fn collect_pp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_pp_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "pp") {
            out.push(path);
        }
    }
}

#[test]
fn debian_puppet_modules_parse_without_errors() {
    let root = Path::new(CORPUS);
    assert!(root.is_dir(), "the Debian Puppet module corpus is missing at {CORPUS}; install it with:\n    {INSTALL}");
    let mut files = Vec::new();
    collect_pp_files(root, &mut files);
    files.sort();
    assert!(
        files.len() >= 1000,
        "expected about 1,900 .pp files under {CORPUS}, found {}; install the corpus with:\n    {INSTALL}",
        files.len()
    );

    let (mut n_lines, mut n_bytes) = (0usize, 0usize);
    let mut failures = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let src = String::from_utf8_lossy(&bytes);
        n_lines += src.lines().count();
        n_bytes += src.len();
        let parse = lang::parse(&src);
        if !parse.errors.is_empty() {
            let index = LineIndex::new(&src);
            for error in &parse.errors {
                failures.push(format!("{}:{}", path.display(), error.render(&index)));
            }
        }
    }
    println!("Debian corpus: {} files, {n_lines} lines, {n_bytes} bytes, {} errors", files.len(), failures.len());
    assert!(failures.is_empty(), "{} syntax errors in the Debian corpus:\n{}", failures.len(), failures.join("\n"));
}
