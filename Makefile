# hardway: every task a developer or CI runs. `make demo` and `make test` are the two that matter.
CARGO ?= cargo
BIN := target/release/hardway

.PHONY: build test unit lint fmt fmt-check golden bench demo ci clean fuzz boot-test cluster-test cluster-down day2-test

build:
	$(CARGO) build --release --locked

# The one test command (README, .ci/run): formatting, lints, unit tests, the integration suite (golden
# trees, CLI, PKI, and the real programs: openssl, kubectl, etcd, cloud-init...), the boot test, then
# the real cluster. Each stage prints its time.
test: fmt-check lint
	@t=$$(date +%s); bin=$$(tests/cluster/build.sh) || [ "$$HARDWAY_ALLOW_SKIP" = 1 ] || exit 1; \
	  echo "make test: the cluster's programs (tests/cluster/build.sh) took $$(( $$(date +%s) - t )) s"; \
	  t=$$(date +%s); PATH="$${bin:+$$bin:}$$PATH" $(CARGO) test --locked --release && \
	  echo "make test: cargo test (etcd and etcdctl of $${bin:-PATH}) took $$(( $$(date +%s) - t )) s"
	@t=$$(date +%s); $(MAKE) --no-print-directory boot-test && echo "make test: boot-test took $$(( $$(date +%s) - t )) s"
	@t=$$(date +%s); HARDWAY_DAY2_NEXT=1 $(MAKE) --no-print-directory cluster-test && echo "make test: cluster-test took $$(( $$(date +%s) - t )) s"
	@t=$$(date +%s); $(MAKE) --no-print-directory day2-test && echo "make test: day2-test took $$(( $$(date +%s) - t )) s"

# Boots every node of two clusters from its user-data with real systemd and cloud-init (root,
# systemd-nspawn, mmdebstrap; the Debian image is cached under target/boot). See tests/boot/boot.py.
boot-test: build
	python3 tests/boot/boot.py $(BIN)

# A real cluster (real Kubernetes, etcd, containerd, CoreDNS built from their Go modules under
# tests/cluster/, cached under target/cluster) booted from hardway's user-data, and the KTHW smoke test.
# HARDWAY_KEEP_CLUSTER=1 leaves it running (target/cluster-test/cluster.env); make cluster-down stops it.
cluster-test: build
	python3 tests/cluster/cluster.py $(BIN)

cluster-down:
	python3 tests/cluster/cluster.py down

# Every Day 2 procedure of the README carried out on the running cluster of cluster-test, from
# hardway plan --json alone, while a probe counts failed requests (target/day2-test/results.json).
# Stops the cluster afterwards unless HARDWAY_KEEP_CLUSTER=1.
day2-test: build
	python3 tests/cluster/day2.py

lint:
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

# Rewrites golden/<case>/expected and error.txt from the current code. Review the diff like code.
golden:
	UPDATE_GOLDEN=1 $(CARGO) test --locked --release --test integration golden

bench: build
	./bench/run.sh

demo: build
	$(BIN) check examples/cluster.yaml
	mkdir -p out
	@chmod 600 examples/demo.secret  # git does not keep 0600; render warns about readable secrets
	$(BIN) render examples/cluster.yaml --secret examples/demo.secret --out out/demo --force
	@echo "bundle in out/demo; start with out/demo/README.md and out/demo/index.json"

ci: test

clean:
	$(CARGO) clean
	rm -rf out

# Coverage-guided fuzzing (libFuzzer via cargo-fuzz) of parse + validate + render, for FUZZ_SECONDS;
# FUZZ_TARGET=dates fuzzes dates and validities near the bounds instead.
# cargo-fuzz needs -Z flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them. New interesting
# inputs land in fuzz/corpus/parse_render (commit them); `make test` replays the corpus.
FUZZ_SECONDS ?= 120
FUZZ_TARGET ?= parse_render
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_TARGET) --release -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048
