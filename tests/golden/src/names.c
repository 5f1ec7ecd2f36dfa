/* SPDX-License-Identifier: MIT */
/* names.c: golden-test program whose functions carry C++ and Rust mangled symbol names (asm labels), for demangling. */
#include "fixture.h"

#define NOINLINE __attribute__((noinline))
#define NAMED(sym) __asm__(sym)

/* Not a valid mangled name, though it starts like a Rust v0 one: shown raw. */
NOINLINE void not_mangled(void) NAMED("_Rnot_a_name");
/* C++ with an LLVM suffix: a clone, as __cxa_demangle and c++filt say. */
NOINLINE void cxx_clone(void) NAMED("_Z1fv.llvm.42");
/* Rust v0: a closure, and a generic instance with an LLVM suffix. */
NOINLINE void v0_closure(void) NAMED("_RNCNvCs1_8rustleak4main0B3_");
NOINLINE void v0_generic(void) NAMED("_RINvCs1234_8rustleak8leak_vecmEB2_.llvm.7");
/* Rust legacy: escapes, a hash part, and an LLVM suffix. */
NOINLINE void legacy_llvm(void) NAMED("_ZN8rustleak8leak_vec17h0123456789abcdefE.llvm.1234567890");
NOINLINE void legacy_escapes(void)
	NAMED("_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE");

void not_mangled(void)
{
	fx_capture(0, 2, 64);
}

void cxx_clone(void)
{
	not_mangled();
}

void v0_closure(void)
{
	cxx_clone();
}

void v0_generic(void)
{
	v0_closure();
}

void legacy_llvm(void)
{
	v0_generic();
}

void legacy_escapes(void)
{
	legacy_llvm();
}

int main(int argc, char **argv)
{
	fx_begin();
	legacy_escapes();
	return fx_finish(argc, argv);
}
