//! The module graph of a crate: edges with the file and line that make them, its cycles,
//! and the oauth layer's forbidden imports.

use super::source::*;
use super::{MAX_CYCLES_SHOWN, OAUTH_FORBIDDEN_MODULES, OAUTH_FORBIDDEN_STORAGE};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

// ---------------------------------------------------------------------------------------
// The graph and its cycles.

/// One place that makes an edge.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub file: String,
    pub line: usize,
    pub quote: String,
}

#[derive(Debug)]
pub struct Graph {
    pub dir: String,
    pub nodes: Vec<String>,
    /// The first place (files in path order) for each edge.
    pub edges: BTreeMap<(String, String), Evidence>,
}

impl Graph {
    pub fn of(krate: &Crate) -> Graph {
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
    pub fn cycles(&self) -> Vec<Vec<String>> {
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
    pub fn cycle_report(&self) -> String {
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
pub fn walk(
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
pub fn oauth_violations(krate: &Crate) -> Vec<String> {
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
