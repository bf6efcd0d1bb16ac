//! Secrets never leak: each way a secret could reach output, the job record or the store is
//! tried with a distinctive secret, which is then searched for in every output and in every
//! byte of the state directory.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{Repo, assert_no_file_holds, files_under, steps};

/// Every command's output after a run, for searching.
fn all_output(repo: &Repo, run: &support::Run) -> String {
    let mut text = format!("{}{}", run.stdout, run.stderr);
    for args in [&["job", "show", "1"][..], &["job", "show", "1", "--format", "json"], &["job", "list"], &["plan"]] {
        let more = repo.ordo(args);
        text.push_str(&more.stdout);
        text.push_str(&more.stderr);
    }
    text
}

/// A structured secret's leaves, one of which needs JSON escaping and one of which
/// overlaps another, printed by the script whole, raw, JSON-escaped, URL-encoded, in base64,
/// and split by the 16 KiB cut of the output tail.
#[test]
fn output_masks_every_leaf_and_encoding_before_the_tail_is_cut() {
    // The last component prints the forms, after a long line holding the secret where the
    // 16 KiB tail of the unmasked output would begin: inside the secret.
    let script = r#"#!/bin/sh
json=$(cat)
[ "$ORDO_TITLE" = one-2 ] || exit 0
leaf=$(printf '%s' "$json" | sed -n 's/.*"secret":\[\(.*\)\].*/\1/p' | sed 's/.*,"\(.*\)"$/\1/; s/\\"/"/g')
forms=$(printf 'whole: %s\nraw: %s\njson: %s\nbase64: %s\nurl: %s' "$secret" "$leaf" \
  "$(printf '%s' "$leaf" | sed 's/"/\\"/g')" "$(printf '%s' "$leaf" | base64)" \
  "$(printf '%s' "$leaf" | sed 's/@/%40/g; s/ /%20/g; s/"/%22/g')")
printf 'cut: %s' "$leaf"
head -c $((16384 - ${#forms} - 2 - 12)) /dev/zero | tr '\0' x
printf '\n%s\n' "$forms"
"#;
    let repo = steps::repo(script, r#"["Q7leaf-one", "Q7leaf-oneZZ", "p@ss w0rd\"Q7 tail"]"#);
    let run = repo.ordo(&["apply", "--yes"]).success();
    let output = all_output(&repo, &run);
    let job = repo.ordo(&["job", "show", "1"]).success().stdout;
    assert!(job.contains("raw: (sensitive)"), "{}", &job[..job.len().min(2000)]);
    for needle in ["Q7leaf", "w0rd", "Q7 tail", "ZZ", "cEBzcyB3MHJkIlE3IHRhaWw", "p%40ss%20w0rd"] {
        assert!(!output.contains(needle), "{needle:?} leaked:\n{}", &output[..output.len().min(4000)]);
        // The package as written holds what the repository holds; everything else is checked.
        for (path, bytes) in files_under(&repo.state()) {
            if path.strip_prefix(repo.state()).unwrap().starts_with("packages") {
                continue;
            }
            assert!(
                !bytes.windows(needle.len()).any(|window| window == needle.as_bytes()),
                "{} holds {needle}",
                path.display()
            );
        }
    }
}

#[test]
fn a_failed_availability_check_never_records_its_secret() {
    for check in [
        r#"tcp: "${password}.invalid:1""#,
        r#"http: "http://127.0.0.1:1/${password}""#,
        r#"command: "echo ${password}; exit 1""#,
    ] {
        let repo = Repo::with_checked_capability(check, "password", true, "Sup3r-s3cret-pw");
        let run = repo.ordo(&["apply", "--yes"]);
        assert_eq!(run.code, 1, "{check}: the check fails\n{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("Svc[one] is not available"), "{}", run.stdout);
        let output = all_output(&repo, &run);
        assert!(!output.contains("Sup3r-s3cret-pw"), "{check}:\n{output}");
        assert_no_file_holds(&repo.state(), "Sup3r-s3cret-pw");
    }
}

#[test]
fn the_store_is_private_and_its_digest_key_lives_beside_it() {
    let repo = steps::repo("#!/bin/sh\nexit 0\n", "hunter2-Q7");
    repo.ordo(&["apply", "--yes"]).success();
    for file in ["state.db", "state.key"] {
        let mode = std::fs::metadata(repo.state().join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let key = std::fs::read(repo.state().join("state.key")).unwrap();
    assert!(key.len() >= 32, "{}", key.len());
    let store = std::fs::read(repo.state().join("state.db")).unwrap();
    assert!(!store.windows(key.len()).any(|window| window == key), "the store holds its own key");
    assert_no_file_holds(&repo.state(), "hunter2-Q7");
    // The same secret digests the same with the key: nothing to do.
    assert_eq!(repo.plan_json()["changes"], serde_json::json!([]));
    // Without the key, secrets cannot be compared, and ordo says so rather than guess.
    std::fs::remove_file(repo.state().join("state.key")).unwrap();
    let run = repo.ordo(&["plan"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("state.key is missing"), "{}", run.stderr);
}
