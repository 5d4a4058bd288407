//! The module graph, checked by reading the source tree (nothing is compiled, no socket is
//! opened). Issue 10, "a module graph without cycles":
//!
//! - in each crate (`src/`, `storage/src/`, `loadtest/src/`) the top-level modules (`X.rs`
//!   or the folder `X/`, `lib.rs` and `main.rs` left out) import each other without a
//!   cycle. `X` depends on `Y` when a file of `X` names `crate::Y` (in a `use` or a path
//!   expression, `crate::{Y, ..}` groups included) or reaches `Y` through enough `super::`
//!   to climb to the crate root;
//! - `src/oauth/` decides without the modules that do I/O or hold the running server
//!   (`app`, `cluster`, `http`, ...) and without a store;
//! - the repository root holds the workspace's parts and nothing unexpected.
//!
//! Comments, string and character literals, and `#[cfg(test)]` items (the `mod tests { .. }`
//! at the end of a file, found by matching braces) are blanked before references are read,
//! so documentation and tests may name any module. A name re-exported by `lib.rs` and used
//! as `crate::Name` is not followed to its module.

mod graph;
mod scanner;
mod source;

use graph::*;
use source::*;

/// What `src/oauth/` must not name: the running server and everything that does I/O.
pub(crate) const OAUTH_FORBIDDEN_MODULES: [&str; 9] = [
    "app",
    "cluster",
    "http",
    "worker",
    "service",
    "state",
    "startup",
    "endpoints",
    "config",
];

/// The store side of `tessera_storage` (the record types, keys and interning stay allowed).
pub(crate) const OAUTH_FORBIDDEN_STORAGE: [&str; 4] = ["store", "writer", "TokenTable", "table"];

/// Entries the repository root must have: the workspace manifest, the four crates' homes,
/// the configuration examples, the integration tests, the fuzz targets (their own
/// workspace, excluded from this one) and the API documentation (docs/openapi.json).
pub(crate) const REQUIRED_TOP_LEVEL: [&str; 9] = [
    "Cargo.toml",
    "src",
    "storage",
    "bench",
    "loadtest",
    "config",
    "tests",
    "fuzz",
    "docs",
];

/// At most this many cycles are spelled out per crate (the count is always given).
pub(crate) const MAX_CYCLES_SHOWN: usize = 40;

mod no_import_cycles_between_top_level_modules {
    use super::*;

    #[test]
    fn in_the_server_crate() {
        assert_acyclic("src");
    }

    #[test]
    fn in_the_storage_crate() {
        assert_acyclic("storage/src");
    }

    #[test]
    fn in_the_load_generator() {
        assert_acyclic("loadtest/src");
    }

    fn assert_acyclic(dir: &str) {
        let graph = Graph::of(&Crate::read(dir));
        let report = graph.cycle_report();
        assert!(report.is_empty(), "{report}");
    }
}

#[test]
fn oauth_decides_without_io_modules() {
    let krate = Crate::read("src");
    let violations = oauth_violations(&krate);
    assert!(
        violations.is_empty(),
        "src/oauth/ must decide without the running server, I/O or a store \
         (move the call to the caller, or the shared type to a leaf module), \
         {} reference(s):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

#[test]
fn the_repository_root_holds_the_workspace_parts_and_no_other_folder() {
    let root = repo_root();
    let missing: Vec<&str> = REQUIRED_TOP_LEVEL
        .into_iter()
        .filter(|name| !root.join(name).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "missing at the repository root: {missing:?}"
    );
    assert!(
        root.join("Cargo.toml").is_file(),
        "Cargo.toml is not a file"
    );
    // Folders the repository ignores at its root (`/data`, where `make run` keeps RocksDB,
    // `/target`) are run-time output, not layout.
    let ignored: Vec<String> = std::fs::read_to_string(root.join(".gitignore"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix('/'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .filter(|l| !l.contains('/'))
        .collect();
    let mut unexpected = Vec::new();
    for entry in std::fs::read_dir(&root).expect("read the repository root") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        // Files (README.md, Makefile, Cargo.lock, ...), hidden entries (.ci, .git, ...) and
        // cargo's default build folder are free; folders are the layout.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir
            && !name.starts_with('.')
            && name != "target"
            && !ignored.contains(&name)
            && !REQUIRED_TOP_LEVEL.contains(&name.as_str())
        {
            unexpected.push(name);
        }
    }
    unexpected.sort();
    assert!(
        unexpected.is_empty(),
        "folders at the repository root that are not part of the layout \
         ({REQUIRED_TOP_LEVEL:?}): {unexpected:?}"
    );
}
