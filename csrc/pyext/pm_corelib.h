/*
 * The lookup core as pymod's small CPython extensions (_symfast, _lookfast)
 * reach it: through the cffi library the package has already loaded, so
 * that every caller uses the one copy of the core (one RCU domain, one
 * registry of maps and symmaps, one set of fork handlers); and the address
 * test their fast paths share.
 */
#ifndef PM_CORELIB_H
#define PM_CORELIB_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>

/*
 * The dlopen handle of the loaded pymod._lookup_cffi, for dlsym.  Found
 * with RTLD_NOLOAD: it is loaded by then (imported first), and nothing is
 * ever loaded here.  Caller: a module init, once, GIL held.  NULL with an
 * error set (the import's, or an ImportError naming @who).
 */
void *pm_core_library(const char *who);

/* An entry point @who needs is missing from the core: ImportError naming
 * @who set, -1 returned (for a module init's error path). */
int pm_core_missing(const char *who);

/*
 * A serialized RCU reader record of the core's (pm_rcu.h), for the read
 * sections an extension runs whole under the GIL: the GIL lets one thread
 * at a time in, and none of those sections releases it.  (The extensions
 * are single-phase modules, so no subinterpreter with a GIL of its own can
 * import them, and a free-threaded build turns the GIL back on for them.)
 * Caller: a module init, once, GIL held, with @h from pm_core_library().
 * NULL with an error set.
 */
struct pm_rcu_reader;
struct pm_rcu_reader *pm_core_gil_reader(void *h, const char *who);

/*
 * The argument test of every fast path (and of the bench's Probe, so that
 * the floor parses exactly as find does): @o is exactly an int (no
 * subclass: bool, IntEnum and numpy go to the Python path) in
 * 0..2**64-1.  *out gets it; 0 (no error set) when it is anything else.
 */
static inline int pm_exact_u64(PyObject *o, uint64_t *out)
{
	if (!PyLong_CheckExact(o))
		return 0;
#if ULONG_MAX == UINT64_MAX
	*out = PyLong_AsUnsignedLong(o);   /* no byte-array detour for 64-bit values */
#else
	*out = PyLong_AsUnsignedLongLong(o);
#endif
	if (*out == (uint64_t)-1 && PyErr_Occurred()) {
		PyErr_Clear();   /* negative or too big: the Python path names it */
		return 0;
	}
	return 1;
}

#endif /* PM_CORELIB_H */
