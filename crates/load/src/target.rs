//! The target: load tests only ever go to a gateway on this machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// A checked target URL: http(s) on 127.0.0.1, [::1] or localhost.
#[derive(Debug, Clone)]
pub struct Target {
    pub base: Url,
    /// The loopback address the host stands for; `localhost` is pinned to
    /// 127.0.0.1 instead of asking the resolver.
    pub addr: SocketAddr,
}

impl Target {
    /// The intake endpoint under the base URL.
    pub fn messages_url(&self) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}/api/v1/messages", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// The host name the client must pin to `addr`, if the URL names one
    /// rather than an address.
    pub fn host_name(&self) -> Option<&str> {
        self.base
            .host_str()
            .filter(|h| h.parse::<IpAddr>().is_err() && !h.starts_with('['))
    }
}

/// Parses `url` and refuses anything but a loopback target.
pub fn check_url(url: &str) -> Result<Target, String> {
    let parsed = Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(format!("{url:?}: scheme {other:?} is not http or https")),
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{url:?}: give the base URL, without query or fragment"
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{url:?} has no host"))?;
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) if ip == Ipv4Addr::LOCALHOST || ip == Ipv6Addr::LOCALHOST => ip,
            _ => {
                return Err(format!(
                    "{url:?}: host {host} is not this machine; load tests only target 127.0.0.1, [::1] or localhost"
                ))
            }
        }
    };
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| format!("{url:?} has no port"))?;
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        base: parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_accepted() {
        let t = check_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            t.messages_url().as_str(),
            "http://127.0.0.1:8080/api/v1/messages"
        );
        assert_eq!(t.host_name(), None);

        let t = check_url("http://[::1]:9000/").unwrap();
        assert_eq!(t.addr, "[::1]:9000".parse().unwrap());
        assert_eq!(t.host_name(), None);

        let t = check_url("https://localhost/gw/").unwrap();
        assert_eq!(t.addr, "127.0.0.1:443".parse().unwrap());
        assert_eq!(
            t.messages_url().as_str(),
            "https://localhost/gw/api/v1/messages"
        );
        assert_eq!(t.host_name(), Some("localhost"));

        assert!(check_url("http://LOCALHOST:8080").is_ok());
    }

    #[test]
    fn anything_else_is_refused() {
        for url in [
            "http://10.0.0.1:8080",
            "http://example.org",
            "https://example.org:443/api",
            "http://127.0.0.2:8080",
            "http://[::2]:8080",
            "http://192.168.1.10",
            "http://localhost.example.org",
            "http://0.0.0.0:8080",
        ] {
            let err = check_url(url).unwrap_err();
            assert!(err.contains("not this machine"), "{url}: {err}");
        }
        assert!(check_url("ftp://127.0.0.1/").is_err());
        assert!(check_url("127.0.0.1:8080").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("http://127.0.0.1:8080/?x=1").is_err());
    }
}
