//! Rate limits: a burst, then a steady rate (GCRA, with `governor`), per seller on the write
//! API; on the read API per seller for callers with a valid token and per client address (an
//! IPv6 client per /64) for everyone else, with a lower limit on reads that wait. A request over its limit is
//! answered `429` problem+json with `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit`
//! headers, and does no work.
//!
//! The seller's limit is applied where the seller is known, by the `Seller` extractor, so
//! every call of a seller counts, uploads and presigns included. The read API's limits are a
//! middleware ([`by_caller`]) that verifies a token before it lets it choose the limit.
//! Health checks are never limited.
//! In AWS the WAF in front limits per address too, before anything reaches a task; these
//! limits hold per task.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::auth::Authenticator;
use crate::problem::{Code, Problem};

/// How fast callers may go.
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimitConfig {
    /// Requests a seller may make on the write API at once...
    #[arg(
        long = "seller-rate-burst",
        env = "CATALOG_SELLER_RATE_BURST",
        default_value_t = 100
    )]
    pub seller_burst: u32,
    /// ...and then per second.
    #[arg(
        long = "seller-rate-per-sec",
        env = "CATALOG_SELLER_RATE_PER_SEC",
        default_value_t = 20
    )]
    pub seller_per_sec: u32,
    /// Requests without a token one client address may make at once...
    #[arg(
        long = "address-rate-burst",
        env = "CATALOG_ADDRESS_RATE_BURST",
        default_value_t = 200
    )]
    pub address_burst: u32,
    /// ...and then per second.
    #[arg(
        long = "address-rate-per-sec",
        env = "CATALOG_ADDRESS_RATE_PER_SEC",
        default_value_t = 50
    )]
    pub address_per_sec: u32,
    /// Requests a seller (a valid token) may make on the read API at once...
    #[arg(
        long = "reader-rate-burst",
        env = "CATALOG_READER_RATE_BURST",
        default_value_t = 200
    )]
    pub reader_burst: u32,
    /// ...and then per second.
    #[arg(
        long = "reader-rate-per-sec",
        env = "CATALOG_READER_RATE_PER_SEC",
        default_value_t = 50
    )]
    pub reader_per_sec: u32,
    /// Reads that wait for a version (`min_version`) one caller may start at once...
    #[arg(
        long = "wait-rate-burst",
        env = "CATALOG_WAIT_RATE_BURST",
        default_value_t = 10
    )]
    pub wait_burst: u32,
    /// ...and then per second.
    #[arg(
        long = "wait-rate-per-sec",
        env = "CATALOG_WAIT_RATE_PER_SEC",
        default_value_t = 2
    )]
    pub wait_per_sec: u32,
    /// Reprocess requests a seller may make at once (each renders the photo again)...
    #[arg(
        long = "reprocess-burst",
        env = "CATALOG_REPROCESS_BURST",
        default_value_t = 20
    )]
    pub reprocess_burst: u32,
    /// ...and then per hour.
    #[arg(
        long = "reprocess-per-hour",
        env = "CATALOG_REPROCESS_PER_HOUR",
        default_value_t = 120
    )]
    pub reprocess_per_hour: u32,
    /// The header that carries the client's address, set by the CDN or load balancer in front
    /// (without it, the connection's peer is the client).
    #[arg(long = "client-ip-header", env = "CATALOG_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            seller_burst: 100,
            seller_per_sec: 20,
            address_burst: 200,
            address_per_sec: 50,
            reader_burst: 200,
            reader_per_sec: 50,
            wait_burst: 10,
            wait_per_sec: 2,
            reprocess_burst: 20,
            reprocess_per_hour: 120,
            client_ip_header: None,
        }
    }
}

/// One limit, kept per key (a seller, or an address).
pub struct Limiter {
    name: &'static str,
    burst: u32,
    /// The steady rate in words ("20 a second"), for the refusal.
    rate: String,
    /// Seconds the burst takes to refill, for the `RateLimit-Policy` header.
    window: u64,
    limiter: DefaultKeyedRateLimiter<String>,
}

/// How often the state of keys that are back to a full burst is dropped.
const FORGET_EVERY: Duration = Duration::from_secs(60);

impl Limiter {
    /// A limit of `burst` at once, then `per_sec` a second; `name` names it in the headers.
    pub fn new(name: &'static str, burst: u32, per_sec: u32) -> Arc<Self> {
        let per_sec = NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN);
        Self::build(
            name,
            burst,
            Quota::per_second(per_sec),
            format!("{per_sec} a second"),
        )
    }

    /// A limit of `burst` at once, then `per_hour` an hour.
    pub fn hourly(name: &'static str, burst: u32, per_hour: u32) -> Arc<Self> {
        let per_hour = NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN);
        Self::build(
            name,
            burst,
            Quota::per_hour(per_hour),
            format!("{per_hour} an hour"),
        )
    }

    fn build(name: &'static str, burst: u32, quota: Quota, rate: String) -> Arc<Self> {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let period = quota.replenish_interval();
        let window = (period * burst.get()).as_secs().max(1);
        let limiter = Arc::new(Self {
            name,
            burst: burst.get(),
            rate,
            window,
            limiter: DefaultKeyedRateLimiter::keyed(quota.allow_burst(burst)),
        });
        let forgetting = Arc::downgrade(&limiter);
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(async move {
                while let Some(limiter) = forgetting.upgrade() {
                    limiter.limiter.retain_recent();
                    drop(limiter);
                    tokio::time::sleep(FORGET_EVERY).await;
                }
            });
        }
        limiter
    }

    /// Counts one request of `key`; `429` if it is over the limit.
    pub fn check(&self, key: &str) -> Result<(), Problem> {
        let Err(not_until) = self.limiter.check_key(&key.to_owned()) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut problem = Problem::new(
            Code::RateLimited,
            format!(
                "more than {} {} requests at once or {}; try again in {seconds} s",
                self.burst, self.name, self.rate
            ),
        );
        problem.retry_after_secs = Some(seconds);
        problem.headers = vec![
            (
                "ratelimit-policy",
                format!("\"{}\";q={};w={}", self.name, self.burst, self.window),
            ),
            ("ratelimit", format!("\"{}\";r=0;t={seconds}", self.name)),
        ];
        Err(problem)
    }
}

/// Who a request on a rate-limited read path comes from, as the limits count it (kept in the
/// request's extensions by [`by_caller`], so that handlers need not verify a token again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A valid token's seller.
    Seller(String),
    /// Anyone else, by address (an IPv6 client by its /64).
    Address(String),
}

impl Caller {
    fn key(&self) -> &str {
        match self {
            Self::Seller(seller) | Self::Address(seller) => seller,
        }
    }
}

/// The read API's limits: per seller for a valid token, per address for everyone else, and
/// a lower one for reads that ask to wait (`min_version`).
pub struct CallerLimits {
    sellers: Arc<Limiter>,
    addresses: Arc<Limiter>,
    waits: Arc<Limiter>,
    header: Option<header::HeaderName>,
}

impl CallerLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            sellers: Limiter::new("reader", config.reader_burst, config.reader_per_sec),
            addresses: Limiter::new("address", config.address_burst, config.address_per_sec),
            waits: Limiter::new("wait", config.wait_burst, config.wait_per_sec),
            header: config
                .client_ip_header
                .as_deref()
                .and_then(|name| header::HeaderName::try_from(name).ok()),
        }
    }

    /// The client's address: the configured header's (its first address), else the peer's.
    fn client(&self, request: &ServiceRequest) -> Option<IpAddr> {
        let forwarded = self
            .header
            .as_ref()
            .and_then(|name| request.headers().get(name))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .and_then(|first| first.trim().parse::<IpAddr>().ok());
        forwarded.or_else(|| request.peer_addr().map(|peer| peer.ip()))
    }
}

/// The key an address is limited by: an IPv4 address itself, an IPv6 address by its /64 (a
/// client is handed a whole /64 and can pick any address in it).
pub fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
        None => "unknown".to_owned(),
    }
}

/// Middleware of the read API: counts each call (`/v1/...`) against its caller's limit. A
/// token counts only if it verifies (then the seller's limit applies); a token that does not
/// verify is no token, so a made-up `Authorization` cannot escape the address's limit. A call
/// with `min_version` counts against the wait limit too.
pub async fn by_caller(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let limits = request.app_data::<web::Data<CallerLimits>>().cloned();
    if let Some(limits) = limits.filter(|_| request.path().starts_with("/v1/")) {
        let seller = match request.app_data::<web::Data<Authenticator>>() {
            Some(authenticator) => authenticator.seller_of(request.request()).await,
            None => None,
        };
        let (caller, limit) = match seller {
            Some(seller) => (Caller::Seller(seller), &limits.sellers),
            None => (
                Caller::Address(address_key(limits.client(&request))),
                &limits.addresses,
            ),
        };
        let waits = request
            .query_string()
            .split('&')
            .any(|pair| pair.split('=').next() == Some("min_version"));
        let checked = limit.check(caller.key()).and_then(|()| match waits {
            true => limits.waits.check(caller.key()),
            false => Ok(()),
        });
        if let Err(problem) = checked {
            return Ok(request.error_response(problem).map_into_right_body());
        }
        request.extensions_mut().insert(caller);
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_then_a_steady_rate_per_key() {
        let limiter = Limiter::new("seller", 5, 1);
        for _ in 0..5 {
            limiter.check("a").unwrap();
        }
        let problem = limiter.check("a").unwrap_err();
        assert_eq!(problem.status, 429);
        assert_eq!(problem.retry_after_secs, Some(1));
        assert!(
            problem
                .headers
                .iter()
                .any(|(name, value)| *name == "ratelimit-policy" && value == "\"seller\";q=5;w=5")
        );
        // Another key has its own burst.
        limiter.check("b").unwrap();
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_64() {
        let key = |ip: &str| address_key(Some(ip.parse().unwrap()));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
    }
}
