# The two set-up commands of the README, and a few helpers.
#   make train   build (release) and train the default model on the bundled data
#   make test    run the test suite (what CI runs)
#   make bench   makemore and PyTorch side by side (bench/compare.sh), tables and plots
# Both set-up commands install libnuma-dev first when it is missing; `make test`
# also makes bench/.venv with matplotlib (no torch) for the plot script's test.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONFIG ?= configs/municipis.yaml
# The release build: -Ounchecked and -target-cpu are set per target in Package.swift.
RELEASE := $(SWIFT) build -c release

.PHONY: deps plot-deps build train test test-unit test-tsan smoke test-plot bench clean
VENV := bench/.venv

deps:
	@pkg-config --exists numa 2>/dev/null || { \
	  echo "libnuma-dev is missing: installing it with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnuma-dev pkg-config; }

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

train: build
	.build/release/makemore train --config $(CONFIG)

# Unit and integration tests (debug build), then the parallel runtime's tests
# under ThreadSanitizer (own build folder), then a release smoke run of the CLI.
test: deps plot-deps test-unit test-tsan smoke test-plot

test-unit:
	$(SWIFT) test

test-tsan:
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter 'ParallelTests|ThreadInvarianceTests'

smoke: build
	.build/release/makemore train --config $(CONFIG) --steps 3000 --eval-every 1000 --threads 2 --checkpoint .build/smoke.safetensors
	.build/release/makemore eval --checkpoint .build/smoke.safetensors --json
	.build/release/makemore sample --checkpoint .build/smoke.safetensors -n 5
	.build/release/makemore gradcheck --checkpoint Tests/Fixtures/model.safetensors --batch Tests/Fixtures/batch.safetensors --reference Tests/Fixtures/grads.safetensors
	.build/release/makemore bench --threads 1,2 --batch-size 32,256 --n-hidden 16 --steps 50 --warmup 5 --repeats 2 \
	  --oversubscribe --predict --json .build/bench-smoke.json --csv .build/bench-smoke.csv

# The plot and compare scripts on the committed results and on the smoke run's.
test-plot: plot-deps smoke
	$(VENV)/bin/python bench/plot.py --makemore bench/results/makemore.json --torch bench/results/torch.json --out .build/plots
	$(VENV)/bin/python bench/plot.py --makemore .build/bench-smoke.json --out .build/plots-smoke
	$(VENV)/bin/python bench/compare.py bench/results/makemore.json bench/results/torch.json > /dev/null

# The README's benchmark: needs a quiet machine; installs torch into bench/.venv once.
bench:
	bench/compare.sh

clean:
	rm -rf .build .build-tsan
