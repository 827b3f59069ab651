//! Detector configuration: `[detect]` in the TOML config. Defaults follow fail2ban
//! (brute force 5 in 10 min) and CrowdSec (invalid users, spraying), see each rule.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::DetectError;

/// Largest accepted threshold: windows are rings of this many timestamps per key, so
/// it bounds memory per tracked key.
pub const MAX_THRESHOLD: u32 = 1000;

/// An address block (`10.0.0.0/8`, `2001:db8::/32`, or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this block (IPv4-mapped IPv6 is compared as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an address or CIDR block"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// humantime strings (`"10m"`, `"2m 30s"`).
pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| serde::de::Error::custom(format!("`{s}`: {e}")))
}

/// Generates a rule section with its own defaults (serde's `default` is per type).
macro_rules! count_rule {
    ($(#[$doc:meta])* $name:ident, $threshold:expr, $window_s:expr, $severity:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            pub enabled: bool,
            pub threshold: u32,
            #[serde(deserialize_with = "duration")]
            pub window: Duration,
            /// ECS `event.severity` of the alert (1..=100).
            pub severity: u8,
            pub allow_users: Vec<String>,
            pub allow_cidrs: Vec<Cidr>,
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    enabled: true,
                    threshold: $threshold,
                    window: Duration::from_secs($window_s),
                    severity: $severity,
                    allow_users: Vec::new(),
                    allow_cidrs: Vec::new(),
                }
            }
        }

        impl $name {
            pub(super) fn common(&self) -> RuleCommon<'_> {
                RuleCommon {
                    enabled: self.enabled,
                    threshold: self.threshold,
                    window: self.window,
                    severity: self.severity,
                    allow_users: &self.allow_users,
                    allow_cidrs: &self.allow_cidrs,
                }
            }
        }
    };
}

/// The fields every rule has, borrowed for validation and lookups.
pub(super) struct RuleCommon<'a> {
    pub enabled: bool,
    pub threshold: u32,
    pub window: Duration,
    pub severity: u8,
    pub allow_users: &'a [String],
    pub allow_cidrs: &'a [Cidr],
}

count_rule!(
    /// `threshold` counted failed attempts from one source within `window`
    /// (fail2ban's sshd jail: maxretry 5, findtime 10m).
    BruteForce, 5, 600, 47
);
count_rule!(
    /// `threshold` logins for users that do not exist from one source within `window`.
    InvalidUser, 8, 120, 47
);
count_rule!(
    /// A successful login from a source with at least `threshold` failed attempts
    /// within `window` before it.
    SuccessAfterFailures, 5, 240, 73
);
count_rule!(
    /// At least `threshold` distinct users failing from one source within `window`.
    PasswordSpray, 5, 600, 47
);
count_rule!(
    /// At least `threshold` distinct sources failing against one user within `window`:
    /// the distributed guessing per-source thresholds miss.
    DistributedGuessing, 10, 600, 47
);
count_rule!(
    /// At least `threshold` failed sudo/su password attempts by one user within
    /// `window` (sudo logs 3 per failed invocation).
    SudoFailure, 3, 600, 47
);
count_rule!(
    /// sudo refused by policy (`NOT in sudoers`, not authorized on host, command not
    /// allowed): `threshold` such events within `window` (1: every one, de-duplicated
    /// per user while they keep coming within `window`).
    NotInSudoers, 1, 600, 73
);

/// A successful login from a source (address block) never seen for that user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewSource {
    pub enabled: bool,
    /// Logins a user must have had before a new source raises an alert: the first
    /// logins only teach the baseline.
    pub min_logins: u32,
    /// Address blocks compared (a dynamic address in the same /24 or /64 is not new).
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Sources remembered per user (least recently seen forgotten first).
    pub max_sources_per_user: u32,
    pub severity: u8,
    pub allow_users: Vec<String>,
    pub allow_cidrs: Vec<Cidr>,
}

impl Default for NewSource {
    fn default() -> Self {
        NewSource {
            enabled: true,
            min_logins: 5,
            ipv4_prefix: 24,
            ipv6_prefix: 64,
            max_sources_per_user: 32,
            severity: 21,
            allow_users: Vec::new(),
            allow_cidrs: Vec::new(),
        }
    }
}

/// A login at an hour of day (UTC; the baseline is relative, so the zone does not
/// matter) where the user rarely logs in, once `min_observations` logins are learned.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OffHours {
    pub enabled: bool,
    pub min_observations: u32,
    /// Alert when the share of learned logins in the hour ± `spread_hours` is below this.
    pub min_share: f64,
    pub spread_hours: u8,
    pub severity: u8,
    pub allow_users: Vec<String>,
    pub allow_cidrs: Vec<Cidr>,
}

impl Default for OffHours {
    fn default() -> Self {
        OffHours {
            enabled: true,
            min_observations: 20,
            min_share: 0.01,
            spread_hours: 1,
            severity: 21,
            allow_users: Vec::new(),
            allow_cidrs: Vec::new(),
        }
    }
}

/// A direct login as a privileged account (not via sudo/su).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RootLogin {
    pub enabled: bool,
    pub users: Vec<String>,
    /// Only logins with a source address (SSH, telnet), not the local console.
    pub remote_only: bool,
    /// Repeated logins from one source are one alert while they come within `window`.
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    pub severity: u8,
    pub allow_users: Vec<String>,
    pub allow_cidrs: Vec<Cidr>,
}

impl Default for RootLogin {
    fn default() -> Self {
        RootLogin {
            enabled: true,
            users: vec!["root".to_string()],
            remote_only: true,
            window: Duration::from_secs(3600),
            severity: 47,
            allow_users: Vec::new(),
            allow_cidrs: Vec::new(),
        }
    }
}

/// `[detect]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    pub enabled: bool,
    /// Events of these users are ignored by every rule (and not learned).
    pub allow_users: Vec<String>,
    /// Events from these sources are ignored by every rule (and not learned).
    pub allow_cidrs: Vec<Cidr>,
    /// Most source addresses tracked at once (per-source windows); beyond it the
    /// least active of a random sample is forgotten.
    pub max_tracked_sources: u32,
    /// Most user names tracked at once for failure windows (distributed guessing,
    /// sudo), and separately for learned baselines.
    pub max_tracked_users: u32,
    /// Most event ids kept as evidence per key (and per alert).
    pub max_evidence: u32,
    /// Feed auditd records to the rules. Off by default: they mirror the sshd/PAM
    /// lines a host also logs, so counting both would count every attempt twice.
    /// Turn on for hosts that ship only audit.log.
    pub from_audit: bool,
    pub brute_force: BruteForce,
    pub invalid_user: InvalidUser,
    pub success_after_failures: SuccessAfterFailures,
    pub password_spray: PasswordSpray,
    pub distributed_guessing: DistributedGuessing,
    pub new_source: NewSource,
    pub off_hours: OffHours,
    pub root_login: RootLogin,
    pub sudo_failure: SudoFailure,
    pub not_in_sudoers: NotInSudoers,
    /// Rules users write: `[[detect.rule]]` (`custom`).
    pub rule: Vec<super::custom::CustomRule>,
    /// `[detect.access]`: rules over application audit events (`access`).
    pub access: super::access::AccessConfig,
    /// `[detect.file_watch]`: auditd watches on sensitive files (`watch`).
    pub file_watch: super::watch::FileWatchConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            enabled: true,
            allow_users: Vec::new(),
            allow_cidrs: Vec::new(),
            max_tracked_sources: 20_000,
            max_tracked_users: 10_000,
            max_evidence: 16,
            from_audit: false,
            brute_force: BruteForce::default(),
            invalid_user: InvalidUser::default(),
            success_after_failures: SuccessAfterFailures::default(),
            password_spray: PasswordSpray::default(),
            distributed_guessing: DistributedGuessing::default(),
            new_source: NewSource::default(),
            off_hours: OffHours::default(),
            root_login: RootLogin::default(),
            sudo_failure: SudoFailure::default(),
            not_in_sudoers: NotInSudoers::default(),
            rule: Vec::new(),
            access: super::access::AccessConfig::default(),
            file_watch: super::watch::FileWatchConfig::default(),
        }
    }
}

fn bad(key: &str, msg: impl Into<String>) -> DetectError {
    DetectError::Config {
        key: format!("detect.{key}"),
        msg: msg.into(),
    }
}

fn check_severity(key: &str, s: u8) -> Result<(), DetectError> {
    if (1..=100).contains(&s) {
        Ok(())
    } else {
        Err(bad(&format!("{key}.severity"), "must be 1..=100"))
    }
}

fn check_window(key: &str, w: Duration) -> Result<(), DetectError> {
    if w.is_zero() || w > Duration::from_secs(30 * 86_400) {
        Err(bad(
            &format!("{key}.window"),
            "must be > 0 and at most 30 days",
        ))
    } else {
        Ok(())
    }
}

impl DetectConfig {
    /// Checks ranges the types cannot express; errors name the key
    /// (`detect.brute_force.threshold`). [`super::Detector::new`] clamps instead of
    /// failing, so call this when loading a config.
    pub fn validate(&self) -> Result<(), DetectError> {
        super::custom::compile(&self.rule, super::BUILTIN)?;
        self.access.validate()?;
        self.file_watch.validate()?;
        for (key, r) in self.rule_commons() {
            if r.threshold == 0 || r.threshold > MAX_THRESHOLD {
                return Err(bad(
                    &format!("{key}.threshold"),
                    format!("must be 1..={MAX_THRESHOLD}"),
                ));
            }
            check_window(key, r.window)?;
            check_severity(key, r.severity)?;
        }
        check_window("root_login", self.root_login.window)?;
        check_severity("root_login", self.root_login.severity)?;
        check_severity("new_source", self.new_source.severity)?;
        check_severity("off_hours", self.off_hours.severity)?;
        if self.new_source.ipv4_prefix > 32 {
            return Err(bad("new_source.ipv4_prefix", "must be 0..=32"));
        }
        if self.new_source.ipv6_prefix > 128 {
            return Err(bad("new_source.ipv6_prefix", "must be 0..=128"));
        }
        if !(1..=1024).contains(&self.new_source.max_sources_per_user) {
            return Err(bad("new_source.max_sources_per_user", "must be 1..=1024"));
        }
        if !(0.0..=1.0).contains(&self.off_hours.min_share) {
            return Err(bad("off_hours.min_share", "must be between 0 and 1"));
        }
        if self.off_hours.spread_hours > 11 {
            return Err(bad("off_hours.spread_hours", "must be 0..=11"));
        }
        if !(1..=10_000_000).contains(&self.max_tracked_sources) {
            return Err(bad("max_tracked_sources", "must be 1..=10000000"));
        }
        if !(1..=10_000_000).contains(&self.max_tracked_users) {
            return Err(bad("max_tracked_users", "must be 1..=10000000"));
        }
        if !(1..=256).contains(&self.max_evidence) {
            return Err(bad("max_evidence", "must be 1..=256"));
        }
        Ok(())
    }

    /// The counting rules' common fields, by rule id (the `[detect.<id>]` table).
    pub(super) fn rule_commons(&self) -> impl Iterator<Item = (&'static str, RuleCommon<'_>)> {
        [
            ("brute_force", self.brute_force.common()),
            ("invalid_user", self.invalid_user.common()),
            (
                "success_after_failures",
                self.success_after_failures.common(),
            ),
            ("password_spray", self.password_spray.common()),
            ("distributed_guessing", self.distributed_guessing.common()),
            ("sudo_failure", self.sudo_failure.common()),
            ("not_in_sudoers", self.not_in_sudoers.common()),
        ]
        .into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.200.1.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!c.contains("2001:db9::1".parse().unwrap()));
        let c: Cidr = "192.0.2.7".parse().unwrap();
        assert!(c.contains("192.0.2.7".parse().unwrap()));
        assert!(!c.contains("192.0.2.8".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn toml_partial_sections_keep_their_own_defaults() {
        let cfg: DetectConfig = toml::from_str(
            "allow_cidrs = [\"10.0.0.0/8\"]\n[brute_force]\nthreshold = 7\n[invalid_user]\nwindow = \"5m\"\n",
        )
        .unwrap();
        assert_eq!(cfg.brute_force.threshold, 7);
        assert_eq!(cfg.brute_force.window, Duration::from_secs(600));
        assert_eq!(cfg.invalid_user.threshold, 8);
        assert_eq!(cfg.invalid_user.window, Duration::from_secs(300));
        assert_eq!(cfg.allow_cidrs.len(), 1);
        cfg.validate().unwrap();
    }

    #[test]
    fn bad_configs_are_rejected_with_the_key() {
        assert!(toml::from_str::<DetectConfig>("[brute_force]\nthreshhold = 7\n").is_err());
        assert!(toml::from_str::<DetectConfig>("[brute_force]\nwindow = \"ten\"\n").is_err());
        assert!(toml::from_str::<DetectConfig>("allow_cidrs = [\"1.2.3.4/40\"]\n").is_err());
        let cfg: DetectConfig = toml::from_str("[password_spray]\nthreshold = 0\n").unwrap();
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("detect.password_spray.threshold"), "{e}");
        let cfg: DetectConfig = toml::from_str("[off_hours]\nmin_share = 2.0\n").unwrap();
        assert!(cfg.validate().is_err());
        DetectConfig::default().validate().unwrap();
    }
}
