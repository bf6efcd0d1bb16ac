//! Conformance with Puppet 5: each `tests/puppet_conformance/NNNN_name.repo` is a small
//! control repository (the fixture format of `tests/support`, `//- path` starting each file),
//! taken from Puppet's specs, the PE documentation or published modules, which the text
//! before its first file names. Beside it, what Puppet gave, written from that source:
//!
//! - `NNNN_name.graph.json`: the environment graph Puppet Server 5 serves
//!   (`/puppet/v3/environment/production`); loading must succeed and export exactly it.
//! - `NNNN_name.error`: Puppet's error, word for word; it must be the first error reported.
//! - `NNNN_name.error-pattern`: a regular expression the first error must match, where the
//!   spec asserts only a pattern.
//! - `NNNN_name.values.json`: resolved values, `{"components": {REF: {PARAM: VALUE}},
//!   "capabilities": {REF: {ATTRIBUTE: VALUE}}}`, each listed map exactly as resolved.
//! - `NNNN_name.warnings`: warnings that must be reported, one message per line.
//!
//! The expected files are written by hand from the source, never from ordo's output: there
//! is no `UPDATE_EXPECT` here.

mod support;

use std::path::{Path, PathBuf};

use ordo::diag::Diagnostic;
use ordo::load::{LoadOptions, load};
use ordo::source::Snapshot;
use support::Repo;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/puppet_conformance");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/puppet_conformance is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "repo"))
        .collect();
    cases.sort();
    cases
}

fn sidecar(case: &Path, extension: &str) -> Option<String> {
    std::fs::read_to_string(case.with_extension(extension)).ok()
}

/// Loads the case's repository: its model (as JSON, for values), environment graph and
/// diagnostics.
fn load_case(case: &Path) -> (ordo::model::Model, String, Vec<Diagnostic>) {
    let fixture = std::fs::read_to_string(case).expect("the case is readable");
    let repo = Repo::fixture(&fixture);
    let snapshot = Snapshot::open(repo.path(), None).expect("the repository opens");
    let loaded = load(&snapshot, LoadOptions::default()).expect("the repository loads");
    let graph = ordo::load::env_graph::export(&loaded.model, "production");
    (loaded.model, graph, loaded.diagnostics)
}

/// Checks one case; the problems found, empty when it conforms.
fn check(case: &Path) -> Vec<String> {
    let (model, graph, diagnostics) = load_case(case);
    let errors: Vec<&str> = diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.as_str()).collect();
    let warnings: Vec<&str> = diagnostics.iter().filter(|d| !d.is_error()).map(|d| d.message.as_str()).collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    if let Some(expected) = sidecar(case, "graph.json") {
        checked += 1;
        if !errors.is_empty() {
            problems.push(format!("expected a graph, got errors: {errors:#?}"));
        }
        let expected: serde_json::Value = serde_json::from_str(&expected).expect("the expected graph is JSON");
        let actual: serde_json::Value = serde_json::from_str(&graph).expect("the exported graph is JSON");
        if expected != actual {
            problems.push(format!("graph differs\nexpected: {expected:#}\nactual: {actual:#}"));
        }
    }
    if let Some(expected) = sidecar(case, "error") {
        checked += 1;
        match errors.first() {
            Some(first) if *first == expected.trim_end() => {}
            first => {
                problems.push(format!("first error differs\nexpected: {}\nactual: {first:?}", expected.trim_end()))
            }
        }
    }
    if let Some(pattern) = sidecar(case, "error-pattern") {
        checked += 1;
        let regex = regex::Regex::new(pattern.trim_end()).expect("the pattern is a regular expression");
        if !errors.first().is_some_and(|first| regex.is_match(first)) {
            problems.push(format!("first error does not match /{}/: {:?}", pattern.trim_end(), errors.first()));
        }
    }
    if let Some(expected) = sidecar(case, "warnings") {
        checked += 1;
        for line in expected.lines().filter(|line| !line.is_empty()) {
            if !warnings.contains(&line) {
                problems.push(format!("missing warning: {line}\nwarnings: {warnings:#?}"));
            }
        }
    }
    if let Some(expected) = sidecar(case, "values.json") {
        checked += 1;
        if !errors.is_empty() {
            problems.push(format!("expected values, got errors: {errors:#?}"));
        }
        let expected: serde_json::Value = serde_json::from_str(&expected).expect("the expected values are JSON");
        for (reference, wanted) in expected["components"].as_object().into_iter().flatten() {
            let actual = model.component(reference).map(|component| {
                component.parameters.iter().map(|(name, param)| (name.clone(), param.value.clone())).collect()
            });
            if actual.as_ref() != Some(wanted) {
                problems.push(format!("{reference}: expected parameters {wanted}, got {actual:?}"));
            }
        }
        for (reference, wanted) in expected["capabilities"].as_object().into_iter().flatten() {
            let actual = model.capabilities.get(reference).map(|capability| {
                capability.attributes.iter().map(|(name, param)| (name.clone(), param.value.clone())).collect()
            });
            if actual.as_ref() != Some(wanted) {
                problems.push(format!("{reference}: expected attributes {wanted}, got {actual:?}"));
            }
        }
    }
    if checked == 0 {
        problems.push("the case has no expected output beside it".into());
    }
    problems
}

#[test]
fn control_repositories_read_as_puppet_5_read_them() {
    let cases = cases();
    assert!(cases.len() >= 40, "expected at least 40 cases, found {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let problems = check(case);
        if !problems.is_empty() {
            let name = case.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
            failures.push(format!("{name}:\n  {}", problems.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Puppet:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
