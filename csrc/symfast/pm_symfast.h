/*
 * pymod._symfast: the one-address symbolizer path as a CPython extension.
 * pm_symobj.c holds the Symbol type, pm_symfast.c the lookup and the module.
 * Everything here runs with the GIL held.
 */
#ifndef PM_SYMFAST_H
#define PM_SYMFAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/*
 * An owner entry, built by pymod.symbolize.tables.fast_entry(): the string
 * table (bytes), the address and count of the uint32 name offsets, module,
 * build id, and the array the address points into (kept alive with it).
 */
enum { E_STRTAB, E_NAMES, E_COUNT, E_MODULE, E_BUILD_ID, E_KEEP, E_LEN };

extern PyTypeObject pm_Symbol_Type;

/* A Symbol whose name is symbol @sym of @entry, decoded when first asked for. */
PyObject *pm_symbol_lazy(PyObject *entry, int64_t sym, uint64_t offset, uint64_t size,
			 int backtrace);
/* The formatter Symbol.format/__str__ call: f(name, offset, size, module, build_id, fmt). */
int pm_symbol_set_formatter(PyObject *fn);

#endif /* PM_SYMFAST_H */
