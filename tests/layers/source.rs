//! Reading a crate's source: files by top-level module, comments, literals and
//! `#[cfg(test)]` items blanked, and the module references that remain.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------
// The scanner.

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One source file of a crate, with comments, literals and test items blanked.
#[derive(Debug)]
pub struct SourceFile {
    /// Path for messages, e.g. `src/app.rs`.
    pub shown: String,
    /// The top-level module the file belongs to.
    pub module: String,
    /// Length of the file's module path: 1 for `X.rs` and `X/mod.rs`, 2 for `X/a.rs`, ...
    pub depth: usize,
    /// The source as written, for quoting a line.
    pub original: Vec<String>,
    /// The source with comments, literals and `#[cfg(test)]` items replaced by spaces
    /// (line breaks kept, so positions and line numbers are those of the original).
    pub code: Vec<char>,
}

/// The files of one crate's source folder, by top-level module.
#[derive(Debug)]
pub struct Crate {
    /// The source folder as given, e.g. `storage/src`.
    pub dir: String,
    pub modules: BTreeSet<String>,
    pub files: Vec<SourceFile>,
}

impl Crate {
    /// Reads every `.rs` file under `dir` (relative to the repository root).
    pub fn read(dir: &str) -> Crate {
        let base = repo_root().join(dir);
        let mut sources = Vec::new();
        collect_rs(&base, &base, &mut sources);
        assert!(!sources.is_empty(), "no Rust source under {dir}/");
        Crate::from_sources(dir, sources)
    }

    /// `sources` are (path relative to the source folder with `/` separators, text).
    pub fn from_sources(dir: &str, mut sources: Vec<(String, String)>) -> Crate {
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

pub fn collect_rs(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
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
pub struct Reference {
    pub target: String,
    pub line: usize,
}

impl SourceFile {
    /// Where this file names another top-level module of its crate: `crate::Y`, and
    /// `super::` chains that climb to the crate root.
    pub fn module_references(&self) -> Vec<Reference> {
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
    pub fn references_after(&self, keyword: &str) -> Vec<Reference> {
        self.references(paths_after(&self.code, keyword))
    }

    pub fn references(&self, found: Vec<(usize, String)>) -> Vec<Reference> {
        found
            .into_iter()
            .map(|(at, target)| Reference {
                target,
                line: line_of(&self.code, at),
            })
            .collect()
    }

    pub fn quote(&self, line: usize) -> String {
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
pub fn paths_after(code: &[char], keyword: &str) -> Vec<(usize, String)> {
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
pub fn super_chains(code: &[char]) -> Vec<(usize, usize, usize)> {
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
pub fn path_tree(code: &[char], at: usize) -> Vec<(usize, String)> {
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

pub fn ident_at(code: &[char], at: usize) -> Option<String> {
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
pub fn inline_module_ranges(code: &[char]) -> Vec<(usize, usize)> {
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

pub fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub fn skip_ws(code: &[char], mut i: usize) -> usize {
    while i < code.len() && code[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Index of the bracket closing the one at `open_at`.
pub fn matching(code: &[char], open_at: usize, open: char, close: char) -> Option<usize> {
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
pub fn line_of(code: &[char], at: usize) -> usize {
    1 + code[..at.min(code.len())]
        .iter()
        .filter(|&&c| c == '\n')
        .count()
}

/// Blanks comments (line, doc and nested block comments), string, byte-string, raw-string
/// and char literals, then every `#[cfg(test)]` item (a `mod tests { .. }` up to its
/// closing brace). Returns the blanked text and the names of test-only modules declared
/// out of line (`#[cfg(test)] mod name;`).
pub fn clean(text: &str) -> (Vec<char>, Vec<String>) {
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
pub fn raw_string_end(src: &[char], i: usize) -> Option<usize> {
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
pub fn blank_test_items(code: &mut [char]) -> Vec<String> {
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
pub fn cfg_test_attribute(code: &[char], i: usize) -> Option<usize> {
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
