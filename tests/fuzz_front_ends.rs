//! A mutation fuzzer for both front ends, run with the suite: valid files of the examples
//! are broken at random (bytes inserted, deleted, duplicated, cut; invalid UTF-8, NUL,
//! brackets and quotes among the bytes) and loaded with the real loader. Whatever the
//! input, loading must not panic, every error must say where it is, and every diagnostic
//! must render.

mod support;

use std::path::Path;

use ordo::load::{self, LoadOptions};
use ordo::source::Snapshot;
use proptest::prelude::*;
use support::Repo;

/// One change to a file's bytes; positions and lengths are fractions of the file.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(f64, Vec<u8>),
    Delete(f64, f64),
    Duplicate(f64, f64),
    Truncate(f64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to YAML and Puppet, and bytes that are not text at all.
    let interesting = prop::sample::select(vec![
        b"\xff".to_vec(),
        b"\xc3".to_vec(),
        b"\0".to_vec(),
        b"\n".to_vec(),
        b"\t".to_vec(),
        b"{".to_vec(),
        b"}".to_vec(),
        b"[".to_vec(),
        b"]".to_vec(),
        b"'".to_vec(),
        b"\"".to_vec(),
        b":".to_vec(),
        b"- ".to_vec(),
        b"${".to_vec(),
        b"&a ".to_vec(),
        b"*a".to_vec(),
        b"=>".to_vec(),
        b"$".to_vec(),
        b"Node['../x']".to_vec(),
        b"\x1b[31m".to_vec(),
        b"@@".to_vec(),
        b"<<: ".to_vec(),
        b"---\n".to_vec(),
    ]);
    prop_oneof![
        (0.0..1.0f64, prop::collection::vec(interesting, 1..4))
            .prop_map(|(at, parts)| Mutation::Insert(at, parts.concat())),
        (0.0..1.0f64, 0.0..0.2f64).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (0.0..1.0f64, 0.0..0.2f64).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        (0.0..1.0f64).prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |fraction: f64, len: usize| ((fraction * len as f64) as usize).min(len);
    match mutation {
        Mutation::Insert(position, inserted) => {
            let position = at(*position, bytes.len());
            bytes.splice(position..position, inserted.iter().copied());
        }
        Mutation::Delete(position, len) => {
            let start = at(*position, bytes.len());
            let end = (start + at(*len, bytes.len())).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Duplicate(position, len) => {
            let start = at(*position, bytes.len());
            let end = (start + at(*len, bytes.len())).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Mutation::Truncate(position) => bytes.truncate(at(*position, bytes.len())),
    }
}

/// Loads the repository with one file mutated and checks what loading reports.
fn check(repo: &Repo, file: &str, mutations: &[Mutation]) -> Result<(), TestCaseError> {
    let path = repo.path().join(file);
    let original = std::fs::read(&path).unwrap();
    let mut bytes = original.clone();
    for mutation in mutations {
        apply(&mut bytes, mutation);
    }
    std::fs::write(&path, &bytes).unwrap();
    let loaded = Snapshot::open(repo.path(), None).and_then(|snapshot| load::load(&snapshot, LoadOptions::default()));
    std::fs::write(&path, &original).unwrap();
    let loaded = loaded.map_err(|err| TestCaseError::fail(format!("loading failed without a diagnostic: {err:#}")))?;
    for diagnostic in loaded.diagnostics.iter().filter(|diagnostic| diagnostic.is_error()) {
        let Some(location) = &diagnostic.location else {
            if WHOLE_REPOSITORY.iter().any(|prefix| diagnostic.message.starts_with(prefix)) {
                continue;
            }
            return Err(TestCaseError::fail(format!("no location: {}", diagnostic.message)));
        };
        let text = loaded.sources.text(&location.file);
        prop_assert!(text.is_some(), "{} points into {}, which was not kept", diagnostic.message, location.file);
        let text = text.unwrap_or_default();
        prop_assert!(
            location.range.end <= text.len(),
            "{} points past the end of {}",
            diagnostic.message,
            location.file
        );
    }
    ordo::cli::render_diagnostics(&loaded.diagnostics, &loaded.sources, false);
    Ok(())
}

/// Errors about the repository as a whole, which have no one place to point at.
const WHOLE_REPOSITORY: &[&str] = &["no site: the manifests declare no `site { }`"];

fn example(name: &str) -> Repo {
    let repo = Repo::example(name);
    assert!(Path::new(repo.path()).exists());
    repo
}

const YAML_FILES: &[&str] = &["inventory.yaml", "site.yaml", "packages/lamp/package.yaml"];
const PUPPET_FILES: &[&str] = &[
    "manifests/site.pp",
    "modules/lamp/manifests/init.pp",
    "modules/lamp/manifests/mysql.pp",
    "modules/lamp/manifests/webapp.pp",
    "environment.conf",
    "inventory.yaml",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_yaml_front_end_never_panics_and_locates_every_error(
        file in prop::sample::select(YAML_FILES),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        thread_local!(static REPO: Repo = example("lamp"));
        REPO.with(|repo| check(repo, file, &mutations))?;
    }

    #[test]
    fn the_puppet_front_end_never_panics_and_locates_every_error(
        file in prop::sample::select(PUPPET_FILES),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        thread_local!(static REPO: Repo = example("lamp-puppet"));
        REPO.with(|repo| check(repo, file, &mutations))?;
    }
}
