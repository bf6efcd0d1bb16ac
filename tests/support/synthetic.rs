//! Synthetic sites of any size, for the benchmark (`benches/pipeline.rs`) and the tests of
//! large sites: N nodes in three pools and M instances of a three-tier application
//! (database -> web -> load balancer, one component each), so the node graph has exactly three
//! groups. Every script is `#!/bin/true`.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes a synthetic repository into `dir` (created when missing); returns the number of
/// components. Node names are numbered with at least five digits, so any size sorts the
/// same way the smaller ones do.
pub fn generate(dir: &Path, nodes: usize, instances: usize) -> usize {
    assert!(nodes >= 3, "a site needs a node in each of its three pools");
    std::fs::create_dir_all(dir).unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
    let pool = |tier: usize| -> Vec<String> {
        (0..nodes).filter(|index| index % 3 == tier).map(|index| format!("node{index:05}.example.net")).collect()
    };
    let (db_nodes, web_nodes, lb_nodes) = (pool(0), pool(1), pool(2));
    let mut inventory = String::from("defaults:\n  transport: local\n  timeout: 60\nnodes:\n");
    for index in 0..nodes {
        let _ = writeln!(
            inventory,
            "  - name: node{index:05}.example.net\n    facts: {{ipaddress: 10.{}.{}.{}}}",
            index / 65536,
            index / 256 % 256,
            index % 256
        );
    }
    std::fs::write(dir.join("inventory.yaml"), inventory).unwrap();
    let mut site = String::from("instances:\n");
    for index in 0..instances {
        let _ = write!(
            site,
            "  - application: tier\n    title: t{index}\n    parameters: {{db_port: 5432}}\n    nodes:\n      {}: Tier::Db[t{index}]\n      {}: Tier::Web[t{index}]\n      {}: Tier::Lb[t{index}]\n",
            db_nodes[index % db_nodes.len()],
            web_nodes[index % web_nodes.len()],
            lb_nodes[index % lb_nodes.len()],
        );
    }
    std::fs::write(dir.join("site.yaml"), site).unwrap();
    let package = dir.join("packages/tier");
    std::fs::create_dir_all(package.join("scripts")).unwrap();
    std::fs::write(package.join("package.yaml"), PACKAGE).unwrap();
    let script = package.join("scripts/true");
    std::fs::write(&script, "#!/bin/true\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    instances * 3
}

const PACKAGE: &str = r#"name: tier
version: 1.0.0
parameters:
  db_port: {type: integer, default: 5432}
  password: {type: string, secret: true, default: bench-secret}
capabilities:
  Sql: {attributes: {host: string, port: integer, password: {type: string, secret: true}}}
  Http: {attributes: {host: string, port: integer}}
components:
  Tier::Db:
    parameters: {port: integer, password: {type: string, secret: true}}
    produces: {Sql: {host: "${facts.ipaddress}", port: "${port}", password: "${password}"}}
    scripts: {apply: scripts/true}
  Tier::Web:
    parameters: {db_host: string, db_port: integer, db_password: {type: string, secret: true}, port: {type: integer, default: 8080}}
    consumes: {Sql: {db_host: "${host}", db_port: "${port}", db_password: "${password}"}}
    produces: {Http: {host: "${facts.ipaddress}", port: "${port}"}}
    scripts: {apply: scripts/true}
  Tier::Lb:
    parameters: {backends: array}
    consumes: {Http: {backends: "${host}:${port}"}}
    scripts: {apply: scripts/true}
application:
  name: tier
  components:
    - {component: Tier::Db, title: "${title}", parameters: {port: "${db_port}", password: "${password}"}, export: "Sql[${title}]"}
    - {component: Tier::Web, title: "${title}", consume: "Sql[${title}]", export: "Http[${title}]"}
    - {component: Tier::Lb, title: "${title}", consume: "Http[${title}]"}
"#;
