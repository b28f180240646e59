//! Records the target triple the binary is built for, for `hapair --version`.
fn main() {
    println!("cargo:rustc-env=HAPAIR_BUILD_TARGET={}", std::env::var("TARGET").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");
}
