//! Sockets: the raw IPv4 protocol-112 socket adverts travel on, and gratuitous ARP over
//! AF_PACKET. Executors only: what to send comes from the state machine.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddrV4};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, SockAddrStorage, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::packet::{IPPROTO_VRRP, MULTICAST_GROUP, TTL};

/// DSCP CS6 (network control), as keepalived sends.
const TOS_CS6: u32 = 0xc0;

/// The kernel index of `iface`.
pub fn ifindex(iface: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(iface).map_err(|_| io::Error::other("interface name has a NUL byte"))?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if i == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(i)
    }
}

/// The raw VRRP socket of one interface.
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
}

impl VrrpSocket {
    /// Open on `iface` with `local` as the multicast source. Not bound to `local`: a raw socket
    /// bound to a unicast address would only see packets sent to it, never 224.0.0.18.
    pub fn open(iface: &str, local: Ipv4Addr) -> io::Result<VrrpSocket> {
        VrrpSocket::open_protocol(iface, local, IPPROTO_VRRP, false)
    }

    /// The raw IP protocol-51 socket for instances with `auth_type: ah`: it receives AH
    /// packets and sends whole IP packets (`IP_HDRINCL`: the ICV covers the header's
    /// identification field, so hapair writes the header; [`super::ah::seal`]).
    pub fn open_ah(iface: &str, local: Ipv4Addr) -> io::Result<VrrpSocket> {
        VrrpSocket::open_protocol(iface, local, super::ah::IPPROTO_AH, true)
    }

    fn open_protocol(iface: &str, local: Ipv4Addr, protocol: u8, header_included: bool) -> io::Result<VrrpSocket> {
        let index = ifindex(iface)?;
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(protocol))))?;
        s.set_header_included_v4(header_included)?;
        s.bind_device(Some(iface.as_bytes()))?;
        s.set_multicast_if_v4(&local)?;
        s.set_multicast_ttl_v4(u32::from(TTL))?;
        s.set_ttl_v4(u32::from(TTL))?;
        s.set_tos_v4(TOS_CS6)?;
        s.set_multicast_loop_v4(false)?;
        s.set_multicast_all_v4(false)?;
        s.join_multicast_v4_n(&MULTICAST_GROUP, &InterfaceIndexOrAddress::Index(index))?;
        s.set_nonblocking(true)?;
        // SAFETY: the socket's fd is open and owned by the AsyncFd for its whole life.
        let fd = unsafe { AsyncFd::register_with_interest(s, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
        Ok(VrrpSocket { fd })
    }

    /// Receive one datagram, IPv4 header included.
    pub async fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
        loop {
            let mut guard = self.fd.readable().await?;
            let r = guard.try_io(|s| {
                // SAFETY: `MaybeUninit<u8>` has the layout of `u8`; recv only writes into it.
                let ubuf = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
                s.get_ref().recv_from(ubuf).map(|(n, _)| n)
            });
            match r {
                Ok(Ok(n)) => return Ok(&buf[..n]),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Send one VRRP message (the kernel adds the IPv4 header), or, on the AH socket, one whole
    /// IPv4 packet.
    pub fn send(&self, msg: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        let addr = SockAddr::from(SocketAddrV4::new(dst, 0));
        self.fd.get_ref().send_to(msg, &addr).map(|_| ())
    }
}

/// Sends gratuitous ARP requests (sender = target = VIP, broadcast) on one interface.
pub struct Garp {
    sock: Socket,
    index: u32,
    mac: [u8; 6],
}

const ETH_P_ARP: u16 = 0x0806;

impl Garp {
    pub fn open(iface: &str) -> io::Result<Garp> {
        let index = ifindex(iface)?;
        let mac = read_mac(iface)?;
        let sock = Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(i32::from(ETH_P_ARP.to_be()))))?;
        sock.set_nonblocking(true)?;
        Ok(Garp { sock, index, mac })
    }

    pub fn send(&self, vip: Ipv4Addr) -> io::Result<()> {
        let frame = garp_frame(self.mac, vip);
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: the storage is large enough for a sockaddr_ll and zero-initialised.
        let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
        ll.sll_family = libc::AF_PACKET as u16;
        ll.sll_protocol = ETH_P_ARP.to_be();
        ll.sll_ifindex = self.index as i32;
        ll.sll_halen = 6;
        ll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: the storage holds an initialised sockaddr_ll of `len` bytes.
        let addr = unsafe { SockAddr::new(storage, len) };
        self.sock.send_to(&frame, &addr).map(|_| ())
    }
}

/// An ARP request announcing `vip` at `mac` (RFC 5227 §3 "ARP Announcement").
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr) -> [u8; 28] {
    let mut f = [0u8; 28];
    f[..8].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f[8..14].copy_from_slice(&mac);
    f[14..18].copy_from_slice(&vip.octets());
    f[18..24].copy_from_slice(&[0xff; 6]);
    f[24..28].copy_from_slice(&vip.octets());
    f
}

fn read_mac(iface: &str) -> io::Result<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))?;
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() != 6 {
        return Err(io::Error::other(format!("`{iface}` has no Ethernet address")));
    }
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).map_err(|_| io::Error::other(format!("`{iface}` has a bad address")))?;
    }
    Ok(mac)
}
