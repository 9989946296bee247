/*
 * pymod._lookfast: ModTree.find and ModTree.within for one address, as a
 * CPython extension type that ModTree (pymod/lookup.py) subclasses.
 * pm_lookfast.c holds the Map type and the module, pm_probe.c the bench's
 * measuring stick (Probe).  Everything here runs with the GIL held, except
 * a list-strategy scan (O(n)), which releases it.
 */
#ifndef PM_LOOKFAST_H
#define PM_LOOKFAST_H

#include "pm_corelib.h"   /* Python.h, pm_exact_u64 */

/* The bench-only type (pm_probe.c): find(addr) parses as Map.find, returns None. */
extern PyTypeObject pm_Probe_Type;

#endif /* PM_LOOKFAST_H */
