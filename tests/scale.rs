//! Large sites: files beyond any fixed limit of the YAML reader load, with the same results
//! a small site gives.

mod support;

use support::Repo;
use support::synthetic::generate;

/// 36,000 nodes and 15,000 instances: each file holds more than the 250,000 values the YAML
/// reader allowed by default, which used to stop an inventory at about 35,000 nodes and a
/// site at about 14,700 instances.
#[test]
fn a_site_over_the_old_yaml_budget_loads() {
    let repo = Repo::new();
    let n_components = generate(repo.path(), 36_000, 15_000);
    for file in ["inventory.yaml", "site.yaml"] {
        let old_budget = serde_saphyr::from_str::<serde_json::Value>(&repo.read(file));
        assert!(old_budget.is_err_and(|err| err.to_string().contains("budget")), "{file} is within the old budget");
    }
    let run = repo.ordo(&["validate"]).success();
    assert_eq!(
        run.stdout,
        format!(". is valid: 15000 applications, {n_components} components on 36000 nodes in 3 groups\n")
    );
}

/// Components that depend on nothing in the same step resolve on several cores when there
/// are many of them: what goes wrong is still reported once each, in the order of one
/// component after another, and the same on every run.
#[test]
fn a_large_site_reports_resolution_errors_in_site_order() {
    let repo = Repo::new();
    generate(repo.path(), 1_800, 600);
    // The database of t100 is on node00300, that of t599 on node01797: without facts, the
    // address their capabilities carry cannot be resolved.
    let mut inventory = repo.read("inventory.yaml");
    for node in ["node00300", "node01797"] {
        let at = inventory.find(&format!("name: {node}.example.net\n")).unwrap();
        let facts = at + inventory[at..].find("facts: ").unwrap();
        let end = facts + inventory[facts..].find('\n').unwrap();
        inventory.replace_range(facts..end, "facts: {}");
    }
    repo.write("inventory.yaml", &inventory);
    let first = repo.ordo(&["validate"]);
    assert_eq!(first.code, 1, "{}\n{}", first.stdout, first.stderr);
    // Each database's problem, then the one it caused its web server: in the site's order,
    // as if one component resolved after another.
    let failing: Vec<&str> = first.stderr.lines().filter(|line| line.starts_with("error: ")).collect();
    assert_eq!(
        failing,
        [
            "error: Tier::Db[t100]: `facts.ipaddress` has no key `ipaddress`",
            "error: Tier::Web[t100]: unknown variable `host`",
            "error: Tier::Db[t599]: `facts.ipaddress` has no key `ipaddress`",
            "error: Tier::Web[t599]: unknown variable `host`",
            "error: 4 problems found in .",
        ],
        "{}",
        first.stderr
    );
    let again = repo.ordo(&["validate"]);
    assert_eq!(again.stderr, first.stderr);
}
