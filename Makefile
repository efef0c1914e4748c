# The two set-up commands of the README, and a few helpers.
#   make train   build (release) and train the default model on the bundled data
#   make test    run the test suite (what CI runs)
#   make bench   makemore and PyTorch side by side (bench/compare.sh), tables and plots
#   make build-mpi  the Open MPI build of makemore (.build-mpi/release/makemore; installs Open MPI when missing)
#   make test-mpi   that build, then the mpirun tests, on one host and simulated ones (part of make test)
#   make dist       dist/makemore: one static, stripped binary for any x86-64 with AVX2 + FMA
#                   (uses AVX-512 where the CPU has it); copy it to a machine without Swift
#   make check-avx512  dist/makemore's AVX-512 kernels in an emulated AVX-512 machine (Bochs):
#                   the same checkpoints, gradients and samples as its AVX2 kernels here; and its
#                   one-line refusal on an emulated CPU without AVX2, side by side (Debian, ~5 min)
#   make check-avx512-native  the same comparison on this CPU, when it has AVX-512 (~1 min)
# Both set-up commands install libnuma-dev first when it is missing; `make test`
# also makes bench/.venv with matplotlib (no torch) for the plot script's test.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONFIG ?= configs/municipis.yaml
# The release build: -Ounchecked and -target-cpu are set per target in Package.swift.
RELEASE := $(SWIFT) build -c release

# The MPI build lives in its own folder: MAKEMORE_MPI=1 changes the package's targets.
MPI_BUILD := MAKEMORE_MPI=1 $(SWIFT) build -c release --scratch-path .build-mpi
VENV := bench/.venv

.PHONY: deps deps-mpi plot-deps build build-mpi dist check-avx512 check-avx512-native train test test-unit test-tsan test-asan test-mpi smoke test-plot bench clean

deps:
	@pkg-config --exists numa 2>/dev/null || { \
	  echo "libnuma-dev is missing: installing it with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnuma-dev pkg-config; }

deps-mpi: deps
	@{ command -v mpirun >/dev/null && pkg-config --exists ompi-c 2>/dev/null; } || { \
	  echo "Open MPI is missing: installing openmpi-bin and libopenmpi-dev with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev pkg-config; }

# matplotlib for bench/plot.py (and BenchTests, which use bench/.venv when it has it).
plot-deps:
	@$(VENV)/bin/python -c 'import matplotlib' 2>/dev/null || { \
	  python3 -c 'import ensurepip, venv' 2>/dev/null || { \
	    echo "python3 with venv is missing: installing it with apt-get"; \
	    $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv; }; \
	  [ -x $(VENV)/bin/python ] || python3 -m venv $(VENV); \
	  echo "installing matplotlib into $(VENV)"; \
	  $(VENV)/bin/python -m pip install -q matplotlib; }

build: deps
	$(RELEASE)

build-mpi: deps-mpi
	$(MPI_BUILD)

# The Swift runtime and Foundation linked statically; libnuma too (a numa.pc
# of our own points pkg-config at libnuma.a), so the binary needs only libc,
# libm, libstdc++ and libgcc_s, which every Linux has.
DIST_BUILD := .build-dist
dist: deps
	mkdir -p $(DIST_BUILD)/pkgconfig dist
	printf 'Name: numa\nDescription: libnuma, static\nVersion: 2\nLibs: -l:libnuma.a\nCflags:\n' > $(DIST_BUILD)/pkgconfig/numa.pc
	PKG_CONFIG_PATH=$(CURDIR)/$(DIST_BUILD)/pkgconfig $(SWIFT) build -c release --static-swift-stdlib --scratch-path $(DIST_BUILD)
	strip -o dist/makemore $(DIST_BUILD)/release/makemore
	@size=$$(stat -c %s dist/makemore); echo "dist/makemore: $$((size / 1048576)) MiB, needs: $$(readelf -d dist/makemore | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"; \
	  [ $$size -le 67108864 ] || { echo "dist/makemore is over 64 MiB"; exit 1; }
	MAKEMORE_CACHE_DIR=$(DIST_BUILD) dist/makemore tune >/dev/null

check-avx512: dist
	scripts/isa-check/check.sh dist/makemore

check-avx512-native: build
	scripts/isa-check/check.sh --native .build/release/makemore

train: build
	.build/release/makemore train --config $(CONFIG)

# Unit and integration tests (debug build), then the parallel runtime's tests
# under ThreadSanitizer (own build folder), then a release smoke run of the CLI
# and the plot scripts, then the MPI build against single-process runs under mpirun (MPITests;
# as root also across simulated hosts, MultiHostMPITests, which skip with the reason elsewhere).
test: deps plot-deps test-unit test-tsan test-asan smoke test-plot test-mpi

test-unit:
	$(SWIFT) test

test-tsan:
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter 'ParallelTests|ThreadInvarianceTests|ShardExchangeTests'

# The kernels, the engine and the file formats under AddressSanitizer: reads and
# writes past a buffer, use after free, and leaks (XCTest's own are suppressed).
test-asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp $(SWIFT) test --sanitize=address --scratch-path .build-asan \
	  --filter 'KernelsTests|EngineGradientTests|RowTileTests|ThreadInvarianceTests|ShardExchangeTests|SafetensorsTests|CheckpointTests|CheckpointFormatTests|PyTorchFixtureTests|SyncBatchNormTests|TrainingLoopTests'

# The tile cache of the smoke run stays in the build folder.
smoke: export MAKEMORE_CACHE_DIR := $(CURDIR)/.build/smoke-cache
smoke: build
	.build/release/makemore train --config $(CONFIG) --steps 3000 --eval-every 1000 --threads 2 --checkpoint .build/smoke.safetensors
	.build/release/makemore eval --checkpoint .build/smoke.safetensors --json
	.build/release/makemore sample --checkpoint .build/smoke.safetensors -n 5
	.build/release/makemore gradcheck --checkpoint Tests/Fixtures/model.safetensors --batch Tests/Fixtures/batch.safetensors --reference Tests/Fixtures/grads.safetensors
	.build/release/makemore bench --threads 1,2 --batch-size 32,256 --n-hidden 16 --steps 50 --warmup 5 --repeats 2 \
	  --oversubscribe --predict --json .build/bench-smoke.json --csv .build/bench-smoke.csv

# The plot and compare scripts on the committed results and on the smoke run's, and its loss curve.
test-plot: plot-deps smoke
	$(VENV)/bin/python bench/plot.py --makemore bench/results/makemore.json --torch bench/results/torch.json --out .build/plots
	$(VENV)/bin/python bench/plot.py --makemore .build/bench-smoke.json --out .build/plots-smoke
	$(VENV)/bin/python bench/compare.py bench/results/makemore.json bench/results/torch.json > /dev/null
	$(VENV)/bin/python scripts/plot_loss.py .build/smoke.metrics.csv --out .build/plots-smoke/loss.png

# The benchmark of docs/benchmarks.md: needs a quiet machine; installs torch into bench/.venv once.
bench:
	bench/compare.sh

# The filter matches MPITests and MultiHostMPITests.
test-mpi: build-mpi
	MAKEMORE_MPI_BINARY=$(CURDIR)/.build-mpi/release/makemore MAKEMORE_BINARY=$(CURDIR)/.build/release/makemore \
	  $(SWIFT) test --filter MPITests

clean:
	rm -rf .build .build-tsan .build-asan .build-mpi .build-dist .build-avx512 dist
