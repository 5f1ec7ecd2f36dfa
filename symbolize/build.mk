# SPDX-License-Identifier: MIT
# symbolize/: the offline translator, build/leakscope-translate.

TRANSLATE_SRCS := main report maps module symtab dwarf sym output util
TRANSLATE_OBJS := $(TRANSLATE_SRCS:%=$(BUILD)/symbolize/%.o)
# libstdc++ for __cxa_demangle: the runtime library itself, which every Debian
# has, so the build does not need g++ (libstdc++-dev).
TRANSLATE_LIBS := -ldw -lelf -l:libstdc++.so.6

$(BUILD)/symbolize/%.o: symbolize/%.c symbolize/translate.h | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -c -o $@ $<

$(BUILD)/leakscope-translate: $(TRANSLATE_OBJS)
	$(CC) $(CFLAGS_BASE) -o $@ $(TRANSLATE_OBJS) $(TRANSLATE_LIBS)


# Golden tests (tests/golden): programs that write reports of their own
# stacks, built at -O0 so that only always_inline functions are inlined.
GOLDEN          := $(BUILD)/golden
GOLDEN_SRC      := tests/golden/src
GOLDEN_CFLAGS   := $(CFLAGS_BASE) -O0
GOLDEN_CXXFLAGS := -std=c++17 -O0 -g -Wall -Wextra -fno-omit-frame-pointer
GOLDEN_BINS     := $(GOLDEN)/inl $(GOLDEN)/inl-nodwarf $(GOLDEN)/inl-stripped $(GOLDEN)/inl.debug \
                   $(GOLDEN)/cxx $(GOLDEN)/cxx-nodwarf $(GOLDEN)/viaso $(GOLDEN)/libleakscope-golden.so \
                   $(GOLDEN)/e2e

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
