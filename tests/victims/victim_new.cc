// SPDX-License-Identifier: MIT
// tests/victims/victim_new.cc: every form of operator new and delete,
// built three times: over libstdc++ and glibc, linked with -ljemalloc,
// and with -ltcmalloc_minimal. Run as a batch program:
//
//   victim_new K      leaks K x 1000 new Obj, K x 500 new Obj[4],
//                     K x 300 aligned new, K x 200 nothrow new; frees as
//                     many blocks again through every delete form; checks
//                     new_handler, std::bad_alloc and nothrow failure.
//
// Prints "ok NAME" or "bad NAME" lines, then "allocator NAME" (which
// library defines operator new) and "done".
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#define NOINLINE __attribute__((noinline))

struct Obj {
	long v[5];
};

struct alignas(64) Wide {
	char bytes[200];
};

static std::vector<void *> sink;
static int bad;

static void check(bool cond, const char *name)
{
	if (!cond) {
		std::printf("bad %s\n", name);
		bad++;
	}
}

NOINLINE static void leak_obj()
{
	Obj *o = new Obj();
	o->v[0] = 1;
	sink.push_back(o);
}

NOINLINE static void leak_array()
{
	Obj *a = new Obj[4];
	a[3].v[4] = 2;
	sink.push_back(a);
}

NOINLINE static void leak_aligned()
{
	Wide *w = new Wide();
	check(((uintptr_t)w & 63) == 0, "aligned new is aligned");
	sink.push_back(w);
}

NOINLINE static void leak_nothrow()
{
	Obj *o = new (std::nothrow) Obj();
	check(o != nullptr, "nothrow new succeeds");
	sink.push_back(o);
}

// Allocates and frees through every form; nothing of it is live after.
NOINLINE static void churn(long rounds)
{
	for (long i = 0; i < rounds; i++) {
		void *p;
		p = ::operator new(40);
		std::memset(p, 1, 40);
		::operator delete(p);
		p = ::operator new(40);
		::operator delete(p, 40);
		p = ::operator new[](100);
		std::memset(p, 2, 100);
		::operator delete[](p);
		p = ::operator new[](100);
		::operator delete[](p, 100);
		p = ::operator new(40, std::nothrow);
		::operator delete(p, std::nothrow);
		p = ::operator new[](100, std::nothrow);
		::operator delete[](p, std::nothrow);
		std::align_val_t al{128};
		p = ::operator new(300, al);
		check(((uintptr_t)p & 127) == 0, "operator new(align_val_t) aligns");
		std::memset(p, 3, 300);
		::operator delete(p, al);
		p = ::operator new(300, al);
		::operator delete(p, 300, al);
		p = ::operator new[](300, al);
		check(((uintptr_t)p & 127) == 0, "operator new[](align_val_t) aligns");
		::operator delete[](p, al);
		p = ::operator new[](300, al);
		::operator delete[](p, 300, al);
		p = ::operator new(300, al, std::nothrow);
		check(p && ((uintptr_t)p & 127) == 0, "nothrow aligned new aligns");
		::operator delete(p, al, std::nothrow);
		p = ::operator new[](300, al, std::nothrow);
		check(p && ((uintptr_t)p & 127) == 0, "nothrow aligned new[] aligns");
		::operator delete[](p, al, std::nothrow);
		p = ::operator new(0);
		check(p != nullptr, "operator new(0) gives a block");
		::operator delete(p);
		delete new Obj();
		delete[] new Obj[3];
		delete new Wide();
	}
}

static int handler_calls;

static void handler()
{
	if (++handler_calls >= 2)
		std::set_new_handler(nullptr);
}

// Failure semantics: a request no allocator can meet.
NOINLINE static void failures()
{
	const size_t huge = (size_t)1 << 62;
	bool threw = false;

	try {
		void *p = ::operator new(huge);
		sink.push_back(p);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	check(threw, "operator new of 2^62 throws bad_alloc");
	threw = false;
	try {
		void *p = ::operator new[](huge, std::align_val_t{64});
		sink.push_back(p);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	check(threw, "aligned operator new[] of 2^62 throws bad_alloc");
	check(::operator new(huge, std::nothrow) == nullptr, "nothrow new of 2^62 returns null");
	check(::operator new[](huge, std::align_val_t{64}, std::nothrow) == nullptr,
	      "nothrow aligned new[] of 2^62 returns null");
	std::set_new_handler(handler);
	threw = false;
	try {
		void *p = ::operator new(huge);
		sink.push_back(p);
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	check(threw && handler_calls == 2, "new_handler runs until it gives up, then bad_alloc");
}

static const char *module_of(const char *sym)
{
	Dl_info di;
	void *f = dlsym(RTLD_NEXT, sym);
	if (!f || !dladdr(f, &di) || !di.dli_fname)
		return "none";
	const char *slash = std::strrchr(di.dli_fname, '/');
	return slash ? slash + 1 : di.dli_fname;
}

int main(int argc, char **argv)
{
	long k = argc > 1 ? std::atol(argv[1]) : 1;

	setvbuf(stdout, nullptr, _IOLBF, 0);
	sink.reserve(2100 * k + 16);
	for (long i = 0; i < 1000 * k; i++)
		leak_obj();
	for (long i = 0; i < 500 * k; i++)
		leak_array();
	for (long i = 0; i < 300 * k; i++)
		leak_aligned();
	for (long i = 0; i < 200 * k; i++)
		leak_nothrow();
	churn(200 * k);
	failures();
	// The leaked blocks are still intact.
	for (size_t i = 0; i < 1000 * (size_t)k; i++)
		check(static_cast<Obj *>(sink[i])->v[0] == 1, "leaked Obj intact");
	std::printf("allocator %s\n", module_of("_Znwm"));
	std::printf(bad ? "bad total %d\n" : "ok all checks\n", bad);
	std::printf("done\n");
	return bad ? 1 : 0;
}
