# SPDX-License-Identifier: MIT
# bench/: make bench (about 10 minutes) and make bench-quick (about 1).
.PHONY: bench bench-quick bench-bins deps-bench
BENCH_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -Wall -Wextra -pthread
bench-bins: all $(BUILD)/bench/mallocbench $(BUILD)/bench/reportbench $(BUILD)/bench/libshim.so \
	$(BUILD)/bench/execbench \
	$(BUILD)/bench/newbench $(BUILD)/bench/newbench_jemalloc $(BUILD)/bench/newbench_tcmalloc
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $<
# The forwarding-only preload: what interposing malloc costs by itself.
$(BUILD)/bench/libshim.so: bench/shim.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -fPIC -fno-plt -shared -fvisibility=hidden -o $@ $<
# operator new/delete per call, over each allocator (callgrind only).
NEWBENCH_CXXFLAGS := -std=c++17 -O2 -g -fno-omit-frame-pointer -fno-allocation-dce
$(BUILD)/bench/newbench: bench/newbench.cc
	@mkdir -p $(dir $@)
	g++ $(NEWBENCH_CXXFLAGS) -o $@ $<
$(BUILD)/bench/newbench_jemalloc: bench/newbench.cc
	@mkdir -p $(dir $@)
	g++ $(NEWBENCH_CXXFLAGS) -o $@ $< -ljemalloc
$(BUILD)/bench/newbench_tcmalloc: bench/newbench.cc
	@mkdir -p $(dir $@)
	g++ $(NEWBENCH_CXXFLAGS) -o $@ $< -ltcmalloc_minimal
.PHONY: bench-callgrind-new
bench-callgrind-new: deps-bench
	@$(MAKE) --no-print-directory bench-bins
	@python3 bench/bench.py --new-only
deps-bench:
	@scripts/deps.sh bench
bench: deps-bench
	@$(MAKE) --no-print-directory bench-bins
	@python3 bench/bench.py
bench-quick: deps-bench
	@$(MAKE) --no-print-directory bench-bins
	@python3 bench/bench.py --quick
# The accuracy benchmark (issue 12): victims of known leaks, 30 runs per
# configuration, against the truth (about a minute on 2 cores; bench/accuracy.py).
.PHONY: bench-accuracy
bench-accuracy: deps-bench
	@$(MAKE) --no-print-directory all $(BUILD)/bench/accuracy
	@python3 bench/accuracy.py --write
# What each sampling mode costs in callgrind's instructions (issue 12):
# mallocbench per operation, redis-server per request, native, no window,
# count and byte sampling; BASELINE= the revision whose no-window preload is
# measured beside this one (about 6 minutes; bench/costbench.py).
BASELINE ?= ef61e35
.PHONY: bench-cost
bench-cost: deps-bench
	@$(MAKE) --no-print-directory all $(BUILD)/bench/mallocbench
	@python3 bench/costbench.py --write $(if $(BASELINE),--baseline $(BASELINE))
