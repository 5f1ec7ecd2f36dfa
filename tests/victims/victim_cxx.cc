// SPDX-License-Identifier: MIT
// tests/victims/victim_cxx.cc: a C++ victim. It leaks through operator
// new on command, and exercises what a preload could silently break:
// exceptions and backtrace(). Same line protocol as victim.c:
//
//   new COUNT SIZE     leak COUNT new char[SIZE] and COUNT new Node
//   anew COUNT         leak COUNT over-aligned objects (aligned new)
//   newdel COUNT       new and delete at once, every form
//   throw COUNT        throw and catch COUNT exceptions, 3 frames deep
//   bt                 print what backtrace() sees
//   owner              print which library provides the unwinder symbols
//   quit
#include <dlfcn.h>
#include <execinfo.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#define NOINLINE __attribute__((noinline))

struct Node {
	long payload[6];
	Node *next;
};

struct alignas(128) Wide {
	char bytes[300];
};

static std::vector<void *> sink;

NOINLINE static void leak_new_array(size_t size)
{
	char *p = new char[size];
	std::memset(p, 1, size);
	sink.push_back(p);
}

NOINLINE static void leak_new_object()
{
	Node *n = new Node();
	sink.push_back(n);
}

NOINLINE static void leak_aligned_new()
{
	Wide *w = new Wide();
	if (reinterpret_cast<unsigned long>(w) & 127) {
		std::printf("error: aligned new misaligned\n");
		return;
	}
	sink.push_back(w);
}

NOINLINE static void new_delete(long count)
{
	for (long i = 0; i < count; i++) {
		delete new Node();
		delete[] new char[100 + i % 300];
		delete new Wide();
		std::string s(200, 'x');
		std::vector<int> v(i % 50 + 1);
		v.push_back((int)s.size());
	}
}

NOINLINE static int thrower(int i)
{
	if (i >= 0)
		throw std::runtime_error("boom " + std::to_string(i));
	return i;
}

NOINLINE static int middle(int i)
{
	return thrower(i) + 1;
}

NOINLINE static long throw_loop(long count)
{
	long sum = 0;
	for (long i = 0; i < count; i++) {
		try {
			sum += middle((int)(i % 1000));
		} catch (const std::runtime_error &e) {
			sum += (long)std::strlen(e.what()) + i % 7;
		}
	}
	return sum;
}

static const char *module_of(const void *addr)
{
	Dl_info di;
	if (!addr || !dladdr(addr, &di) || !di.dli_fname)
		return "none";
	const char *slash = std::strrchr(di.dli_fname, '/');
	return slash ? slash + 1 : di.dli_fname;
}

static const char *name_of(const void *addr)
{
	Dl_info di;
	if (!addr || !dladdr(addr, &di) || !di.dli_sname)
		return "?";
	return di.dli_sname;
}

NOINLINE static void bt_inner()
{
	void *frames[64];
	int n = backtrace(frames, 64);
	std::printf("backtrace frames: %d\n", n);
	for (int i = 0; i < n && i < 4; i++)
		std::printf("  #%d %s (%s)\n", i, name_of(frames[i]), module_of(frames[i]));
}

NOINLINE static void bt_outer()
{
	bt_inner();
	std::printf("bt done\n");
}

int main()
{
	char line[256], cmd[32];
	long count;
	size_t size;

	setvbuf(stdout, nullptr, _IOLBF, 0);
	while (std::fgets(line, sizeof(line), stdin)) {
		if (std::sscanf(line, "%31s", cmd) != 1)
			continue;
		std::string c = cmd;
		if (c == "quit")
			break;
		if (c == "new" && std::sscanf(line, "%*s %ld %zu", &count, &size) == 2) {
			for (long i = 0; i < count; i++) {
				leak_new_array(size);
				leak_new_object();
			}
		} else if (c == "anew" && std::sscanf(line, "%*s %ld", &count) == 1) {
			for (long i = 0; i < count; i++)
				leak_aligned_new();
		} else if (c == "newdel" && std::sscanf(line, "%*s %ld", &count) == 1) {
			new_delete(count);
		} else if (c == "throw" && std::sscanf(line, "%*s %ld", &count) == 1) {
			std::printf("throw checksum: %ld\n", throw_loop(count));
		} else if (c == "bt") {
			bt_outer();
		} else if (c == "owner") {
			const char *syms[] = { "_Unwind_RaiseException", "_Unwind_Backtrace",
					       "_Unwind_Resume", "backtrace" };
			for (const char *s : syms)
				std::printf("%s from %s\n", s, module_of(dlsym(RTLD_DEFAULT, s)));
		} else {
			std::printf("error: bad command: %s", line);
			continue;
		}
		std::printf("done\n");
	}
	return 0;
}
