//! Where Debian's `puppet-module-*` packages put their manifests, shared by the corpus test
//! and the parser benchmark.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const CORPUS: &str = "/usr/share/puppet/modules.available";
pub const INSTALL: &str = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
     $(apt-cache search --names-only '^puppet-module-' | cut -d' ' -f1)";

/// Every `.pp` file of the corpus, sorted; an error that says how to install it when it is
/// missing.
pub fn corpus_files() -> Result<Vec<PathBuf>, String> {
    let root = Path::new(CORPUS);
    if !root.is_dir() {
        return Err(format!("the Debian Puppet module corpus is missing at {CORPUS}; install it with:\n    {INSTALL}"));
    }
    let mut files = Vec::new();
    collect_pp_files(root, &mut files);
    files.sort();
    Ok(files)
}

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
