//! The facts parser reads what a node (possibly broken or compromised) sends: it never panics,
//! whatever lengths and counts the node claims.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hapair::observe::parse(data);
});
