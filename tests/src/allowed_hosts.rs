//! `allowed_outbound_hosts`: parsing and matching as Spin 3.6.3 does it (spin.md §6;
//! `spin@v3.6.3:crates/outbound-networking-config/src/allowed_hosts.rs`).
//!
//! Grammar: `scheme://host[:port]`. The scheme is required (`*` = any). The host is `*`,
//! `*.domain` (subdomains only), an IP/CIDR, `self` / `self.alt`, or a literal name. The port is
//! `*`, a number or a range `a..b` (end exclusive); without one only the scheme's well-known port
//! is allowed (http 80, https 443, redis 6379, mysql 3306, postgres 5432, mqtt 1883). Paths and
//! `{…}` lists are rejected.

use std::net::IpAddr;

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowedHost {
    /// `None` for `*`.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// Suffix including the leading dot: `*.example.com` → `.example.com`.
    AnySubdomain(String),
    ToSelf,
    Exact(String),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    Range(u16, u16),
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    /// Parses one literal entry (templates must be resolved first).
    pub(crate) fn parse(entry: &str) -> Result<AllowedHost, String> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "{url:?} is not an allowed outbound host: it must be <scheme>://<host>[:<port>] \
                 ('*://*:*' allows everything)"
            ));
        };
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port.split_once('/') {
            Some((port, "")) => port,
            Some(_) => return Err(format!("{url:?} has a path, which is not allowed")),
            None => port,
        };
        let scheme = match scheme {
            "*" => None,
            s if s.starts_with('{') => {
                return Err(format!("{url:?}: scheme lists are not supported"));
            }
            s if s.is_empty() || !s.chars().all(|c| c.is_alphabetic()) => {
                return Err(format!(
                    "{url:?}: scheme {s:?} contains a non-alphabetic character"
                ));
            }
            s => Some(s.to_owned()),
        };
        let host = parse_host(host.trim()).map_err(|e| format!("{url:?}: {e}"))?;
        let port = parse_port(port, scheme.as_deref()).map_err(|e| format!("{url:?}: {e}"))?;
        Ok(AllowedHost { scheme, host, port })
    }

    fn allows_scheme(&self, scheme: &str) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::AnySubdomain(suffix) => host.ends_with(suffix.as_str()),
            HostPattern::ToSelf => false,
            HostPattern::Exact(h) => h == host,
            HostPattern::Cidr(net, len) => host
                .parse::<IpAddr>()
                .is_ok_and(|ip| cidr_contains(*net, *len, ip)),
        };
        let port_ok = match &self.port {
            PortPattern::Any => true,
            pattern => match port.or_else(|| well_known_port(scheme)) {
                Some(p) => match pattern {
                    PortPattern::Port(q) => p == *q,
                    PortPattern::Range(a, b) => (*a..*b).contains(&p),
                    PortPattern::Any => true,
                },
                None => false,
            },
        };
        self.allows_scheme(scheme) && host_ok && port_ok
    }

    fn allows_relative(&self, schemes: &[&str]) -> bool {
        schemes.iter().any(|s| self.allows_scheme(s))
            && matches!(self.host, HostPattern::Any | HostPattern::ToSelf)
    }
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostPattern::ToSelf);
    }
    if host.starts_with('{') {
        return Err("host lists are not supported".into());
    }
    if let Some((addr, len)) = host.split_once('/')
        && let (Ok(addr), Ok(len)) = (addr.parse::<IpAddr>(), len.parse::<u8>())
    {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(format!("prefix length {len} is too long for {addr}"));
        }
        return Ok(HostPattern::Cidr(addr, len));
    }
    if matches!(host.split('/').nth(1), Some(path) if !path.is_empty()) {
        return Err("hosts must not contain paths".into());
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            return Err("wildcards are allowed only as prefixes".into());
        }
        return Ok(HostPattern::AnySubdomain(format!(".{domain}")));
    }
    if host.contains('*') {
        return Err("wildcards are allowed only as subdomains".into());
    }
    Ok(HostPattern::Exact(host.trim_end_matches('/').to_owned()))
}

fn parse_port(port: &str, scheme: Option<&str>) -> Result<PortPattern, String> {
    if port.is_empty() {
        return scheme
            .and_then(well_known_port)
            .map(PortPattern::Port)
            .ok_or_else(|| {
                format!("no port was given and the scheme {scheme:?} has no well-known port")
            });
    }
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    if port.starts_with('{') {
        return Err("port lists are not supported".into());
    }
    if let Some((a, b)) = port.split_once("..") {
        let a = a
            .parse()
            .map_err(|_| format!("port range {port:?} contains a non-number"))?;
        let b = b
            .parse()
            .map_err(|_| format!("port range {port:?} contains a non-number"))?;
        return Ok(PortPattern::Range(a, b));
    }
    port.parse()
        .map(PortPattern::Port)
        .map_err(|_| format!("port {port:?} is not a number"))
}

/// Whether `ip` is inside `net/len` (host bits of `net` are ignored, like `from_str_truncate`).
fn cidr_contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// A component's resolved `allowed_outbound_hosts` (an empty list allows nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Parses every entry; `insecure:allow-all` is rejected as in Spin.
    pub(crate) fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedHosts, String> {
        if entries.iter().any(|e| e.as_ref() == "insecure:allow-all") {
            return Err(
                "'insecure:allow-all' is not allowed - use '*://*:*' to allow all outbound traffic"
                    .into(),
            );
        }
        let entries = entries
            .iter()
            .map(|e| AllowedHost::parse(e.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(AllowedHosts { entries })
    }

    /// Whether an absolute URL with this scheme, host (lowercase, IPv6 in brackets) and explicit
    /// port is allowed.
    pub(crate) fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.entries.iter().any(|e| e.allows(scheme, host, port))
    }

    /// Whether a relative (`self`) request is allowed: an entry with host `self`/`self.alt` or
    /// `*` and a scheme among `http`/`https`.
    pub(crate) fn allows_relative(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.allows_relative(&["http", "https"]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries).unwrap()
    }

    #[test]
    fn rejects_what_spin_rejects() {
        for bad in [
            "example.com",
            "example.com:80",
            "*",
            "",
            "http://example.com/a",
            "http://*.example.com/a",
            "http://a.*.com",
            "http://ex*.com",
            "http://{a,b}.com",
            "{http,https}://a.com",
            "http://[::1]",
            "ftp://example.com",
            "http://example.com:x",
            "http://example.com:1..x",
            "h1p://example.com",
        ] {
            assert!(
                AllowedHost::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(AllowedHosts::parse(&["insecure:allow-all"]).is_err());
    }

    #[test]
    fn default_ports_only_without_a_port() {
        let h = hosts(&["https://api.twilio.com"]);
        assert!(h.allows("https", "api.twilio.com", None));
        assert!(h.allows("https", "api.twilio.com", Some(443)));
        assert!(!h.allows("https", "api.twilio.com", Some(8443)));
        assert!(!h.allows("http", "api.twilio.com", None));
        assert!(!h.allows("https", "twilio.com", None));
        assert!(hosts(&["http://a.com/"]).allows("http", "a.com", None));
    }

    #[test]
    fn wildcards_ranges_and_cidr() {
        let h = hosts(&[
            "http://*.example.com",
            "*://b.com:8000..8002",
            "http://localhost:*",
        ]);
        assert!(h.allows("http", "a.example.com", None));
        assert!(h.allows("http", "x.y.example.com", None));
        assert!(!h.allows("http", "example.com", None));
        assert!(!h.allows("http", "myexample.com", None));
        assert!(h.allows("https", "b.com", Some(8001)));
        assert!(!h.allows("https", "b.com", Some(8002)));
        assert!(h.allows("http", "localhost", Some(1234)));
        let c = hosts(&["*://127.0.0.0/24:80", "*://ff00::/8:80"]);
        assert!(c.allows("http", "127.0.0.9", None));
        assert!(!c.allows("http", "127.0.1.9", None));
        assert!(c.allows("http", "ff01::1", Some(80)));
        let all = hosts(&["*://*:*"]);
        assert!(all.allows("https", "anything.example", Some(1)));
        assert!(all.allows_relative());
    }

    #[test]
    fn self_only_for_relative_requests() {
        let h = hosts(&["http://self", "http://*.spin.internal"]);
        assert!(h.allows_relative());
        assert!(!h.allows("http", "self", None));
        assert!(h.allows("http", "webhook.spin.internal", None));
        assert!(!h.allows("https", "webhook.spin.internal", None));
        assert!(!hosts(&["https://api.twilio.com"]).allows_relative());
        assert!(!hosts(&[]).allows_relative());
        assert!(!hosts(&[]).allows("https", "a.com", None));
    }
}
