//! The architecture's invariants, checked: which module may import which, which crates
//! each wire format belongs to, who prints, and that every module says what it owns.
//! ARCHITECTURE.md describes the same map in words; change both together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// For each top-level module, the modules of the crate it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    ("text", &[]),
    ("parallel", &[]),
    ("diag", &["text"]),
    ("lang", &[]),
    ("state_dir", &[]),
    ("model", &["diag", "text"]),
    ("source", &["text"]),
    ("load", &["diag", "lang", "model", "parallel", "source", "text"]),
    ("plan", &["diag", "model", "parallel", "text"]),
    ("exec", &["model", "state_dir", "text"]),
    ("store", &["plan", "state_dir", "text"]),
    ("engine", &["diag", "exec", "load", "model", "plan", "source", "state_dir", "store", "text"]),
    ("report", &["source", "store", "text"]),
    (
        "controller",
        &["diag", "engine", "exec", "load", "model", "plan", "report", "source", "state_dir", "store", "text"],
    ),
    ("server", &["controller", "diag", "engine", "plan", "report", "store", "text"]),
    ("cli", &["*"]),
    ("lib", &["*"]),
    ("main", &["*"]),
];

/// External crates that belong to one module each: the owner of that wire format or system.
const OWNED_CRATES: &[(&str, &[&str])] = &[
    ("rusqlite", &["store"]),
    ("git2", &["source"]),
    ("axum", &["server"]),
    ("octocrab", &["report"]),
    ("clap", &["cli"]),
    ("codespan_reporting", &["diag"]),
    ("toml", &["controller"]),
    ("notify", &["source"]),
    ("reqwest", &["exec"]),
    ("rustls", &["exec"]),
    ("tar", &["exec"]),
];

fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files.sort();
    files
}

/// `src/exec/node.rs` is in module `exec`; `src/text.rs` in `text`.
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its `#[cfg(test)]` module and without comments.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(index) => &text[..index],
        None => text,
    };
    text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn crate_modules_used(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (index, _) in code.match_indices("crate::") {
        let rest = &code[index + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let preceded_by_dollar = index > 0 && code.as_bytes()[index - 1] == b'$';
        if !name.is_empty() && !preceded_by_dollar {
            used.insert(name);
        }
    }
    // `use crate::{a, b}` groups.
    for (index, _) in code.match_indices("crate::{") {
        let rest = &code[index + "crate::{".len()..];
        let group = &rest[..rest.find('}').unwrap_or(rest.len())];
        for item in group.split(',') {
            let name: String = item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used.remove("");
    used
}

#[test]
fn modules_import_only_what_the_map_allows() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut violations = Vec::new();
    for file in source_files() {
        let module = module_of(&file);
        let Some(may_use) = allowed.get(module.as_str()) else {
            violations.push(format!("{}: module `{module}` is not in the map (tests/tidy.rs)", file.display()));
            continue;
        };
        if may_use.contains(&"*") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for used in crate_modules_used(&code) {
            if used != module && !may_use.contains(&used.as_str()) {
                violations.push(format!("{}: `{module}` uses `crate::{used}`", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "imports across boundaries the map forbids:\n{}", violations.join("\n"));
}

#[test]
fn wire_formats_have_one_owner() {
    let mut violations = Vec::new();
    for file in source_files() {
        let module = module_of(&file);
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for (krate, owners) in OWNED_CRATES {
            let used = code.contains(&format!("{krate}::")) || code.contains(&format!("use {krate}"));
            if used && !owners.contains(&module.as_str()) {
                violations.push(format!("{}: `{module}` uses `{krate}`, which only {owners:?} may", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn only_cli_prints_and_nothing_debugs() {
    let mut violations = Vec::new();
    for file in source_files() {
        let module = module_of(&file);
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        if code.contains("dbg!(") {
            violations.push(format!("{}: dbg!", file.display()));
        }
        if module != "cli" {
            for printer in ["println!(", "eprintln!(", "print!(", "eprint!("] {
                if code.contains(printer) {
                    violations.push(format!("{}: {printer}", file.display()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<String> = source_files()
        .into_iter()
        .filter(|file| !std::fs::read_to_string(file).unwrap().starts_with("//!"))
        .map(|file| file.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a `//!` overview:\n{}", missing.join("\n"));
}
