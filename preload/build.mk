# SPDX-License-Identifier: MIT
# preload/ and control/: build/libleakscope.so. Only the interposed
# functions are exported (-fvisibility=hidden); libunwind and
# libmicrohttpd are dlopen'd at run time, never linked.
PRELOAD_SRC := $(wildcard preload/*.c) $(wildcard control/*.c)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(BUILD)/obj/%.o)
PRELOAD_CFLAGS := $(CFLAGS_BASE) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
	-fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
PRELOAD_LIBS := -ldl -lm -lpthread

# The soname is versioned; build/libleakscope.so keeps its plain name.
$(BUILD)/libleakscope.so: $(PRELOAD_OBJ)
	$(CC) -shared -Wl,-soname,libleakscope.so.$(SOVERSION) -Wl,-z,now -o $@ $^ $(PRELOAD_LIBS)

$(BUILD)/obj/preload/%.o: preload/%.c preload/internal.h control/internal.h
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -c -o $@ $<

# The hooks keep no frame of their own on the fast path: without a frame
# pointer GCC moves the prologue into the rare slow branch. Our frames are
# stripped from every stack, and an fp walk still chains through a hook,
# which never touches rbp.
$(BUILD)/obj/preload/hooks.o $(BUILD)/obj/preload/cxx.o: $(BUILD)/obj/preload/%.o: preload/%.c preload/internal.h
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -fomit-frame-pointer -fexceptions -c -o $@ $<

# A C++ exception (std::bad_alloc from the next operator new) may unwind
# through these frames: they carry unwind tables on every target.
$(BUILD)/obj/preload/cxx_next.o $(BUILD)/obj/preload/tcmalloc.o: $(BUILD)/obj/preload/%.o: preload/%.c preload/internal.h
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -fexceptions -c -o $@ $<

$(BUILD)/obj/control/%.o: control/%.c preload/internal.h control/internal.h
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -c -o $@ $<
