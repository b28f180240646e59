//! Inventory: parse, layer, validate. Pure: no I/O runtime (reading the file and `{file:}`
//! secrets is all the I/O it does).

pub mod explain;
pub mod finding;
mod load;
pub mod model;
pub mod monitoring;
mod places;
mod rules;
mod settings;
pub mod tree;

pub use finding::{Finding, Location, Severity};
pub use load::{load, load_bytes, valid_interface, valid_name, Loaded};
pub use model::*;
pub use monitoring::MonitoringSettings;
pub use settings::show_duration;

use crate::error::Error;
use std::path::Path;

/// Load an inventory for the commands that act on it: any error finding stops them, rendered
/// as `check` renders it.
pub fn load_or_error(path: &Path, overrides: &[String]) -> Result<Inventory, Error> {
    match load(path, overrides) {
        Ok(loaded) => Ok(loaded.inventory),
        Err(findings) => {
            let errors: Vec<String> = findings.iter().filter(|f| f.is_error()).map(|f| f.to_string()).collect();
            Err(Error::new(format!(
                "the inventory `{}` has {} error{}:\n{}",
                path.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                errors.join("\n")
            ))
            .with_fix(format!("run `hapair check -i {}` and fix what it reports", path.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    fn load_text(text: &[u8]) -> Result<super::Loaded, Vec<super::Finding>> {
        let dir = std::env::temp_dir().join(format!("hapair-inv-prop-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = dir.join(format!("{}.yml", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        std::fs::write(&path, text).expect("write");
        let r = super::load(&path, &[]);
        let _ = std::fs::remove_file(&path);
        r
    }

    const SEED: &str = "pairs:\n  web:\n    mode: master-backup\n    interface: eth0\n    nodes:\n      - name: web1\n        address: 10.0.0.11\n      - name: web2\n        address: 10.0.0.12\n    vips:\n      - address: 10.0.0.200/24\n        vrid: 51\n        master: web1\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// No input makes `load` panic: arbitrary bytes, and the seed with bytes flipped.
        #[test]
        fn load_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = load_text(&bytes);
        }

        #[test]
        fn load_never_panics_on_mutations(pos in 0usize..SEED.len(), b in any::<u8>(), cut in 0usize..SEED.len()) {
            let mut v = SEED.as_bytes().to_vec();
            v[pos] = b;
            v.truncate(cut.max(pos + 1));
            let _ = load_text(&v);
        }
    }

    #[test]
    fn the_seed_is_valid() {
        assert!(load_text(SEED.as_bytes()).is_ok());
    }
}
