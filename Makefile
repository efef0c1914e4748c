# The two set-up commands of the README, and a few helpers.
#   make train   build (release) and train the default model on the bundled data
#   make test    run the test suite (what CI runs)
# Both install libnuma-dev first when it is missing.
#   make build-mpi  the Open MPI build of makemore (.build-mpi/release/makemore; installs Open MPI when missing)
#   make test-mpi   that build, then the mpirun tests (part of make test)

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONFIG ?= configs/municipis.yaml
# The release build: -Ounchecked and -target-cpu are set per target in Package.swift.
RELEASE := $(SWIFT) build -c release

# The MPI build lives in its own folder: MAKEMORE_MPI=1 changes the package's targets.
MPI_BUILD := MAKEMORE_MPI=1 $(SWIFT) build -c release --scratch-path .build-mpi

.PHONY: deps deps-mpi build build-mpi train test test-unit test-tsan test-mpi smoke clean

deps:
	@pkg-config --exists numa 2>/dev/null || { \
	  echo "libnuma-dev is missing: installing it with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnuma-dev pkg-config; }

deps-mpi: deps
	@{ command -v mpirun >/dev/null && pkg-config --exists ompi-c 2>/dev/null; } || { \
	  echo "Open MPI is missing: installing openmpi-bin and libopenmpi-dev with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev pkg-config; }

build: deps
	$(RELEASE)

build-mpi: deps-mpi
	$(MPI_BUILD)

train: build
	.build/release/makemore train --config $(CONFIG)

# Unit and integration tests (debug build), then the parallel runtime's tests
# under ThreadSanitizer (own build folder), then a release smoke run of the CLI,
# then the MPI build against single-process runs under mpirun (MPITests).
test: deps test-unit test-tsan smoke test-mpi

test-unit:
	$(SWIFT) test

test-tsan:
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter 'ParallelTests|ThreadInvarianceTests|ShardExchangeTests'

smoke: build
	.build/release/makemore train --config $(CONFIG) --steps 3000 --eval-every 1000 --threads 2 --checkpoint .build/smoke.safetensors
	.build/release/makemore eval --checkpoint .build/smoke.safetensors --json
	.build/release/makemore sample --checkpoint .build/smoke.safetensors -n 5
	.build/release/makemore gradcheck --checkpoint Tests/Fixtures/model.safetensors --batch Tests/Fixtures/batch.safetensors --reference Tests/Fixtures/grads.safetensors

test-mpi: build-mpi
	MAKEMORE_MPI_BINARY=$(CURDIR)/.build-mpi/release/makemore MAKEMORE_BINARY=$(CURDIR)/.build/release/makemore \
	  $(SWIFT) test --filter MPITests

clean:
	rm -rf .build .build-tsan .build-mpi
