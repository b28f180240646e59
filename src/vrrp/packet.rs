//! VRRP advertisements for IPv4: version 2 (RFC 3768) and version 3 (RFC 5798, RFC 9568).
//! Pure: bytes in, typed values or typed errors out. Never panics on any input.

use std::fmt;
use std::net::Ipv4Addr;

/// IP protocol number of VRRP (RFC 5798 §5.2.4).
pub const IPPROTO_VRRP: u8 = 112;
/// The VRRP IPv4 multicast group (RFC 5798 §5.1.1.2).
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Adverts must be sent, and received, with TTL 255 (RFC 5798 §5.1.1.3).
pub const TTL: u8 = 255;

/// Which VRRP version a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// How a VRRPv3 checksum over IPv4 is computed. RFC 5798 §5.2.8 includes the IPv4
/// pseudo-header (keepalived's default, what tshark checks); some implementations compute it
/// over the VRRP message only, as in v2 (keepalived `v3_checksum_as_v2`, FRR without
/// `checksum-with-ipv4-pseudoheader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumMode {
    PseudoHeader,
    Plain,
}

impl ChecksumMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumMode::PseudoHeader => "pseudo-header",
            ChecksumMode::Plain => "plain",
        }
    }
}

/// VRRPv2 authentication (RFC 3768 §5.3.6; types 1 and 2 as RFC 2338 defined them, which
/// keepalived keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    None,
    /// Simple text password, zero-padded to 8 bytes.
    Pass([u8; 8]),
    /// IP Authentication Header (type 2): the advert travels inside an AH header (IP protocol
    /// 51, see [`super::ah`]) and its Authentication Data is zero.
    Ah,
}

/// A decoded or to-be-encoded advertisement.
///
/// VRRPv2, RFC 3768 §5.1:
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Adver Int   |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (1)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            .                                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (n)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (1)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (2)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// VRRPv3, RFC 5798 §5.1 (RFC 9568 §5.1):
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       IPvX Address(es)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds. v2 carries whole seconds (`Adver Int`); v3
    /// carries 12 bits of centiseconds (`Max Adver Int`).
    pub interval_cs: u16,
    /// v2 only; always `Auth::None` for v3.
    pub auth: Auth,
    pub addrs: Vec<Ipv4Addr>,
}

/// Why a packet could not be decoded. Each maps to a drop reason in the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its header or than its address count says.
    Truncated { need: usize, got: usize },
    /// Version nibble is not 2 or 3 (RFC 5798 §7.1: "MUST verify ... version").
    Version(u8),
    /// Type is not 1 (ADVERTISEMENT).
    Type(u8),
    /// Checksum does not verify (in any accepted form for v3).
    Checksum,
    /// v2 authentication type other than 0, 1, 2.
    AuthType(u8),
    /// The IPv4 header is not one (raw-socket input).
    Ipv4Header,
    /// The IPv4 packet is not protocol 112 (nor 51 where AH is expected).
    Protocol(u8),
    /// The IP Authentication Header does not verify (counted as an `auth` drop).
    Ah(super::ah::AhError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { need, got } => {
                write!(f, "packet is {got} bytes, needs {need}")
            }
            DecodeError::Version(v) => write!(f, "version {v} is not 2 or 3"),
            DecodeError::Type(t) => write!(f, "type {t} is not an advertisement"),
            DecodeError::Checksum => f.write_str("checksum does not verify"),
            DecodeError::AuthType(t) => write!(f, "authentication type {t} is not supported"),
            DecodeError::Ipv4Header => f.write_str("not a valid IPv4 header"),
            DecodeError::Protocol(p) => write!(f, "IP protocol {p} is not VRRP"),
            DecodeError::Ah(e) => write!(f, "IP Authentication Header: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why an advert could not be encoded (the config validation prevents all of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    TooManyAddresses(usize),
    /// v2 interval must be 1..=255 whole seconds; v3 1..=4095 centiseconds.
    Interval(u16),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooManyAddresses(n) => {
                write!(f, "{n} addresses do not fit in one advert (at most 255)")
            }
            EncodeError::Interval(cs) => {
                write!(f, "interval of {cs} cs cannot be sent in this version")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

const HEADER: usize = 8;
const AUTH_LEN: usize = 8;

impl Advert {
    /// Length on the wire.
    pub fn len(&self) -> usize {
        HEADER + 4 * self.addrs.len() + if self.version == Version::V2 { AUTH_LEN } else { 0 }
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encode with the checksum filled in. `src`/`dst` are the IPv4 addresses the packet is
    /// sent with; they matter only for a v3 pseudo-header checksum.
    pub fn encode(&self, mode: ChecksumMode, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Vec<u8>, EncodeError> {
        let count = u8::try_from(self.addrs.len()).map_err(|_| EncodeError::TooManyAddresses(self.addrs.len()))?;
        let mut b = Vec::with_capacity(self.len());
        match self.version {
            Version::V2 => {
                let secs = self.interval_cs / 100;
                if self.interval_cs % 100 != 0 || !(1..=255).contains(&secs) {
                    return Err(EncodeError::Interval(self.interval_cs));
                }
                b.extend_from_slice(&[0x21, self.vrid, self.priority, count]);
                let auth_type = match self.auth {
                    Auth::None => 0,
                    Auth::Pass(_) => 1,
                    Auth::Ah => 2,
                };
                b.extend_from_slice(&[auth_type, secs as u8, 0, 0]);
            }
            Version::V3 => {
                if !(1..=0x0fff).contains(&self.interval_cs) {
                    return Err(EncodeError::Interval(self.interval_cs));
                }
                b.extend_from_slice(&[0x31, self.vrid, self.priority, count]);
                b.extend_from_slice(&self.interval_cs.to_be_bytes());
                b.extend_from_slice(&[0, 0]);
            }
        }
        for a in &self.addrs {
            b.extend_from_slice(&a.octets());
        }
        if self.version == Version::V2 {
            // Authentication Data is always present in v2, zero unless PASS (RFC 3768 §5.3.10).
            match self.auth {
                Auth::Pass(p) => b.extend_from_slice(&p),
                Auth::None | Auth::Ah => b.extend_from_slice(&[0; AUTH_LEN]),
            }
        }
        let sum = match (self.version, mode) {
            (Version::V3, ChecksumMode::PseudoHeader) => checksum(&pseudo_header(src, dst, b.len()), &b),
            _ => checksum(&[], &b),
        };
        b[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(b)
    }

    /// Decode a VRRP message (without IP header) received from `src` to `dst`. Returns the
    /// advert and which checksum form verified it (always `Plain` for v2).
    pub fn decode(buf: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<(Advert, ChecksumMode), DecodeError> {
        let head = buf.get(..HEADER).ok_or(DecodeError::Truncated { need: HEADER, got: buf.len() })?;
        let version = match head[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(DecodeError::Version(v)),
        };
        if head[0] & 0x0f != 1 {
            return Err(DecodeError::Type(head[0] & 0x0f));
        }
        let (vrid, priority, count) = (head[1], head[2], usize::from(head[3]));
        let need = HEADER + 4 * count + if version == Version::V2 { AUTH_LEN } else { 0 };
        // Trailing bytes beyond `need` are ignored (RFC 5798 §7.1 checks the length is enough).
        let msg = buf.get(..need).ok_or(DecodeError::Truncated { need, got: buf.len() })?;
        let mode = match version {
            Version::V2 => {
                if checksum(&[], msg) != 0 {
                    return Err(DecodeError::Checksum);
                }
                ChecksumMode::Plain
            }
            Version::V3 => {
                if checksum(&pseudo_header(src, dst, msg.len()), msg) == 0 {
                    ChecksumMode::PseudoHeader
                } else if checksum(&[], msg) == 0 {
                    ChecksumMode::Plain
                } else {
                    return Err(DecodeError::Checksum);
                }
            }
        };
        let addrs =
            msg[HEADER..HEADER + 4 * count].chunks_exact(4).map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3])).collect();
        let (interval_cs, auth) = match version {
            Version::V2 => {
                let auth = match head[4] {
                    0 => Auth::None,
                    1 => {
                        let mut p = [0u8; AUTH_LEN];
                        p.copy_from_slice(&msg[need - AUTH_LEN..]);
                        Auth::Pass(p)
                    }
                    2 => Auth::Ah,
                    t => return Err(DecodeError::AuthType(t)),
                };
                (u16::from(head[5]) * 100, auth)
            }
            Version::V3 => (u16::from_be_bytes([head[4], head[5]]) & 0x0fff, Auth::None),
        };
        Ok((Advert { version, vrid, priority, interval_cs, auth, addrs }, mode))
    }
}

/// The fields of a received IPv4 header that VRRP checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
}

/// Split a raw-socket datagram (IPv4 header included) into its header fields and payload.
pub fn parse_ipv4(buf: &[u8]) -> Result<(Ipv4Info, &[u8]), DecodeError> {
    let first = *buf.first().ok_or(DecodeError::Truncated { need: 20, got: 0 })?;
    if first >> 4 != 4 {
        return Err(DecodeError::Ipv4Header);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 {
        return Err(DecodeError::Ipv4Header);
    }
    let h = buf.get(..ihl).ok_or(DecodeError::Truncated { need: ihl, got: buf.len() })?;
    if h[9] != IPPROTO_VRRP {
        return Err(DecodeError::Protocol(h[9]));
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // Linux raw sockets hand over the whole packet; trust the shorter of the two lengths.
    let end = if total >= ihl { total.min(buf.len()) } else { buf.len() };
    let info = Ipv4Info {
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        ttl: h[8],
    };
    Ok((info, buf.get(ihl..end).unwrap_or(&[])))
}

/// IPv4 pseudo-header for the v3 checksum (RFC 5798 §5.2.8, as for upper-layer protocols).
fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = IPPROTO_VRRP;
    p[10..].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// The Internet checksum (RFC 1071) over `pre` then `data`; 0 when a filled-in checksum verifies.
fn checksum(pre: &[u8], data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for part in [pre, data] {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 77, 250, 11);

    fn v3() -> Advert {
        Advert {
            version: Version::V3,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![Ipv4Addr::new(10, 77, 250, 200)],
        }
    }

    // Golden bytes computed by hand: header, one address, checksum per RFC 1071.
    #[test]
    fn v3_golden_bytes_with_pseudo_header() {
        let b = v3().encode(ChecksumMode::PseudoHeader, SRC, MULTICAST_GROUP).unwrap();
        // Checksums computed independently (Python, RFC 1071) over pseudo-header + message.
        assert_eq!(b, [0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x4e, 0x69, 10, 77, 250, 200]);
        assert_eq!(Advert::decode(&b, SRC, MULTICAST_GROUP), Ok((v3(), ChecksumMode::PseudoHeader)));
    }

    #[test]
    fn v3_golden_bytes_plain_checksum() {
        let b = v3().encode(ChecksumMode::Plain, SRC, MULTICAST_GROUP).unwrap();
        assert_eq!(b, [0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x33, 0x51, 10, 77, 250, 200]);
        assert_eq!(Advert::decode(&b, SRC, MULTICAST_GROUP), Ok((v3(), ChecksumMode::Plain)));
    }

    #[test]
    fn v2_golden_bytes_with_pass_auth() {
        let a = Advert { version: Version::V2, auth: Auth::Pass(*b"secret\0\0"), interval_cs: 100, ..v3() };
        let b = a.encode(ChecksumMode::PseudoHeader, SRC, MULTICAST_GROUP).unwrap();
        assert_eq!(
            b,
            [
                0x21, 0x33, 0x96, 0x01, 0x01, 0x01, 0x06, 0x68, 10, 77, 250, 200, b's', b'e', b'c', b'r', b'e', b't',
                0, 0
            ]
        );
        assert_eq!(Advert::decode(&b, SRC, MULTICAST_GROUP), Ok((a, ChecksumMode::Plain)));
    }

    #[test]
    fn typed_errors() {
        let good = v3().encode(ChecksumMode::PseudoHeader, SRC, MULTICAST_GROUP).unwrap();
        assert_eq!(Advert::decode(&good[..5], SRC, MULTICAST_GROUP), Err(DecodeError::Truncated { need: 8, got: 5 }));
        assert_eq!(
            Advert::decode(&good[..10], SRC, MULTICAST_GROUP),
            Err(DecodeError::Truncated { need: 12, got: 10 })
        );
        let mut b = good.clone();
        b[0] = 0x41;
        assert_eq!(Advert::decode(&b, SRC, MULTICAST_GROUP), Err(DecodeError::Version(4)));
        b[0] = 0x32;
        assert_eq!(Advert::decode(&b, SRC, MULTICAST_GROUP), Err(DecodeError::Type(2)));
        let mut b = good.clone();
        b[2] = 1;
        assert_eq!(Advert::decode(&b, SRC, MULTICAST_GROUP), Err(DecodeError::Checksum));
        // The pseudo-header binds the addresses: another source fails the check.
        assert_eq!(Advert::decode(&good, Ipv4Addr::new(10, 77, 250, 12), MULTICAST_GROUP), Err(DecodeError::Checksum));
        let bad_interval = Advert { interval_cs: 150, version: Version::V2, ..v3() };
        assert_eq!(bad_interval.encode(ChecksumMode::Plain, SRC, MULTICAST_GROUP), Err(EncodeError::Interval(150)));
    }

    #[test]
    fn ipv4_header_is_split() {
        let payload = v3().encode(ChecksumMode::PseudoHeader, SRC, MULTICAST_GROUP).unwrap();
        let mut ip = vec![0x45, 0xc0, 0, 32, 0, 0, 0, 0, 255, 112, 0, 0, 10, 77, 250, 11, 224, 0, 0, 18];
        ip.extend_from_slice(&payload);
        let (info, rest) = parse_ipv4(&ip).unwrap();
        assert_eq!(info, Ipv4Info { src: SRC, dst: MULTICAST_GROUP, ttl: 255 });
        assert_eq!(rest, &payload[..]);
        ip[9] = 17;
        assert_eq!(parse_ipv4(&ip), Err(DecodeError::Protocol(17)));
        assert_eq!(parse_ipv4(&[0x46, 0]), Err(DecodeError::Truncated { need: 24, got: 2 }));
    }

    fn advert() -> impl Strategy<Value = Advert> {
        (
            any::<bool>(),
            any::<u8>(),
            any::<u8>(),
            1u16..=255,
            1u16..=4095,
            proptest::option::of(any::<[u8; 8]>()),
            proptest::collection::vec(any::<u32>(), 0..20),
        )
            .prop_map(|(v2, vrid, priority, secs, cs, pass, addrs)| {
                let addrs = addrs.into_iter().map(Ipv4Addr::from).collect();
                if v2 {
                    Advert {
                        version: Version::V2,
                        vrid,
                        priority,
                        interval_cs: secs * 100,
                        auth: pass.map_or(Auth::None, Auth::Pass),
                        addrs,
                    }
                } else {
                    Advert { version: Version::V3, vrid, priority, interval_cs: cs, auth: Auth::None, addrs }
                }
            })
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(a in advert(), pseudo in any::<bool>(), src in any::<u32>()) {
            let mode = if pseudo { ChecksumMode::PseudoHeader } else { ChecksumMode::Plain };
            let src = Ipv4Addr::from(src);
            let b = a.encode(mode, src, MULTICAST_GROUP).unwrap();
            prop_assert_eq!(b.len(), a.len());
            let (d, _) = Advert::decode(&b, src, MULTICAST_GROUP).unwrap();
            prop_assert_eq!(d, a);
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Advert::decode(&b, SRC, MULTICAST_GROUP);
            let _ = parse_ipv4(&b);
        }
    }
}
