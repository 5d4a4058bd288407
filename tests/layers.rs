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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `src/oauth/` must not name: the running server and everything that does I/O.
const OAUTH_FORBIDDEN_MODULES: [&str; 9] = [
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
const OAUTH_FORBIDDEN_STORAGE: [&str; 4] = ["store", "writer", "TokenTable", "table"];

/// Entries the repository root must have: the workspace manifest, the four crates' homes,
/// the configuration examples and the integration tests.
const REQUIRED_TOP_LEVEL: [&str; 7] = [
    "Cargo.toml",
    "src",
    "storage",
    "bench",
    "loadtest",
    "config",
    "tests",
];

/// At most this many cycles are spelled out per crate (the count is always given).
const MAX_CYCLES_SHOWN: usize = 40;

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

// ---------------------------------------------------------------------------------------
// The scanner.

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One source file of a crate, with comments, literals and test items blanked.
#[derive(Debug)]
struct SourceFile {
    /// Path for messages, e.g. `src/app.rs`.
    shown: String,
    /// The top-level module the file belongs to.
    module: String,
    /// Length of the file's module path: 1 for `X.rs` and `X/mod.rs`, 2 for `X/a.rs`, ...
    depth: usize,
    /// The source as written, for quoting a line.
    original: Vec<String>,
    /// The source with comments, literals and `#[cfg(test)]` items replaced by spaces
    /// (line breaks kept, so positions and line numbers are those of the original).
    code: Vec<char>,
}

/// The files of one crate's source folder, by top-level module.
#[derive(Debug)]
struct Crate {
    /// The source folder as given, e.g. `storage/src`.
    dir: String,
    modules: BTreeSet<String>,
    files: Vec<SourceFile>,
}

impl Crate {
    /// Reads every `.rs` file under `dir` (relative to the repository root).
    fn read(dir: &str) -> Crate {
        let base = repo_root().join(dir);
        let mut sources = Vec::new();
        collect_rs(&base, &base, &mut sources);
        assert!(!sources.is_empty(), "no Rust source under {dir}/");
        Crate::from_sources(dir, sources)
    }

    /// `sources` are (path relative to the source folder with `/` separators, text).
    fn from_sources(dir: &str, mut sources: Vec<(String, String)>) -> Crate {
        sources.sort();
        let mut cleaned = Vec::new();
        // Files of modules declared `#[cfg(test)] mod name;` are test code too.
        let mut test_files = BTreeSet::new();
        for (rel, text) in &sources {
            let (code, test_children) = clean(text);
            let children_dir = match rel.rsplit_once('/') {
                _ if rel == "lib.rs" || rel == "main.rs" => String::new(),
                Some((parent, "mod.rs")) => format!("{parent}/"),
                _ => format!("{}/", rel.trim_end_matches(".rs")),
            };
            for child in test_children {
                test_files.insert(format!("{children_dir}{child}.rs"));
                test_files.insert(format!("{children_dir}{child}/"));
            }
            cleaned.push((rel.clone(), text, code));
        }
        let mut modules = BTreeSet::new();
        let mut files = Vec::new();
        for (rel, text, code) in cleaned {
            let test_only = test_files
                .iter()
                .any(|t| rel == *t || (t.ends_with('/') && rel.starts_with(t.as_str())));
            if rel == "lib.rs" || rel == "main.rs" || test_only {
                continue;
            }
            let parts: Vec<&str> = rel.split('/').collect();
            let module = parts[0].trim_end_matches(".rs").to_string();
            let depth = if parts.len() > 1 && parts[parts.len() - 1] == "mod.rs" {
                parts.len() - 1
            } else {
                parts.len()
            };
            modules.insert(module.clone());
            files.push(SourceFile {
                shown: format!("{dir}/{rel}"),
                module,
                depth,
                original: text.lines().map(str::to_string).collect(),
                code,
            });
        }
        Crate {
            dir: dir.to_string(),
            modules,
            files,
        }
    }
}

fn collect_rs(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_rs(base, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(base)
                .expect("under the base")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((rel, text));
        }
    }
}

/// A reference from one file to a top-level module (or a `tessera_storage` item).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    target: String,
    line: usize,
}

impl SourceFile {
    /// Where this file names another top-level module of its crate: `crate::Y`, and
    /// `super::` chains that climb to the crate root.
    fn module_references(&self) -> Vec<Reference> {
        let mut found = paths_after(&self.code, "crate");
        let inline_mods = inline_module_ranges(&self.code);
        for (at, supers, path_at) in super_chains(&self.code) {
            let nesting = inline_mods
                .iter()
                .filter(|(start, end)| *start < at && at < *end)
                .count();
            // `super::` from a module path of length n leads to length n - 1; length 0 is
            // the crate root, whose children are the top-level modules.
            if self.depth + nesting == supers {
                found.extend(path_tree(&self.code, path_at));
            }
        }
        found.retain(|(_, name)| !matches!(name.as_str(), "self" | "super" | "crate"));
        found.sort();
        self.references(found)
    }

    /// Where this file names `keyword::X` (`tessera_storage::X`), with X.
    fn references_after(&self, keyword: &str) -> Vec<Reference> {
        self.references(paths_after(&self.code, keyword))
    }

    fn references(&self, found: Vec<(usize, String)>) -> Vec<Reference> {
        found
            .into_iter()
            .map(|(at, target)| Reference {
                target,
                line: line_of(&self.code, at),
            })
            .collect()
    }

    fn quote(&self, line: usize) -> String {
        let text = self.original.get(line - 1).map_or("", |l| l.trim());
        let mut short: String = text.chars().take(100).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        short
    }
}

/// Items named right after `keyword::` (`keyword::a`, `keyword::{a, b::c}` give a, b), with
/// their char positions. `$crate::` (a macro's own crate) is not `crate::`.
fn paths_after(code: &[char], keyword: &str) -> Vec<(usize, String)> {
    let kw: Vec<char> = keyword.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + kw.len() <= code.len() {
        if code[i..i + kw.len()] == kw[..]
            && (i == 0 || !(is_ident(code[i - 1]) || code[i - 1] == '$'))
            && code.get(i + kw.len()).is_none_or(|c| !is_ident(*c))
        {
            let j = skip_ws(code, i + kw.len());
            if code.get(j) == Some(&':') && code.get(j + 1) == Some(&':') {
                out.extend(path_tree(code, skip_ws(code, j + 2)));
            }
            i += kw.len();
        } else {
            i += 1;
        }
    }
    out
}

/// `super::` chains that begin a path: (start, number of `super`s, start of what follows).
fn super_chains(code: &[char]) -> Vec<(usize, usize, usize)> {
    let kw: Vec<char> = "super".chars().collect();
    // The position after `super ::` when a `super::` segment starts at `i`.
    let super_segment = |i: usize| -> Option<usize> {
        let is_super = i + kw.len() <= code.len()
            && code[i..i + kw.len()] == kw[..]
            && (i == 0 || !is_ident(code[i - 1]))
            && code.get(i + kw.len()).is_none_or(|c| !is_ident(*c));
        let j = skip_ws(code, i + kw.len());
        (is_super && code.get(j) == Some(&':') && code.get(j + 1) == Some(&':'))
            .then(|| skip_ws(code, j + 2))
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let Some(mut after) = super_segment(i) else {
            i += 1;
            continue;
        };
        let mut supers = 1;
        while let Some(next) = super_segment(after) {
            supers += 1;
            after = next;
        }
        out.push((i, supers, after));
        i = after;
    }
    out
}

/// The first segments of the path (tree) starting at `at`: `a::b` gives `a`,
/// `{a::b, c, d::{e}}` gives `a`, `c`, `d`; each with its char position.
fn path_tree(code: &[char], at: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    if code.get(at) == Some(&'{') {
        let end = matching(code, at, '{', '}').unwrap_or(code.len());
        let mut i = at + 1;
        while i < end {
            i = skip_ws(code, i);
            if i >= end {
                break;
            }
            if code[i] == '{' {
                out.extend(path_tree(code, i));
            } else if let Some(name) = ident_at(code, i) {
                out.push((i, name));
            }
            // On to the next item of this group.
            let mut depth = 0usize;
            while i < end {
                match code[i] {
                    '{' => depth += 1,
                    '}' => depth = depth.saturating_sub(1),
                    ',' if depth == 0 => break,
                    _ => {}
                }
                i += 1;
            }
            i += 1;
        }
    } else if let Some(name) = ident_at(code, at) {
        out.push((at, name));
    }
    out
}

fn ident_at(code: &[char], at: usize) -> Option<String> {
    // Raw identifiers (`r#type`) name the same item as the plain one.
    let start = if code.get(at) == Some(&'r') && code.get(at + 1) == Some(&'#') {
        at + 2
    } else {
        at
    };
    let mut end = start;
    while end < code.len() && is_ident(code[end]) {
        end += 1;
    }
    (end > start && !code[start].is_ascii_digit()).then(|| code[start..end].iter().collect())
}

/// `(start, end)` char ranges of inline `mod name { .. }` blocks.
fn inline_module_ranges(code: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= code.len() {
        if code[i..i + 3] == ['m', 'o', 'd']
            && (i == 0 || !is_ident(code[i - 1]))
            && code.get(i + 3).is_some_and(|c| c.is_whitespace())
        {
            let name_at = skip_ws(code, i + 3);
            if let Some(name) = ident_at(code, name_at) {
                let brace = skip_ws(code, name_at + name.len());
                if code.get(brace) == Some(&'{') {
                    if let Some(end) = matching(code, brace, '{', '}') {
                        out.push((brace, end));
                    }
                }
            }
        }
        i += 1;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn skip_ws(code: &[char], mut i: usize) -> usize {
    while i < code.len() && code[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Index of the bracket closing the one at `open_at`.
fn matching(code: &[char], open_at: usize, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &c) in code.iter().enumerate().skip(open_at) {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// 1-based line of char position `at`.
fn line_of(code: &[char], at: usize) -> usize {
    1 + code[..at.min(code.len())]
        .iter()
        .filter(|&&c| c == '\n')
        .count()
}

/// Blanks comments (line, doc and nested block comments), string, byte-string, raw-string
/// and char literals, then every `#[cfg(test)]` item (a `mod tests { .. }` up to its
/// closing brace). Returns the blanked text and the names of test-only modules declared
/// out of line (`#[cfg(test)] mod name;`).
fn clean(text: &str) -> (Vec<char>, Vec<String>) {
    let src: Vec<char> = text.chars().collect();
    let mut code = src.clone();
    let blank = |code: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut code[from..to.min(src.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        let next = src.get(i + 1).copied();
        // `b'x'` is a byte literal; `x'` cannot start one.
        let byte_prefix = i > 0 && src[i - 1] == 'b' && (i < 2 || !is_ident(src[i - 2]));
        let ident_before = i > 0 && is_ident(src[i - 1]) && !byte_prefix;
        if c == '/' && next == Some('/') {
            let end = src[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(src.len(), |p| i + p);
            blank(&mut code, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            let mut j = i;
            while j < src.len() {
                if src[j] == '/' && src.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if src[j] == '*' && src.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut code, i, j);
            i = j;
        } else if let Some(end) = raw_string_end(&src, i) {
            blank(&mut code, i, end);
            i = end;
        } else if c == '"' {
            let mut j = i + 1;
            while j < src.len() && src[j] != '"' {
                j += if src[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut code, i, j + 1);
            i = j + 1;
        } else if c == '\'' && !ident_before {
            // A char literal ('a', '\n', '\u{..}', '\'') or a lifetime / label ('a, 'static).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < src.len() && src[j] != '\'' {
                    j += 1;
                }
                blank(&mut code, i, j + 1);
                i = j + 1;
            } else if src.get(i + 2) == Some(&'\'') {
                blank(&mut code, i, i + 3);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    let test_children = blank_test_items(&mut code);
    (code, test_children)
}

/// End (exclusive) of a raw string literal starting at `i` (`r"..."`, `r#"..."#`, `br".."`).
fn raw_string_end(src: &[char], i: usize) -> Option<usize> {
    let start_ok = |k: usize| k == 0 || !is_ident(src[k - 1]);
    let r_at = match src[i] {
        'r' if start_ok(i) => i,
        'b' | 'c' if start_ok(i) && src.get(i + 1) == Some(&'r') => i + 1,
        _ => return None,
    };
    let mut j = r_at + 1;
    let mut hashes = 0;
    while src.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if src.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < src.len() {
        if src[j] == '"' && (1..=hashes).all(|h| src.get(j + h) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(src.len())
}

/// Blanks each item carrying `#[cfg(test)]`, from the attribute to the item's closing
/// brace (or semicolon). Returns the names of out-of-line test modules (`mod name;`).
fn blank_test_items(code: &mut [char]) -> Vec<String> {
    let mut children = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let Some(after_attr) = cfg_test_attribute(code, i) else {
            i += 1;
            continue;
        };
        // Further attributes of the same item.
        let mut j = skip_ws(code, after_attr);
        while code.get(j) == Some(&'#') {
            let open = skip_ws(code, j + 1);
            match (code.get(open), matching(code, open, '[', ']')) {
                (Some('['), Some(close)) => j = skip_ws(code, close + 1),
                _ => break,
            }
        }
        // `mod name;` (the module is another file) or an item ending at `;` or `{ .. }`.
        let item_start = j;
        let mut end = code.len();
        let mut k = j;
        // `;` inside `(..)` or `[..]` (an array type) does not end the item.
        let mut nesting = 0usize;
        while k < code.len() {
            match code[k] {
                '(' | '[' => nesting += 1,
                ')' | ']' => nesting = nesting.saturating_sub(1),
                ';' if nesting == 0 => {
                    end = k + 1;
                    break;
                }
                '{' => {
                    end = matching(code, k, '{', '}').map_or(code.len(), |e| e + 1);
                    break;
                }
                _ => {}
            }
            k += 1;
        }
        let item: String = code[item_start..end].iter().collect();
        let words: Vec<&str> = item
            .split(|c: char| !is_ident(c))
            .filter(|w| !w.is_empty())
            .collect();
        if item.trim_end().ends_with(';') {
            if let Some(pos) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(pos + 1) {
                    children.push((*name).to_string());
                }
            }
        }
        for c in &mut code[i..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        i = end;
    }
    children
}

/// If `#[cfg(test)]` (any spacing) starts at `i`, the position after it.
fn cfg_test_attribute(code: &[char], i: usize) -> Option<usize> {
    if code[i] != '#' {
        return None;
    }
    let mut j = i + 1;
    for token in ["[", "cfg", "(", "test", ")", "]"] {
        j = skip_ws(code, j);
        let t: Vec<char> = token.chars().collect();
        if code.get(j..j + t.len()) != Some(&t[..]) {
            return None;
        }
        j += t.len();
        if is_ident(t[0]) && code.get(j).is_some_and(|c| is_ident(*c)) {
            return None;
        }
    }
    Some(j)
}

// ---------------------------------------------------------------------------------------
// The graph and its cycles.

/// One place that makes an edge.
#[derive(Debug, Clone)]
struct Evidence {
    file: String,
    line: usize,
    quote: String,
}

#[derive(Debug)]
struct Graph {
    dir: String,
    nodes: Vec<String>,
    /// The first place (files in path order) for each edge.
    edges: BTreeMap<(String, String), Evidence>,
}

impl Graph {
    fn of(krate: &Crate) -> Graph {
        let mut edges = BTreeMap::new();
        for file in &krate.files {
            for r in file.module_references() {
                if r.target != file.module && krate.modules.contains(&r.target) {
                    edges
                        .entry((file.module.clone(), r.target.clone()))
                        .or_insert_with(|| Evidence {
                            file: file.shown.clone(),
                            line: r.line,
                            quote: file.quote(r.line),
                        });
                }
            }
        }
        Graph {
            dir: krate.dir.clone(),
            nodes: krate.modules.iter().cloned().collect(),
            edges,
        }
    }

    /// Every elementary cycle, each listed once (starting at its smallest module), shortest
    /// first.
    fn cycles(&self) -> Vec<Vec<String>> {
        let index: BTreeMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut next = vec![Vec::new(); self.nodes.len()];
        for (from, to) in self.edges.keys() {
            next[index[from.as_str()]].push(index[to.as_str()]);
        }
        let mut found = Vec::new();
        for start in 0..self.nodes.len() {
            let mut path = vec![start];
            let mut on_path = vec![false; self.nodes.len()];
            on_path[start] = true;
            walk(start, start, &next, &mut path, &mut on_path, &mut found);
        }
        let mut cycles: Vec<Vec<String>> = found
            .into_iter()
            .map(|c| c.into_iter().map(|i| self.nodes[i].clone()).collect())
            .collect();
        cycles.sort_by(|a: &Vec<String>, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        cycles
    }

    /// Empty when there is no cycle; otherwise every cycle with one place per edge.
    fn cycle_report(&self) -> String {
        let cycles = self.cycles();
        if cycles.is_empty() {
            return String::new();
        }
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}/: {} import cycle(s) between top-level modules. Break each by removing one \
             of its edges (each edge is shown with one place that makes it):",
            self.dir,
            cycles.len()
        );
        let tangled: BTreeSet<&String> = cycles.iter().flatten().collect();
        let tangled: Vec<&str> = tangled.into_iter().map(String::as_str).collect();
        let _ = writeln!(s, "modules on a cycle: {}", tangled.join(", "));
        for (n, cycle) in cycles.iter().take(MAX_CYCLES_SHOWN).enumerate() {
            let mut ring = cycle.join(" → ");
            ring.push_str(" → ");
            ring.push_str(&cycle[0]);
            let _ = writeln!(s, "\n  {}. {ring}", n + 1);
            for (k, from) in cycle.iter().enumerate() {
                let to = &cycle[(k + 1) % cycle.len()];
                let e = &self.edges[&(from.clone(), to.clone())];
                let _ = writeln!(
                    s,
                    "       {from} → {to}: {}:{}  {}",
                    e.file, e.line, e.quote
                );
            }
        }
        if cycles.len() > MAX_CYCLES_SHOWN {
            let _ = writeln!(s, "\n  … and {} more", cycles.len() - MAX_CYCLES_SHOWN);
        }
        s
    }
}

/// Depth-first search for cycles through `start` that visit only modules after it.
fn walk(
    start: usize,
    at: usize,
    next: &[Vec<usize>],
    path: &mut Vec<usize>,
    on_path: &mut [bool],
    found: &mut Vec<Vec<usize>>,
) {
    for &n in &next[at] {
        if n == start {
            found.push(path.clone());
        } else if n > start && !on_path[n] {
            on_path[n] = true;
            path.push(n);
            walk(start, n, next, path, on_path, found);
            path.pop();
            on_path[n] = false;
        }
    }
}

/// `file:line: what` for each reference from `src/oauth/` to a forbidden module or store.
fn oauth_violations(krate: &Crate) -> Vec<String> {
    let mut out = Vec::new();
    for file in krate.files.iter().filter(|f| f.module == "oauth") {
        for r in file.module_references() {
            if OAUTH_FORBIDDEN_MODULES.contains(&r.target.as_str()) {
                out.push(format!(
                    "  {}:{}: crate::{}  {}",
                    file.shown,
                    r.line,
                    r.target,
                    file.quote(r.line)
                ));
            }
        }
        for r in file.references_after("tessera_storage") {
            if OAUTH_FORBIDDEN_STORAGE.contains(&r.target.as_str()) {
                out.push(format!(
                    "  {}:{}: tessera_storage::{}  {}",
                    file.shown,
                    r.line,
                    r.target,
                    file.quote(r.line)
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The scanner's own tests: it finds what it must and ignores what it must, so a passing
// check above means something.

mod scanner {
    use super::*;

    fn krate(files: &[(&str, &str)]) -> Crate {
        Crate::from_sources(
            "synthetic",
            files
                .iter()
                .map(|(p, t)| ((*p).to_string(), (*t).to_string()))
                .collect(),
        )
    }

    fn edges(files: &[(&str, &str)]) -> Vec<(String, String)> {
        Graph::of(&krate(files)).edges.into_keys().collect()
    }

    fn edge(from: &str, to: &str) -> (String, String) {
        (from.to_string(), to.to_string())
    }

    #[test]
    fn a_two_module_cycle_is_detected_and_reported_with_file_and_line() {
        let graph = Graph::of(&krate(&[
            ("lib.rs", "pub mod a;\npub mod b;\n"),
            ("a.rs", "//! A.\n\nuse crate::b::B;\npub struct A;\n"),
            ("b/mod.rs", "mod inner;\n"),
            (
                "b/inner.rs",
                "pub struct B;\nfn f() { let _ = crate::a::A; }\n",
            ),
        ]));
        assert_eq!(graph.cycles(), vec![vec!["a".to_string(), "b".to_string()]]);
        let report = graph.cycle_report();
        assert!(report.contains("a → b → a"), "{report}");
        assert!(report.contains("a → b: synthetic/a.rs:3"), "{report}");
        assert!(report.contains("b → a: synthetic/b/inner.rs:2"), "{report}");
    }

    #[test]
    fn a_three_module_cycle_is_detected_once() {
        let graph = Graph::of(&krate(&[
            ("a.rs", "use crate::b;"),
            ("b.rs", "use crate::c;"),
            ("c.rs", "use crate::a;"),
            ("d.rs", "use crate::a;"),
        ]));
        assert_eq!(graph.cycles(), vec![vec!["a", "b", "c"]]);
    }

    #[test]
    fn a_graph_without_cycle_reports_nothing() {
        let graph = Graph::of(&krate(&[
            ("a.rs", "use crate::b;"),
            ("b.rs", "use crate::c;"),
            ("c.rs", ""),
        ]));
        assert!(graph.cycles().is_empty());
        assert_eq!(graph.cycle_report(), "");
    }

    #[test]
    fn references_inside_comments_and_literals_are_ignored() {
        let found = edges(&[
            (
                "a.rs",
                "//! See crate::b.\n/// crate::b::X\n// crate::b\n/* crate::b /* nested */ crate::b */\n\
                 fn f() -> &'static str { let _c = '\"'; let _u = \"http://x crate::b\"; r#\"crate::b \"# }\n",
            ),
            ("b.rs", ""),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn references_inside_a_cfg_test_module_are_ignored() {
        let found = edges(&[
            (
                "a.rs",
                "pub fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::b::B;\n    \
                 #[test]\n    fn t() { if true { crate::b::g(); } }\n}\n",
            ),
            ("b.rs", "pub struct B;"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn code_after_a_cfg_test_module_still_counts() {
        let found = edges(&[
            (
                "a.rs",
                "#[cfg(test)]\n#[allow(unused)]\nmod tests { fn t() { let _ = \"}\"; } }\nuse crate::b::B;\n",
            ),
            ("b.rs", "pub struct B;"),
        ]);
        assert_eq!(found, vec![edge("a", "b")]);
    }

    #[test]
    fn grouped_uses_and_path_expressions_count() {
        let found = edges(&[
            ("a.rs", "use crate::{b::B, c, self};\n"),
            ("c.rs", "fn f() { crate :: d::run(); }\n"),
            ("d.rs", "macro_rules! m { () => { $crate::a::x() } }\n"),
            ("b.rs", ""),
        ]);
        assert_eq!(found, vec![edge("a", "b"), edge("a", "c"), edge("c", "d")]);
    }

    #[test]
    fn super_reaches_the_root_only_from_the_top_of_a_module() {
        let found = edges(&[
            // `super::` from x/sub.rs stays inside x; two of them reach the root.
            ("x/mod.rs", "mod sub;\nuse super::y::Y;\n"),
            ("x/sub.rs", "use super::Thing;\nuse super::super::z;\n"),
            // Inside an inline module of y.rs, `super::` is y itself.
            ("y.rs", "pub struct Y;\nmod inner { use super::Y; }\n"),
            ("z.rs", "pub(super) fn f() {}\n"),
        ]);
        assert_eq!(found, vec![edge("x", "y"), edge("x", "z")]);
    }

    #[test]
    fn a_test_only_module_file_is_left_out() {
        let k = krate(&[
            ("a/mod.rs", "#[cfg(test)]\nmod support;\n"),
            ("a/support.rs", "use crate::b;"),
            ("b.rs", ""),
        ]);
        assert!(Graph::of(&k).edges.is_empty());
    }

    #[test]
    fn oauth_rule_flags_io_modules_and_stores_and_allows_the_rest() {
        let k = krate(&[
            (
                "oauth/issue.rs",
                "use crate::oauth::types::GrantType;\nuse crate::clock;\n\
                 use tessera_storage::{TokenRecord, store::Store};\nuse crate::http::json;\n",
            ),
            ("oauth/grants/mod.rs", "use super::super::app::App;\n"),
            ("oauth/mod.rs", "// crate::app is the caller\n"),
            ("clock.rs", ""),
            ("http/mod.rs", ""),
            ("app.rs", "use crate::oauth;"),
        ]);
        let v = oauth_violations(&k);
        assert_eq!(v.len(), 3, "{v:#?}");
        assert!(
            v[0].contains("synthetic/oauth/grants/mod.rs:1: crate::app"),
            "{v:#?}"
        );
        assert!(
            v[1].contains("synthetic/oauth/issue.rs:4: crate::http"),
            "{v:#?}"
        );
        assert!(
            v[2].contains("synthetic/oauth/issue.rs:3: tessera_storage::store"),
            "{v:#?}"
        );
    }
}
