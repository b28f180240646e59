//! The IP Authentication Header around VRRPv2 adverts (`auth_type AH`): RFC 2402 with
//! HMAC-MD5-96 (RFC 2403), as keepalived 2.2.7 sends and checks it (RFC 2338 §5.3.6.3 defined
//! the VRRP auth type 2; RFC 3768 removed it, keepalived kept it).
//!
//! Pure: bytes in, typed values or typed errors out; no clock (the sequence numbers' start is
//! passed in). Never panics on any input.
//!
//! What goes on the wire (checked against keepalived 2.2.7 in `tests/vrrp_keepalived.rs`):
//! - IPv4 header of protocol 51, TOS 0xc0, TTL 255, no options, a non-zero identification;
//!   then the AH header (24 bytes); then the VRRPv2 advert with auth type 2 and its 8 bytes of
//!   Authentication Data zero (its checksum covers them).
//! - SPI = the sender's IPv4 address (keepalived's choice: the receivers cannot agree on an SPI
//!   in multicast); the receiver drops an advert whose SPI is not its source address.
//! - ICV = HMAC-MD5 truncated to 96 bits, keyed with the password zero-padded to 8 bytes, over
//!   the whole packet with the IP header's mutable fields zeroed (TOS, flags/fragment offset,
//!   header checksum, and TTL in unicast mode only — keepalived includes TTL 255 in multicast
//!   mode) and the ICV field zeroed. The identification and addresses are covered: the sender
//!   must write the IP header itself (`IP_HDRINCL`).
//! - Sequence numbers: see [`Sequence`].

use std::fmt;
use std::net::Ipv4Addr;

use hmac::{Hmac, Mac};
use md5::Md5;

use super::packet::{Ipv4Info, IPPROTO_VRRP, TTL};

/// IP protocol number of the Authentication Header (RFC 2402 §2).
pub const IPPROTO_AH: u8 = 51;
/// The AH header with a 96-bit ICV: 12 fixed bytes and the ICV.
pub const AH_LEN: usize = 24;
/// HMAC-MD5-96 (RFC 2403 §3).
pub const ICV_LEN: usize = 12;
/// Payload Length: the AH length in 32-bit words minus 2 (RFC 2402 §2.2).
const PAYLOAD_LEN: u8 = (AH_LEN / 4 - 2) as u8;
/// The IPv4 header hapair sends: no options.
const IP_HEADER: usize = 20;
/// DSCP CS6 (network control), as keepalived sends.
const TOS_CS6: u8 = 0xc0;

/// The Authentication Header, RFC 2402 §2:
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Header   |  Payload Len  |          RESERVED             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Security Parameters Index (SPI)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Sequence Number Field                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                Authentication Data (variable)                 |
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// Next Header is 112 (VRRP); Payload Len 4 (24 bytes); Authentication Data the 12-byte ICV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhHeader {
    pub next_header: u8,
    pub spi: u32,
    pub seq: u32,
    pub icv: [u8; ICV_LEN],
}

impl AhHeader {
    pub fn encode(&self) -> [u8; AH_LEN] {
        let mut b = [0u8; AH_LEN];
        b[0] = self.next_header;
        b[1] = PAYLOAD_LEN;
        b[4..8].copy_from_slice(&self.spi.to_be_bytes());
        b[8..12].copy_from_slice(&self.seq.to_be_bytes());
        b[12..].copy_from_slice(&self.icv);
        b
    }

    pub fn decode(buf: &[u8]) -> Result<AhHeader, AhError> {
        let b = buf.get(..AH_LEN).ok_or(AhError::Truncated { need: AH_LEN, got: buf.len() })?;
        if b[0] != IPPROTO_VRRP {
            return Err(AhError::NextHeader(b[0]));
        }
        if b[1] != PAYLOAD_LEN {
            return Err(AhError::PayloadLen(b[1]));
        }
        let mut icv = [0u8; ICV_LEN];
        icv.copy_from_slice(&b[12..]);
        Ok(AhHeader {
            next_header: b[0],
            spi: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            seq: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            icv,
        })
    }
}

/// Why an AH packet is not accepted. Each is counted as an `auth` drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AhError {
    /// Shorter than the IP and AH headers (and the advert they cover).
    Truncated { need: usize, got: usize },
    /// The AH header does not carry VRRP.
    NextHeader(u8),
    /// Not the length of an AH header with a 96-bit ICV.
    PayloadLen(u8),
    /// The ICV does not verify: another password, or the packet was changed.
    Icv,
    /// The SPI is not the sender's address (keepalived's rule).
    Spi { spi: u32, src: Ipv4Addr },
    /// Anti-replay: a sequence number not above the last one accepted.
    Replay { seq: u32, last: u32 },
    /// AH arrived for a virtual router that is not configured for it.
    NotConfigured,
}

impl fmt::Display for AhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AhError::Truncated { need, got } => write!(f, "packet is {got} bytes, needs {need}"),
            AhError::NextHeader(n) => write!(f, "next header {n} is not VRRP (112)"),
            AhError::PayloadLen(n) => write!(f, "payload length {n} is not HMAC-MD5-96's (4)"),
            AhError::Icv => f.write_str("the HMAC-MD5-96 does not verify (another password?)"),
            AhError::Spi { spi, src } => write!(f, "SPI {} is not the source address {src}", Ipv4Addr::from(*spi)),
            AhError::Replay { seq, last } => {
                write!(
                    f,
                    "sequence number {seq} is not above the last accepted ({last}): a replay, or a restarted peer"
                )
            }
            AhError::NotConfigured => f.write_str("the virtual router is not configured for AH"),
        }
    }
}

impl std::error::Error for AhError {}

/// The key: the password zero-padded to 8 bytes (keepalived's `auth_data`).
pub type Key = [u8; 8];

/// HMAC-MD5 (RFC 2104) truncated to its first 96 bits (RFC 2403 §3).
pub fn hmac_md5_96(key: &[u8], parts: &[&[u8]]) -> [u8; ICV_LEN] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    for p in parts {
        mac.update(p);
    }
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; ICV_LEN];
    out.copy_from_slice(&full[..ICV_LEN]);
    out
}

/// The IP header as the ICV sees it: TOS, flags/fragment offset and checksum zeroed, and TTL
/// too when `zero_ttl` (keepalived: unicast mode).
fn icv_ip_header(h: &[u8], zero_ttl: bool) -> Vec<u8> {
    let mut h = h.to_vec();
    h[1] = 0;
    h[6] = 0;
    h[7] = 0;
    h[10] = 0;
    h[11] = 0;
    if zero_ttl {
        h[8] = 0;
    }
    h
}

fn icv_of(ip: &[u8], ah: &AhHeader, vrrp: &[u8], key: &Key, zero_ttl: bool) -> [u8; ICV_LEN] {
    let ah = AhHeader { icv: [0; ICV_LEN], ..*ah }.encode();
    hmac_md5_96(key, &[&icv_ip_header(ip, zero_ttl), &ah, vrrp])
}

/// What [`seal`] needs besides the advert.
#[derive(Debug, Clone, Copy)]
pub struct Seal<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// IPv4 identification, covered by the ICV: never 0 (the kernel would replace a 0).
    pub id: u16,
    pub seq: u32,
    pub key: &'a Key,
    pub zero_ttl: bool,
}

/// The whole IPv4 packet (header, AH, `vrrp`) for a raw socket with `IP_HDRINCL`. The header
/// checksum is filled in (the kernel fills it again).
pub fn seal(s: &Seal, vrrp: &[u8]) -> Vec<u8> {
    let total = (IP_HEADER + AH_LEN + vrrp.len()) as u16;
    let mut ip = [0u8; IP_HEADER];
    ip[0] = 0x45;
    ip[1] = TOS_CS6;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&s.id.max(1).to_be_bytes());
    ip[8] = TTL;
    ip[9] = IPPROTO_AH;
    ip[12..16].copy_from_slice(&s.src.octets());
    ip[16..20].copy_from_slice(&s.dst.octets());
    let mut ah = AhHeader { next_header: IPPROTO_VRRP, spi: u32::from(s.src), seq: s.seq, icv: [0; ICV_LEN] };
    ah.icv = icv_of(&ip, &ah, vrrp, s.key, s.zero_ttl);
    let sum = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut out = Vec::with_capacity(usize::from(total));
    out.extend_from_slice(&ip);
    out.extend_from_slice(&ah.encode());
    out.extend_from_slice(vrrp);
    out
}

/// A received protocol-51 packet, split but not yet verified (the VRID in `vrrp` says whose key
/// verifies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'b> {
    pub ip: Ipv4Info,
    pub ah: AhHeader,
    /// The IP header as received (options included).
    header: &'b [u8],
    /// The AH-protected payload: the VRRP message.
    pub vrrp: &'b [u8],
}

/// Split a raw-socket datagram of protocol 51 (IPv4 header included).
pub fn parse(pkt: &[u8]) -> Result<Received<'_>, super::packet::DecodeError> {
    use super::packet::DecodeError;
    let first = *pkt.first().ok_or(DecodeError::Truncated { need: IP_HEADER, got: 0 })?;
    if first >> 4 != 4 {
        return Err(DecodeError::Ipv4Header);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < IP_HEADER {
        return Err(DecodeError::Ipv4Header);
    }
    let header = pkt.get(..ihl).ok_or(DecodeError::Truncated { need: ihl, got: pkt.len() })?;
    if header[9] != IPPROTO_AH {
        return Err(DecodeError::Protocol(header[9]));
    }
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let end = if total >= ihl { total.min(pkt.len()) } else { pkt.len() };
    let rest = pkt.get(ihl..end).unwrap_or(&[]);
    let ah = AhHeader::decode(rest).map_err(DecodeError::Ah)?;
    let ip = Ipv4Info {
        src: Ipv4Addr::new(header[12], header[13], header[14], header[15]),
        dst: Ipv4Addr::new(header[16], header[17], header[18], header[19]),
        ttl: header[8],
    };
    Ok(Received { ip, ah, header, vrrp: &rest[AH_LEN..] })
}

impl Received<'_> {
    /// The ICV, then the SPI (keepalived's order: nothing in a packet whose ICV fails is
    /// trusted). The sequence number is [`Sequence::accept`]'s.
    pub fn verify(&self, key: &Key, zero_ttl: bool) -> Result<(), AhError> {
        let want = icv_of(self.header, &self.ah, self.vrrp, key, zero_ttl);
        // Constant time: the ICV is a MAC.
        if want.iter().zip(self.ah.icv.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return Err(AhError::Icv);
        }
        if self.ah.spi != u32::from(self.ip.src) {
            return Err(AhError::Spi { spi: self.ah.spi, src: self.ip.src });
        }
        Ok(())
    }
}

/// The sequence numbers of one AH virtual router: one counter for what we send, and the last
/// number accepted from the peer.
///
/// keepalived 2.2.7 keeps ONE counter per instance for both: it increments it before each
/// advert it sends (its first advert carries 1), accepts an advert only when its number is
/// *strictly above* the counter and then sets the counter to it, and a master that hears a
/// lower-priority advert sets its counter to that number + 1. So a router's numbers continue
/// above those of the master before it. A keepalived restarted starts again from 0: its peer,
/// whose counter is high, drops its adverts as replays until the peer itself becomes master
/// and the restarted node, hearing that higher number, catches up (or it hears the master
/// first, as keepalived forces a node with AH to start as BACKUP).
///
/// hapair does the same, except that its counter does not restart from 0: it starts at
/// [`Sequence::start`] (four numbers per second of wall-clock time since 2026), above anything
/// an earlier run of the daemon sent as long as that run averaged fewer than four adverts a
/// second (VRRPv2 adverts are at least a second apart). So a restarted hapair node is accepted
/// by its keepalived peer at once, and a restarted keepalived node is accepted by hapair at once
/// (hapair remembers nothing across restarts either, and accepts the first number it hears).
/// A clock set before 2026 starts at 1, as keepalived does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    sent: u32,
    seen: Option<u32>,
}

/// 2026-01-01T00:00:00Z: [`Sequence::start`] counts from here (2^32 / 4 s is 34 years).
const EPOCH_UNIX_SECS: u64 = 1_767_225_600;
/// keepalived treats numbers above this as a counter that cycled (`0xFFFFFFFD`).
const SEQ_MAX: u32 = 0xFFFF_FFFD;

impl Sequence {
    /// A counter whose first advert carries the number for `unix_secs`, the wall clock now.
    pub fn start(unix_secs: u64) -> Sequence {
        let n = unix_secs.saturating_sub(EPOCH_UNIX_SECS).saturating_mul(4).min(u64::from(SEQ_MAX) - 1);
        Sequence { sent: n as u32, seen: None }
    }

    /// The number for the next advert sent (stays at keepalived's maximum once reached).
    pub fn next_to_send(&mut self) -> u32 {
        self.sent = self.sent.saturating_add(1).min(SEQ_MAX);
        self.sent
    }

    /// Anti-replay for an advert whose ICV and SPI verified: accepted when `seq` is above the
    /// last number accepted; then our own numbers continue above it.
    pub fn accept(&mut self, seq: u32) -> Result<(), AhError> {
        if let Some(last) = self.seen.filter(|&l| seq <= l) {
            return Err(AhError::Replay { seq, last });
        }
        self.seen = Some(seq);
        self.sent = self.sent.max(seq);
        Ok(())
    }

    /// The last number accepted from a peer.
    pub fn last_seen(&self) -> Option<u32> {
        self.seen
    }
}

/// The IPv4 header checksum (RFC 791, RFC 1071).
fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::packet::{Advert, Auth, ChecksumMode, DecodeError, Version, MULTICAST_GROUP};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 2202 §2, test cases 1, 2, 3, 6 (key longer than a block) and 5 (HMAC-MD5-96).
    #[test]
    fn hmac_md5_rfc_2202_vectors() {
        let cases: [(&[u8], &[u8], &str); 4] = [
            (&[0x0b; 16], b"Hi There", "9294727a3638bb1c13f48ef8"),
            (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e31"),
            (&[0xaa; 16], &[0xdd; 50], "56be34521d144c88dbb8c733"),
            (&[0xaa; 80], b"Test Using Larger Than Block-Size Key - Hash Key First", "6b1ab7fe4bd7bf8f0b62e6ce"),
        ];
        for (key, data, want) in cases {
            assert_eq!(hmac_md5_96(key, &[data]).to_vec(), hex(want));
        }
        assert_eq!(hmac_md5_96(&[0x0c; 16], &[b"Test With ", b"Truncation"]).to_vec(), hex("56461ef2342edc00f9bab995"));
    }

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 77, 250, 11);
    const KEY: Key = *b"secret\0\0";

    fn advert() -> Vec<u8> {
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            auth: Auth::Ah,
            addrs: vec![Ipv4Addr::new(10, 77, 250, 200)],
        }
        .encode(ChecksumMode::Plain, SRC, MULTICAST_GROUP)
        .unwrap()
    }

    fn sealed(zero_ttl: bool) -> Vec<u8> {
        let s = Seal { src: SRC, dst: MULTICAST_GROUP, id: 0x1234, seq: 7, key: &KEY, zero_ttl };
        seal(&s, &advert())
    }

    // The ICVs were computed independently (Python's hmac and hashlib) over the same bytes with
    // the mutable fields zeroed.
    #[test]
    fn golden_multicast_packet() {
        let b = sealed(false);
        let want = hex(concat!(
            "45c0004012340000ff33c42b0a4dfa0be0000012",
            "700400000a4dfa0b00000007",
            "4fbd5029bc276989d2adbdd3",
            "21339601020141b40a4dfac80000000000000000",
        ));
        assert_eq!(b.len(), 64);
        assert_eq!(&b[..20], &want[..20], "IP header");
        assert_eq!(&b[20..32], &want[20..32], "AH fixed part");
        assert_eq!(&b[44..], &want[44..], "advert");
        assert_eq!(hex_of(&b[32..44]), hex_of(&want[32..44]), "ICV");
        let r = parse(&b).unwrap();
        assert_eq!(r.ip, Ipv4Info { src: SRC, dst: MULTICAST_GROUP, ttl: 255 });
        assert_eq!(r.ah.seq, 7);
        assert_eq!(r.ah.spi, u32::from(SRC));
        assert_eq!(r.verify(&KEY, false), Ok(()));
        let (a, _) = Advert::decode(r.vrrp, r.ip.src, r.ip.dst).unwrap();
        assert_eq!(a.auth, Auth::Ah);
        assert_eq!(a.vrid, 51);
    }

    /// The first advert of Debian's keepalived 2.2.7 (`auth_type AH`, `auth_pass secret`,
    /// VRID 51, priority 150, 10.77.251.200) from 10.77.251.12, captured with dumpcap (Ethernet
    /// header removed). hapair verifies it, and seals the same advert byte for byte.
    #[test]
    fn golden_keepalived_packet() {
        let captured = hex(concat!(
            "45c0004000010000ff33d55d0a4dfb0ce0000012",
            "700400000a4dfb0c00000001",
            "53bc1670ae37eaac9dc68f88",
            "21339601020140b40a4dfbc80000000000000000",
        ));
        let r = parse(&captured).unwrap();
        assert_eq!(r.ah.seq, 1);
        assert_eq!(r.verify(&KEY, false), Ok(()));
        assert_eq!(r.verify(b"secreT\0\0", false), Err(AhError::Icv));
        let (a, mode) = Advert::decode(r.vrrp, r.ip.src, r.ip.dst).unwrap();
        assert_eq!(mode, ChecksumMode::Plain);
        let src = Ipv4Addr::new(10, 77, 251, 12);
        assert_eq!(
            a,
            Advert {
                version: Version::V2,
                vrid: 51,
                priority: 150,
                interval_cs: 100,
                auth: Auth::Ah,
                addrs: vec![Ipv4Addr::new(10, 77, 251, 200)]
            }
        );
        let ours = seal(
            &Seal { src, dst: MULTICAST_GROUP, id: 1, seq: 1, key: &KEY, zero_ttl: false },
            &a.encode(ChecksumMode::Plain, src, MULTICAST_GROUP).unwrap(),
        );
        assert_eq!(hex_of(&ours), hex_of(&captured));
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn unicast_mode_zeroes_the_ttl_too() {
        let m = sealed(false);
        let u = sealed(true);
        assert_ne!(m[32..44], u[32..44], "the TTL is covered in multicast mode only");
        let r = parse(&u).unwrap();
        assert_eq!(r.verify(&KEY, true), Ok(()));
        assert_eq!(r.verify(&KEY, false), Err(AhError::Icv));
        // In unicast mode a router on the way may lower the TTL: still verifies.
        let mut hop = u.clone();
        hop[8] = 64;
        assert_eq!(parse(&hop).unwrap().verify(&KEY, true), Ok(()));
    }

    #[test]
    fn mutable_fields_do_not_matter_and_the_rest_does() {
        let b = sealed(false);
        let mut m = b.clone();
        m[1] = 0; // TOS
        m[6] = 0x40; // DF
        m[10] = 0xab; // checksum
        assert_eq!(parse(&m).unwrap().verify(&KEY, false), Ok(()));
        for i in [4usize, 5, 8, 12, 16, 44 + 2, 44 + 8, 63] {
            let mut m = b.clone();
            m[i] ^= 1;
            assert_eq!(parse(&m).unwrap().verify(&KEY, false), Err(AhError::Icv), "byte {i}");
        }
    }

    #[test]
    fn typed_errors() {
        let b = sealed(false);
        assert_eq!(parse(&b).unwrap().verify(b"other\0\0\0", false), Err(AhError::Icv));
        assert_eq!(parse(&b[..30]), Err(DecodeError::Ah(AhError::Truncated { need: 24, got: 10 })));
        assert_eq!(parse(&b[..10]), Err(DecodeError::Truncated { need: 20, got: 10 }));
        let mut n = b.clone();
        n[20] = 6;
        assert_eq!(parse(&n), Err(DecodeError::Ah(AhError::NextHeader(6))));
        let mut n = b.clone();
        n[21] = 3;
        assert_eq!(parse(&n), Err(DecodeError::Ah(AhError::PayloadLen(3))));
        let mut n = b.clone();
        n[9] = 112;
        assert_eq!(parse(&n), Err(DecodeError::Protocol(112)));
        // Another SPI, sealed with a correct ICV: the SPI rule catches it.
        let other = Ipv4Addr::new(10, 77, 250, 99);
        let mut ip = b[..20].to_vec();
        let vrrp = &b[44..];
        let ah = AhHeader { next_header: 112, spi: u32::from(other), seq: 7, icv: [0; ICV_LEN] };
        let icv = icv_of(&ip, &ah, vrrp, &KEY, false);
        ip.extend_from_slice(&AhHeader { icv, ..ah }.encode());
        ip.extend_from_slice(vrrp);
        assert_eq!(parse(&ip).unwrap().verify(&KEY, false), Err(AhError::Spi { spi: u32::from(other), src: SRC }));
    }

    #[test]
    fn sequence_numbers() {
        // 2026-11-26T00:00:00Z: 329 days since the epoch, four numbers a second.
        let mut s = Sequence::start(EPOCH_UNIX_SECS + 329 * 86_400);
        assert_eq!(s.next_to_send(), 329 * 86_400 * 4 + 1);
        assert_eq!(s.next_to_send(), 329 * 86_400 * 4 + 2);
        // A restart a second later starts above everything the first run sent at one a second.
        let mut later = Sequence::start(EPOCH_UNIX_SECS + 329 * 86_400 + 1);
        assert!(later.next_to_send() > 329 * 86_400 * 4 + 2);
        // A clock before the epoch still counts up from 1.
        let mut early = Sequence::start(0);
        assert_eq!((early.next_to_send(), early.next_to_send()), (1, 2));
        // Anti-replay: strictly increasing; the first number heard is accepted.
        let mut r = Sequence::start(0);
        assert_eq!(r.accept(500), Ok(()));
        assert_eq!(r.accept(500), Err(AhError::Replay { seq: 500, last: 500 }));
        assert_eq!(r.accept(3), Err(AhError::Replay { seq: 3, last: 500 }));
        assert_eq!(r.accept(501), Ok(()));
        assert_eq!(r.last_seen(), Some(501));
        // Our numbers continue above the peer's (it accepts only higher ones from us).
        assert_eq!(r.next_to_send(), 502);
        // Never wraps to small numbers (keepalived would drop them).
        let mut top = Sequence { sent: SEQ_MAX - 1, seen: None };
        assert_eq!((top.next_to_send(), top.next_to_send()), (SEQ_MAX, SEQ_MAX));
    }

    #[test]
    fn parse_never_panics() {
        let b = sealed(false);
        for n in 0..b.len() {
            let _ = parse(&b[..n]).map(|r| r.verify(&KEY, false));
        }
        let mut odd = b.clone();
        odd[0] = 0x4f; // IHL 60 > packet
        assert!(parse(&odd).is_err());
        odd[0] = 0x45;
        odd[2] = 0;
        odd[3] = 10; // total length below the header: the buffer's length is used
        assert!(parse(&odd).is_ok());
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seal_then_verify_round_trips(
            key in proptest::collection::vec(1u8..=255, 1..=8),
            seq in any::<u32>(),
            id in any::<u16>(),
            src in any::<u32>(),
            zero_ttl in any::<bool>(),
            vrrp in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut k: Key = [0; 8];
            k[..key.len()].copy_from_slice(&key);
            let src = Ipv4Addr::from(src);
            let b = seal(&Seal { src, dst: MULTICAST_GROUP, id, seq, key: &k, zero_ttl }, &vrrp);
            let r = parse(&b).unwrap();
            prop_assert_eq!(r.ah.seq, seq);
            prop_assert_eq!(r.vrrp, &vrrp[..]);
            prop_assert_eq!(r.verify(&k, zero_ttl), Ok(()));
            let mut other = k;
            other[0] ^= 1;
            prop_assert_eq!(r.verify(&other, zero_ttl), Err(AhError::Icv));
        }

        /// A hapair node and a model of keepalived 2.2.7's one counter (send: +1; receive:
        /// accepted when above it, then taken) on a virtual clock: whoever is master, at up to
        /// two hapair adverts and one keepalived advert a second, and however often the hapair
        /// daemon restarts (at least a second apart), neither drops the other's adverts (with
        /// a clock after 2026; before, restarts fall back to keepalived's own behaviour).
        #[test]
        fn keepalived_and_hapair_accept_each_other_across_hapair_restarts(
            start in EPOCH_UNIX_SECS..EPOCH_UNIX_SECS + 1_000_000_000,
            ops in proptest::collection::vec((1u64..=3, 0u8..3, 0u64..=6), 1..60),
        ) {
            let mut t = start;
            let mut hapair = Sequence::start(t);
            let mut keepalived: u32 = 0;
            for (dt, op, n) in ops {
                t += dt;
                match op {
                    0 => {
                        for _ in 0..n.min(2 * dt) {
                            let seq = hapair.next_to_send();
                            prop_assert!(seq > keepalived, "keepalived drops {} (its counter {})", seq, keepalived);
                            keepalived = seq;
                        }
                    }
                    1 => {
                        for _ in 0..n.min(dt) {
                            keepalived += 1;
                            prop_assert_eq!(hapair.accept(keepalived), Ok(()));
                        }
                    }
                    _ => hapair = Sequence::start(t),
                }
            }
        }

        #[test]
        fn any_bytes_parse_and_verify_without_panic(b in proptest::collection::vec(any::<u8>(), 0..96)) {
            if let Ok(r) = parse(&b) {
                let _ = r.verify(&KEY, false);
            }
        }
    }
}
