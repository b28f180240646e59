//! The inventory loader (bounded YAML tree, layering, rules) never panics or hangs, and a
//! rejected inventory always says why.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Err(findings) = hapair::inventory::load_bytes(Path::new("/nonexistent/fuzz.yml"), data.to_vec(), &[]) {
        assert!(!findings.is_empty(), "rejected without a finding");
    }
});
