/*
 * pymod._lookfast: ModTree.find and ModTree.within for one address, as a
 * CPython extension type that ModTree (pymod/lookup.py) subclasses.
 * pm_lookfast.c holds the Map type and the module, pm_probe.c the bench's
 * measuring stick (Probe).  Everything here runs with the GIL held, except
 * a list-strategy scan (O(n)), which releases it.
 */
#ifndef PM_LOOKFAST_H
#define PM_LOOKFAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>

/*
 * The argument test of the fast path, shared by Map and Probe so that the
 * bench's floor parses exactly as find does: @o is exactly an int (no
 * subclass: bool, IntEnum and numpy go to the Python path) in
 * 0..2**64-1.  *out gets it; 0 (no error set) when it is anything else.
 */
static inline int pm_exact_u64(PyObject *o, uint64_t *out)
{
	if (!PyLong_CheckExact(o))
		return 0;
#if ULONG_MAX == UINT64_MAX
	*out = PyLong_AsUnsignedLong(o);
#else
	*out = PyLong_AsUnsignedLongLong(o);
#endif
	if (*out == (uint64_t)-1 && PyErr_Occurred()) {
		PyErr_Clear();   /* negative or too big: the Python path names it */
		return 0;
	}
	return 1;
}

/* The bench-only type (pm_probe.c): find(addr) parses as Map.find, returns None. */
extern PyTypeObject pm_Probe_Type;

#endif /* PM_LOOKFAST_H */
