//! What to do: the configuration file, the environment overrides and the built-in defaults,
//! resolved into one validated [`Config`] (environment beats file, file beats defaults).

mod enrich;
mod env;
mod securityhub;
mod ssm;

pub use enrich::*;
pub use env::*;
pub use securityhub::*;
pub use ssm::{SsmConfig, ENDPOINT_URL_SSM_VAR};

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// Where the packaged configuration lives; used when no other file is named.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/credhygiene/credhygiene.toml";
/// The IPv4 IMDS endpoint.
pub const IMDS_IPV4_ENDPOINT: &str = "http://169.254.169.254";
/// The IPv6 IMDS endpoint (Nitro instances in IPv6-enabled subnets).
pub const IMDS_IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";
/// The retentions CloudWatch Logs accepts (`PutRetentionPolicy`'s `retentionInDays` enum);
/// `cloudwatch.log_retention_days` must be one of them, or 0 for "never expire".
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// Default retention of a log group the agent creates: a quarter of finding history, long
/// enough to follow a finding from new to resolved across a release cycle, and the
/// CloudFormation template's default, so that fleet and stack agree.
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 90;

/// Default of `scan.max_lone_key_ids_per_source`: a handful of ids copied into a config or
/// a script are reported one by one; a log file that names the key id of every call it
/// records (CloudTrail, CLI debug output, access logs), thousands of them, is one finding.
pub const DEFAULT_MAX_LONE_KEY_IDS: usize = 10;

/// A configuration that could not be loaded, with the file and position concerned.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column (in characters) of the offending text.
        column: usize,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{origin}: invalid {key}: {message}")]
    Invalid {
        /// The file or environment variable the value came from.
        origin: String,
        /// The key, e.g. `imds.endpoint`.
        key: String,
        /// What was expected.
        message: String,
    },
}

/// The effective configuration of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The daemon's schedule and state.
    pub agent: AgentConfig,
    /// How to reach the instance metadata service.
    pub imds: ImdsConfig,
    /// What to scan.
    pub scan: ScanConfig,
    /// Where to send metrics and findings in CloudWatch.
    pub cloudwatch: CloudWatchConfig,
    /// Whether to log finding changes to journald.
    pub journald: JournaldConfig,
    /// Whether to import findings into Security Hub.
    pub securityhub: SecurityHubConfig,
    /// Systems Manager Compliance.
    pub ssm: SsmConfig,
    /// What the agent may ask AWS about the keys it finds.
    pub enrich: EnrichConfig,
}

/// `[agent]`: the daemon's schedule, state directory and resource limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Time between full cycles (role check, scan, report).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Time between role checks, which are cheap and run more often than scans.
    #[serde(with = "humantime_serde")]
    pub role_check_interval: Duration,
    /// Every this long the scan ignores its cache and reads every file again.
    #[serde(with = "humantime_serde")]
    pub full_rescan_interval: Duration,
    /// Upper bound of the random delay before the first cycle and of the jitter added to
    /// each interval, so that a fleet booted together does not act in the same second.
    #[serde(with = "humantime_serde")]
    pub splay: Duration,
    /// Upper bound of the random delay before the daemon's first AWS call (CloudWatch) after
    /// it starts; later cycles keep that phase. The first cycle's results reach the journal at
    /// once and wait in the outbox. A fleet booted or restarted together then stays within
    /// the per-account API quotas (`CreateLogStream` is 50 per second; docs/fleet.md,
    /// `scripts/fleet-sim`). `run --once` does not wait.
    #[serde(with = "humantime_serde")]
    pub first_contact_splay: Duration,
    /// Scan cache and delivery outbox (mode 0700).
    pub state_dir: PathBuf,
    /// Scan threads in the daemon (kept low: the agent must be quiet on the host).
    pub scan_threads: usize,
    /// Read at most this many bytes per second while scanning in the daemon; 0 = no limit.
    pub read_rate_limit: ByteSize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            interval: Duration::from_secs(3600),
            role_check_interval: Duration::from_secs(300),
            full_rescan_interval: Duration::from_secs(24 * 3600),
            splay: Duration::from_secs(60),
            first_contact_splay: Duration::from_secs(600),
            state_dir: PathBuf::from("/var/lib/credhygiene"),
            scan_threads: 1,
            read_rate_limit: ByteSize::b(0),
        }
    }
}

/// Which IMDS address family to use when no endpoint is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EndpointMode {
    /// `http://169.254.169.254`
    #[default]
    IPv4,
    /// `http://[fd00:ec2::254]`
    IPv6,
}

impl EndpointMode {
    /// The endpoint this mode implies.
    pub fn endpoint(self) -> &'static str {
        match self {
            EndpointMode::IPv4 => IMDS_IPV4_ENDPOINT,
            EndpointMode::IPv6 => IMDS_IPV6_ENDPOINT,
        }
    }
}

/// `[imds]`: how to reach the instance metadata service (IMDSv2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImdsConfig {
    /// Base URL of IMDS; when unset, the address of `endpoint_mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `IPv4` or `IPv6`; used only when `endpoint` is unset.
    pub endpoint_mode: EndpointMode,
    /// Never contact IMDS (role checks report `unknown`, CloudWatch stays inactive).
    pub disabled: bool,
    /// Lifetime requested for IMDSv2 session tokens (1 s to 6 h).
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Connect and read timeout of each request.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts per request (first try included) for retryable answers.
    pub attempts: u32,
    /// The agent's token-less IMDSv1 probe runs at start and then at most this often; `0s`
    /// never. Each probe counts in EC2's `MetadataNoToken` (or `MetadataNoTokenRejected`)
    /// metric, which operators watch during an IMDSv2 migration: a daily probe is one count a
    /// day, not one every role check. `credhygiene role` always probes.
    #[serde(with = "humantime_serde")]
    pub v1_probe_interval: Duration,
    /// Opt-in: the agent reads the instance's `MetadataOptions.HttpTokens` with EC2
    /// `DescribeInstances` (signed with the instance role's credentials, which then need
    /// `ec2:DescribeInstances`) instead of sending the token-less probe, at the same times
    /// (at start, then at most once per `v1_probe_interval`). When the call fails the probe
    /// runs as without this key.
    pub v1_from_ec2_api: bool,
    /// EC2 endpoint for `v1_from_ec2_api`; when unset, the regional endpoint of the
    /// instance's region (in the variant of `cloudwatch.use_fips_endpoint` and
    /// `use_dualstack_endpoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2_endpoint: Option<String>,
}

impl Default for ImdsConfig {
    fn default() -> Self {
        ImdsConfig {
            endpoint: None,
            endpoint_mode: EndpointMode::IPv4,
            disabled: false,
            token_ttl: Duration::from_secs(21_600),
            timeout: Duration::from_secs(1),
            attempts: 4,
            v1_probe_interval: Duration::from_secs(24 * 3600),
            v1_from_ec2_api: false,
            ec2_endpoint: None,
        }
    }
}

impl ImdsConfig {
    /// The endpoint to use: the explicit one, else the mode's address.
    pub fn effective_endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or_else(|| self.endpoint_mode.endpoint())
    }
}

/// `[scan]`: where to look for hard-coded keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Directory trees to scan when `scan` is given no PATH.
    pub paths: Vec<PathBuf>,
    /// gitignore-style globs of paths not to scan.
    pub exclude: Vec<String>,
    /// Env files and globs of env files (systemd units, `/etc/default/*` …), scanned as
    /// `env_file`; the files that units name in `EnvironmentFile=` are added.
    pub env_files: Vec<String>,
    /// Scan the environments of running processes (`/proc/*/environ`).
    pub processes: bool,
    /// Scan the instance's user-data (from IMDS).
    pub user_data: bool,
    /// Files larger than this are skipped and counted (for a compressed file: its size on
    /// disk).
    pub max_file_size: ByteSize,
    /// Read gzip, zstd and xz files (recognised by their magic bytes) through a decompressor,
    /// so that keys inside them are found; `false` scans their bytes as they are.
    pub decompress: bool,
    /// A compressed file decodes to at most this many bytes (per layer); beyond, the rest is
    /// skipped as a decompression bomb, counted in `stats.skipped` and listed as unreadable.
    pub max_decompressed_size: ByteSize,
    /// A compressed file decodes to at most this many bytes per byte read from disk (checked
    /// past the first 4 MiB); beyond, as for `max_decompressed_size`. 0 = no ratio cap.
    pub max_expansion_ratio: u64,
    /// Follow symbolic links while walking (loops are detected either way).
    pub follow_symlinks: bool,
    /// Stay on the file system of each scanned path (no /proc, no network mounts).
    pub same_file_system: bool,
    /// Threads for a one-shot `scan`; 0 = one per CPU.
    pub threads: usize,
    /// File of `sha256:…` fingerprints to suppress (one per line, `#` comments); a missing
    /// file is an empty list.
    pub allowlist: PathBuf,
    /// Access key ids found without a secret or token of their credential that one source
    /// (a file, a process, user-data) reports one by one; beyond this, that source's lone
    /// ids are one aggregate finding with their count. 0 = never aggregate.
    pub max_lone_key_ids_per_source: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            paths: [
                "/etc",
                "/home",
                "/root",
                "/opt",
                "/srv",
                "/usr/local",
                "/var/www",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
            exclude: Vec::new(),
            env_files: [
                "/etc/environment",
                "/etc/default/*",
                "/etc/sysconfig/*",
                "/etc/systemd/system/*.service",
                "/etc/systemd/system/*.service.d/*.conf",
                "/usr/lib/systemd/system/*.service",
                "/lib/systemd/system/*.service",
                "/run/systemd/system/*.service",
                "/root/.aws/credentials",
                "/root/.aws/config",
                "/home/*/.aws/credentials",
                "/home/*/.aws/config",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            processes: true,
            user_data: true,
            max_file_size: ByteSize::mib(32),
            decompress: true,
            max_decompressed_size: ByteSize::mib(256),
            max_expansion_ratio: 100,
            follow_symlinks: false,
            same_file_system: true,
            threads: 0,
            allowlist: PathBuf::from("/etc/credhygiene/allowlist"),
            max_lone_key_ids_per_source: DEFAULT_MAX_LONE_KEY_IDS,
        }
    }
}

/// `[cloudwatch]`: metrics and finding events, signed with the instance role's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudWatchConfig {
    /// Send to CloudWatch at all.
    pub enabled: bool,
    /// Metric namespace (must not start with `AWS/`).
    pub namespace: String,
    /// Log group for finding events; one stream per instance id.
    pub log_group: String,
    /// Region; when unset, the region of the instance identity document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// CloudWatch (metrics) endpoint; when unset, the regional AWS endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// CloudWatch Logs endpoint; when unset, the regional AWS endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_endpoint: Option<String>,
    /// Use the FIPS endpoints of the region (no effect on an explicit endpoint).
    pub use_fips_endpoint: bool,
    /// Use the dual-stack (IPv4 and IPv6) endpoints of the region (no effect on an explicit
    /// endpoint).
    pub use_dualstack_endpoint: bool,
    /// Retention (days) set on a log group the agent creates, one of [`LOG_RETENTION_DAYS`];
    /// 0 = never expire. A group that exists already keeps its own retention.
    pub log_retention_days: u32,
    /// Bound of the on-disk outbox; when full, the oldest entries are dropped and counted.
    pub outbox_max_size: ByteSize,
}

impl Default for CloudWatchConfig {
    fn default() -> Self {
        CloudWatchConfig {
            enabled: true,
            namespace: "CredHygiene".to_string(),
            log_group: "/credhygiene/findings".to_string(),
            region: None,
            endpoint: None,
            logs_endpoint: None,
            use_fips_endpoint: false,
            use_dualstack_endpoint: false,
            log_retention_days: DEFAULT_LOG_RETENTION_DAYS,
            outbox_max_size: ByteSize::mib(16),
        }
    }
}

/// `[journald]`: one journal entry per finding change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournaldConfig {
    /// Log finding changes to journald (stderr when not under journald).
    pub enabled: bool,
}

impl Default for JournaldConfig {
    fn default() -> Self {
        JournaldConfig { enabled: true }
    }
}

/// Where the configuration came from, for messages and `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Only built-in defaults (no file).
    Defaults,
    /// A file.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Defaults => f.write_str("built-in defaults"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A loaded configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective configuration (environment applied, validated).
    pub config: Config,
    /// Its origin.
    pub origin: Origin,
}

/// Chooses the config file: `--config`, else `CREDHYGIENE_CONFIG`, else the default path
/// if it exists. Returns `None` for "built-in defaults". A file named explicitly must exist.
pub fn choose_path(cli: Option<&Path>, env: &Env) -> (Option<PathBuf>, bool) {
    if let Some(p) = cli {
        return (Some(p.to_path_buf()), true);
    }
    if let Some(p) = env.get(CONFIG_PATH_VAR) {
        return (Some(PathBuf::from(p)), true);
    }
    let default = Path::new(DEFAULT_CONFIG_PATH);
    if default.exists() {
        (Some(default.to_path_buf()), false)
    } else {
        (None, false)
    }
}

/// Loads the configuration: the chosen file (or defaults), then the environment, validated.
pub fn load(cli: Option<&Path>, env: &Env) -> Result<Loaded, ConfigError> {
    let (path, _explicit) = choose_path(cli, env);
    let (mut config, origin) = match path {
        Some(path) => (read_file(&path)?, Origin::File(path)),
        None => (Config::default(), Origin::Defaults),
    };
    apply_env(&mut config, env)?;
    validate(&config, &origin)?;
    Ok(Loaded { config, origin })
}

/// Reads and parses one config file, without environment overrides.
pub fn read_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, path)
}

/// Parses TOML text as a config file; errors name `path`, line and column.
pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().replace('\n', " "),
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Applies the AWS SDK environment variables on top of the file (environment wins).
pub fn apply_env(config: &mut Config, env: &Env) -> Result<(), ConfigError> {
    if let Some(mode) = env.get(IMDS_ENDPOINT_MODE_VAR) {
        config.imds.endpoint_mode = match mode.to_ascii_lowercase().as_str() {
            "ipv4" => EndpointMode::IPv4,
            "ipv6" => EndpointMode::IPv6,
            _ => {
                return Err(ConfigError::Invalid {
                    origin: format!("environment variable {IMDS_ENDPOINT_MODE_VAR}"),
                    key: "imds.endpoint_mode".into(),
                    message: format!("expected IPv4 or IPv6, found {mode:?}"),
                })
            }
        };
        // An endpoint mode from the environment beats an endpoint from the file only when
        // the file left the endpoint unset; an explicit endpoint variable beats both.
    }
    if let Some(ep) = env.get(IMDS_ENDPOINT_VAR) {
        config.imds.endpoint = Some(ep.to_string());
    }
    if let Some(v) = env.get(IMDS_DISABLED_VAR) {
        // As the AWS SDKs read it: only `true` (any case) disables; any other value enables.
        // A stray value must not stop the service from starting.
        config.imds.disabled = v.trim().eq_ignore_ascii_case("true");
    }
    let cw = &mut config.cloudwatch;
    for (var, key, value) in [
        (
            USE_FIPS_ENDPOINT_VAR,
            "cloudwatch.use_fips_endpoint",
            &mut cw.use_fips_endpoint,
        ),
        (
            USE_DUALSTACK_ENDPOINT_VAR,
            "cloudwatch.use_dualstack_endpoint",
            &mut cw.use_dualstack_endpoint,
        ),
    ] {
        if let Some(v) = env.get(var) {
            *value = sdk_bool(var, key, v)?;
        }
    }
    if let Some(r) = env.get(REGION_VAR) {
        config.cloudwatch.region = Some(r.to_string());
    }
    let generic = env.get(ENDPOINT_URL_VAR);
    if let Some(ep) = env.get(ENDPOINT_URL_CLOUDWATCH_VAR).or(generic) {
        config.cloudwatch.endpoint = Some(ep.to_string());
    }
    if let Some(ep) = env.get(ENDPOINT_URL_LOGS_VAR).or(generic) {
        config.cloudwatch.logs_endpoint = Some(ep.to_string());
    }
    if let Some(ep) = env.get(ENDPOINT_URL_EC2_VAR).or(generic) {
        config.imds.ec2_endpoint = Some(ep.to_string());
    }
    config.securityhub.apply_env(env);
    config.ssm.apply_env(env);
    config.enrich.apply_env(env);
    Ok(())
}

/// A boolean environment variable as the AWS SDKs read it: `true` or `false`, in any case.
fn sdk_bool(var: &str, key: &str, v: &str) -> Result<bool, ConfigError> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ConfigError::Invalid {
            origin: format!("environment variable {var}"),
            key: key.into(),
            message: format!("expected true or false, found {v:?}"),
        })
    }
}

fn validate(config: &Config, origin: &Origin) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        origin: origin.to_string(),
        key: key.to_string(),
        message,
    };
    let ep = config.imds.effective_endpoint();
    if !(ep.starts_with("http://") || ep.starts_with("https://"))
        || reqwest::Url::parse(ep).is_err()
    {
        return Err(invalid(
            "imds.endpoint",
            format!("expected an http:// URL, found {ep:?}"),
        ));
    }
    let ttl = config.imds.token_ttl.as_secs();
    if !(1..=21_600).contains(&ttl) {
        return Err(invalid(
            "imds.token_ttl",
            format!("expected 1s to 6h, found {ttl}s"),
        ));
    }
    if let Some(ep) = &config.imds.ec2_endpoint {
        if reqwest::Url::parse(ep).is_err() {
            return Err(invalid(
                "imds.ec2_endpoint",
                format!("expected a URL, found {ep:?}"),
            ));
        }
    }
    if config.imds.attempts == 0 {
        return Err(invalid("imds.attempts", "expected at least 1".into()));
    }
    if config.agent.interval < Duration::from_secs(1) {
        return Err(invalid("agent.interval", "expected at least 1s".into()));
    }
    validate_cloudwatch(&config.cloudwatch).map_err(|(key, message)| invalid(key, message))?;
    (config.securityhub.validate()).map_err(|(key, message)| invalid(key, message))?;
    config.ssm.validate(&origin.to_string())?;
    config.enrich.validate(&origin.to_string())?;
    if config.scan.max_decompressed_size.as_u64() == 0 {
        return Err(invalid(
            "scan.max_decompressed_size",
            "expected more than 0 bytes".into(),
        ));
    }
    for (i, pat) in config.scan.exclude.iter().enumerate() {
        if let Err(e) = globset::Glob::new(pat) {
            return Err(invalid(&format!("scan.exclude[{i}]"), e.to_string()));
        }
    }
    for (i, pat) in config.scan.env_files.iter().enumerate() {
        if let Err(e) = globset::Glob::new(pat) {
            return Err(invalid(&format!("scan.env_files[{i}]"), e.to_string()));
        }
    }
    Ok(())
}

/// The `[cloudwatch]` checks: `Err((key, what was expected))`.
fn validate_cloudwatch(cw: &CloudWatchConfig) -> Result<(), (&'static str, String)> {
    let ns = &cw.namespace;
    if ns.is_empty() || ns.len() > 255 || ns.starts_with(':') || ns.starts_with("AWS/") {
        return Err((
            "cloudwatch.namespace",
            format!("expected 1-255 characters, not starting with ':' or 'AWS/', found {ns:?}"),
        ));
    }
    if !ns.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(("cloudwatch.namespace", "expected printable ASCII".into()));
    }
    let lg = &cw.log_group;
    if lg.is_empty()
        || lg.len() > 512
        || !lg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-/.#".contains(&b))
    {
        return Err((
            "cloudwatch.log_group",
            format!("expected 1-512 characters of [A-Za-z0-9_-/.#], found {lg:?}"),
        ));
    }
    let days = cw.log_retention_days;
    if days != 0 && !LOG_RETENTION_DAYS.contains(&days) {
        return Err((
            "cloudwatch.log_retention_days",
            format!("expected 0 (never expire) or one of {LOG_RETENTION_DAYS:?}, found {days}"),
        ));
    }
    for (key, value) in [
        ("cloudwatch.endpoint", &cw.endpoint),
        ("cloudwatch.logs_endpoint", &cw.logs_endpoint),
    ] {
        if let Some(v) = value {
            if reqwest::Url::parse(v).is_err() {
                return Err((key, format!("expected a URL, found {v:?}")));
            }
        }
    }
    Ok(())
}

impl Config {
    /// The effective configuration as TOML, as `config check` prints it.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        shown.imds.endpoint = Some(self.imds.effective_endpoint().to_string());
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_is_the_builtin_defaults() {
        let text = include_str!("../../config/credhygiene.toml");
        let parsed = parse_str(text, Path::new("config/credhygiene.toml")).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn effective_config_round_trips_through_toml() {
        let c = Config::default();
        let back = parse_str(&c.to_toml(), Path::new("x")).unwrap();
        let mut expected = c.clone();
        expected.imds.endpoint = Some(IMDS_IPV4_ENDPOINT.into());
        assert_eq!(back, expected);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = "[agent]\ninterval = \"5m\"\n\n[scan]\n  pathz = []\n";
        let err = parse_str(text, Path::new("/etc/x.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/etc/x.toml:5:3: "), "{msg}");
        assert!(msg.contains("pathz"), "{msg}");
        assert!(msg.contains("expected one of"), "{msg}");
    }

    #[test]
    fn bad_duration_and_size_are_explained() {
        let err = parse_str("[agent]\ninterval = \"soon\"\n", Path::new("f")).unwrap_err();
        assert!(err.to_string().starts_with("f:2:12: "), "{err}");
        let err = parse_str("[scan]\nmax_file_size = \"big\"\n", Path::new("f")).unwrap_err();
        assert!(err.to_string().starts_with("f:2:17: "), "{err}");
        let err = parse_str("[scan]\nprocesses = \"yes\"\n", Path::new("f")).unwrap_err();
        assert!(err.to_string().contains("expected a boolean"), "{err}");
    }

    #[test]
    fn human_units_parse() {
        let c = parse_str(
            "[agent]\ninterval = \"90s\"\n[scan]\nmax_file_size = \"4MiB\"\n",
            Path::new("f"),
        )
        .unwrap();
        assert_eq!(c.agent.interval, Duration::from_secs(90));
        assert_eq!(c.scan.max_file_size, ByteSize::mib(4));
    }

    #[test]
    fn decompression_keys_parse_and_a_zero_cap_is_refused() {
        let text = "[scan]\ndecompress = false\nmax_decompressed_size = \"1GiB\"\nmax_expansion_ratio = 0\n";
        let c = parse_str(text, Path::new("f")).unwrap();
        assert!(!c.scan.decompress);
        assert_eq!(c.scan.max_decompressed_size, ByteSize::gib(1));
        assert_eq!(c.scan.max_expansion_ratio, 0);
        let mut zero = Config::default();
        zero.scan.max_decompressed_size = ByteSize::b(0);
        let err = validate(&zero, &Origin::Defaults).unwrap_err().to_string();
        assert!(err.contains("scan.max_decompressed_size"), "{err}");
    }

    /// Precedence of the IMDS endpoint: env endpoint > file endpoint > env mode > file mode.
    #[test]
    fn imds_endpoint_precedence_table() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("", &[], IMDS_IPV4_ENDPOINT),
            (
                "[imds]\nendpoint_mode = \"IPv6\"\n",
                &[],
                IMDS_IPV6_ENDPOINT,
            ),
            ("", &[(IMDS_ENDPOINT_MODE_VAR, "IPv6")], IMDS_IPV6_ENDPOINT),
            ("", &[(IMDS_ENDPOINT_MODE_VAR, "ipv6")], IMDS_IPV6_ENDPOINT),
            (
                "[imds]\nendpoint_mode = \"IPv6\"\n",
                &[(IMDS_ENDPOINT_MODE_VAR, "IPv4")],
                IMDS_IPV4_ENDPOINT,
            ),
            (
                "[imds]\nendpoint = \"http://127.0.0.1:9\"\n",
                &[(IMDS_ENDPOINT_MODE_VAR, "IPv6")],
                "http://127.0.0.1:9",
            ),
            (
                "[imds]\nendpoint = \"http://127.0.0.1:9\"\n",
                &[(IMDS_ENDPOINT_VAR, "http://[::1]:8")],
                "http://[::1]:8",
            ),
            (
                "",
                &[
                    (IMDS_ENDPOINT_VAR, "http://127.0.0.1:7"),
                    (IMDS_ENDPOINT_MODE_VAR, "IPv6"),
                ],
                "http://127.0.0.1:7",
            ),
            ("", &[(IMDS_ENDPOINT_VAR, "")], IMDS_IPV4_ENDPOINT),
        ];
        for (file, env, want) in cases {
            let mut c = parse_str(file, Path::new("f")).unwrap();
            apply_env(&mut c, &Env::from_pairs(env)).unwrap();
            assert_eq!(
                c.imds.effective_endpoint(),
                *want,
                "file {file:?} env {env:?}"
            );
        }
    }

    #[test]
    fn imds_disabled_and_endpoints_from_env() {
        let mut c = Config::default();
        apply_env(
            &mut c,
            &Env::from_pairs(&[
                (IMDS_DISABLED_VAR, "true"),
                (REGION_VAR, "eu-west-1"),
                (ENDPOINT_URL_VAR, "http://127.0.0.1:1"),
                (ENDPOINT_URL_LOGS_VAR, "http://127.0.0.1:2"),
            ]),
        )
        .unwrap();
        assert!(c.imds.disabled);
        assert_eq!(c.cloudwatch.region.as_deref(), Some("eu-west-1"));
        for (value, disabled) in [
            ("TRUE", true),
            ("True", true),
            ("false", false),
            ("1", false),
            ("yes", false),
        ] {
            let mut c = Config::default();
            c.imds.disabled = !disabled;
            apply_env(&mut c, &Env::from_pairs(&[(IMDS_DISABLED_VAR, value)])).unwrap();
            assert_eq!(c.imds.disabled, disabled, "{IMDS_DISABLED_VAR}={value:?}");
        }
        assert_eq!(c.cloudwatch.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(
            c.cloudwatch.logs_endpoint.as_deref(),
            Some("http://127.0.0.1:2")
        );
        // An unexpected value enables IMDS, as in the SDKs (issue 11: it used to stop the start).
        apply_env(&mut c, &Env::from_pairs(&[(IMDS_DISABLED_VAR, "maybe")])).unwrap();
        assert!(!c.imds.disabled);
    }

    /// The EC2 endpoint of `imds.v1_from_ec2_api`: `AWS_ENDPOINT_URL_EC2` beats
    /// `AWS_ENDPOINT_URL`, which beats the file.
    #[test]
    fn ec2_endpoint_from_file_and_env() {
        let file = "[imds]\nv1_from_ec2_api = true\nec2_endpoint = \"http://file:1\"\n";
        for (env, want) in [
            (&[][..], "http://file:1"),
            (&[(ENDPOINT_URL_VAR, "http://all:2")][..], "http://all:2"),
            (
                &[
                    (ENDPOINT_URL_VAR, "http://all:2"),
                    (ENDPOINT_URL_EC2_VAR, "http://ec2:3"),
                ][..],
                "http://ec2:3",
            ),
        ] {
            let mut c = parse_str(file, Path::new("x")).unwrap();
            apply_env(&mut c, &Env::from_pairs(env)).unwrap();
            assert!(c.imds.v1_from_ec2_api);
            assert_eq!(c.imds.ec2_endpoint.as_deref(), Some(want), "{env:?}");
        }
    }

    /// `AWS_USE_FIPS_ENDPOINT` / `AWS_USE_DUALSTACK_ENDPOINT`: `true` / `false` in any case,
    /// beating the file; anything else is an error naming the variable.
    #[test]
    fn endpoint_variant_from_file_and_env() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], (bool, bool));
        let fips_file = "[cloudwatch]\nuse_fips_endpoint = true\n";
        let cases: &[Case] = &[
            ("", &[], (false, false)),
            (fips_file, &[], (true, false)),
            (
                fips_file,
                &[(USE_FIPS_ENDPOINT_VAR, "FALSE")],
                (false, false),
            ),
            ("", &[(USE_FIPS_ENDPOINT_VAR, "True")], (true, false)),
            ("", &[(USE_DUALSTACK_ENDPOINT_VAR, "true")], (false, true)),
            (
                "[cloudwatch]\nuse_dualstack_endpoint = true\n",
                &[(USE_FIPS_ENDPOINT_VAR, "true")],
                (true, true),
            ),
            // Empty is unset, as in the SDKs.
            (fips_file, &[(USE_FIPS_ENDPOINT_VAR, "")], (true, false)),
        ];
        for (file, env, want) in cases {
            let mut c = parse_str(file, Path::new("f")).unwrap();
            apply_env(&mut c, &Env::from_pairs(env)).unwrap();
            let got = (
                c.cloudwatch.use_fips_endpoint,
                c.cloudwatch.use_dualstack_endpoint,
            );
            assert_eq!(got, *want, "file {file:?} env {env:?}");
        }
        for var in [USE_FIPS_ENDPOINT_VAR, USE_DUALSTACK_ENDPOINT_VAR] {
            for bad in ["1", "yes", "on"] {
                let err = apply_env(&mut Config::default(), &Env::from_pairs(&[(var, bad)]))
                    .unwrap_err()
                    .to_string();
                assert!(
                    err.starts_with(&format!("environment variable {var}: ")),
                    "{err}"
                );
                assert!(err.contains("expected true or false"), "{err}");
            }
        }
    }

    #[test]
    fn log_retention_days_must_be_a_cloudwatch_value_or_zero() {
        let c = parse_str("", Path::new("f")).unwrap();
        assert_eq!(c.cloudwatch.log_retention_days, 90);
        for ok in [0, 1, 90, 3653] {
            let text = format!("[cloudwatch]\nlog_retention_days = {ok}\n");
            let c = parse_str(&text, Path::new("f")).unwrap();
            validate(&c, &Origin::File("f".into())).unwrap();
        }
        for bad in [2, 89, 366, 3654] {
            let text = format!("[cloudwatch]\nlog_retention_days = {bad}\n");
            let c = parse_str(&text, Path::new("f")).unwrap();
            let err = validate(&c, &Origin::File("f".into())).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with("f: invalid cloudwatch.log_retention_days: "),
                "{msg}"
            );
            assert!(msg.contains(&bad.to_string()), "{msg}");
        }
        let err = parse_str("[cloudwatch]\nlog_retention_days = -1\n", Path::new("f"));
        assert!(err.unwrap_err().to_string().starts_with("f:2:"));
    }

    #[test]
    fn validation_rejects_reserved_namespace() {
        let c = parse_str("[cloudwatch]\nnamespace = \"AWS/EC2\"\n", Path::new("f")).unwrap();
        let err = validate(&c, &Origin::File("f".into())).unwrap_err();
        assert!(err.to_string().contains("cloudwatch.namespace"), "{err}");
    }
}
