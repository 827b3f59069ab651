//! Cross-field checks of a parsed configuration: everything `run` would refuse, so that
//! `check-config` refuses it too, each error naming the key and its line.

use std::net::SocketAddr;
use std::path::Path;

use super::{Config, ConfigError, Transport};

impl Config {
    /// Cross-field checks that a single field's deserializer cannot make.
    pub(super) fn validate(&self, text: &str, origin: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, line: usize, message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            line,
            key,
            message,
        };
        if self.sources().is_empty() {
            return Err(invalid(
                "syslog".into(),
                1,
                "at least one source is required: a [[syslog]] listener, a [[file]], a [[journald]] source or an [[audit_api]] endpoint"
                    .into(),
            ));
        }
        if self.sources().len() > usize::from(u16::MAX) {
            return Err(invalid("syslog".into(), 1, "too many sources".into()));
        }
        if self.state_dir.as_os_str().is_empty() {
            return Err(invalid(
                "state_dir".into(),
                top_key_line(text, "state_dir"),
                "must not be empty".into(),
            ));
        }
        let mut seen_names = std::collections::HashSet::new();
        for (i, l) in self.syslog.iter().enumerate() {
            let name = l.display_name();
            if let Err((key, message)) = check_endpoint(l) {
                let at = if text_has_key(text, i, key) {
                    key
                } else {
                    "transport"
                };
                return Err(invalid(
                    format!("syslog[{i}].{key}"),
                    table_key_line(text, "syslog", i, at),
                    message,
                ));
            }
            if let Some(address) = l.address {
                if let Some(j) = self.syslog[..i].iter().position(|o| {
                    o.transport.is_stream() == l.transport.is_stream()
                        && o.address.is_some_and(|a| addrs_overlap(a, address))
                }) {
                    let other = &self.syslog[j];
                    let message = if other.address == l.address {
                        format!("{} {address} is configured twice", l.transport)
                    } else {
                        format!(
                            "{} {address} overlaps syslog[{j}] ({}): both cannot be bound",
                            l.transport,
                            other.address.map(|a| a.to_string()).unwrap_or_default()
                        )
                    };
                    return Err(invalid(
                        format!("syslog[{i}].address"),
                        table_key_line(text, "syslog", i, "address"),
                        message,
                    ));
                }
            }
            if let Some(path) = &l.path {
                if let Some(j) = self.syslog[..i]
                    .iter()
                    .position(|o| o.path.as_ref() == Some(path))
                {
                    return Err(invalid(
                        format!("syslog[{i}].path"),
                        table_key_line(text, "syslog", i, "path"),
                        format!("{} is also the path of syslog[{j}]", path.display()),
                    ));
                }
            }
            if matches!(l.transport, Transport::Udp | Transport::Unix) {
                let tcp_only = [
                    ("max_connections", l.max_connections.is_some()),
                    (
                        "max_connections_per_peer",
                        l.max_connections_per_peer.is_some(),
                    ),
                    ("idle_timeout", l.idle_timeout.is_some()),
                ];
                if let Some((key, _)) = tcp_only.iter().find(|(_, set)| *set) {
                    return Err(invalid(
                        format!("syslog[{i}].{key}"),
                        table_key_line(text, "syslog", i, key),
                        format!(
                            "applies to tcp listeners only ({} has no connections)",
                            if l.transport == Transport::Udp {
                                "UDP"
                            } else {
                                "a unix datagram socket"
                            }
                        ),
                    ));
                }
            }
            match (&l.tls, l.transport) {
                (None, Transport::Tls) => {
                    return Err(invalid(
                        format!("syslog[{i}].tls"),
                        table_key_line(text, "syslog", i, "transport"),
                        "transport = \"tls\" needs tls = { cert_file, key_file } (and client_ca_file for mutual TLS)".into(),
                    ))
                }
                (Some(_), Transport::Udp | Transport::Tcp | Transport::Unix) => {
                    return Err(invalid(
                        format!("syslog[{i}].tls"),
                        table_key_line(text, "syslog", i, "tls"),
                        "applies to transport = \"tls\" only".into(),
                    ))
                }
                (Some(t), Transport::Tls) => {
                    if let Err(e) = t.server() {
                        return Err(invalid(
                            format!("syslog[{i}].tls.{}", e.key),
                            table_key_line(text, "syslog", i, "tls"),
                            e.message,
                        ));
                    }
                }
                (None, _) => {}
            }
            let limits = l.limits();
            if limits.max_per_peer > limits.max_connections {
                return Err(invalid(
                    format!("syslog[{i}].max_connections_per_peer"),
                    table_key_line(text, "syslog", i, "max_connections_per_peer"),
                    format!(
                        "{} is more than max_connections ({})",
                        limits.max_per_peer, limits.max_connections
                    ),
                ));
            }
            if !seen_names.insert(name.clone()) {
                return Err(invalid(
                    format!("syslog[{i}].name"),
                    table_key_line(text, "syslog", i, "name"),
                    format!("listener name `{name}` is used twice"),
                ));
            }
        }
        for (i, f) in self.file.iter().enumerate() {
            if let Err((key, message)) = f.check() {
                return Err(invalid(
                    format!("file[{i}].{key}"),
                    table_key_line(text, "file", i, key),
                    message,
                ));
            }
            // Names key the checkpoints and the events' observer: one per source.
            let name = f.display_name();
            if !seen_names.insert(name.clone()) {
                return Err(invalid(
                    format!("file[{i}].name"),
                    table_key_line(text, "file", i, "name"),
                    format!("source name `{name}` is used twice"),
                ));
            }
        }
        // Names are unique among all sources: each names its checkpoint file.
        for (i, j) in self.journald.iter().enumerate() {
            let at = |key: &str| table_key_line(text, "journald", i, key);
            if let Err((key, message)) = j.check() {
                return Err(invalid(format!("journald[{i}].{key}"), at(key), message));
            }
            if !seen_names.insert(j.name.clone()) {
                return Err(invalid(
                    format!("journald[{i}].name"),
                    at("name"),
                    format!(
                        "source name `{}` is used twice (it names the source's checkpoint)",
                        j.name
                    ),
                ));
            }
        }
        for (i, a) in self.audit_api.iter().enumerate() {
            let at = |key: &str| {
                table_key_line(text, "audit_api", i, key.split('.').next().unwrap_or(key))
            };
            if let Err((key, message)) = a.check() {
                return Err(invalid(format!("audit_api[{i}].{key}"), at(&key), message));
            }
            let name = a.display_name();
            if !seen_names.insert(name.clone()) {
                return Err(invalid(
                    format!("audit_api[{i}].name"),
                    at("name"),
                    format!("source name `{name}` is used twice"),
                ));
            }
        }
        // The newest journal file is never reclaimed, so a cap below two files could
        // never clear: the journal refuses such options, so check-config must too.
        if self.journal.max_bytes < self.journal.file_bytes.saturating_mul(2) {
            return Err(invalid(
                "journal.max_bytes".into(),
                table_key_line(text, "journal", 0, "max_bytes"),
                format!(
                    "must be at least twice journal.file_bytes ({} bytes), is {}",
                    self.journal.file_bytes, self.journal.max_bytes
                ),
            ));
        }
        if self.status.enabled {
            // The endpoint would otherwise be a syslog listener's twin: `sealtrail status`
            // would seal its own HTTP request into the chain, or the bind would fail.
            if let Some((i, address)) = self.syslog.iter().enumerate().find_map(|(i, l)| {
                let a = l.address.filter(|_| l.transport.is_stream())?;
                addrs_overlap(a, self.status.address).then_some((i, a))
            }) {
                return Err(invalid(
                    "status.address".into(),
                    table_key_line(text, "status", 0, "address"),
                    format!(
                        "{} is also the address of syslog[{i}] (tcp {address}); pick another port",
                        self.status.address
                    ),
                ));
            }
        }
        match crate::store::parse_location(&self.archive.url) {
            Err(e) => {
                return Err(invalid(
                    "archive.url".into(),
                    table_key_line(text, "archive", 0, "url"),
                    e.to_string(),
                ))
            }
            Ok(crate::store::Location::Dir(_)) => {
                let a = &self.archive;
                let s3_only = [
                    ("endpoint", a.endpoint.is_some()),
                    ("region", a.region.is_some()),
                    ("allow_http", a.allow_http),
                    ("addressing", a.addressing != super::Addressing::Path),
                    ("encryption", a.encryption.is_some()),
                    ("retention", a.retention.is_some()),
                    (
                        "credentials",
                        a.credentials.has_static_keys() || a.credentials.profile.is_some(),
                    ),
                ];
                if let Some((key, _)) = s3_only.iter().find(|(_, set)| *set) {
                    // `key = ...` in [archive], else its own [archive.<key>] table.
                    let line = table_key_line(text, "archive", 0, key);
                    let in_table = text
                        .lines()
                        .nth(line.saturating_sub(1))
                        .is_some_and(|l| l.trim_start().starts_with(key));
                    let line = if in_table {
                        line
                    } else {
                        table_key_line(text, &format!("archive.{key}"), 0, "")
                    };
                    return Err(invalid(
                        format!("archive.{key}"),
                        line,
                        format!(
                            "applies to s3:// archives only; archive.url `{}` is a local directory",
                            a.url
                        ),
                    ));
                }
            }
            Ok(crate::store::Location::S3 { .. }) => {
                if let Some(ep) = &self.archive.endpoint {
                    let line = table_key_line(text, "archive", 0, "endpoint");
                    if !(ep.starts_with("https://") || ep.starts_with("http://")) {
                        return Err(invalid(
                            "archive.endpoint".into(),
                            line,
                            format!("`{ep}` must be an http:// or https:// URL"),
                        ));
                    }
                    if ep.starts_with("http://") && !self.archive.allow_http {
                        return Err(invalid(
                            "archive.endpoint".into(),
                            line,
                            format!("`{ep}` is plain http: credentials and segments would cross the network in the clear; use https, or set archive.allow_http = true (test servers)"),
                        ));
                    }
                }
            }
        }
        let mut forward_names = std::collections::HashSet::new();
        for (i, f) in self.forward.iter().enumerate() {
            let line = |key: &str| table_key_line(text, "forward", i, key);
            if !crate::forward::ForwardConfig::valid_name(&f.name) {
                return Err(invalid(
                    format!("forward[{i}].name"),
                    line("name"),
                    format!(
                        "`{}` must be 1-64 characters of A-Z, a-z, 0-9, - and _",
                        f.name
                    ),
                ));
            }
            if !forward_names.insert(f.name.as_str()) {
                return Err(invalid(
                    format!("forward[{i}].name"),
                    line("name"),
                    format!(
                        "`{}` names two forwarders (each needs its own cursor)",
                        f.name
                    ),
                ));
            }
            if let Err((key, message)) = check_forward(f) {
                return Err(invalid(
                    format!("forward[{i}].{key}"),
                    line(key.split('.').next().unwrap_or("")),
                    message,
                ));
            }
        }
        if let Some(anchor) = &self.archive.anchor {
            let http = anchor.starts_with("http://") || anchor.starts_with("https://");
            if let Err(e) = (!http)
                .then(|| crate::store::parse_location(anchor))
                .transpose()
            {
                return Err(invalid(
                    "archive.anchor".into(),
                    table_key_line(text, "archive", 0, "anchor"),
                    format!("{e} (or an http:// or https:// URL)"),
                ));
            }
        }
        if let Some(enc) = &self.archive.encryption {
            if enc.kms_key_id.is_some() && enc.kind != super::EncryptionKind::Kms {
                return Err(invalid(
                    "archive.encryption.kms_key_id".into(),
                    table_key_line(text, "archive", 0, "encryption"),
                    "applies to kind = \"kms\" only".into(),
                ));
            }
        }
        if let Err(crate::detect::DetectError::Config { key, msg }) = self.detect.validate() {
            let key = key.strip_prefix("detect.").unwrap_or(&key).to_string();
            // `rule[i].<key>[.<field name>]`: the i-th `[[detect.rule]]`, its key.
            let in_rule = key
                .strip_prefix("rule[")
                .and_then(|r| r.split_once("]."))
                .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)));
            let line = match in_rule {
                Some((i, rest)) => {
                    let field = rest.split('.').next().unwrap_or(rest);
                    table_key_line(text, "detect.rule", i, field)
                }
                None => {
                    let (table, field) = match key.rsplit_once('.') {
                        // `paths[1]`: the line of `paths`.
                        Some((t, f)) => {
                            let f = f.split('[').next().unwrap_or(f);
                            (format!("detect.{t}"), f.to_string())
                        }
                        None => ("detect".to_string(), key.clone()),
                    };
                    table_key_line(text, &table, 0, &field)
                }
            };
            return Err(invalid(format!("detect.{key}"), line, msg));
        }
        if let Some(url) = &self.alerts.webhook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    "alerts.webhook".into(),
                    table_key_line(text, "alerts", 0, "webhook"),
                    "must be an http:// or https:// URL".into(),
                ));
            }
        }
        if self.archive.url.trim().is_empty() {
            return Err(invalid(
                "archive.url".into(),
                table_key_line(text, "archive", 0, "url"),
                "must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// A listener's endpoint against its transport: an address for the network ones; a
/// path (and perhaps a mode and a group) for a unix socket. The key and why.
fn check_endpoint(l: &super::SyslogListener) -> Result<(), (&'static str, String)> {
    let unix = l.transport == Transport::Unix;
    if unix {
        if l.address.is_some() {
            return Err((
                "address",
                "does not apply to transport = \"unix\": the socket is `path`".into(),
            ));
        }
        let Some(path) = &l.path else {
            return Err((
                "path",
                "transport = \"unix\" needs path = \"/run/sealtrail/dev-log\" (the socket file)"
                    .into(),
            ));
        };
        crate::source::syslog::unix::check_path(path).map_err(|m| ("path", m))?;
        if let Some(g) = &l.group {
            g.gid().map_err(|m| ("group", m))?;
        }
        return Ok(());
    }
    let unix_only = [
        ("path", l.path.is_some()),
        ("mode", l.mode.is_some()),
        ("group", l.group.is_some()),
    ];
    if let Some((key, _)) = unix_only.iter().find(|(_, set)| *set) {
        return Err((key, "applies to transport = \"unix\" only".into()));
    }
    if l.address.is_none() {
        return Err((
            "address",
            format!(
                "transport = \"{}\" needs address = \"host:port\"",
                l.transport
            ),
        ));
    }
    Ok(())
}

/// Whether the `index`-th `[[syslog]]` table spells out `key` (else an error about a
/// missing key points at its `transport`).
fn text_has_key(text: &str, index: usize, key: &str) -> bool {
    let at = table_key_line(text, "syslog", index, key);
    text.lines()
        .nth(at.saturating_sub(1))
        .is_some_and(|l| l.trim_start().starts_with(key))
}

/// Whether two sockets on the same transport cannot both be bound: same port, and the
/// same address or either one the wildcard (which also takes the other family's
/// wildcard on Linux, where IPv6 sockets accept IPv4 by default).
fn addrs_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() != b.port() || a.port() == 0 {
        return false;
    }
    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified()
}

/// Line of a top-level `key = ...` (before the first table header); 1 if absent.
fn top_key_line(text: &str, key: &str) -> usize {
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            break;
        }
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return n + 1;
            }
        }
    }
    1
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Line of `key` inside the `index`-th `[[array]]` (or the `[array]`) table: the
/// deserialized values carry no spans. Falls back to the table header, then to line 1.
fn table_key_line(text: &str, table: &str, index: usize, key: &str) -> usize {
    let headers = [format!("[[{table}]]"), format!("[{table}]")];
    let mut seen = 0;
    let mut in_table = false;
    let mut header_line = 1;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            if in_table {
                break;
            }
            if headers.iter().any(|h| t.starts_with(h.as_str())) {
                if seen == index {
                    in_table = true;
                    header_line = n + 1;
                }
                seen += 1;
            }
            continue;
        }
        if in_table {
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return n + 1;
                }
            }
        }
    }
    header_line
}

/// A `[[forward]]`'s keys against its type: the key (below `forward[i].`) and why.
fn check_forward(f: &crate::forward::ForwardConfig) -> Result<(), (String, String)> {
    use crate::forward::{ForwardKind, ForwardTransport};
    let fail = |k: &str, m: String| Err((k.to_string(), m));
    let host_port = |a: &str| {
        a.rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
    };
    let syslog_only = [
        ("address", f.address.is_some()),
        ("tls", f.tls.is_some()),
        ("transport", f.transport != ForwardTransport::Tcp),
        ("facility", f.facility.is_some()),
        ("app_name", f.app_name.is_some()),
        ("hostname", f.hostname.is_some()),
    ];
    let http_only = [
        ("url", f.url.is_some()),
        ("gzip", f.gzip),
        ("authorization_file", f.authorization_file.is_some()),
        ("authorization_env", f.authorization_env.is_some()),
    ];
    match f.kind {
        ForwardKind::Syslog => {
            if let Some((k, _)) = http_only.iter().find(|(_, set)| *set) {
                return fail(
                    k,
                    "applies to type = \"http\" or \"elasticsearch\" only".into(),
                );
            }
            let Some(address) = &f.address else {
                return fail(
                    "address",
                    "a syslog forwarder needs address = \"host:port\"".into(),
                );
            };
            if !host_port(address) {
                return fail("address", format!("`{address}` must be host:port"));
            }
            if let Some(tls) = &f.tls {
                if f.transport != ForwardTransport::Tcp {
                    return fail("tls", "TLS runs over tcp only (RFC 5425)".into());
                }
                if let Err(e) = tls.client(address) {
                    return fail(&format!("tls.{}", e.key), e.message);
                }
            }
            if f.facility.is_some_and(|x| x > 23) {
                return fail("facility", "must be 0-23 (RFC 5424)".into());
            }
        }
        ForwardKind::Http | ForwardKind::Elasticsearch | ForwardKind::SplunkHec => {
            if let Some((k, _)) = syslog_only.iter().find(|(_, set)| *set) {
                return fail(k, "applies to type = \"syslog\" only".into());
            }
            if f.ack_timeout != std::time::Duration::from_secs(300)
                && f.kind != ForwardKind::SplunkHec
            {
                return fail(
                    "ack_timeout",
                    "applies to type = \"splunk_hec\" only".into(),
                );
            }
            if f.index.is_some() && f.kind != ForwardKind::Elasticsearch {
                return fail("index", "applies to type = \"elasticsearch\" only".into());
            }
            match &f.url {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
                Some(u) => return fail("url", format!("`{u}` must be an http:// or https:// URL")),
                None => {
                    return fail(
                        "url",
                        "an HTTP forwarder needs url = \"https://...\"".into(),
                    )
                }
            }
            if let Some(p) = &f.authorization_file {
                if let Err(e) = std::fs::metadata(p) {
                    return fail("authorization_file", format!("{}: {e}", p.display()));
                }
            }
        }
    }
    Ok(())
}
