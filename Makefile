# The two commands a new user needs (see README.md):
#   make run    set up, build, and run Tessera with config/tessera.toml
#   make test   set up, then check formatting and lints and run every test
#
# CARGO_TARGET_DIR is honoured, so CI and developers can keep one build cache outside the
# clone.

CONFIG ?= config/tessera.toml

.PHONY: setup run test fmt lint unit bench

setup:
	@bash .ci/setup

run: setup
	cargo run --release --bin tessera -- serve --config $(CONFIG)

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --workspace

test: setup fmt lint unit

# Criterion micro-benchmarks (no RocksDB build needed); see bench/RESULTS.md.
bench: setup
	cargo bench -p tessera-bench --no-default-features --bench tokens --bench table --bench http_parse
