# SPDX-License-Identifier: MIT
# Fuzzing. make check replays the committed corpus through each target
# (built with gcc + ASan/UBSan, no libFuzzer needed); make fuzz runs the
# libFuzzer targets (clang-14) for FUZZ_SECONDS each, part of make stress.
.PHONY: fuzz fuzz-bins
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_QUERY_SRC := tests/fuzz/fuzz_query.c control/query.c
FUZZ_REPORT_SRC := tests/fuzz/fuzz_report.c $(filter-out symbolize/main.c,$(wildcard symbolize/*.c))

$(BUILD)/fuzz/replay_query: tests/fuzz/replay.c $(FUZZ_QUERY_SRC) control/internal.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(FUZZ_SAN) -o $@ tests/fuzz/replay.c $(FUZZ_QUERY_SRC)
$(BUILD)/fuzz/replay_report: tests/fuzz/replay.c $(FUZZ_REPORT_SRC) symbolize/translate.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(FUZZ_SAN) -o $@ tests/fuzz/replay.c $(FUZZ_REPORT_SRC) $(TRANSLATE_LIBS)

$(BUILD)/fuzz/fuzz_query: $(FUZZ_QUERY_SRC) control/internal.h
	@mkdir -p $(dir $@)
	clang-14 -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $(FUZZ_QUERY_SRC)
$(BUILD)/fuzz/fuzz_report: $(FUZZ_REPORT_SRC) symbolize/translate.h
	@mkdir -p $(dir $@)
	clang-14 -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -o $@ \
		$(FUZZ_REPORT_SRC) $(TRANSLATE_LIBS)

fuzz-bins: $(BUILD)/fuzz/fuzz_query $(BUILD)/fuzz/fuzz_report
fuzz: fuzz-bins
	@scripts/fuzz.sh $(FUZZ_SECONDS)

tests: $(BUILD)/fuzz/replay_query $(BUILD)/fuzz/replay_report
TESTS += "$(BUILD)/fuzz/replay_query tests/fuzz/corpus/query"
TESTS += "$(BUILD)/fuzz/replay_report tests/fuzz/corpus/report"
