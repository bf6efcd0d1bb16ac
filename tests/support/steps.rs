//! A small repository for tests of runs: one package whose component `App::Step` is
//! declared twice (`App::Step[one-1]`, `App::Step[one-2]`) on node `n1`, with one secret
//! parameter; the test gives the apply script.

use super::Repo;

/// The repository with `script` as every step's `apply` and `secret` as the instance's
/// secret (any YAML value).
pub fn repo(script: &str, secret: &str) -> Repo {
    let repo = Repo::fixture(&format!(
        r#"
//- inventory.yaml
defaults:
  transport: local
  timeout: 120
nodes:
  - name: n1
//- site.yaml
instances:
  - application: app
    title: one
    parameters:
      secret: {secret}
    nodes:
      n1:
        - App::Step[one-1]
        - App::Step[one-2]
//- packages/app/package.yaml
name: app
version: 1.0.0
parameters:
  secret: {{type: any, secret: true, mandatory: true}}
components:
  App::Step:
    parameters:
      secret: {{type: any, secret: true}}
    scripts:
      apply: apply
application:
  name: app
  components:
    - component: App::Step
      count: 2
      title: "${{title}}-${{index}}"
      parameters:
        secret: "${{secret}}"
//- packages/app/apply
{script}
"#
    ));
    repo.git_init();
    repo.commit("steps");
    repo
}
