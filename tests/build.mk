# SPDX-License-Identifier: MIT
# tests/: unit tests (small main()s linked against the preload's objects),
# victim programs, and the integration drivers that run them.
.PHONY: tests

# The preload's objects minus the hooks and the constructor, so unit tests
# call the internals directly without interposing their own malloc.
CORE_OBJ := $(filter-out $(BUILD)/obj/preload/hooks.o $(BUILD)/obj/preload/init.o,$(PRELOAD_OBJ))
$(BUILD)/libls_core.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

UNIT_TESTS := test_sampler test_stacks test_arena test_concurrency test_series
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/unit/%)
$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/check.h $(BUILD)/libls_core.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $< $(BUILD)/libls_core.a -ldl -lm -lpthread

# Victims: -O1 keeps each leaking function a real frame of its own.
VICTIM_CFLAGS := -g -O1 -fno-omit-frame-pointer -fno-inline -Wall -Wextra -pthread
$(BUILD)/tests/victims/victim: tests/victims/victim.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $< -ldl
$(BUILD)/tests/victims/victim_cxx: tests/victims/victim_cxx.cc
	@mkdir -p $(dir $@)
	g++ -std=c++17 $(VICTIM_CFLAGS) -rdynamic -o $@ $< -ldl

$(BUILD)/tests/victims/victim_wrap: tests/victims/victim_wrap.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $<
# Every operator new/delete form, over libstdc++, jemalloc and tcmalloc.
# -fno-allocation-dce: a new/delete pair must not be optimized away.
NEW_CXXFLAGS := -std=c++17 $(VICTIM_CFLAGS) -fno-allocation-dce
$(BUILD)/tests/victims/victim_new: tests/victims/victim_new.cc
	@mkdir -p $(dir $@)
	g++ $(NEW_CXXFLAGS) -o $@ $< -ldl
$(BUILD)/tests/victims/victim_new_jemalloc: tests/victims/victim_new.cc
	@mkdir -p $(dir $@)
	g++ $(NEW_CXXFLAGS) -o $@ $< -ljemalloc -ldl
$(BUILD)/tests/victims/victim_new_tcmalloc: tests/victims/victim_new.cc
	@mkdir -p $(dir $@)
	g++ $(NEW_CXXFLAGS) -o $@ $< -ltcmalloc_minimal -ldl
$(BUILD)/tests/victims/victim_jemalloc: tests/victims/victim_jemalloc.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $< -ljemalloc
$(BUILD)/tests/victims/victim_mimalloc: tests/victims/victim_mimalloc.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $< -lmimalloc

$(BUILD)/tests/victims/libearly.so: tests/victims/libearly.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -shared -fPIC -o $@ $<
$(BUILD)/tests/victims/libdlvictim.so: tests/victims/libdlvictim.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -shared -fPIC -o $@ $<
$(BUILD)/tests/victims/victim_life: tests/victims/victim_life.c $(BUILD)/tests/victims/libearly.so
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $< -L$(BUILD)/tests/victims -learly \
		-Wl,-rpath,'$$ORIGIN' -ldl

# Hosts that do to their descriptors, environment and address space what
# real daemons do (test_hostsafety.py).
HOST_VICTIMS := fdhost envhost bigalloc forker
$(HOST_VICTIMS:%=$(BUILD)/tests/victims/%): $(BUILD)/tests/victims/%: tests/victims/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $<
# Four stacks of four shapes for the verdicts (test_verdict.py).
$(BUILD)/tests/victims/verdict: tests/victims/verdict.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $<
# A pre-forking server with workers that leak, exit and respawn (test_trees.py).
$(BUILD)/tests/victims/prefork: tests/victims/prefork.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $<
$(BUILD)/tests/victims/evhost: tests/victims/evhost.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(VICTIM_CFLAGS) -o $@ $< -levent

VICTIM_BINS := $(BUILD)/tests/victims/victim $(BUILD)/tests/victims/victim_cxx \
	$(BUILD)/tests/victims/victim_life $(BUILD)/tests/victims/libdlvictim.so \
	$(HOST_VICTIMS:%=$(BUILD)/tests/victims/%) $(BUILD)/tests/victims/evhost \
	$(BUILD)/tests/victims/victim_wrap \
	$(BUILD)/tests/victims/victim_new $(BUILD)/tests/victims/victim_new_jemalloc \
	$(BUILD)/tests/victims/victim_new_tcmalloc $(BUILD)/tests/victims/victim_jemalloc \
	$(BUILD)/tests/victims/victim_mimalloc $(BUILD)/tests/victims/prefork \
	$(BUILD)/tests/victims/verdict

tests: all $(UNIT_BINS) $(VICTIM_BINS)

TESTS += scripts/lint.sh
TESTS += $(UNIT_BINS)
TESTS += "python3 tests/integration/test_victims.py"
TESTS += "python3 tests/integration/test_cxx.py"
TESTS += "python3 tests/integration/test_libc_wrappers.py"
TESTS += "python3 tests/integration/test_rust.py"
TESTS += "python3 tests/integration/test_allocators.py"
TESTS += "python3 tests/integration/test_control.py"
TESTS += "python3 tests/integration/test_hostsafety.py"
TESTS += "python3 tests/integration/test_fork.py"
TESTS += "python3 tests/integration/test_tree_preload.py"
TESTS += "python3 tests/integration/test_signals.py"
TESTS += "python3 tests/integration/test_threads.py"
TESTS += "python3 tests/integration/test_lifecycle.py"
TESTS += "python3 tests/integration/test_stress.py"
TESTS += "python3 tests/integration/test_valgrind.py"
TESTS += "python3 tests/integration/test_pprof.py"
TESTS += "python3 tests/integration/test_weights.py"
TESTS += "python3 tests/integration/test_cli.py"
TESTS += "python3 tests/integration/test_trees.py"
TESTS += "python3 tests/integration/test_verdict.py"
TESTS += "$(MAKE) -s --no-print-directory asan"
TESTS += "$(MAKE) -s --no-print-directory tsan"
TESTS += "python3 tests/integration/test_perl.py"
TESTS += "python3 tests/integration/test_python.py"
TESTS += "python3 tests/integration/test_redis.py"
TESTS += "python3 tests/integration/test_trees_servers.py"

# The demo server (make demo).
.PHONY: demo-bins
demo-bins: $(BUILD)/leaky-server
$(BUILD)/leaky-server: examples/leaky-server.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -pthread -o $@ $<
