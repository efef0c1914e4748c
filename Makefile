# The two set-up commands of the README, and a few helpers.
#   make train   build (release) and train the default model on the bundled data
#   make test    run the test suite (what CI runs)
# Both install libnuma-dev first when it is missing.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONFIG ?= configs/municipis.yaml
# The release build: -Ounchecked and -target-cpu are set per target in Package.swift.
RELEASE := $(SWIFT) build -c release

.PHONY: deps build train test test-unit test-tsan smoke clean

deps:
	@pkg-config --exists numa 2>/dev/null || { \
	  echo "libnuma-dev is missing: installing it with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnuma-dev pkg-config; }

build: deps
	$(RELEASE)

train: build
	.build/release/makemore train --config $(CONFIG)

# Unit and integration tests (debug build), then the parallel runtime's tests
# under ThreadSanitizer (own build folder), then a release smoke run of the CLI.
test: deps test-unit test-tsan smoke

test-unit:
	$(SWIFT) test

test-tsan:
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter 'ParallelTests|ThreadInvarianceTests|ShardExchangeTests'

smoke: build
	.build/release/makemore train --config $(CONFIG) --steps 3000 --eval-every 1000 --threads 2 --checkpoint .build/smoke.safetensors
	.build/release/makemore eval --checkpoint .build/smoke.safetensors --json
	.build/release/makemore sample --checkpoint .build/smoke.safetensors -n 5
	.build/release/makemore gradcheck --checkpoint Tests/Fixtures/model.safetensors --batch Tests/Fixtures/batch.safetensors --reference Tests/Fixtures/grads.safetensors

clean:
	rm -rf .build .build-tsan
