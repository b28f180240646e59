//! The keepalived.conf parser never panics on any file (it reads files, so the input goes
//! through one in a private directory).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("hapair-fuzz-keepalived-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("keepalived.conf");
    std::fs::write(&path, data).expect("write");
    let _ = hapair::import::keepalived::read(&path);
});
