//! The VRRP decoder must never panic, and whatever it accepts must re-encode to an advert
//! that decodes to the same value. The AH (protocol 51) splitter and verifier must never panic
//! either, and a forged ICV never verifies.
#![no_main]

use hapair::vrrp::packet::{parse_ipv4, Advert};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = hapair::vrrp::ah::parse(data) {
        let key: hapair::vrrp::ah::Key = *b"secret\0\0";
        let _ = r.verify(&key, false);
        let _ = r.verify(&key, true);
        let _ = Advert::decode(r.vrrp, r.ip.src, r.ip.dst);
    }
    let src = Ipv4Addr::new(10, 77, 250, 11);
    let dst = Ipv4Addr::new(224, 0, 0, 18);
    // As a raw-socket datagram (IPv4 header first) and as a bare VRRP message.
    if let Ok((ip, payload)) = parse_ipv4(data) {
        let _ = Advert::decode(payload, ip.src, ip.dst);
    }
    if let Ok((advert, mode)) = Advert::decode(data, src, dst) {
        if let Ok(bytes) = advert.encode(mode, src, dst) {
            let again = Advert::decode(&bytes, src, dst).map(|(a, _)| a);
            assert_eq!(again, Ok(advert));
        }
    }
});
