//! Which `callback_url`s the service may call: the guard against server-side request forgery.
//!
//! A seller chooses the URL, so without a guard the notifier would POST wherever a seller
//! points it: the cloud's metadata endpoint (169.254.169.254), the VPC's private services, the
//! host itself. So a URL must be `https` (plain `http` only where configured, for the local
//! stack), carry no credentials, and every address its host resolves to must be public, unless
//! an allowed network (configuration) contains it. The write API checks when the URL is
//! submitted; the notifier checks again when it calls, and its HTTP client connects only to
//! addresses that pass ([`GuardedResolver`]), so a name that resolves elsewhere by then (DNS
//! rebinding) is refused too.
//!
//! It is a crate of its own because both processes apply it and the notifier depends on the
//! write side (to record outcomes), not the other way round.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ipnet::IpNet;
use url::{Host, Url};

/// Settings of the guard, shared by the write API and the notifier.
#[derive(Debug, Clone, clap::Args)]
pub struct CallbackPolicy {
    /// Networks that may be called although not public (CIDRs, comma-separated; the local
    /// stack allows loopback).
    #[arg(
        long = "webhook-allowed-networks",
        env = "CATALOG_WEBHOOK_ALLOWED_NETWORKS",
        value_delimiter = ','
    )]
    pub allowed_networks: Vec<IpNet>,
    /// Accept `http://` callback URLs (local development only).
    #[arg(
        long = "webhook-allow-http",
        env = "CATALOG_WEBHOOK_ALLOW_HTTP",
        default_value_t = false
    )]
    pub allow_http: bool,
    /// Ports callbacks may be sent to (ports or ranges like `8000-8999`, comma-separated).
    #[arg(
        long = "webhook-allowed-ports",
        env = "CATALOG_WEBHOOK_ALLOWED_PORTS",
        value_delimiter = ',',
        default_value = "443,80"
    )]
    pub allowed_ports: Vec<PortRange>,
}

/// A port, or an inclusive range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn contains(self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let port = |text: &str| {
            text.trim()
                .parse::<u16>()
                .map_err(|_| format!("{text:?} is not a port"))
        };
        let (first, last) = match text.split_once('-') {
            Some((first, last)) => (port(first)?, port(last)?),
            None => (port(text)?, port(text)?),
        };
        if first > last {
            return Err(format!("{text:?} is an empty range"));
        }
        Ok(Self { first, last })
    }
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        Self {
            allowed_networks: Vec::new(),
            allow_http: false,
            allowed_ports: vec![
                PortRange {
                    first: 443,
                    last: 443,
                },
                PortRange {
                    first: 80,
                    last: 80,
                },
            ],
        }
    }
}

/// How long a lookup of a callback's host may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a callback URL may not be called; written for the seller. The refused address is not
/// in the message: what a name resolves to inside our network is not the seller's to learn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("must be an absolute https URL")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("its port is not one webhooks are sent to")]
    Port,
    // The two say the same, so that a seller cannot tell an internal name (one that resolves to
    // a private address) from one that does not exist: no probing of internal DNS.
    #[error("its host does not resolve to a public address")]
    Unresolvable(String),
    #[error("its host does not resolve to a public address")]
    NotPublic(IpAddr),
}

impl Refusal {
    /// Whether asking again later may give another answer (a lookup that failed may succeed).
    pub fn is_lasting(&self) -> bool {
        !matches!(self, Self::Unresolvable(_))
    }
}

impl CallbackPolicy {
    /// The URL, if its shape is acceptable (before any lookup).
    pub fn parse(&self, url: &str) -> Result<Url, Refusal> {
        let url = Url::parse(url).map_err(|_| Refusal::NotHttps)?;
        let scheme_ok = url.scheme() == "https" || (self.allow_http && url.scheme() == "http");
        if !scheme_ok || url.host().is_none() {
            return Err(Refusal::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let port = url.port_or_known_default().unwrap_or(0);
        if !self.allowed_ports.iter().any(|range| range.contains(port)) {
            return Err(Refusal::Port);
        }
        Ok(url)
    }

    /// Whether `ip` may be called.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allowed_networks.iter().any(|net| net.contains(&ip))
    }

    /// Checks the URL and every address its host resolves to now (at submission).
    pub async fn check(&self, url: &str) -> Result<Url, Refusal> {
        let url = self.check_literal(url)?;
        if let Some(Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            let addresses = lookup(name, port)
                .await
                .map_err(|_| Refusal::Unresolvable(name.to_owned()))?;
            self.check_addresses(addresses.iter().map(SocketAddr::ip))?;
        }
        Ok(url)
    }

    /// Checks the URL's shape and, when its host is an address, the address; a name is left to
    /// [`GuardedResolver`], which the notifier's client resolves every name with (so a call
    /// looks the name up once, and connects to what was checked).
    pub fn check_literal(&self, url: &str) -> Result<Url, Refusal> {
        let url = self.parse(url)?;
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check_addresses([IpAddr::V4(ip)])?,
            Some(Host::Ipv6(ip)) => self.check_addresses([IpAddr::V6(ip)])?,
            Some(Host::Domain(_)) | None => {}
        }
        Ok(url)
    }

    /// Refuses the lot if any address is refused: a name that mixes public and private
    /// addresses lets its owner choose which one is called.
    fn check_addresses(&self, addresses: impl IntoIterator<Item = IpAddr>) -> Result<(), Refusal> {
        match addresses.into_iter().find(|ip| !self.permits(*ip)) {
            Some(ip) => {
                tracing::info!(%ip, "a callback host resolves to an address that is not public");
                Err(Refusal::NotPublic(ip))
            }
            None => Ok(()),
        }
    }
}

/// The addresses of `host`, within [`LOOKUP_TIMEOUT`]; an error if there are none.
async fn lookup(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let addresses: Vec<SocketAddr> =
        tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "lookup timed out"))??
            .collect();
    if addresses.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no addresses",
        ));
    }
    Ok(addresses)
}

/// The DNS resolver of the notifier's HTTP client: resolves like the system and hands
/// reqwest only names whose every address the policy permits.
pub struct GuardedResolver(pub Arc<CallbackPolicy>);

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuardedResolver")
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.0);
        Box::pin(async move {
            let addresses = lookup(name.as_str(), 0)
                .await
                .map_err(|_| Refusal::Unresolvable(name.as_str().to_owned()))?;
            policy.check_addresses(addresses.iter().map(SocketAddr::ip))?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// An IPv4 address in IPv6 clothing (`::ffff:10.0.0.1`) is judged as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Special-purpose ranges (IANA's registries): nothing in them is a public host.
static NOT_PUBLIC: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        // IPv4-compatible (deprecated) and IPv4-translated forms of IPv4 addresses.
        "::/96",
        "::ffff:0:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ]
    .into_iter()
    .filter_map(|net| net.parse().ok())
    .collect()
});

fn is_public(ip: IpAddr) -> bool {
    !NOT_PUBLIC.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> CallbackPolicy {
        CallbackPolicy::default()
    }

    fn local() -> CallbackPolicy {
        CallbackPolicy {
            allowed_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            allow_http: true,
            allowed_ports: vec!["1-65535".parse().unwrap()],
        }
    }

    #[test]
    fn a_private_host_and_one_that_does_not_resolve_are_refused_alike() {
        assert_eq!(
            Refusal::Unresolvable("nothing.invalid".into()).to_string(),
            Refusal::NotPublic("10.0.0.1".parse().unwrap()).to_string()
        );
    }

    #[test]
    fn only_the_allowed_ports_are_called() {
        assert!(strict().parse("https://example.com/hook").is_ok());
        assert!(strict().parse("https://example.com:443/hook").is_ok());
        assert_eq!(
            strict().parse("https://example.com:22/hook"),
            Err(Refusal::Port)
        );
        assert_eq!(
            strict().parse("https://example.com:6379/hook"),
            Err(Refusal::Port)
        );
        assert!(local().parse("http://127.0.0.1:9000/hook").is_ok());
        assert!("8000-8999".parse::<PortRange>().unwrap().contains(8080));
        assert!("9-8".parse::<PortRange>().is_err());
    }

    #[test]
    fn every_range_of_the_list_parses() {
        assert_eq!(NOT_PUBLIC.len(), 28);
    }

    #[test]
    fn metadata_private_loopback_and_link_local_addresses_are_refused() {
        for ip in [
            "169.254.169.254",
            "10.0.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::a9fe:a9fe",
            "::ffff:0:a9fe:a9fe",
        ] {
            assert!(!strict().permits(ip.parse().unwrap()), "{ip} was permitted");
        }
    }

    #[test]
    fn public_addresses_are_permitted() {
        for ip in ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(strict().permits(ip.parse().unwrap()), "{ip} was refused");
        }
    }

    #[test]
    fn an_allowed_network_is_permitted_and_nothing_else() {
        assert!(local().permits("127.0.0.1".parse().unwrap()));
        assert!(local().permits("::1".parse().unwrap()));
        assert!(!local().permits("10.0.0.1".parse().unwrap()));
        assert!(!local().permits("169.254.169.254".parse().unwrap()));
    }

    #[test]
    fn only_https_urls_without_credentials_pass_in_production() {
        assert_eq!(
            strict().parse("http://example.com/hook"),
            Err(Refusal::NotHttps)
        );
        assert_eq!(
            strict().parse("ftp://example.com/hook"),
            Err(Refusal::NotHttps)
        );
        assert_eq!(strict().parse("/relative"), Err(Refusal::NotHttps));
        assert_eq!(
            strict().parse("https://user:pw@example.com/hook"),
            Err(Refusal::Credentials)
        );
        assert!(strict().parse("https://example.com/hook").is_ok());
        assert!(local().parse("http://127.0.0.1:9000/hook").is_ok());
    }

    #[tokio::test]
    async fn literal_and_resolved_addresses_are_checked() {
        assert_eq!(
            strict().check("https://169.254.169.254/latest").await,
            Err(Refusal::NotPublic("169.254.169.254".parse().unwrap()))
        );
        assert_eq!(
            strict().check("https://[::1]/hook").await,
            Err(Refusal::NotPublic("::1".parse().unwrap()))
        );
        // `localhost` resolves to loopback without any DNS server.
        assert!(matches!(
            strict().check("https://localhost/hook").await,
            Err(Refusal::NotPublic(ip)) if ip.is_loopback()
        ));
        assert!(local().check("http://localhost:9000/hook").await.is_ok());
    }

    /// The notifier's HTTP client connects only where the policy permits, whatever checked
    /// (or did not check) the URL before.
    #[tokio::test]
    async fn the_guarded_resolver_refuses_what_the_policy_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let client = |policy: CallbackPolicy| {
            reqwest::Client::builder()
                .no_proxy()
                .dns_resolver(Arc::new(GuardedResolver(Arc::new(policy))))
                .build()
                .unwrap()
        };
        let url = format!("http://localhost:{port}/hook");
        let refused = client(strict()).post(&url).send().await.unwrap_err();
        assert!(refused.is_connect(), "{refused:?}");
        let allowed = client(local()).post(&url).send().await.unwrap();
        assert_eq!(allowed.status(), 204);
    }
}
