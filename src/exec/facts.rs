//! Facts from the node itself: `facter --json`, as Puppet gathers them.
//!
//! A local node is this machine, so its facts are gathered once per process and shared; an
//! SSH node is asked over a connection of its own, once per load (so once per job).
//! Facter may exit non-zero after printing its facts (it logs every /proc file it cannot
//! read); what counts is whether its output is a JSON object.

use std::sync::OnceLock;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

use crate::model::Transport;

/// This machine's facts, gathered once.
static LOCAL_FACTS: OnceLock<Result<Map<String, Value>, String>> = OnceLock::new();

/// The facts of the node reached by `transport`.
pub fn gather(transport: &Transport) -> anyhow::Result<Map<String, Value>> {
    match transport {
        Transport::Local => {
            LOCAL_FACTS.get_or_init(|| facter().map_err(|err| format!("{err:#}"))).clone().map_err(anyhow::Error::msg)
        }
        Transport::Ssh(target) => {
            // Puppet's packages put Facter outside the PATH of a non-login shell.
            let stdout = super::transport::ssh::run_once(
                &target.address,
                target,
                "PATH=\"$PATH:/opt/puppetlabs/bin\" facter --json --show-legacy 2>/dev/null || true",
            )?;
            match serde_json::from_slice::<Value>(&stdout) {
                Ok(Value::Object(facts)) => Ok(facts),
                _ => bail!("facter --json on {} printed no facts", target.address),
            }
        }
        Transport::Unknown => bail!("the node is not in the inventory, so it cannot be asked for facts"),
    }
}

fn facter() -> anyhow::Result<Map<String, Value>> {
    let facter = std::env::var("ORDO_FACTER").unwrap_or_else(|_| "facter".to_string());
    let output = std::process::Command::new(&facter)
        // Legacy facts (`fqdn`, `ipaddress`) are what capability mappings written for
        // Puppet use, as `puppet apply` provides them.
        .args(["--json", "--show-legacy"])
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {facter} --json"))?;
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(Value::Object(facts)) => Ok(facts),
        _ => bail!(
            "{facter} --json printed no facts (exit {}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default()
        ),
    }
}
