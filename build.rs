//! Embed hapair's own roles (`roles/<name>/role.yml`, `templates/`, `files/`) in the binary, so
//! one file is all a control machine needs. Generates `$OUT_DIR/builtin_roles.rs`: a sorted
//! list of (path relative to `roles/`, bytes). Also records the target triple the binary is
//! built for, for `hapair --version`.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

fn main() {
    println!("cargo:rustc-env=HAPAIR_BUILD_TARGET={}", std::env::var("TARGET").unwrap_or_default());
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("roles");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut src = String::from(
        "/// Built-in role files: (path under `roles/`, content).\npub const BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    for f in &files {
        // Directories are watched too: a new template must rebuild.
        if let Some(parent) = f.parent() {
            println!("cargo:rerun-if-changed={}", parent.display());
        }
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&root).expect("under roles/").to_string_lossy().replace('\\', "/");
        src.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", f.display().to_string()));
    }
    src.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("builtin_roles.rs");
    std::fs::write(out, src).expect("write builtin_roles.rs");
}
