# WireCap — the two commands a fresh machine needs (see README.md):
#   make demo   install what is needed, build, and capture a synthetic trace on a veth testbed
#   make test   install what is needed, build, and run every test (root needed for the AF_XDP ones)
SWIFT ?= swift

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: install uninstall bootstrap build release demo test test-tsan bench bench-check bench-e2e bench-e2e-512 bench-filter bench-bypass sim fuzz clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(SWIFT) build

release: bootstrap
	$(SWIFT) build -c release

demo: release
	.build/release/wirecap demo

# All tests, then the core's tests again under ThreadSanitizer with the internal
# invariant checks compiled in (plus the consumer-cost check, which only an optimised
# build can fail). The TSan pass is a release build on purpose: in a
# debug build the generic ring is not specialised, its slot copies go through
# uninstrumented runtime witnesses, and TSan misses a broken memory ordering
# (checked: a relaxed producer store is caught in release, not in debug).
#
# --no-parallel: the live tests build veth testbeds and push packets through 2 cores;
# suites running side by side would steal each other's CPU and turn lossless runs
# into flaky ones, so every test runs in turn.
test: bootstrap
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test -c release --sanitize=thread --scratch-path .build-tsan \
		-Xswiftc -DWIRECAP_INTERNAL_CHECKS --filter 'WireCapCoreTests|costGrowsWithRuns'

# Coverage-guided fuzzing (libFuzzer from the toolchain, with AddressSanitizer) of
# the pcap/pcapng readers and the filter compiler, FUZZ_SECONDS per target. The
# committed seeds (Fuzz/Corpus) are read, never written: new inputs and any
# crash-* reproducers land in .build-fuzz/.
FUZZ_SECONDS ?= 60
fuzz: bootstrap
	cd Fuzz && $(SWIFT) build -c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer
	@for t in TraceReader Filter; do \
		mkdir -p .build-fuzz/$$t && \
		echo "fuzz: Fuzz$$t for $(FUZZ_SECONDS) s" && \
		SWIFT_BACKTRACE=enable=no Fuzz/.build/release/Fuzz$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix=.build-fuzz/$$t/ .build-fuzz/$$t Fuzz/Corpus/$$t || exit 1; \
	done

bench: bootstrap
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

# Fails when a benchmark is worse than its committed threshold (Benchmarks/Thresholds)
# beyond its tolerance: time 35% (the file write 200%), mallocs exactly (per sample: ±2).
bench-check: bootstrap
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark thresholds check

# The contest (Benchmarks/e2e/README.md, ~25 min): every engine at 64 MiB of buffer per queue;
# steady loads x costs (1M packets a point), CPU at 1 and 10 ms latency bounds, 90/10,
# the elephant flow, 1-flow bursts at 150 kpps (64 B; IMIX and 1,500 B at 300k), a
# Toeplitz trace replay; results and PNG plots in Benchmarks/results/e2e-DATE-HOST.*.
bench-e2e: bootstrap
	python3 Benchmarks/e2e/run.py --buffer-mib 64 --bursts 10000,100000,1000000,4000000 --burst-rate 150000 \
		--mix-bursts 300000 --reps 2 --matrix-reps 1 --trace-reps 1

# The large bursts again at 512 MiB per queue (the memory a server would give a capture).
bench-e2e-512: bootstrap
	python3 Benchmarks/e2e/run.py --buffer-mib 512 --skip costcheck,matrix,latency,imbalance,elephant,trace \
		--bursts 1000000,4000000 --burst-sizes 64,imix --mix-bursts 1000000 --burst-rate 150000 --tag 512mib

# The filter in the kernel vs in user space (issue 17, ~2 min): a filter keeping 1%,
# frames the pools took and CPU per packet (Benchmarks/e2e/filter_place.py).
bench-filter: bootstrap
	swift build -c release --scratch-path .build-bench --product wirecap
	python3 Benchmarks/e2e/filter_place.py --wirecap .build-bench/release/wirecap

# Flow bypass (issue 17, ~3 min): what the table costs every packet and what bypassing a
# 60% elephant saves, at x = 0 and 100 (Benchmarks/e2e/bypass_cost.py).
bench-bypass: bootstrap
	swift build -c release --scratch-path .build-bench --product wirecap
	python3 Benchmarks/e2e/bypass_cost.py --wirecap .build-bench/release/wirecap

clean:
	rm -rf .build .build-* Benchmarks/.build Fuzz/.build

# A system tool's install (issue 16): the release wirecap, the libpcap library
# `wirecap exec` preloads (PREFIX/lib/wirecap, where exec looks beside ../bin),
# bash/zsh/fish completions and man pages generated from the argument parser
# (swift-argument-parser's generate-manual plugin). DESTDIR is honoured;
# `make uninstall` removes exactly what scripts/install-files lists.
install: bootstrap
	$(SWIFT) build -c release --product wirecap
	$(SWIFT) build -c release --product wirecap-pcap
	scripts/install-files install "$(DESTDIR)" "$(PREFIX)" "$(SWIFT)"

uninstall:
	scripts/install-files uninstall "$(DESTDIR)" "$(PREFIX)" "$(SWIFT)"
