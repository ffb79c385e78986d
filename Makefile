# Holdfast front door. `make run` and `make test` work on a fresh Debian 12 machine as root.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan test test-asan run cluster bench install clean crash-soak drill

all: build

deps:
	@bash scripts/deps.sh

$(BUILD_DIR)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The storage tests also run under AddressSanitizer + UndefinedBehaviorSanitizer.
build-asan: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DHOLDFAST_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_DIR) -j$(JOBS) --target asan_tests

test: build build-asan
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) -L 'unit|crash|integration|compat|java|fuzz'
	cd $(ASAN_DIR) && ctest --output-on-failure -j$(JOBS) -L 'asan'

# Name server (127.0.0.1:9876) and broker (127.0.0.1:10911) in one process, data in $(DATA).
# Ctrl-C stops it cleanly. Another data folder: make run DATA=/var/lib/holdfast. Broker keys:
# make run ARGS='flushDiskType=ASYNC_FLUSH'.
DATA ?= ./data
run: build
	./$(BUILD_DIR)/bin/holdfast standalone --data '$(DATA)' $(ARGS)

# A name server, a SYNC_MASTER and a SLAVE on free ports (docs/replication.md); Ctrl-C stops them.
# Options: make cluster ARGS='--master-flush ASYNC_FLUSH'
cluster: build
	bash scripts/cluster.sh --bin ./$(BUILD_DIR)/bin/holdfast $(ARGS)

# Installs the holdfast binary, include/holdfast/*.h and the client library with its CMake package
# (find_package(holdfast) -> holdfast::client) under PREFIX: make install PREFIX=$$HOME/.local
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

bench: build
	./$(BUILD_DIR)/bin/store_bench --dir ./data/bench

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)

# Not part of `make test`: the store crash loop with scheduling noise at the sync points for
# SECONDS (default 600), printing every seed that failed with its rerun command. Options: NOISE
# (1-3, default 2), FIRST_SEED (default from the clock), SOAK_PROCS (parallel loops, default 1).
# Example: nice make crash-soak SECONDS=3600 SOAK_PROCS=2
SECONDS ?= 600
NOISE ?= 2
FIRST_SEED ?=
SOAK_PROCS ?= 1
crash-soak: $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j$(JOBS) --target store_crash_loop_test
	bash scripts/crash_soak.sh $(BUILD_DIR)/bin/store_crash_loop_test $(SECONDS) $(NOISE) "$(FIRST_SEED)" $(SOAK_PROCS)

# Not part of `make test`: randomized fault drills (docs/drills.md) against Holdfast in its
# zero-loss configuration (etcd and three controller-mode members, SYNC_MASTER + SYNC_FLUSH);
# exits non-zero if any run lost an acknowledged message. Options: SCENARIO (default random),
# RUNS (default 100), SEED (default 1), DURATION (seconds of load per run, default 3), FLUSH
# (SYNC_FLUSH or ASYNC_FLUSH), ROLE (SYNC_MASTER or ASYNC_MASTER), TOPOLOGY (failover or single),
# REPORT (default ./drill-report).
SCENARIO ?= random
RUNS ?= 100
SEED ?= 1
DURATION ?= 3
FLUSH ?= SYNC_FLUSH
ROLE ?= SYNC_MASTER
TOPOLOGY ?= failover
REPORT ?= ./drill-report
drill: build
	./$(BUILD_DIR)/bin/holdfast drill run --scenario $(SCENARIO) --runs $(RUNS) --seed $(SEED) \
	  --duration $(DURATION) --flush $(FLUSH) --role $(ROLE) --topology $(TOPOLOGY) --report $(REPORT)
