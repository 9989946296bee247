/*
 * pymod._symfast: the one-address symbolizer path as a CPython extension.
 * pm_symobj.c holds the Symbol type, pm_names.c the name tables (Names),
 * pm_symfast.c the lookup and the module.  Everything here runs with the
 * GIL held.
 *
 * Nothing here trusts an address or a layout handed in from Python: the
 * core's functions are found by the extension itself (dlsym), a symmap is
 * named by its handle and held by a counted reference, and the names the
 * C path reads live in tuples of bytes that only pm_names.c builds and
 * that never leave C.
 */
#ifndef PM_SYMFAST_H
#define PM_SYMFAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/*
 * An owner entry, built by Names.put() and never handed to Python code: the
 * string table (bytes), the uint32 name offsets (bytes, native order, each
 * below the string table's length), module (str or None), build id (bytes
 * or None).
 */
enum { E_STRTAB, E_NAMES, E_MODULE, E_BUILD_ID, E_LEN };

/* A tag -> entry registry: the only place entries live. */
typedef struct {
	PyObject_HEAD
	PyObject *by_tag;     /* dict {int: entry}; private, never handed out */
	uint64_t version;     /* bumped by every change of by_tag */
} pm_Names;

extern PyTypeObject pm_Names_Type;
extern PyTypeObject pm_Symbol_Type;

/* The entry of @tag (borrowed from @names, valid until its next change),
 * or NULL without an error set when there is none. */
PyObject *pm_names_entry(pm_Names *names, int64_t tag);

/* A Symbol whose name is symbol @sym of @entry, decoded when first asked for. */
PyObject *pm_symbol_lazy(PyObject *entry, int64_t sym, uint64_t offset, uint64_t size,
			 int backtrace);
/* The formatter Symbol.format/__str__ call: f(name, offset, size, module, build_id, fmt). */
int pm_symbol_set_formatter(PyObject *fn);

#endif /* PM_SYMFAST_H */
