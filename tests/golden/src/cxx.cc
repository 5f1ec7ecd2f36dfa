// SPDX-License-Identifier: MIT
// cxx.cc: golden-test program for C++ names: namespaces, templates, overloads, and "via operator new".
#include <cstddef>
#include <cstdlib>
#include <new>

#include "fixture.h"

extern "C" void *__libc_malloc(size_t);

static bool armed;

// A stand-in for leakscope's malloc hook: records the stack of the next
// allocation, leaving its own frame out the way the preload does.
extern "C" void *malloc(size_t n)
{
	void *p = __libc_malloc(n);

	if (armed) {
		armed = false;
		fx_capture(1, 2, n * 2);
	}
	return p;
}

namespace shop {
template <typename T> struct Basket {
	T *item = nullptr;
	__attribute__((noinline)) void add(T v)
	{
		armed = true;
		item = new T(v); // L:basket_new
	}
};

__attribute__((noinline)) int *make(int v)
{
	armed = true;
	return new int(v); // L:make_int
}

__attribute__((noinline)) double *make(double v)
{
	armed = true;
	return new double(v); // L:make_double
}
} // namespace shop

namespace {
__attribute__((noinline)) void hidden()
{
	shop::make(2.5); // L:hidden_calls_make
}
} // namespace

int main(int argc, char **argv)
{
	fx_begin();
	shop::Basket<long> b;
	b.add(7); // L:main_calls_add
	shop::make(1); // L:main_calls_make
	hidden(); // L:main_calls_hidden
	return fx_finish(argc, argv);
}
