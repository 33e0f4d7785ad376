//! Rate limits: a burst, then a steady rate (GCRA, with `governor`), per seller on the write
//! API and per client address on the anonymous read paths. A request over its limit is
//! answered `429` problem+json with `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit`
//! headers, and does no work.
//!
//! The seller's limit is applied where the seller is known, by the `Seller` extractor, so
//! every call of a seller counts, uploads and presigns included. The address's limit is a
//! middleware on requests that carry no token. Health checks are never limited.
//! In AWS the WAF in front limits per address too, before anything reaches a task; these
//! limits hold per task.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

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
            client_ip_header: None,
        }
    }
}

/// One limit, kept per key (a seller, or an address).
pub struct Limiter {
    name: &'static str,
    burst: u32,
    per_sec: u32,
    limiter: DefaultKeyedRateLimiter<String>,
}

/// How often the state of keys that are back to a full burst is dropped.
const FORGET_EVERY: Duration = Duration::from_secs(60);

impl Limiter {
    /// A limit of `burst` at once, then `per_sec` a second; `name` names it in the headers.
    pub fn new(name: &'static str, burst: u32, per_sec: u32) -> Arc<Self> {
        let per_sec = NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(per_sec);
        let limiter = Arc::new(Self {
            name,
            burst: burst.get(),
            per_sec: per_sec.get(),
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst)),
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
        let window = u64::from(self.burst.div_ceil(self.per_sec)).max(1);
        let mut problem = Problem::new(
            Code::RateLimited,
            format!(
                "more than {} requests at once or {} a second; try again in {seconds} s",
                self.burst, self.per_sec
            ),
        );
        problem.retry_after_secs = Some(seconds);
        problem.headers = vec![
            (
                "ratelimit-policy",
                format!("\"{}\";q={};w={window}", self.name, self.burst),
            ),
            ("ratelimit", format!("\"{}\";r=0;t={seconds}", self.name)),
        ];
        Err(problem)
    }
}

/// The limit on requests without a token, by client address.
pub struct AddressLimit {
    limiter: Arc<Limiter>,
    header: Option<header::HeaderName>,
}

impl AddressLimit {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            limiter: Limiter::new("address", config.address_burst, config.address_per_sec),
            header: config
                .client_ip_header
                .as_deref()
                .and_then(|name| header::HeaderName::try_from(name).ok()),
        }
    }

    /// The client's address: the configured header's (its first address), else the peer's.
    fn client(&self, request: &ServiceRequest) -> String {
        let forwarded = self
            .header
            .as_ref()
            .and_then(|name| request.headers().get(name))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .and_then(|first| first.trim().parse::<IpAddr>().ok());
        forwarded
            .or_else(|| request.peer_addr().map(|peer| peer.ip()))
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

/// Middleware: limits the API's calls (`/v1/...`) that carry no token by client address.
pub async fn by_address(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let limited = request.path().starts_with("/v1/")
        && !request.headers().contains_key(header::AUTHORIZATION);
    if limited && let Some(limit) = request.app_data::<web::Data<AddressLimit>>() {
        let client = limit.client(&request);
        if let Err(problem) = limit.limiter.check(&client) {
            return Ok(request.error_response(problem).map_into_right_body());
        }
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
}
