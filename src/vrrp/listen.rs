//! Whether a TCP port is listening, asked of the kernel with `sock_diag(7)` (NETLINK_SOCK_DIAG):
//! one exact lookup, the one the kernel does for an arriving SYN (a listener bound to the address
//! or to the wildcard, IPv6 dual-stack ones included), so it costs the same however many sockets
//! the node has. Used to see nginx close its port at once: a graceful
//! `systemctl stop nginx` closes the listening sockets first while the master process lives on
//! to drain connections, so the master's exit alone is seen too late. No connection is made to
//! nginx (its counters and logs stay the user's).
//!
//! [`Closings`] makes it an event: the kernel announces each TCP socket it destroys to the
//! `sock_diag` destroy groups (Linux 4.9+), and a socket filter lets through only listeners of
//! the watched port, so an idle node pays nothing and the closing is seen at once. Where the
//! groups are missing the caller polls [`ListenProbe::listening`].

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const TCP_LISTEN: u32 = 10;
const NLMSG_HDR: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, then the 48-byte socket id.
const REQ_LEN: usize = 8 + 48;
/// `struct inet_diag_msg` up to the end of its socket id (family, state, timer, retrans, id).
const MSG_MIN: usize = 4 + 48;

/// TCP states of a connection still open at this end (sock_diag's state numbers): everything
/// but LISTEN, TIME-WAIT and CLOSE.
const OPEN_STATES: u32 = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 9) | (1 << 11);
const NLMSG_DONE: u16 = 3;

/// A netlink socket for `sock_diag` requests, opened once and reused.
pub struct ListenProbe {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl ListenProbe {
    pub fn open() -> io::Result<ListenProbe> {
        let fd = sock_diag_socket(0)?;
        // Never block the daemon for long on an answer.
        let tv = libc::timeval { tv_sec: 0, tv_usec: Duration::from_millis(200).as_micros() as libc::suseconds_t };
        set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        Ok(ListenProbe { fd, seq: 0, buf: vec![0u8; 8192] })
    }

    /// Whether a connection to `addr` would find a listening socket (bound to `addr` itself or
    /// to the wildcard, IPv4 or IPv6 dual-stack).
    pub fn listening(&mut self, addr: SocketAddrV4) -> io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let req = request(addr, self.seq);
        // SAFETY: `req` is a valid buffer of its length; the kernel is the destination (no
        // address needed on a netlink socket with the default binding).
        let r = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            // SAFETY: `buf` is a valid writable buffer of its length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(found) = parse(&self.buf[..n as usize], self.seq).map_err(io::Error::other)? {
                return Ok(found);
            }
        }
    }
}

/// How many TCP connections are still open with a local address among `addrs` (IPv4): one
/// dump of the open connections, filtered here. For a node handing its VIPs over, to know when
/// nothing is left to wait for.
pub fn open_connections(addrs: &[std::net::Ipv4Addr]) -> io::Result<usize> {
    let fd = sock_diag_socket(0)?;
    let tv = libc::timeval { tv_sec: 1, tv_usec: 0 };
    set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    let req = dump_request(OPEN_STATES, 1);
    // SAFETY: `req` is a valid buffer of its length; the kernel is the destination.
    let r = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 32 * 1024];
    let mut count = 0;
    loop {
        // SAFETY: `buf` is a valid writable buffer of its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        match count_local(&buf[..n as usize], addrs).map_err(io::Error::other)? {
            (c, true) => return Ok(count + c),
            (c, false) => count += c,
        }
    }
}

/// A dump of the IPv4 TCP sockets in `states` (a bit per state number).
fn dump_request(states: u32, seq: u32) -> [u8; NLMSG_HDR + REQ_LEN] {
    let mut m = [0u8; NLMSG_HDR + REQ_LEN];
    m[0..4].copy_from_slice(&((NLMSG_HDR + REQ_LEN) as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[16] = libc::AF_INET as u8;
    m[17] = libc::IPPROTO_TCP as u8;
    m[20..24].copy_from_slice(&states.to_ne_bytes());
    m
}

/// One datagram of a dump: how many sockets have a local address among `addrs`, and whether
/// the dump ended. Pure.
fn count_local(mut b: &[u8], addrs: &[std::net::Ipv4Addr]) -> Result<(usize, bool), String> {
    let mut count = 0;
    while let Some((kind, _, body)) = next_message(&mut b)? {
        match kind {
            NLMSG_DONE => return Ok((count, true)),
            NLMSG_ERROR => {
                let code = body.get(..4).map_or(0, |e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                return Err(format!("sock_diag: {}", io::Error::from_raw_os_error(-code)));
            }
            // inet_diag_msg: family, state, timer, retrans, then sport, dport, src (16 bytes).
            SOCK_DIAG_BY_FAMILY if body.len() >= MSG_MIN => {
                let src = std::net::Ipv4Addr::new(body[8], body[9], body[10], body[11]);
                count += usize::from(addrs.contains(&src));
            }
            _ => return Err(format!("sock_diag: an answer of type {kind} ({} bytes)", body.len())),
        }
    }
    Ok((count, false))
}

/// One netlink message: type, sequence number, body.
type Message<'b> = (u16, u32, &'b [u8]);

/// The next netlink message of a datagram; the slice moves past it. `None` at the end (or
/// before a trailing piece shorter than a header).
fn next_message<'b>(b: &mut &'b [u8]) -> Result<Option<Message<'b>>, String> {
    let m: &'b [u8] = b;
    if m.len() < NLMSG_HDR {
        return Ok(None);
    }
    let len = u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize;
    let kind = u16::from_ne_bytes([m[4], m[5]]);
    let seq = u32::from_ne_bytes([m[8], m[9], m[10], m[11]]);
    if len < NLMSG_HDR || len > m.len() {
        return Err(format!("sock_diag: a message of {len} bytes in {} bytes", m.len()));
    }
    // Messages are 4-byte aligned; the last one may end without its padding.
    *b = m.get((len + 3) & !3..).unwrap_or(&[]);
    Ok(Some((kind, seq, &m[NLMSG_HDR..len])))
}

/// Announcements of TCP listeners on one port being destroyed (closed by their last owner).
/// Readable when one arrives; [`Closings::drain`] empties it. Whether the port still listens is
/// for [`ListenProbe::listening`] to say (reuseport groups and IPv4/IPv6 pairs close one by one).
pub struct Closings {
    fd: AsyncFd<OwnedFd>,
}

/// `SKNLGRP_INET_TCP_DESTROY` and `SKNLGRP_INET6_TCP_DESTROY` (linux/sock_diag.h).
const DESTROY_GROUPS: [libc::c_int; 2] = [1, 3];

impl Closings {
    pub fn open(port: u16) -> io::Result<Closings> {
        let fd = sock_diag_socket(libc::SOCK_NONBLOCK)?;
        // Bound (the kernel picks the port id), or announcements are not delivered.
        // SAFETY: an all-zero sockaddr_nl is valid (any port id, no legacy groups).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `sa` is a valid sockaddr_nl for the length given.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // The filter before the groups: only a listener's record (no remote port) on `port`.
        let mut prog = listener_filter(port);
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
        set_option(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)?;
        for g in DESTROY_GROUPS {
            set_option(&fd, libc::SOL_NETLINK, libc::NETLINK_ADD_MEMBERSHIP, &g)?;
        }
        // SAFETY: the descriptor is open and owned by the AsyncFd for its whole life.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
        Ok(Closings { fd })
    }

    /// Resolves when announcements came; how many (an overrun, `ENOBUFS`, counts as one: the
    /// caller looks at the port again anyway). All pending ones are read.
    pub async fn announced(&self) -> io::Result<usize> {
        self.announced_each(|_| ()).await
    }

    async fn announced_each(&self, mut each: impl FnMut(&[u8])) -> io::Result<usize> {
        loop {
            let mut g = self.fd.readable().await?;
            let n = self.drain_each(&mut each);
            g.clear_ready();
            if n > 0 {
                return Ok(n);
            }
        }
    }

    /// Read every pending announcement without blocking.
    fn drain_each(&self, each: &mut impl FnMut(&[u8])) -> usize {
        let mut buf = [0u8; 1024];
        let mut n = 0;
        loop {
            // SAFETY: `buf` is a valid writable buffer of its length.
            let r = unsafe {
                libc::recv(self.fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
            };
            if r > 0 {
                each(&buf[..r as usize]);
                n += 1;
                continue;
            }
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS) {
                n += 1;
                continue;
            }
            return n;
        }
    }
}

/// A NETLINK_SOCK_DIAG socket (close-on-exec, plus `flags`).
fn sock_diag_socket(flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked before use.
    let r = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | flags, NETLINK_SOCK_DIAG) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// `setsockopt(2)` with `value` as the option's whole value.
fn set_option<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a valid `T` for the length given; the kernel copies it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A classic BPF socket filter over one announcement (netlink header, then `inet_diag_msg`):
/// keep it when its local port is `port` and its remote port is 0 (a listener; every accepted
/// connection on the port has a remote port).
fn listener_filter(port: u16) -> [libc::sock_filter; 6] {
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter { code: code as u16, jt, jf, k };
    let (ld_h_abs, jeq_k, ret_k) = (
        libc::BPF_LD | libc::BPF_H | libc::BPF_ABS,
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        libc::BPF_RET | libc::BPF_K,
    );
    let sport = (NLMSG_HDR + 4) as u32;
    [
        op(ld_h_abs, 0, 0, sport),
        op(jeq_k, 0, 3, u32::from(port)),
        op(ld_h_abs, 0, 0, sport + 2),
        op(jeq_k, 0, 1, 0),
        op(ret_k, 0, 0, 0xffff),
        op(ret_k, 0, 0, 0),
    ]
}

/// An exact lookup (`NLM_F_REQUEST` without `NLM_F_DUMP`) as for a SYN from 0.0.0.0:0 to `addr`.
fn request(addr: SocketAddrV4, seq: u32) -> [u8; NLMSG_HDR + REQ_LEN] {
    let mut m = [0u8; NLMSG_HDR + REQ_LEN];
    m[0..4].copy_from_slice(&((NLMSG_HDR + REQ_LEN) as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[16] = libc::AF_INET as u8;
    m[17] = libc::IPPROTO_TCP as u8;
    m[20..24].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    // inet_diag_sockid: sport, dport (big-endian), src, dst, interface, cookie.
    let id = &mut m[24..];
    id[0..2].copy_from_slice(&addr.port().to_be_bytes());
    id[4..8].copy_from_slice(&addr.ip().octets());
    // No cookie to match: INET_DIAG_NOCOOKIE in both words.
    id[40..48].copy_from_slice(&[0xff; 8]);
    m
}

/// One datagram of the answer: `Some(listening)` once the answer to `seq` is in, `None` when
/// it only held stale messages. Pure.
fn parse(mut b: &[u8], seq: u32) -> Result<Option<bool>, String> {
    while let Some((kind, s, body)) = next_message(&mut b)? {
        if s == seq {
            match kind {
                NLMSG_ERROR => {
                    let code = body.get(..4).map_or(0, |e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                    return match -code {
                        0 => Err("sock_diag: an acknowledgement instead of an answer".into()),
                        libc::ENOENT => Ok(Some(false)),
                        e => Err(format!("sock_diag: {}", io::Error::from_raw_os_error(e))),
                    };
                }
                // The socket a SYN would reach: a listener (an established one cannot match a
                // peer of 0.0.0.0:0).
                SOCK_DIAG_BY_FAMILY if body.len() >= MSG_MIN => return Ok(Some(u32::from(body[1]) == TCP_LISTEN)),
                _ => return Err(format!("sock_diag: an answer of type {kind} ({} bytes)", body.len())),
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u32, kind: u16, body: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDR + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn diag(state: u8) -> Vec<u8> {
        let mut b = vec![libc::AF_INET as u8, state, 0, 0];
        b.extend_from_slice(&[0u8; 48 + 20]);
        b
    }

    #[test]
    fn the_request_asks_for_the_listener_a_syn_to_the_address_would_reach() {
        let r = request("127.0.0.1:80".parse().unwrap(), 9);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()) as usize, r.len());
        assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), libc::NLM_F_REQUEST as u16, "not a dump");
        assert_eq!(&r[24..26], &80u16.to_be_bytes());
        assert_eq!(&r[28..32], &[127, 0, 0, 1]);
        assert_eq!(&r[64..72], &[0xff; 8]);
    }

    #[test]
    fn answers_are_read_for_their_request_only() {
        assert_eq!(parse(&msg(7, SOCK_DIAG_BY_FAMILY, &diag(TCP_LISTEN as u8)), 7), Ok(Some(true)));
        assert_eq!(parse(&msg(7, NLMSG_ERROR, &(-libc::ENOENT).to_ne_bytes()), 7), Ok(Some(false)));
        // An answer to an earlier request is skipped.
        let stale = msg(6, SOCK_DIAG_BY_FAMILY, &diag(TCP_LISTEN as u8));
        assert_eq!(parse(&stale, 7), Ok(None));
        let both = [stale, msg(7, NLMSG_ERROR, &(-libc::ENOENT).to_ne_bytes())].concat();
        assert_eq!(parse(&both, 7), Ok(Some(false)));
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        let mut bad = msg(7, SOCK_DIAG_BY_FAMILY, &diag(10));
        bad[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(parse(&bad, 7).is_err());
        let err = msg(7, NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes());
        assert!(parse(&err, 7).unwrap_err().contains("sock_diag"));
        assert!(parse(&msg(7, 99, &[0; 4]), 7).is_err());
        // Every truncation of a valid answer is handled.
        let full = msg(7, SOCK_DIAG_BY_FAMILY, &diag(10));
        for n in 0..full.len() {
            let _ = parse(&full[..n], 7);
        }
    }

    fn conn(src: [u8; 4]) -> Vec<u8> {
        let mut b = vec![libc::AF_INET as u8, 1, 0, 0, 0, 80, 0x9c, 0x40];
        b.extend_from_slice(&src);
        b.extend_from_slice(&[0u8; 12 + 16 + 12 + 20]);
        b
    }

    #[test]
    fn a_dump_counts_connections_on_the_addresses_until_it_ends() {
        let vip = std::net::Ipv4Addr::new(10, 77, 0, 200);
        let part =
            [msg(1, SOCK_DIAG_BY_FAMILY, &conn([10, 77, 0, 200])), msg(1, SOCK_DIAG_BY_FAMILY, &conn([10, 77, 0, 11]))]
                .concat();
        assert_eq!(count_local(&part, &[vip]), Ok((1, false)));
        let end = [part.clone(), msg(1, NLMSG_DONE, &0i32.to_ne_bytes())].concat();
        assert_eq!(count_local(&end, &[vip]), Ok((1, true)));
        assert!(count_local(&msg(1, NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes()), &[vip]).is_err());
        for n in 0..end.len() {
            let _ = count_local(&end[..n], &[vip]);
        }
        let r = dump_request(OPEN_STATES, 3);
        assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16);
        assert_eq!(OPEN_STATES & (1 << TCP_LISTEN), 0, "listeners are not connections");
    }

    #[test]
    fn real_open_connections_are_counted_by_local_address() {
        let here = std::net::Ipv4Addr::new(127, 0, 0, 3);
        let l = std::net::TcpListener::bind((here, 0)).unwrap();
        assert_eq!(open_connections(&[here]).unwrap(), 0, "a listener is not an open connection");
        let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (served, _) = l.accept().unwrap();
        assert!(open_connections(&[here]).unwrap() >= 1);
        drop(served);
        drop(client);
        let start = std::time::Instant::now();
        while open_connections(&[here]).unwrap() > 0 {
            assert!(start.elapsed() < Duration::from_secs(5), "the closed connection is still counted");
            std::thread::yield_now();
        }
    }

    fn v4(l: &std::net::TcpListener) -> SocketAddrV4 {
        match l.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn real_listeners_are_seen_by_address_and_port_and_their_closing_too() {
        let mut p = ListenProbe::open().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = v4(&l);
        assert!(p.listening(addr).unwrap());
        // Another address on the same port does not answer a connection to this one.
        assert!(!p.listening(SocketAddrV4::new([127, 0, 0, 2].into(), addr.port())).unwrap());
        drop(l);
        assert!(!p.listening(addr).unwrap());
        // A wildcard listener serves every address.
        let any = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = v4(&any).port();
        assert!(p.listening(SocketAddrV4::new([127, 0, 0, 1].into(), port)).unwrap());
        drop(any);
        assert!(!p.listening(SocketAddrV4::new([127, 0, 0, 1].into(), port)).unwrap());
        // So does an IPv6 dual-stack one (nginx's `listen [::]:80`).
        if let Ok(six) = std::net::TcpListener::bind("[::]:0") {
            let port = six.local_addr().unwrap().port();
            assert!(p.listening(SocketAddrV4::new([127, 0, 0, 1].into(), port)).unwrap());
        }
    }

    #[tokio::test]
    async fn a_listener_closing_is_announced_and_a_connection_closing_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = v4(&l);
        let c = Closings::open(addr.port()).unwrap();
        let mut p = ListenProbe::open().unwrap();
        // A connection on the port comes and goes: filtered out.
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (served, _) = l.accept().unwrap();
        drop(client);
        drop(served);
        // Another port's listener closing: filtered out.
        drop(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        drop(l);
        // Announcements come in the order sockets were destroyed: the listener's is the last,
        // so everything let through before it is read with it.
        let mut seen = Vec::new();
        let got =
            c.announced_each(|m| seen.push((u16::from_be_bytes([m[20], m[21]]), u16::from_be_bytes([m[22], m[23]]))));
        tokio::time::timeout(Duration::from_secs(5), got).await.expect("announced within 5 s").unwrap();
        assert_eq!(seen, [(addr.port(), 0)], "only the listener's announcement");
        assert!(!p.listening(addr).unwrap());
    }
}
