// SPDX-License-Identifier: MIT
// bench/newbench.cc: one allocation call and one free call per operation,
// for callgrind's marginal instruction count of each entry point. Built
// three times: over libstdc++ and glibc, with -ljemalloc, with
// -ltcmalloc_minimal.
//
// usage: newbench MODE OPS    MODE: malloc | new | new_sized | new_array |
//                                   new_aligned | new_nothrow
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

int main(int argc, char **argv)
{
	if (argc != 3) {
		std::fprintf(stderr, "usage: newbench MODE OPS\n");
		return 2;
	}
	const char *mode = argv[1];
	long ops = std::atol(argv[2]);
	unsigned long sum = 0;
	std::align_val_t al{64};

	// One loop per mode, so each measures only its pair of calls.
	if (!std::strcmp(mode, "malloc")) {
		for (long i = 0; i < ops; i++) {
			void *p = std::malloc(32);
			__asm__ volatile("" : : "r"(p) : "memory"); // keep the pair
			std::free(p);
		}
	} else if (!std::strcmp(mode, "new")) {
		for (long i = 0; i < ops; i++) {
			void *p = ::operator new(32);
			__asm__ volatile("" : : "r"(p) : "memory"); // keep the pair
			::operator delete(p);
		}
	} else if (!std::strcmp(mode, "new_sized")) {
		for (long i = 0; i < ops; i++) {
			void *p = ::operator new(32);
			__asm__ volatile("" : : "r"(p) : "memory"); // keep the pair
			::operator delete(p, 32);
		}
	} else if (!std::strcmp(mode, "new_array")) {
		for (long i = 0; i < ops; i++) {
			void *p = ::operator new[](32);
			__asm__ volatile("" : : "r"(p) : "memory"); // keep the pair
			::operator delete[](p);
		}
	} else if (!std::strcmp(mode, "new_aligned")) {
		for (long i = 0; i < ops; i++) {
			void *p = ::operator new(64, al);
			__asm__ volatile("" : : "r"(p) : "memory"); // keep the pair
			::operator delete(p, al);
		}
	} else if (!std::strcmp(mode, "new_nothrow")) {
		for (long i = 0; i < ops; i++) {
			void *p = ::operator new(32, std::nothrow);
			__asm__ volatile("" : : "r"(p) : "memory"); // keep the pair
			::operator delete(p, std::nothrow);
		}
	} else {
		std::fprintf(stderr, "newbench: unknown mode %s\n", mode);
		return 2;
	}
	std::printf("ops=%ld sum=%lu\n", ops, sum);
	return 0;
}
