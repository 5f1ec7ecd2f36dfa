# SPDX-License-Identifier: MIT
# bench/: make bench (about 10 minutes) and make bench-quick (about 1).
.PHONY: bench bench-quick bench-bins deps-bench
BENCH_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -Wall -Wextra -pthread
bench-bins: all $(BUILD)/bench/mallocbench $(BUILD)/bench/reportbench $(BUILD)/bench/libshim.so \
	$(BUILD)/bench/execbench
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $<
# The forwarding-only preload: what interposing malloc costs by itself.
$(BUILD)/bench/libshim.so: bench/shim.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -fPIC -fno-plt -shared -fvisibility=hidden -o $@ $<
deps-bench:
	@scripts/deps.sh bench
bench: deps-bench
	@$(MAKE) --no-print-directory bench-bins
	@python3 bench/bench.py
bench-quick: deps-bench
	@$(MAKE) --no-print-directory bench-bins
	@python3 bench/bench.py --quick
