//! Unit tests of the scanner itself: it finds what it must and ignores what it must, so a
//! passing layer check means something.

use super::graph::*;
use super::source::*;

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
