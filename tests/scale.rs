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
