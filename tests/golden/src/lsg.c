/* SPDX-License-Identifier: MIT */
/* lsg.c: libleakscope-golden.so, a stand-in for leakscope's own frames at the top of a stack. */
void lsg_alloc(void (*hook)(void));

__attribute__((noinline)) void lsg_alloc(void (*hook)(void))
{
	hook();
}
