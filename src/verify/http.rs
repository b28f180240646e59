//! HTTP through a VIP from this machine: a plain GET over TCP (no client crate needed), and the
//! node that served it, from the `X-Served-By` header or the default page's "served by NODE".

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub served_by: Option<String>,
}

/// GET `/` on `addr:port`, bounded by `timeout` for connect and for the whole answer.
pub fn get(addr: Ipv4Addr, port: u16, timeout: Duration) -> Result<Answer, String> {
    let sa = SocketAddr::from((addr, port));
    let mut s = TcpStream::connect_timeout(&sa, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let req = format!("GET / HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: hapair-verify\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.take(64 * 1024).read_to_end(&mut buf).map_err(|e| e.to_string())?;
    parse(&String::from_utf8_lossy(&buf)).ok_or_else(|| "not an HTTP answer".to_string())
}

/// Parse an HTTP/1.x answer (also what `curl -si` prints on a node).
pub fn parse(text: &str) -> Option<Answer> {
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut served_by = None;
    for l in text.lines() {
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("x-served-by") {
                served_by = Some(v.trim().to_string());
            }
        }
    }
    if served_by.is_none() {
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        served_by = body.lines().find_map(|l| l.trim().strip_prefix("served by ").map(|n| n.trim().to_string()));
    }
    Some(Answer { status, served_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_serving_node_from_header_or_body() {
        let a = parse("HTTP/1.1 200 OK\r\nServer: nginx\r\nX-Served-By: node2\r\n\r\nhello").unwrap();
        assert_eq!(a, Answer { status: 200, served_by: Some("node2".into()) });
        let b = parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nserved by node1\n").unwrap();
        assert_eq!(b.served_by.as_deref(), Some("node1"));
        let c = parse("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 06:55:13 GMT\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nserved by node1\n").unwrap();
        assert_eq!(c.served_by.as_deref(), Some("node1"));
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse(""), None);
    }
}
