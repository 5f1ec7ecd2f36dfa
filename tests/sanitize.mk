# SPDX-License-Identifier: MIT
# make asan / make tsan: the preload's core and the unit tests (the
# concurrency test among them) built with AddressSanitizer+UBSan or
# ThreadSanitizer, then run. The preload itself cannot run under either
# inside a host: both runtimes interpose malloc first, so a host's
# allocations would never reach leakscope's hooks (see README).
.PHONY: asan tsan
SAN_SRC := $(filter-out preload/hooks.c preload/init.c,$(PRELOAD_SRC))

define sanitizer
$(BUILD)/$(1)/obj/%.o: %.c preload/internal.h control/internal.h
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS_BASE) $(2) -ftls-model=initial-exec -c -o $$@ $$<
$(BUILD)/$(1)/libcore.a: $$(SAN_SRC:%.c=$(BUILD)/$(1)/obj/%.o)
	@rm -f $$@
	ar rcs $$@ $$^
$(BUILD)/$(1)/%: tests/unit/%.c tests/unit/check.h $(BUILD)/$(1)/libcore.a
	$$(CC) $$(CFLAGS_BASE) $(2) -o $$@ $$< $(BUILD)/$(1)/libcore.a -ldl -lm -lpthread
$(1): $(UNIT_TESTS:%=$(BUILD)/$(1)/%)
	@$(3) tests/run.sh $(UNIT_TESTS:%=$(BUILD)/$(1)/%)
endef

# Under TSan the frame-pointer unwinder: libunwind's per-thread cache has a
# key destructor that locks a mutex after TSan has torn the exiting
# thread down, which crashes inside TSan's own interceptor.
$(eval $(call sanitizer,asan,-fsanitize=address$(comma)undefined -fno-sanitize-recover=all -O1,))
$(eval $(call sanitizer,tsan,-fsanitize=thread -O1,LEAKSCOPE_UNWIND=fp))
