//! Transports: how ordo reaches a node to put code there and run commands.
//!
//! A [`Transport`] is one node's connection for one run. The component kinds (`script`,
//! `puppet`) build [`NodeCommand`]s and never ask which transport carries them, so adding a
//! transport is one new file here and one arm in [`connect`].

mod local;
pub mod ssh;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use local::install_all as install_local_code;

use super::output::Output;
use super::process::{Finished, ProcessError};
use crate::model::{Node, PackageFiles, PuppetCode, Transport as NodeTransport};
use crate::state_dir::StateDir;

/// A future a transport returns; boxed, so transports can be chosen at run time.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Code components run: a package's files, a lowered Puppet module path, or a recorded
/// teardown script. Each is named by its content, so it is sent to a node at most once.
#[derive(Debug, Clone)]
pub enum Code {
    Package(Arc<PackageFiles>),
    Puppet(Arc<PuppetCode>),
    Script(Arc<Vec<u8>>),
}

/// A command to run on a node, in its working directory.
#[derive(Debug, Clone, Default)]
pub struct NodeCommand {
    /// A path on the node, or a program looked up in the node's `PATH`.
    pub program: String,
    pub args: Vec<String>,
    /// Environment variables. Their values may be secret: a transport must never put them
    /// on a command line or on the node's disk.
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
}

/// One node's connection for one run.
pub trait Transport: Send + Sync {
    /// The node's working directory, where components run.
    fn work_dir(&self) -> &str;

    /// Gets the node ready for the run: reachable, its working directory made, and the
    /// `code` its components run put there where the transport can do it in the same round
    /// trip (what it leaves out, [`Transport::install`] sends when a component asks).
    fn open<'a>(&'a self, code: &'a [Code]) -> BoxFuture<'a, Result<(), String>>;

    /// The directory (or, for a script, the file) holding `code` on the node; sent there
    /// first when it is not there yet.
    fn install<'a>(&'a self, code: &'a Code) -> BoxFuture<'a, Result<String, String>>;

    /// Runs a command in the node's working directory until it ends, the deadline passes
    /// or the run is cancelled; its output goes to `output`.
    fn run<'a>(
        &'a self,
        command: NodeCommand,
        deadline: Instant,
        cancel: &'a CancellationToken,
        output: &'a Arc<Mutex<Output>>,
    ) -> BoxFuture<'a, Result<Finished, ProcessError>>;

    /// A file on the node (relative paths are inside the working directory); `None` when
    /// it does not exist.
    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;

    /// Removes a file or directory on the node, if it is there.
    fn remove<'a>(&'a self, path: &'a str) -> BoxFuture<'a, ()>;

    /// Ends the node's run: nothing the run started is left running.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The transport that reaches `node`.
pub fn connect(node: &Node, state: &StateDir) -> Result<Box<dyn Transport>, String> {
    runnable(node)?;
    match &node.transport {
        NodeTransport::Local => Ok(Box::new(local::Local::new(state, &node.name))),
        NodeTransport::Ssh(target) => Ok(Box::new(ssh::Ssh::new(node, target, state))),
        NodeTransport::Unknown => Err(format!("node {} cannot be reached", node.name)),
    }
}

/// Whether this ordo can reach `node`; why not, when it cannot.
pub fn runnable(node: &Node) -> Result<(), String> {
    match &node.transport {
        NodeTransport::Local | NodeTransport::Ssh(_) => Ok(()),
        NodeTransport::Unknown => Err(format!(
            "node {} is not in inventory.yaml; add it there (or set defaults.transport) to run it",
            node.name
        )),
    }
}
