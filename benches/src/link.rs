//! A network link of a chosen speed between two private network namespaces, so that a
//! bench can compare transfers over something like a real LAN instead of loopback.
//!
//! [`ShapedLink::new`] makes two namespaces joined by a veth pair, the server end
//! `10.231.0.1` and the client end `10.231.0.2` (a /30 that exists only inside them),
//! each end shaped by a token bucket (`tc qdisc ... tbf`) to the rate. Nothing outside the
//! two namespaces changes: the machine's own interfaces, routes and loopback are not
//! touched, and dropping the link deletes both namespaces (the veth pair goes with them).
//! Needs root and the `ip` and `tc` commands (iproute2).

use std::process::Command;

/// The server end's address.
pub const SERVER_ADDR: &str = "10.231.0.1";
/// The client end's address.
pub const CLIENT_ADDR: &str = "10.231.0.2";

/// Two namespaces and the shaped veth pair between them; deleted on drop.
#[derive(Debug)]
pub struct ShapedLink {
    server_ns: String,
    client_ns: String,
    rate: String,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e} (iproute2 is needed)", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Bits per second of a `tc` rate such as `1gbit`, `2500mbit` or `100mbit`.
pub fn parse_rate(rate: &str) -> Result<u64, String> {
    let lower = rate.to_ascii_lowercase();
    let (digits, unit) = lower
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| lower.split_at(i))
        .ok_or_else(|| format!("rate {rate:?}: give a unit, e.g. 1gbit or 500mbit"))?;
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("rate {rate:?}: not a number"))?;
    let scale = match unit {
        "gbit" => 1_000_000_000,
        "mbit" => 1_000_000,
        _ => return Err(format!("rate {rate:?}: use gbit or mbit")),
    };
    match n.checked_mul(scale) {
        Some(bits) if bits > 0 => Ok(bits),
        _ => Err(format!("rate {rate:?}: out of range")),
    }
}

impl ShapedLink {
    /// Makes the namespaces and the link (names carry this process's id).
    pub fn new(rate: &str) -> Result<ShapedLink, String> {
        let bits = parse_rate(rate)?;
        let pid = std::process::id();
        let link = ShapedLink {
            server_ns: format!("ftpchat-bench-srv-{pid}"),
            client_ns: format!("ftpchat-bench-cli-{pid}"),
            rate: rate.to_owned(),
        };
        // 10 ms of traffic per bucket (at least 256 KiB: a GSO segment is up to 64 KiB).
        let burst = (bits / 8 / 100).max(256 * 1024).to_string();
        let (srv, cli) = (link.server_ns.as_str(), link.client_ns.as_str());
        run(&["ip", "netns", "add", srv])?;
        run(&["ip", "netns", "add", cli])?;
        run(&[
            "ip", "link", "add", "ftpc-srv", "netns", srv, "type", "veth", "peer", "name",
            "ftpc-cli", "netns", cli,
        ])?;
        for (ns, dev, addr) in [
            (srv, "ftpc-srv", SERVER_ADDR),
            (cli, "ftpc-cli", CLIENT_ADDR),
        ] {
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/30"),
                "dev",
                dev,
            ])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            run(&[
                "tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst",
                &burst, "latency", "20ms",
            ])?;
        }
        Ok(link)
    }

    /// The namespace the server runs in.
    pub fn server_ns(&self) -> &str {
        &self.server_ns
    }

    /// The namespace the client runs in.
    pub fn client_ns(&self) -> &str {
        &self.client_ns
    }

    /// The rate, as given (`1gbit`).
    pub fn rate(&self) -> &str {
        &self.rate
    }
}

impl Drop for ShapedLink {
    fn drop(&mut self) {
        for ns in [&self.server_ns, &self.client_ns] {
            if let Err(e) = run(&["ip", "netns", "del", ns]) {
                eprintln!("link: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("1gbit"), Ok(1_000_000_000));
        assert_eq!(parse_rate("2500mbit"), Ok(2_500_000_000));
        for bad in [
            "",
            "1",
            "gbit",
            "1kbit",
            "0gbit",
            "99999999999gbit",
            "1.5gbit",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
