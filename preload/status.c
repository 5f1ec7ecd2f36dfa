/* SPDX-License-Identifier: MIT */
/* preload/status.c: the /leak-status JSON object. */
#include "internal.h"

#include <unistd.h>

static void field_u64(struct ls_buf *b, const char *key, uint64_t v)
{
	ls_buf_str(b, ", \"");
	ls_buf_str(b, key);
	ls_buf_str(b, "\": ");
	ls_buf_u64(b, v);
}

void ls_status_json(struct ls_buf *b)
{
	struct ls_window_info w;
	uint64_t live = 0, live_bytes = 0;
	struct ls_weights weights = { 0 };

	ls_window_get(&w);
	if (w.on) {
		ls_sample_drain(); /* frees deferred by signal handlers */
		ls_arena_live(&w, &live, &live_bytes, &weights);
	}
	ls_buf_str(b, w.on ? "{\"on\": true" : "{\"on\": false");
	ls_buf_str(b, !w.on ? ", \"mode\": null" : w.sampling_bytes ? ", \"mode\": \"bytes\"" :
							     ", \"mode\": \"count\"");
	field_u64(b, "sampling", w.on ? w.sampling : 0);
	field_u64(b, "sampling_bytes", w.on ? w.sampling_bytes : 0);
	ls_buf_str(b, ", \"window_seconds\": ");
	ls_buf_fixed(b, w.on && w.end_mono_ns > w.start_mono_ns ?
			w.end_mono_ns - w.start_mono_ns : 0, 3, 1000000000ull);
	field_u64(b, "sampled", w.on ? w.sampled : 0);
	field_u64(b, "live_tracked", live);
	field_u64(b, "live_bytes", live_bytes);
	ls_buf_str(b, ", \"estimated_bytes\": ");
	ls_buf_u128(b, w.on ? ls_weights_bytes(&weights, &w, live_bytes) : 0);
	ls_buf_str(b, ", \"estimated_count\": ");
	ls_buf_u128(b, w.on ? ls_weights_count(&weights, &w, live) : 0);
	ls_buf_str(b, ", \"window_start\": ");
	ls_buf_fixed(b, w.on ? w.start_real_ns : 0, 6, 1000000000ull);
	field_u64(b, "stacks", w.on ? w.stacks : 0);
	field_u64(b, "dropped", w.on ? w.dropped : 0);
	field_u64(b, "memory_bytes", ls_mem_used());
	field_u64(b, "max_memory", ls_cfg.max_memory);
	field_u64(b, "invalid_frees", ls_sample_invalid_frees());
	ls_buf_str(b, ", \"dropped_reasons\": {");
	for (unsigned i = 0; i < LS_DROP_COUNT; i++) {
		if (i)
			ls_buf_str(b, ", ");
		ls_buf_json_str(b, ls_drop_name(i));
		ls_buf_str(b, ": ");
		ls_buf_u64(b, w.on ? ls_window_dropped_why(i) : 0);
	}
	ls_buf_ch(b, '}');
	field_u64(b, "arena_bytes", ls_region_size());
	if (!ls_region_size()) {
		ls_buf_str(b, ", \"arena_problem\": ");
		ls_buf_json_str(b, ls_region_problem());
	}
	field_u64(b, "pid", (uint64_t)getpid());
	field_u64(b, "ppid", (uint64_t)getppid());
	field_u64(b, "tree_top", (uint64_t)ls_tree_top());
	ls_buf_str(b, ", \"socket\": ");
	if (ls_tree_socket())
		ls_buf_json_str(b, ls_tree_socket());
	else
		ls_buf_str(b, "null");
	char text[512];
	ls_proc_exe(text, sizeof(text));
	ls_buf_str(b, ", \"exe\": ");
	ls_buf_json_str(b, text);
	ls_proc_cmdline(text, 256);
	ls_buf_str(b, ", \"cmdline\": ");
	ls_buf_json_str(b, text);
	ls_buf_str(b, ", \"unwinder\": ");
	ls_buf_json_str(b, ls_unwind_name());
	ls_coverage_json(b);
	ls_buf_str(b, ", \"version\": \"" LS_VERSION "\"}\n");
}
