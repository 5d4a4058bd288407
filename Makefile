# The two commands a new user needs (see README.md):
#   make run    set up, build, and run Tessera with config/tessera.toml
#   make test   set up, then check formatting and lints and run every test
#
# CARGO_TARGET_DIR is honoured, so CI and developers can keep one build cache outside the
# clone.

CONFIG ?= config/tessera.toml

.PHONY: setup run test fmt lint alerts unit fuzz services bench loadtest deb package

setup:
	@bash .ci/setup

# One build profile for everything (release): RocksDB's C++ takes ~25 minutes per profile
# and feature set on two cores, so `run`, `lint`, `unit` and the benchmarks all share the
# release build of the whole workspace instead of paying for a second (debug) one.
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)

run: setup
	cargo build --release --workspace --bins
	$(TARGET_DIR)/release/tessera serve --config $(CONFIG)

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --release --workspace --all-targets -- -D warnings

# The Prometheus files operators load (config/prometheus/): promtool checks the example
# scrape config and the alert rules, and runs the rules' unit tests (alerts_test.yml: each
# alert fires on its condition).
alerts: setup
	promtool check config --syntax-only config/prometheus/prometheus.yml
	promtool check rules config/prometheus/alerts.yml
	cd config/prometheus && promtool test rules alerts_test.yml

unit:
	cargo test --release --workspace

# cargo-fuzz (nightly, AddressSanitizer): every target under fuzz/fuzz_targets runs for
# FUZZ_SECONDS and any crash fails the target (fuzz/README.md). Each run reads the committed
# seeds (fuzz/corpus/TARGET) and past crashes (fuzz/regressions/TARGET), and writes what it
# finds to a corpus outside the clone, beside the fuzz build cache: the repository's seeds
# stay small and reviewed while CI's corpus keeps growing from run to run.
# fuzz/options/TARGET adds libFuzzer flags (a dictionary, a max_len past the HTTP limits).
# A crash's input is left in fuzz/artifacts/TARGET.
# libFuzzer uses one core, so FUZZ_JOBS targets run at once (default: one per core); each
# run's output is printed whole when it ends, so two runs never interleave their lines.
FUZZ_SECONDS ?= 30
FUZZ_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
FUZZ_TARGET_DIR ?= $(HOME)/.cache/tessera/fuzz-target
FUZZ_TARGETS = $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))

fuzz: setup
	cd fuzz && cargo +nightly fuzz build --target-dir $(FUZZ_TARGET_DIR)
	@mkdir -p $(FUZZ_TARGET_DIR)/logs
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} sh -c '\
	  t={}; log=$(FUZZ_TARGET_DIR)/logs/$$t.log; \
	  mkdir -p $(FUZZ_TARGET_DIR)/corpus/$$t; \
	  opts="$$(cat fuzz/options/$$t 2>/dev/null || true)"; \
	  regressions=$$(test -d fuzz/regressions/$$t && echo regressions/$$t); \
	  (cd fuzz && cargo +nightly fuzz run --target-dir $(FUZZ_TARGET_DIR) $$t \
	    $(FUZZ_TARGET_DIR)/corpus/$$t corpus/$$t $$regressions -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 $$opts) >$$log 2>&1; \
	  status=$$?; echo "fuzz: $$t for $(FUZZ_SECONDS) s"; cat $$log; \
	  if [ $$status -ne 0 ]; then echo "fuzz: $$t failed (input in fuzz/artifacts/$$t/)" >&2; fi; \
	  [ $$status -eq 0 ]' \
	  || { echo "fuzz: a target failed; see the lines above" >&2; exit 1; }

# The real database servers the store tests run against (installed and cached outside the
# clone on first use): Cassandra, PostgreSQL and MariaDB (tests/services/README.md). `make
# test` starts them; they keep running for the next run. The three start at once (Cassandra's
# JVM takes the longest); every start is waited for, and any failure fails the target.
services:
	@bash tests/services/cassandra.sh start & c=$$!; \
	bash tests/services/postgres.sh start & p=$$!; \
	bash tests/services/mysql.sh start & m=$$!; \
	s=0; wait $$c || s=$$?; wait $$p || s=$$?; wait $$m || s=$$?; exit $$s

# The secure Cassandra (password + TLS with client certificates, on 9142) is started by the
# tests that need it (storage/tests/cassandra_secure.rs, tests/blackbox/cluster_secure.rs);
# `test` stops it afterwards, pass or fail, so a second idle JVM does not stay behind on a
# two-core machine. The default Cassandra above keeps running.
test: setup fmt lint alerts fuzz services
	@status=0; $(MAKE) --no-print-directory unit || status=$$?; \
	bash tests/services/cassandra-secure.sh stop; \
	$(MAKE) --no-print-directory package || status=$$?; exit $$status

# The Debian package (cargo-deb, installed by .ci/setup), written to $(TARGET_DIR)/debian/.
# The release binary first (the workspace build `unit` and `run` make: after `unit` this
# build does nothing), then what it ships beside itself, made by that binary into
# $(PKG_DIR): its man pages (gzipped here, as Debian policy wants: cargo-deb compresses only
# man pages it does not take from target/) and bash/zsh/fish completions, from its own clap
# definitions; and config/tessera.toml with the RocksDB store under /var/lib/tessera (the
# unit's StateDirectory). Then cargo-deb packages them (Cargo.toml [package.metadata.deb]).
PKG_DIR = $(TARGET_DIR)/release/pkg
DEB_DIR = $(TARGET_DIR)/debian
PACKAGED_STORE_PATH = path = "/var/lib/tessera/data"

deb: setup
	cargo build --release --workspace --bins
	rm -rf $(PKG_DIR) $(DEB_DIR)
	mkdir -p $(PKG_DIR)/man $(PKG_DIR)/completions $(DEB_DIR)
	$(TARGET_DIR)/release/tessera man --dir $(PKG_DIR)/man
	gzip -9n $(PKG_DIR)/man/*.1
	for shell in bash zsh fish; do \
	  $(TARGET_DIR)/release/tessera completions $$shell > $(PKG_DIR)/completions/tessera.$$shell || exit 1; \
	done
	sed 's|^path = "data"$$|$(PACKAGED_STORE_PATH)|' config/tessera.toml > $(PKG_DIR)/tessera.toml
	@grep -qx '$(PACKAGED_STORE_PATH)' $(PKG_DIR)/tessera.toml || \
	  { echo 'deb: config/tessera.toml has no line path = "data" to move under /var/lib/tessera' >&2; exit 1; }
	cargo deb --no-build -p tessera --output $(DEB_DIR)/

# CI's package step (run by `make test`): builds the .deb, installs it on this machine with
# dpkg (as root, or through sudo), and checks the installed package — the installed
# `tessera check-config` on the installed /etc/tessera/tessera.toml, the man page, the
# completions, the unit (systemd-analyze verify), the service user — then purges it
# (tests/packaging/check-deb.sh). With systemd as PID 1 it also starts the unit and waits for
# it to go active.
package: deb
	bash tests/packaging/check-deb.sh $(DEB_DIR)/tessera_*.deb

# Criterion micro-benchmarks (no RocksDB build needed); see bench/RESULTS.md.
bench: setup
	cargo bench -p tessera-bench --no-default-features --bench tokens --bench table --bench http_parse

# The headline load table of bench/RESULTS.md (scenarios, open loop, node-oidc-provider,
# memory per token); about 8 minutes.
loadtest: setup
	bash bench/run.sh
