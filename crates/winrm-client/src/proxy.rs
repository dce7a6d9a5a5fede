//! Proxy selection: environment (with `NO_PROXY`), none, or explicit; never for loopback.

use std::net::IpAddr;

use crate::config::ProxyConfig;
use crate::Error;

/// True for `localhost`, 127.0.0.0/8 and `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn apply(
    b: reqwest::ClientBuilder,
    cfg: &ProxyConfig,
    host: &str,
) -> Result<reqwest::ClientBuilder, Error> {
    if is_loopback(host) {
        return Ok(b.no_proxy());
    }
    Ok(match cfg {
        ProxyConfig::Environment => b,
        ProxyConfig::None => b.no_proxy(),
        ProxyConfig::Url { url, no_proxy } => {
            let p = reqwest::Proxy::all(url.as_str())
                .map_err(|e| Error::Config(format!("proxy {url:?}: {}", e.without_url())))?
                .no_proxy(no_proxy.as_deref().and_then(reqwest::NoProxy::from_string));
            b.proxy(p)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.1.2.3"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("LocalHost"));
        assert!(!is_loopback("hv01.example.com"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
