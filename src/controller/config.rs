//! The controller's configuration: one TOML file, `ordo serve --config FILE`.
//!
//! Its key names are an interface (see the README's controller section). Secrets are never
//! written in it: each is named by an environment variable (`*_env`) or a file (`*_file`).
//! Every mistake is a [`Diagnostic`] pointing at the file, line and key, and all of them are
//! found before anything starts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::diag::{Diagnostic, Location, SourceMap};
use crate::source::mirror::Auth;

/// A secret value read from the environment or a file; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Who may read the API and the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAccess {
    /// Anyone who can reach the listener.
    Open,
    /// Only with the API token.
    Token,
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file, as given.
    pub file: PathBuf,
    pub state_dir: PathBuf,
    pub repository: RepositoryConfig,
    pub environments: Vec<EnvironmentRule>,
    pub server: ServerConfig,
    pub forge: ForgeConfig,
    pub jobs: JobsConfig,
}

#[derive(Debug, Clone)]
pub struct RepositoryConfig {
    /// A local path (made absolute), `file://`, `https://` or `ssh://` URL.
    pub url: String,
    /// The directory inside the repository that holds the site.
    pub path: String,
    pub poll_interval: Duration,
    pub auth: Auth,
}

/// An environment and the branch it follows. A `*` in both maps many branches to many
/// environments: `"preview-*" = "feature/*"` makes branch `feature/x` environment `preview-x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRule {
    pub environment: String,
    pub branch: String,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where people reach the controller: links in statuses point here.
    pub public_url: String,
    pub webhook_secret: Option<Secret>,
    pub api_token: Option<Secret>,
    pub read_access: ReadAccess,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
}

/// Where statuses and comments go: `[forge]`.
#[derive(Debug, Clone)]
pub enum ForgeConfig {
    /// Git notes (`refs/notes/ordo`) in the repository itself.
    Notes,
    /// A hosted forge: its kind, its API, the repository there, and a token.
    Hosted {
        kind: ForgeKind,
        api_url: String,
        /// `OWNER/NAME`; for GitLab the project's path (`group/subgroup/name`) or numeric id.
        repository: String,
        token: Secret,
    },
}

/// The hosted forges ordo speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    GitHub,
    /// Gitea, and Forgejo, which keeps Gitea's API.
    Gitea,
    GitLab,
}

impl ForgeKind {
    pub const ALL: [ForgeKind; 3] = [ForgeKind::GitHub, ForgeKind::Gitea, ForgeKind::GitLab];

    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::Gitea => "gitea",
            ForgeKind::GitLab => "gitlab",
        }
    }

    /// The ref under which the forge keeps a pull request's head in the repository.
    pub fn pull_head_ref(self, number: u64) -> String {
        match self {
            ForgeKind::GitHub | ForgeKind::Gitea => format!("refs/pull/{number}/head"),
            ForgeKind::GitLab => format!("refs/merge-requests/{number}/head"),
        }
    }
}

impl ForgeConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ForgeConfig::Notes => "notes",
            ForgeConfig::Hosted { kind, .. } => kind.as_str(),
        }
    }

    /// The forge's web page of a commit, when there is a forge.
    pub fn commit_url(&self, sha: &str) -> Option<String> {
        let ForgeConfig::Hosted { kind, api_url, repository, .. } = self else { return None };
        let api_url = api_url.trim_end_matches('/');
        match kind {
            ForgeKind::GitHub => {
                // api.github.com serves github.com; GitHub Enterprise serves its API under /api/v3.
                let web = match api_url {
                    "https://api.github.com" => "https://github.com",
                    other => other.trim_end_matches("/api/v3"),
                };
                Some(format!("{web}/{repository}/commit/{sha}"))
            }
            ForgeKind::Gitea => Some(format!("{}/{repository}/commit/{sha}", api_url.trim_end_matches("/api/v1"))),
            // A project named by its numeric id has no path to link to.
            ForgeKind::GitLab if repository.contains('/') => {
                Some(format!("{}/{repository}/-/commit/{sha}", api_url.trim_end_matches("/api/v4")))
            }
            ForgeKind::GitLab => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobsConfig {
    pub concurrency: usize,
    pub prune: bool,
    /// On shutdown, how long a running job may go on before it is cancelled.
    pub shutdown_grace: Duration,
    /// `on_failure` and `max_failures`: win over the repository's `ordo.yaml`.
    pub policy: crate::model::FailurePolicy,
    /// How often each environment is checked for drift at its last-applied revision.
    pub drift_interval: Option<Duration>,
    /// `drift = "correct"`: re-apply what a drift check found out of sync.
    ///
    /// # Warning
    ///
    /// A change made by hand on a node, for a good reason, is undone at the next check.
    pub drift_correct: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<Spanned<String>>,
    repository: Option<Spanned<RawRepository>>,
    environments: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    forge: RawForge,
    #[serde(default)]
    jobs: RawJobs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepository {
    url: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    poll_interval: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    ssh_key_file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    webhook_secret_env: Option<Spanned<String>>,
    webhook_secret_file: Option<Spanned<String>>,
    api_token_env: Option<Spanned<String>>,
    api_token_file: Option<Spanned<String>>,
    read_access: Option<Spanned<String>>,
    max_body_bytes: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawForge {
    kind: Option<Spanned<String>>,
    api_url: Option<Spanned<String>>,
    repository: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawJobs {
    concurrency: Option<Spanned<i64>>,
    prune: Option<bool>,
    shutdown_grace: Option<Spanned<String>>,
    on_failure: Option<Spanned<String>>,
    max_failures: Option<Spanned<String>>,
    drift_interval: Option<Spanned<String>>,
    drift: Option<Spanned<String>>,
}

/// A configuration that could not be read: the problems, and the text they point into.
#[derive(Debug)]
pub struct Invalid {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

/// Reads and validates the configuration file; `getenv` reads environment variables.
pub fn load(file: &Path, getenv: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Result<Config, Invalid>> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| anyhow::anyhow!("reading the configuration {}: {err}", file.display()))?;
    let name = file.display().to_string();
    let mut checker =
        Checker { file: name.clone(), dir: file.parent().unwrap_or(Path::new(".")), getenv, diagnostics: Vec::new() };
    let config = match toml::from_str::<RawConfig>(&text) {
        Ok(raw) => checker.config(file, raw),
        Err(err) => {
            let message = err.message().trim_end_matches('\n').to_string();
            let location = err.span().map(|range| Location { file: name.clone(), range });
            checker.diagnostics.push(Diagnostic::error(message).at(location));
            None
        }
    };
    let mut sources = SourceMap::default();
    sources.add(&name, &text);
    match config {
        Some(config) if checker.diagnostics.is_empty() => Ok(Ok(config)),
        _ => Ok(Err(Invalid { diagnostics: checker.diagnostics, sources })),
    }
}

struct Checker<'a> {
    file: String,
    /// Relative paths in the file are relative to its directory.
    dir: &'a Path,
    getenv: &'a dyn Fn(&str) -> Option<String>,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error_at<T>(&mut self, spanned: &Spanned<T>, message: String) {
        let location = Location { file: self.file.clone(), range: spanned.span() };
        self.diagnostics.push(Diagnostic::error(message).at(Some(location)));
    }

    fn error(&mut self, message: String) {
        let location = Location { file: self.file.clone(), range: 0..0 };
        self.diagnostics.push(Diagnostic::error(message).at(Some(location)));
    }

    fn path(&self, value: &str) -> PathBuf {
        let path = Path::new(value);
        if path.is_absolute() { path.to_path_buf() } else { self.dir.join(path) }
    }

    fn duration(&mut self, value: Option<&Spanned<String>>, key: &str, default: Duration) -> Duration {
        let Some(value) = value else { return default };
        match humantime::parse_duration(value.get_ref()) {
            Ok(duration) if !duration.is_zero() && duration <= Duration::from_secs(7 * 24 * 3600) => duration,
            Ok(_) => {
                self.error_at(
                    value,
                    format!("{key}: {:?} is out of range (more than 0, at most a week)", value.get_ref()),
                );
                default
            }
            Err(_) => {
                self.error_at(
                    value,
                    format!("{key}: {:?} is not a duration such as \"30s\" or \"5m\"", value.get_ref()),
                );
                default
            }
        }
    }

    /// A secret named by `NAME_env` or `NAME_file`; an error when both are given, or when
    /// the variable is unset or the file unreadable.
    fn secret(&mut self, env: Option<&Spanned<String>>, file: Option<&Spanned<String>>, key: &str) -> Option<Secret> {
        match (env, file) {
            (Some(env), Some(_)) => {
                self.error_at(env, format!("{key}_env and {key}_file are both set; set one"));
                None
            }
            (Some(env), None) => match (self.getenv)(env.get_ref()) {
                Some(value) if !value.is_empty() => Some(Secret(value)),
                _ => {
                    self.error_at(env, format!("{key}_env: the environment variable {} is not set", env.get_ref()));
                    None
                }
            },
            (None, Some(file)) => {
                let path = self.path(file.get_ref());
                match std::fs::read_to_string(&path) {
                    Ok(value) if !value.trim().is_empty() => Some(Secret(value.trim().to_string())),
                    Ok(_) => {
                        self.error_at(file, format!("{key}_file: {} is empty", path.display()));
                        None
                    }
                    Err(err) => {
                        self.error_at(file, format!("{key}_file: cannot read {}: {err}", path.display()));
                        None
                    }
                }
            }
            (None, None) => None,
        }
    }

    fn config(&mut self, file: &Path, raw: RawConfig) -> Option<Config> {
        let state_dir = match &raw.state_dir {
            Some(dir) => self.path(dir.get_ref()),
            None => self.path(".ordo"),
        };
        let repository = match &raw.repository {
            Some(repository) => self.repository(repository),
            None => {
                self.error("missing [repository] table: which repository to watch (url = \"...\")".into());
                None
            }
        };
        let environments = match &raw.environments {
            Some(environments) => self.environments(environments),
            None => {
                self.error(
                    "missing [environments] table: which branch each environment follows (production = \"main\")"
                        .into(),
                );
                Vec::new()
            }
        };
        let server = self.server(&raw.server);
        let forge = self.forge(&raw.forge);
        let jobs = self.jobs(&raw.jobs);
        Some(Config {
            file: file.to_path_buf(),
            state_dir,
            repository: repository?,
            environments,
            server: server?,
            forge: forge?,
            jobs,
        })
    }

    fn repository(&mut self, raw: &Spanned<RawRepository>) -> Option<RepositoryConfig> {
        let inner = raw.get_ref();
        let Some(url) = &inner.url else {
            self.error_at(raw, "[repository] needs url: a local path, or a file://, https:// or ssh:// URL".into());
            return None;
        };
        let url_text = url.get_ref().trim();
        let url_value = if url_text.is_empty() {
            self.error_at(url, "[repository] url is empty".into());
            return None;
        } else if let Some(scheme) = url_text.split_once("://").map(|(scheme, _)| scheme) {
            if !["file", "https", "http", "ssh", "git"].contains(&scheme) {
                self.error_at(
                    url,
                    format!(
                        "[repository] url: unsupported scheme {scheme}:// (use a path, file://, https:// or ssh://)"
                    ),
                );
            }
            url_text.to_string()
        } else if url_text.contains('@') {
            url_text.to_string()
        } else {
            self.path(url_text).display().to_string()
        };
        let path = inner.path.as_ref().map_or(".".to_string(), |path| path.get_ref().clone());
        if let Some(spanned) = &inner.path
            && (path.starts_with('/') || path.split('/').any(|segment| segment == ".."))
        {
            self.error_at(spanned, format!("[repository] path {path:?} must be a directory inside the repository"));
        }
        let poll_interval =
            self.duration(inner.poll_interval.as_ref(), "[repository] poll_interval", Duration::from_secs(30));
        let auth = match self.secret(inner.token_env.as_ref(), inner.token_file.as_ref(), "[repository] token") {
            Some(token) => Auth::Token(token.0),
            None => match &inner.ssh_key_file {
                Some(key) => Auth::SshKey(self.path(key.get_ref())),
                None => Auth::None,
            },
        };
        Some(RepositoryConfig { url: url_value, path, poll_interval, auth })
    }

    fn environments(&mut self, raw: &Spanned<BTreeMap<String, Spanned<String>>>) -> Vec<EnvironmentRule> {
        if raw.get_ref().is_empty() {
            self.error_at(
                raw,
                "[environments] is empty: map at least one environment to a branch (production = \"main\")".into(),
            );
        }
        let mut rules = Vec::new();
        for (environment, branch) in raw.get_ref() {
            let stars = (environment.matches('*').count(), branch.get_ref().matches('*').count());
            if stars != (0, 0) && stars != (1, 1) {
                self.error_at(
                    branch,
                    format!(
                        "[environments] {environment} = {:?}: a pattern has one `*` on each side",
                        branch.get_ref()
                    ),
                );
                continue;
            }
            if crate::model::environment_name_problem(&environment.replace('*', "x")).is_some() {
                self.error_at(branch, format!("[environments] {environment:?} is not a valid environment name (letters, digits, `.`, `_`, `-`)"));
                continue;
            }
            if branch.get_ref().is_empty() {
                self.error_at(branch, format!("[environments] {environment}: the branch is empty"));
                continue;
            }
            rules.push(EnvironmentRule { environment: environment.clone(), branch: branch.get_ref().clone() });
        }
        rules
    }

    fn server(&mut self, raw: &RawServer) -> Option<ServerConfig> {
        let listen = match &raw.listen {
            Some(listen) => match listen.get_ref().parse::<SocketAddr>() {
                Ok(address) => address,
                Err(_) => {
                    self.error_at(
                        listen,
                        format!("[server] listen: {:?} is not an address such as \"127.0.0.1:8080\"", listen.get_ref()),
                    );
                    return None;
                }
            },
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let public_url = match &raw.public_url {
            Some(url) if url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://") => {
                url.get_ref().trim_end_matches('/').to_string()
            }
            Some(url) => {
                self.error_at(
                    url,
                    format!("[server] public_url: {:?} is not an http:// or https:// URL", url.get_ref()),
                );
                return None;
            }
            None => format!("http://{listen}"),
        };
        let webhook_secret =
            self.secret(raw.webhook_secret_env.as_ref(), raw.webhook_secret_file.as_ref(), "[server] webhook_secret");
        let api_token = self.secret(raw.api_token_env.as_ref(), raw.api_token_file.as_ref(), "[server] api_token");
        let read_access = match raw.read_access.as_ref().map(|access| access.get_ref().as_str()) {
            None | Some("open") => ReadAccess::Open,
            Some("token") => ReadAccess::Token,
            Some(other) => {
                let spanned = raw.read_access.as_ref().expect("matched Some");
                self.error_at(spanned, format!("[server] read_access: {other:?} is not \"open\" or \"token\""));
                ReadAccess::Open
            }
        };
        if read_access == ReadAccess::Token
            && api_token.is_none()
            && raw.api_token_env.is_none()
            && raw.api_token_file.is_none()
        {
            self.error("[server] read_access = \"token\" needs api_token_env or api_token_file".into());
        }
        let max_body_bytes = match &raw.max_body_bytes {
            Some(value) if (1024..=(64 << 20)).contains(value.get_ref()) => *value.get_ref() as usize,
            Some(value) => {
                self.error_at(value, "[server] max_body_bytes must be between 1024 and 67108864".into());
                0
            }
            None => 5 << 20,
        };
        Some(ServerConfig { listen, public_url, webhook_secret, api_token, read_access, max_body_bytes })
    }

    fn forge(&mut self, raw: &RawForge) -> Option<ForgeConfig> {
        let kind_name = raw.kind.as_ref().map_or("notes", |kind| kind.get_ref().as_str());
        if kind_name == "notes" {
            for (key, value) in
                [("api_url", &raw.api_url), ("repository", &raw.repository), ("token_env", &raw.token_env)]
            {
                if let Some(value) = value {
                    self.error_at(value, format!("[forge] {key} is set, but kind = \"notes\" uses none"));
                }
            }
            return Some(ForgeConfig::Notes);
        }
        let Some(kind) = ForgeKind::ALL.into_iter().find(|kind| kind.as_str() == kind_name) else {
            let spanned = raw.kind.as_ref().expect("a kind other than the default was written");
            self.error_at(
                spanned,
                format!("[forge] kind: {kind_name:?} is not one of \"notes\", \"github\", \"gitea\", \"gitlab\""),
            );
            return None;
        };
        let api_url = match (&raw.api_url, kind) {
            (Some(url), _) if url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://") => {
                url.get_ref().trim_end_matches('/').to_string()
            }
            (Some(url), _) => {
                self.error_at(url, format!("[forge] api_url: {:?} is not an http:// or https:// URL", url.get_ref()));
                return None;
            }
            (None, ForgeKind::GitHub) => "https://api.github.com".to_string(),
            (None, ForgeKind::GitLab) => "https://gitlab.com/api/v4".to_string(),
            (None, ForgeKind::Gitea) => {
                self.error("[forge] kind = \"gitea\" needs api_url = \"https://HOST/api/v1\"".into());
                return None;
            }
        };
        let (shape, valid): (&str, fn(&str) -> bool) = match kind {
            ForgeKind::GitHub | ForgeKind::Gitea => ("OWNER/NAME", |text| {
                text.split('/').filter(|part| !part.is_empty()).count() == 2 && !text.contains("//")
            }),
            // A project's path may have subgroups, or the project may be named by its id.
            ForgeKind::GitLab => ("GROUP/NAME or a project id", |text| {
                !text.is_empty() && !text.starts_with('/') && !text.ends_with('/') && !text.contains("//")
            }),
        };
        let repository = match &raw.repository {
            Some(repository) if valid(repository.get_ref()) => repository.get_ref().clone(),
            Some(repository) => {
                self.error_at(repository, format!("[forge] repository: {:?} is not {shape}", repository.get_ref()));
                return None;
            }
            None => {
                self.error(format!("[forge] kind = \"{kind_name}\" needs repository = \"{shape}\""));
                return None;
            }
        };
        let token = self.secret(raw.token_env.as_ref(), raw.token_file.as_ref(), "[forge] token");
        let Some(token) = token else {
            if raw.token_env.is_none() && raw.token_file.is_none() {
                self.error(format!("[forge] kind = \"{kind_name}\" needs token_env or token_file"));
            }
            return None;
        };
        Some(ForgeConfig::Hosted { kind, api_url, repository, token })
    }

    fn jobs(&mut self, raw: &RawJobs) -> JobsConfig {
        let concurrency = match &raw.concurrency {
            Some(value) if (1..=4096).contains(value.get_ref()) => *value.get_ref() as usize,
            Some(value) => {
                self.error_at(value, "[jobs] concurrency must be between 1 and 4096".into());
                16
            }
            None => 16,
        };
        let shutdown_grace =
            self.duration(raw.shutdown_grace.as_ref(), "[jobs] shutdown_grace", Duration::from_secs(30));
        let mut policy = crate::model::FailurePolicy::default();
        if let Some(value) = &raw.on_failure {
            policy.on_failure = crate::model::OnFailure::parse(value.get_ref());
            if policy.on_failure.is_none() {
                self.error_at(value, "[jobs] on_failure must be \"stop\" or \"continue\"".into());
            }
        }
        if let Some(value) = &raw.max_failures {
            policy.max_failures = crate::model::MaxFailures::parse(value.get_ref());
            if policy.max_failures.is_none() {
                self.error_at(value, "[jobs] max_failures must be a number of nodes or a percentage (\"10%\")".into());
            }
        }
        let drift_interval = raw
            .drift_interval
            .as_ref()
            .map(|value| self.duration(Some(value), "[jobs] drift_interval", Duration::from_secs(3600)));
        let drift_correct = match raw.drift.as_ref().map(|value| value.get_ref().as_str()) {
            None | Some("report") => false,
            Some("correct") => true,
            Some(_) => {
                let value = raw.drift.as_ref().expect("a drift setting was written");
                self.error_at(value, "[jobs] drift must be \"report\" or \"correct\"".into());
                false
            }
        };
        JobsConfig {
            concurrency,
            prune: raw.prune.unwrap_or(false),
            shutdown_grace,
            policy,
            drift_interval,
            drift_correct,
        }
    }
}

impl Config {
    /// The environment a branch belongs to, if any.
    pub fn environment_of(&self, branch: &str) -> Option<String> {
        self.environments.iter().find_map(|rule| match rule.branch.split_once('*') {
            None => (rule.branch == branch).then(|| rule.environment.clone()),
            Some((prefix, suffix)) => {
                let middle = branch.strip_prefix(prefix)?.strip_suffix(suffix)?;
                let environment = rule.environment.replacen('*', middle, 1);
                (!middle.is_empty() && crate::model::environment_name_problem(&environment).is_none())
                    .then_some(environment)
            }
        })
    }

    /// The branch an environment follows, if it is one.
    pub fn branch_of(&self, environment: &str) -> Option<String> {
        self.environments.iter().find_map(|rule| match rule.environment.split_once('*') {
            None => (rule.environment == environment).then(|| rule.branch.clone()),
            Some((prefix, suffix)) => {
                let middle = environment.strip_prefix(prefix)?.strip_suffix(suffix)?;
                (!middle.is_empty()).then(|| rule.branch.replacen('*', middle, 1))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ordo.toml");
        std::fs::write(&file, text).unwrap();
        let getenv = |name: &str| (name == "SET").then(|| "s3cret".to_string());
        match load(&file, &getenv).unwrap() {
            Ok(config) => Ok(config),
            Err(invalid) => Err(invalid
                .diagnostics
                .iter()
                .map(|diagnostic| {
                    let line = diagnostic
                        .location
                        .as_ref()
                        .map_or(0, |location| text[..location.range.start.min(text.len())].matches('\n').count() + 1);
                    format!("{line}: {}", diagnostic.message)
                })
                .collect::<Vec<_>>()
                .join("\n")),
        }
    }

    #[test]
    fn a_whole_configuration_reads() {
        let config = check(
            r#"
state_dir = "state"
[repository]
url = "repo"
path = "site"
poll_interval = "1m"
[environments]
production = "main"
"preview-*" = "feature/*"
[server]
listen = "127.0.0.1:9000"
public_url = "https://ordo.example.com/"
webhook_secret_env = "SET"
api_token_env = "SET"
read_access = "token"
[forge]
kind = "github"
api_url = "http://127.0.0.1:1"
repository = "o/r"
token_env = "SET"
[jobs]
concurrency = 4
prune = true
"#,
        )
        .unwrap();
        assert!(config.state_dir.ends_with("state") && config.state_dir.is_absolute());
        assert_eq!(config.repository.poll_interval, Duration::from_secs(60));
        assert_eq!(config.server.public_url, "https://ordo.example.com");
        assert_eq!(config.server.webhook_secret.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(config.environment_of("main").as_deref(), Some("production"));
        assert_eq!(config.environment_of("feature/login").as_deref(), Some("preview-login"));
        assert_eq!(config.environment_of("feature/a/b"), None);
        assert_eq!(config.environment_of("other"), None);
        assert_eq!(config.branch_of("preview-login").as_deref(), Some("feature/login"));
        assert!(format!("{:?}", config.forge).contains("Secret(..)"));
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn each_forge_reads_with_its_defaults() {
        let forge = |table: &str| {
            check(&format!(
                "[repository]\nurl = \"r\"\n[environments]\np = \"main\"\n[forge]\ntoken_env = \"SET\"\n{table}"
            ))
            .map(|config| {
                let url = config.forge.commit_url("abc");
                let ForgeConfig::Hosted { kind, api_url, repository, .. } = config.forge else { panic!("hosted") };
                format!("{} {api_url} {repository} {}", kind.as_str(), url.unwrap_or_default())
            })
        };
        assert_eq!(
            forge("kind = \"github\"\nrepository = \"acme/site\"").unwrap(),
            "github https://api.github.com acme/site https://github.com/acme/site/commit/abc"
        );
        assert_eq!(
            forge("kind = \"gitea\"\napi_url = \"https://git.example.com/api/v1/\"\nrepository = \"acme/site\"")
                .unwrap(),
            "gitea https://git.example.com/api/v1 acme/site https://git.example.com/acme/site/commit/abc"
        );
        assert_eq!(
            forge("kind = \"gitlab\"\nrepository = \"acme/infra/site\"").unwrap(),
            "gitlab https://gitlab.com/api/v4 acme/infra/site https://gitlab.com/acme/infra/site/-/commit/abc"
        );
        assert_eq!(forge("kind = \"gitlab\"\nrepository = \"42\"").unwrap(), "gitlab https://gitlab.com/api/v4 42 ");
        expect_test::expect![[r#"1: [forge] kind = "gitea" needs api_url = "https://HOST/api/v1""#]]
            .assert_eq(&forge("kind = \"gitea\"\nrepository = \"acme/site\"").unwrap_err());
        expect_test::expect![[r#"9: [forge] repository: "acme/infra/site" is not OWNER/NAME"#]].assert_eq(
            &forge("kind = \"gitea\"\napi_url = \"https://git.example.com/api/v1\"\nrepository = \"acme/infra/site\"")
                .unwrap_err(),
        );
        assert_eq!(ForgeKind::GitLab.pull_head_ref(3), "refs/merge-requests/3/head");
        assert_eq!(ForgeKind::Gitea.pull_head_ref(3), "refs/pull/3/head");
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        expect_test::expect![[r#"
            4: unknown field `pol_interval`, expected one of `url`, `path`, `poll_interval`, `token_env`, `token_file`, `ssh_key_file`"#]]
        .assert_eq(&check("[repository]\nurl = \"r\"\n\npol_interval = \"1s\"\n[environments]\np = \"main\"\n").unwrap_err());
        expect_test::expect![[r#"
            3: [repository] poll_interval: "soon" is not a duration such as "30s" or "5m"
            5: [server] listen: "localhost" is not an address such as "127.0.0.1:8080"
            7: [forge] kind: "gitee" is not one of "notes", "github", "gitea", "gitlab""#]]
        .assert_eq(
            &check("[repository]\nurl = \"r\"\npoll_interval = \"soon\"\n[server]\nlisten = \"localhost\"\n[forge]\nkind = \"gitee\"\ntoken_env = \"UNSET\"\n[environments]\np = \"main\"\n")
                .unwrap_err(),
        );
        expect_test::expect!["4: [forge] token_env: the environment variable UNSET is not set"].assert_eq(
            &check("[repository]\nurl = \"r\"\n[forge]\ntoken_env = \"UNSET\"\nkind = \"github\"\nrepository = \"o/r\"\n[environments]\np = \"main\"\n")
                .unwrap_err(),
        );
        expect_test::expect![[r#"1: missing [repository] table: which repository to watch (url = "...")"#]]
            .assert_eq(&check("[environments]\np = \"main\"\n").unwrap_err());
    }
}
