# SPDX-License-Identifier: MIT
# symbolize/: the offline translator, build/leakscope-translate.

TRANSLATE_SRCS := main lines report tree view maps module symtab dwarf sym output summary fold flame html util \
                  estimate interval verdict
TRANSLATE_OBJS := $(TRANSLATE_SRCS:%=$(BUILD)/symbolize/%.o)
# libiberty (libiberty-dev, static only: libiberty.a, built as PIC) for
# cplus_demangle, which demangles C++, Rust legacy and Rust v0 names.
# GSL (libgsl-dev) for the incomplete gamma function of the 95% intervals
# (interval.c); libgsl leaves its CBLAS to the program: GSL's own.
TRANSLATE_LIBS := -ldw -lelf -liberty -lgsl -lgslcblas -lm

# --format pprof: symbolize/pprof/pprof.c packs messages with protobuf-c code
# that protoc-c generates from symbolize/pprof/profile.proto into the build
# tree (never committed). It sits in a directory of its own because
# tests/fuzz.mk compiles every symbolize/*.c but main.c without the generated
# header or these libraries; main.c is the only caller.
PPROF_GEN  := $(BUILD)/symbolize/pprof/profile.pb-c
PPROF_OBJS := $(BUILD)/symbolize/pprof/pprof.o $(PPROF_GEN).o
PPROF_LIBS := -lprotobuf-c -lz

$(BUILD)/symbolize/%.o: symbolize/%.c symbolize/translate.h | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -c -o $@ $<

$(PPROF_GEN).c $(PPROF_GEN).h &: symbolize/pprof/profile.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=symbolize/pprof --c_out=$(@D) $<

$(PPROF_GEN).o: $(PPROF_GEN).c $(PPROF_GEN).h
	$(CC) $(CFLAGS_BASE) -I$(@D) -c -o $@ $<

$(BUILD)/symbolize/pprof/pprof.o: symbolize/pprof/pprof.c symbolize/translate.h $(PPROF_GEN).h
	$(CC) $(CFLAGS_BASE) -I$(@D) -c -o $@ $<

$(BUILD)/leakscope-translate: $(TRANSLATE_OBJS) $(PPROF_OBJS)
	$(CC) $(CFLAGS_BASE) -o $@ $(TRANSLATE_OBJS) $(PPROF_OBJS) $(TRANSLATE_LIBS) $(PPROF_LIBS)


# Golden tests (tests/golden): programs that write reports of their own
# stacks, built at -O0 so that only always_inline functions are inlined.
GOLDEN          := $(BUILD)/golden
GOLDEN_SRC      := tests/golden/src
GOLDEN_CFLAGS   := $(CFLAGS_BASE) -O0
GOLDEN_CXXFLAGS := -std=c++17 -O0 -g -Wall -Wextra -fno-omit-frame-pointer
GOLDEN_BINS     := $(GOLDEN)/inl $(GOLDEN)/inl-nodwarf $(GOLDEN)/inl-stripped $(GOLDEN)/inl.debug \
                   $(GOLDEN)/cxx $(GOLDEN)/cxx-nodwarf $(GOLDEN)/viaso $(GOLDEN)/libleakscope-golden.so \
                   $(GOLDEN)/e2e $(GOLDEN)/names

$(GOLDEN)/fixture.o: $(GOLDEN_SRC)/fixture.c $(GOLDEN_SRC)/fixture.h | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(GOLDEN_CFLAGS) -c -o $@ $<

$(GOLDEN)/fixture-nodwarf.o: $(GOLDEN_SRC)/fixture.c $(GOLDEN_SRC)/fixture.h | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(GOLDEN_CFLAGS) -g0 -c -o $@ $<

$(GOLDEN)/inl: $(GOLDEN_SRC)/inl.c $(GOLDEN)/fixture.o
	$(CC) $(GOLDEN_CFLAGS) -o $@ $^

$(GOLDEN)/inl-nodwarf: $(GOLDEN_SRC)/inl.c $(GOLDEN)/fixture-nodwarf.o
	$(CC) $(GOLDEN_CFLAGS) -g0 -o $@ $^

# The same code as inl, with its DWARF and .symtab moved to inl.debug.
$(GOLDEN)/inl.debug: $(GOLDEN)/inl
	objcopy --only-keep-debug $< $@

$(GOLDEN)/inl-stripped: $(GOLDEN)/inl
	objcopy --strip-all $< $@

$(GOLDEN)/cxx: $(GOLDEN_SRC)/cxx.cc $(GOLDEN)/fixture.o
	$(CXX) $(GOLDEN_CXXFLAGS) -o $@ $^

$(GOLDEN)/cxx-nodwarf: $(GOLDEN_SRC)/cxx.cc $(GOLDEN)/fixture-nodwarf.o
	$(CXX) $(GOLDEN_CXXFLAGS) -g0 -o $@ $^

# C functions named with C++ and Rust mangled symbols, no DWARF: the
# symbol table's names, demangled.
$(GOLDEN)/names: $(GOLDEN_SRC)/names.c $(GOLDEN)/fixture-nodwarf.o
	$(CC) $(GOLDEN_CFLAGS) -g0 -o $@ $^

$(GOLDEN)/libleakscope-golden.so: $(GOLDEN_SRC)/lsg.c | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(GOLDEN_CFLAGS) -fPIC -shared -o $@ $<

$(GOLDEN)/viaso: $(GOLDEN_SRC)/viaso.c $(GOLDEN)/fixture.o $(GOLDEN)/libleakscope-golden.so
	$(CC) $(GOLDEN_CFLAGS) -o $@ $(GOLDEN_SRC)/viaso.c $(GOLDEN)/fixture.o \
		-L$(GOLDEN) -lleakscope-golden -Wl,-rpath,'$$ORIGIN'

# The end-to-end victim runs under the real preload, when it is built.
$(GOLDEN)/e2e: $(GOLDEN_SRC)/e2e.c | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(GOLDEN_CFLAGS) -o $@ $<

tests: $(BUILD)/leakscope-translate $(GOLDEN_BINS)
TESTS += tests/golden/run.sh

# Output formats (tests/golden/formats.py): each is read back by its real
# consumer. pprof is Google's, built offline from Debian's Go sources
# (golang-github-google-pprof-dev) in GOPATH mode, once; the translator is
# also built with ASan+UBSan, for the run over odd and mutated reports.
PPROF_GOPATH := /usr/share/gocode
$(BUILD)/tools/pprof: | $(BUILD)
	@mkdir -p $(@D)
	@cache=$$(mktemp -d) && GO111MODULE=off GOPATH=$(PPROF_GOPATH) GOPROXY=off GOFLAGS= GOCACHE=$$cache \
		go build -o $@ github.com/google/pprof; rc=$$?; rm -rf $$cache; exit $$rc

TRANSLATE_ASAN := $(BUILD)/symbolize/asan/leakscope-translate
$(TRANSLATE_ASAN): $(TRANSLATE_SRCS:%=symbolize/%.c) symbolize/pprof/pprof.c symbolize/translate.h \
		$(PPROF_GEN).c $(PPROF_GEN).h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -I$(BUILD)/symbolize/pprof \
		-o $@ $(TRANSLATE_SRCS:%=symbolize/%.c) symbolize/pprof/pprof.c $(PPROF_GEN).c \
		$(TRANSLATE_LIBS) $(PPROF_LIBS)

tests: $(BUILD)/tools/pprof $(TRANSLATE_ASAN)
TESTS += "python3 tests/golden/formats.py"

# Tree reports and merging (tests/golden/trees.py): reports of the test
# victim from several processes, and of the same source built at -O2,
# another executable (another build ID) whose functions have the same names.
$(GOLDEN)/victim-o2: tests/victims/victim.c | $(BUILD)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -g -O2 -fno-omit-frame-pointer -fno-inline -Wall -Wextra -pthread -o $@ $< -ldl

tests: $(GOLDEN)/victim-o2
TESTS += "python3 tests/golden/trees.py"

# Report format 2 and the 95% intervals (tests/golden/weights.py): hand-written
# reports of both modes, every interval checked against an independent
# computation (and SciPy's, with python3-scipy), each format read by its
# consumer.
TESTS += "python3 tests/golden/weights.py"
