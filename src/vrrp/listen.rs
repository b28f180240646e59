//! Whether a TCP port is listening, asked of the kernel with `sock_diag(7)` (NETLINK_SOCK_DIAG,
//! a dump of the sockets in state LISTEN). Used to see nginx close its port at once: a graceful
//! `systemctl stop nginx` closes the listening sockets first while the master process lives on
//! to drain connections, so the master's exit alone is seen too late. No connection is made to
//! nginx (its counters and logs stay the user's).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const TCP_LISTEN: u32 = 10;
const NLMSG_HDR: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, then the 48-byte socket id.
const REQ_LEN: usize = 8 + 48;
/// `struct inet_diag_msg` up to the end of its socket id (family, state, timer, retrans, id).
const MSG_MIN: usize = 4 + 48;

/// A netlink socket for `sock_diag` requests, opened once and reused.
pub struct ListenProbe {
    fd: OwnedFd,
    seq: u32,
}

impl ListenProbe {
    pub fn open() -> io::Result<ListenProbe> {
        // SAFETY: plain socket(2); the result is checked before use.
        let r = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, NETLINK_SOCK_DIAG) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(r) };
        // Never block the daemon for long on an answer.
        let tv = libc::timeval { tv_sec: 0, tv_usec: Duration::from_millis(200).as_micros() as libc::suseconds_t };
        // SAFETY: `tv` is a valid timeval for the length given.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ListenProbe { fd, seq: 0 })
    }

    /// Whether some socket listens where a connection to `addr` would be accepted (`addr`
    /// itself, the IPv4 wildcard, or an IPv6 wildcard or mapped address on its port).
    pub fn listening(&mut self, addr: SocketAddrV4) -> io::Result<bool> {
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            if self.dump(family, addr)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn dump(&mut self, family: u8, addr: SocketAddrV4) -> io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let req = request(family, self.seq);
        // SAFETY: `req` is a valid buffer of its length; the kernel is the destination (no
        // address needed on a netlink socket with the default binding).
        let r = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut found = false;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: `buf` is a valid writable buffer of its length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            match parse(&buf[..n as usize], self.seq, addr).map_err(io::Error::other)? {
                Part::More(f) => found |= f,
                Part::Done(f) => return Ok(found | f),
            }
        }
    }
}

fn request(family: u8, seq: u32) -> [u8; NLMSG_HDR + REQ_LEN] {
    let mut m = [0u8; NLMSG_HDR + REQ_LEN];
    m[0..4].copy_from_slice(&((NLMSG_HDR + REQ_LEN) as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[16] = family;
    m[17] = libc::IPPROTO_TCP as u8;
    m[20..24].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    m
}

#[derive(Debug, PartialEq, Eq)]
enum Part {
    /// More datagrams follow; whether a match was in this one.
    More(bool),
    Done(bool),
}

/// One datagram of the dump's answer: netlink messages, each an `inet_diag_msg`. Pure.
fn parse(mut b: &[u8], seq: u32, addr: SocketAddrV4) -> Result<Part, String> {
    let mut found = false;
    while b.len() >= NLMSG_HDR {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        let s = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        if len < NLMSG_HDR || len > b.len() {
            return Err(format!("sock_diag: a message of {len} bytes in {} bytes", b.len()));
        }
        let body = &b[NLMSG_HDR..len];
        if s == seq {
            match kind {
                NLMSG_DONE => return Ok(Part::Done(found)),
                NLMSG_ERROR => {
                    let code = body.get(..4).map_or(0, |e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                    return Err(format!("sock_diag: {}", io::Error::from_raw_os_error(-code)));
                }
                SOCK_DIAG_BY_FAMILY if body.len() >= MSG_MIN => found |= accepts(body, addr),
                _ => {}
            }
        }
        // Messages are 4-byte aligned; the last one may end without its padding.
        b = b.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Ok(Part::More(found))
}

/// Whether the listening socket in `m` (an `inet_diag_msg`) accepts connections to `addr`.
fn accepts(m: &[u8], addr: SocketAddrV4) -> bool {
    let (family, state) = (m[0], m[1]);
    let sport = u16::from_be_bytes([m[4], m[5]]);
    if u32::from(state) != TCP_LISTEN || sport != addr.port() {
        return false;
    }
    let src = &m[8..24];
    if family == libc::AF_INET as u8 {
        let a = Ipv4Addr::new(src[0], src[1], src[2], src[3]);
        a.is_unspecified() || a == *addr.ip()
    } else if family == libc::AF_INET6 as u8 {
        let mut o = [0u8; 16];
        o.copy_from_slice(src);
        let a = std::net::Ipv6Addr::from(o);
        a.is_unspecified() || a.to_ipv4_mapped() == Some(*addr.ip())
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u32, kind: u16, body: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDR + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn diag(family: u8, port: u16, src: &[u8]) -> Vec<u8> {
        let mut b = vec![family, TCP_LISTEN as u8, 0, 0];
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        let mut s = [0u8; 16];
        s[..src.len()].copy_from_slice(src);
        b.extend_from_slice(&s);
        b.extend_from_slice(&[0u8; 16 + 4 + 8 + 20]);
        b
    }

    #[test]
    fn a_dump_is_read_to_its_end_and_matched_by_port_and_address() {
        let want: SocketAddrV4 = "127.0.0.1:80".parse().unwrap();
        let other_port = msg(7, SOCK_DIAG_BY_FAMILY, &diag(libc::AF_INET as u8, 22, &[0, 0, 0, 0]));
        let wildcard = msg(7, SOCK_DIAG_BY_FAMILY, &diag(libc::AF_INET as u8, 80, &[0, 0, 0, 0]));
        let elsewhere = msg(7, SOCK_DIAG_BY_FAMILY, &diag(libc::AF_INET as u8, 80, &[10, 0, 0, 1]));
        let done = msg(7, NLMSG_DONE, &[0, 0, 0, 0]);
        assert_eq!(parse(&[other_port.clone(), elsewhere.clone()].concat(), 7, want), Ok(Part::More(false)));
        assert_eq!(parse(&[other_port.clone(), wildcard.clone()].concat(), 7, want), Ok(Part::More(true)));
        assert_eq!(parse(&[elsewhere.clone(), done.clone()].concat(), 7, want), Ok(Part::Done(false)));
        // An answer to an earlier request is skipped.
        assert_eq!(parse(&msg(6, SOCK_DIAG_BY_FAMILY, &diag(2, 80, &[0; 4])), 7, want), Ok(Part::More(false)));
        let mut v6 = [0u8; 16];
        v6[10..12].copy_from_slice(&[0xff, 0xff]);
        v6[12..].copy_from_slice(&[127, 0, 0, 1]);
        let mapped = msg(7, SOCK_DIAG_BY_FAMILY, &diag(libc::AF_INET6 as u8, 80, &v6));
        assert_eq!(parse(&mapped, 7, want), Ok(Part::More(true)));
        let any6 = msg(7, SOCK_DIAG_BY_FAMILY, &diag(libc::AF_INET6 as u8, 80, &[0; 16]));
        assert_eq!(parse(&any6, 7, want), Ok(Part::More(true)));
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        let want: SocketAddrV4 = "127.0.0.1:80".parse().unwrap();
        let mut bad = msg(7, SOCK_DIAG_BY_FAMILY, &diag(2, 80, &[0; 4]));
        bad[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(parse(&bad, 7, want).is_err());
        let err = msg(7, NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes());
        assert!(parse(&err, 7, want).unwrap_err().contains("sock_diag"));
        // Every truncation of a valid answer is handled.
        let full = [msg(7, SOCK_DIAG_BY_FAMILY, &diag(2, 80, &[0; 4])), msg(7, NLMSG_DONE, &[0; 4])].concat();
        for n in 0..full.len() {
            let _ = parse(&full[..n], 7, want);
        }
    }

    #[test]
    fn a_real_listening_socket_is_seen_and_its_closing_too() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = match l.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let mut p = ListenProbe::open().unwrap();
        assert!(p.listening(addr).unwrap());
        drop(l);
        assert!(!p.listening(addr).unwrap());
    }
}
