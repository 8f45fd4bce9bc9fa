/*
 * fpstate.c - the floating-point control state bsnn computes with, and the
 * host's state kept apart from it.
 *
 * Every thread that computes for bsnn (the caller inside a compute
 * function, the pool's workers) runs with ONE fixed state: round to
 * nearest, every exception masked, and subnormals flushed to zero (FTZ for
 * results, DAZ for inputs) unless bsnn_set_flush_subnormals(0) turned that
 * off. A subnormal operand or result costs a microcode assist of about a
 * hundred cycles on x86 cores, and training drives many values there
 * (small gradients, decayed moments); flushing them changes results only
 * below 2^-126. A fixed state also keeps results independent of how the
 * host left its own register (a rounding mode, an unmasked exception) and
 * identical on the caller and the workers, so for every thread count.
 *
 * On x86-64 the state is MXCSR; elsewhere these functions do nothing.
 */
#include "common/common.h"

#include <stdatomic.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <xmmintrin.h>
#define FP_X86 1
#endif

static _Atomic int flush_subnormals = 1;

/* The host's state at the innermost active compute scope of this thread,
 * put back around callbacks (bsnn__fp_host_begin). */
static _Thread_local unsigned host_state;
static _Thread_local int host_active;

#ifdef FP_X86
/* MXCSR: bits 0-5 are sticky exception flags, 6 DAZ, 7-12 the exception
 * masks, 13-14 the rounding mode (0 = to nearest), 15 FTZ. */
#define MXCSR_FLAGS 0x003Fu
#define MXCSR_MASK_ALL 0x1F80u
#define MXCSR_DAZ 0x0040u
#define MXCSR_FTZ 0x8000u

static unsigned fp_read(void) { return _mm_getcsr(); }

/* LDMXCSR costs some ten cycles and orders later SSE work after it: skip
 * it when the register already holds the value. */
static void fp_write(unsigned current, unsigned want)
{
    if (current != want) _mm_setcsr(want);
}

unsigned bsnn__fp_state(void)
{
    return MXCSR_MASK_ALL | (atomic_load_explicit(&flush_subnormals, memory_order_relaxed)
                                 ? MXCSR_FTZ | MXCSR_DAZ
                                 : 0u);
}

unsigned bsnn__fp_current(void) { return fp_read() & ~MXCSR_FLAGS; }

void bsnn__fp_set(unsigned state)
{
    unsigned now = fp_read();
    /* The sticky flags are not part of the state: keep what is there. */
    fp_write(now, (now & MXCSR_FLAGS) | state);
}
#else
static unsigned fp_read(void) { return 0; }
static void fp_write(unsigned current, unsigned want) { (void)current, (void)want; }
unsigned bsnn__fp_state(void) { return 0; }
unsigned bsnn__fp_current(void) { return 0; }
void bsnn__fp_set(unsigned state) { (void)state; }
#endif

bsnn_status bsnn_set_flush_subnormals(int on)
{
    BSNN_ENTER();
    BSNN_FAIL_IF(on != 0 && on != 1, BSNN_E_ARG, "on = %d is neither 0 nor 1", on);
    atomic_store_explicit(&flush_subnormals, on, memory_order_relaxed);
    return BSNN_OK;
}

int bsnn_get_flush_subnormals(void)
{
    return atomic_load_explicit(&flush_subnormals, memory_order_relaxed);
}

bsnn__fp_scope bsnn__fp_enter(void)
{
    bsnn__fp_scope scope = {fp_read(), host_state, host_active};
    host_state = scope.saved;
    host_active = 1;
    bsnn__fp_set(bsnn__fp_state());
    return scope;
}

void bsnn__fp_leave(bsnn__fp_scope *scope)
{
    /* Exactly as the host had it, sticky flags included: exceptions that
     * bsnn's own arithmetic raised (inexact, a deliberate overflow test)
     * are not the host's. */
    fp_write(fp_read(), scope->saved);
    host_state = scope->outer_state;
    host_active = scope->outer_active;
}

void bsnn__fp_host_begin(void)
{
    if (host_active) fp_write(fp_read(), host_state);
}

void bsnn__fp_host_end(void)
{
    /* The setting may have changed inside the callback: take it anew. */
    if (host_active) bsnn__fp_set(bsnn__fp_state());
}
