//! A real OpenSSH server on a free loopback port, started by a test as its child, with its
//! own host key, configuration and authorized client key, and stopped when dropped.
//!
//! Several node names of an inventory map to it, each with its own working directory.
//! Root's `.bashrc` may run slow tools, so sessions get `SHLVL=1`, which keeps bash from
//! reading it; the key exchange is pinned to curve25519 for speed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Sshd {
    pub fn start() -> Sshd {
        std::fs::create_dir_all("/run/sshd").expect("creating sshd's privilege separation directory");
        let dir = tempfile::tempdir().expect("a temporary directory for sshd");
        for key in ["host_key", "client_key", "other_host_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(key))
                .status()
                .expect("running ssh-keygen");
            assert!(status.success(), "ssh-keygen failed");
        }
        std::fs::copy(dir.path().join("client_key.pub"), dir.path().join("authorized_keys")).unwrap();
        // A free port: bound and released just before sshd takes it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PidFile {dir}/sshd.pid\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nKexAlgorithms curve25519-sha256\nMaxStartups 200:30:300\nMaxSessions 100\n\
             SetEnv SHLVL=1\nLogLevel ERROR\n",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let host_key = std::fs::read_to_string(dir.path().join("host_key.pub")).unwrap();
        let other_key = std::fs::read_to_string(dir.path().join("other_host_key.pub")).unwrap();
        std::fs::write(dir.path().join("known_hosts"), format!("[127.0.0.1]:{port} {host_key}")).unwrap();
        std::fs::write(dir.path().join("wrong_known_hosts"), format!("[127.0.0.1]:{port} {other_key}")).unwrap();
        std::fs::write(dir.path().join("empty_known_hosts"), "").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting /usr/sbin/sshd (apt-get install openssh-server)");
        let sshd = Sshd { child, port, dir };
        let give_up = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < give_up, "sshd did not start listening on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An inventory entry for a node reached through this server, working in `work_dir`.
    pub fn node(&self, name: &str, work_dir: &Path) -> String {
        self.node_with(name, work_dir, "known_hosts")
    }

    /// The same, checking host keys against another file of the server's directory.
    pub fn node_with(&self, name: &str, work_dir: &Path, known_hosts: &str) -> String {
        format!(
            "  - name: {name}\n    transport: ssh\n    address: 127.0.0.1\n    port: {port}\n    user: root\n    \
             identity_file: {key}\n    known_hosts: {known}\n    work_dir: {work}\n",
            port = self.port,
            key = self.path("client_key").display(),
            known = self.path(known_hosts).display(),
            work = work_dir.display()
        )
    }
}

impl Sshd {
    /// The processes that serve this server's connections, one per connection (a
    /// connection kept open between runs is one of them until it closes).
    pub fn connections(&self) -> Vec<i32> {
        children_of(self.child.id() as i32)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The connections first: a connection kept open between runs ends with them, and so
        // does the ssh master at the other end.
        for pid in self.connections() {
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The processes whose parent is `parent`.
fn children_of(parent: i32) -> Vec<i32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        if super::process_stat(pid).is_some_and(|(_, ppid)| ppid == parent) {
            children.push(pid);
        }
    }
    children.sort_unstable();
    children
}

/// Processes whose command line contains `marker`, other than the caller's own searches.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry.file_name().to_string_lossy().bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}
