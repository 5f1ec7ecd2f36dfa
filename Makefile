# SPDX-License-Identifier: MIT
# leakscope: top-level build. Each component adds its rules in its own build.mk.

CC      ?= gcc
BUILD   := build
VERSION := 0.1.0
SOVERSION := 0
PREFIX ?= /usr/local
DESTDIR ?=

# Flags shared by every C file of the project (STYLE.md, habit 15).
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
CSTD    := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
CFLAGS_BASE := $(CSTD) $(OPT) $(WARN) -fno-omit-frame-pointer -DLS_VERSION='"$(VERSION)"'
comma := ,

# Test commands, appended by each build.mk; tests/run.sh runs them in order.
TESTS :=

.PHONY: all clean check demo deps deps-check deps-demo lint help stress install uninstall
all: $(BUILD)/libleakscope.so $(BUILD)/leakscope-translate $(BUILD)/leakscope

include preload/build.mk
include control/build.mk
include symbolize/build.mk
include tests/build.mk
include tests/sanitize.mk
include tests/fuzz.mk
include bench/build.mk

$(BUILD):
	@mkdir -p $@

# The command-line wrapper (POSIX sh).
$(BUILD)/leakscope: cli/leakscope.sh Makefile
	@mkdir -p $(dir $@)
	sed 's/@VERSION@/$(VERSION)/' $< > $@
	chmod 0755 $@

# make install PREFIX=/usr/local DESTDIR=...: the preload with its
# versioned soname, the two commands, the man page and the docs.
LIBDIR := $(PREFIX)/lib
DOCDIR := $(PREFIX)/share/doc/leakscope
MANDIR := $(PREFIX)/share/man/man1
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/libleakscope.so $(DESTDIR)$(LIBDIR)/libleakscope.so.$(VERSION)
	ln -sf libleakscope.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libleakscope.so.$(SOVERSION)
	ln -sf libleakscope.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libleakscope.so
	install -m 0755 $(BUILD)/leakscope $(BUILD)/leakscope-translate $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 docs/leakscope.1 $(DESTDIR)$(MANDIR)/leakscope.1
	install -m 0644 README.md LICENSE $(wildcard docs/*.md) $(DESTDIR)$(DOCDIR)/
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libleakscope.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/libleakscope.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libleakscope.so \
		$(DESTDIR)$(PREFIX)/bin/leakscope $(DESTDIR)$(PREFIX)/bin/leakscope-translate \
		$(DESTDIR)$(MANDIR)/leakscope.1
	rm -rf $(DESTDIR)$(DOCDIR)

# Dependency checks install what is missing (as root) or print the command.
deps-demo:
	@scripts/deps.sh build
deps-check:
	@scripts/deps.sh check

check: deps-check
	@$(MAKE) --no-print-directory all tests
	@tests/run.sh $(TESTS)

demo: deps-demo
	@$(MAKE) --no-print-directory all demo-bins
	@scripts/demo.sh

# The long versions, bounded to a few minutes: 1000 window toggles with 8
# threads, 20000 thread lives, 3000 forks, and each fuzzer for 60 s.
STRESS := "LEAKSCOPE_STRESS_TOGGLES=1000 LEAKSCOPE_STRESS_THREADS=8 python3 tests/integration/test_stress.py" \
	"LEAKSCOPE_TEST_THREADS=20000 python3 tests/integration/test_threads.py" \
	"LEAKSCOPE_TEST_FORKS=3000 python3 tests/integration/test_fork.py" \
	"scripts/fuzz.sh $(FUZZ_SECONDS)"
stress:
	@scripts/deps.sh stress
	@$(MAKE) --no-print-directory all tests fuzz-bins
	@tests/run.sh $(STRESS)

lint:
	@scripts/lint.sh

clean:
	rm -rf $(BUILD)

help:
	@echo "make          build build/libleakscope.so and build/leakscope-translate"
	@echo "make demo     run a leaky demo server under leakscope and show its top leaks"
	@echo "make check    run the test suite (ends with 'N passed, N failed')"
	@echo "make lint     grep preload/ for stdio and hooked-malloc calls"
	@echo "make stress   long stress, fork, thread and fuzz runs (a few minutes)"
	@echo "make asan     unit and concurrency tests under AddressSanitizer+UBSan"
	@echo "make tsan     the same under ThreadSanitizer"
	@echo "make fuzz     the libFuzzer targets for FUZZ_SECONDS (default 60) each"
	@echo "make bench    benchmarks against native and peers (bench/RESULTS.md)"
	@echo "make bench-accuracy  estimates and 95% intervals against ground truth, 30 runs per mode"
	@echo "make bench-cost      callgrind instructions: mallocbench per op, redis-server per request"
