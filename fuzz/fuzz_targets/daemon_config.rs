//! The daemon config parser (bounded YAML, then validation) never panics, and a rejected
//! config always says why.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(findings) = hapair::vrrp::config::parse(text) {
            assert!(!findings.is_empty(), "rejected without a finding");
        }
    }
});
