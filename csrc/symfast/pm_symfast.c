/*
 * pymod._symfast: Symbolizer.symbolize(addr) for one address, in C.
 *
 * Why a CPython extension beside the cffi core: one address through cffi
 * costs a call, a struct-field read per answer field, the name's decoding
 * and a Symbol built in Python, about 2 us; this is one C function and a
 * Symbol whose name is decoded on first use (pm_symobj.c).  It holds no
 * symbol data and no lookup code: it calls the cffi library's
 * pm_symmap_lookup1() through the pointer it is given (one copy of the core
 * and of its RCU state in the process), and takes names from the Python
 * side's owner entries.
 *
 * Concurrency: runs with the GIL held throughout, so the tag -> entry dict
 * in the one-slot cell cannot be replaced during a call (only Python code
 * replaces it).  Every table the lookup can reach had its tag registered in
 * that dict before it was published, and a tag leaves the dict only after
 * its table was unpublished and a grace period passed.  pm_symmap_lookup1()
 * takes no lock, so a writer waiting out a grace period (GIL released)
 * never waits for us.
 *
 * Anything unusual (not exactly an int, out of range, other keywords, a
 * missing tag) goes to the Python path, which owns the error messages.
 */
#include "pm_symfast.h"   /* Python.h first, as it requires */

#include <limits.h>
#include "pymod_lookup.h"

typedef uint8_t (*lookup1_fn)(pm_symmap *, uint64_t, int, struct pm_sym_answer *);

typedef struct {
	PyObject_HEAD
	lookup1_fn lookup1;
	pm_symmap *sm;
	PyObject *keep;          /* owns sm: the SymMap */
	PyObject *cell;          /* list [ {tag: owner entry} ] */
	PyObject *slow;          /* the Python path: slow(addr, backtrace=False) */
	/* The last answering tag's entry: valid while cache_dict is the cell's dict. */
	PyObject *cache_dict;
	PyObject *cache_entry;   /* borrowed from cache_dict */
	int64_t cache_tag;
} Fast;

static PyObject *fallback(Fast *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	return PyObject_Vectorcall(self->slow, args, nargsf, kwnames);
}

/* An exact int in 0..2**64-1 into *out; 0 (no error set) otherwise. */
static int exact_u64(PyObject *o, uint64_t *out)
{
	if (!PyLong_CheckExact(o))
		return 0;
#if ULONG_MAX == UINT64_MAX
	*out = PyLong_AsUnsignedLong(o);   /* no byte-array detour for 64-bit values */
#else
	*out = PyLong_AsUnsignedLongLong(o);
#endif
	if (*out == (uint64_t)-1 && PyErr_Occurred()) {
		PyErr_Clear();
		return 0;
	}
	return 1;
}

/* The entry of @tag in the cell's dict, borrowed; NULL (maybe with an error) if none. */
static PyObject *entry_of(Fast *self, int64_t tag)
{
	PyObject *dict = PyList_GET_ITEM(self->cell, 0), *key, *e;

	if (dict == self->cache_dict && tag == self->cache_tag)
		return self->cache_entry;
	key = PyLong_FromLongLong(tag);
	if (!key)
		return NULL;
	e = PyDict_GetItemWithError(dict, key);
	Py_DECREF(key);
	if (!e || !PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != E_LEN)
		return NULL;
	Py_XSETREF(self->cache_dict, Py_NewRef(dict));
	self->cache_entry = e;
	self->cache_tag = tag;
	return e;
}

static PyObject *Fast_symbolize(Fast *self, PyObject *const *args, size_t nargsf,
				PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	PyObject *bt = Py_False, *e;
	struct pm_sym_answer a;
	uint64_t addr;

	if (nargs < 1 || nargs + nkw > 2)
		return fallback(self, args, nargsf, kwnames);
	if (nkw && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "backtrace"))
		return fallback(self, args, nargsf, kwnames);
	if (nargs + nkw == 2)
		bt = args[1];
	if ((bt != Py_True && bt != Py_False) || !exact_u64(args[0], &addr))
		return fallback(self, args, nargsf, kwnames);

	if (self->lookup1(self->sm, addr, bt == Py_True, &a) != PM_SYM_FOUND)
		Py_RETURN_NONE;
	e = entry_of(self, a.table);
	if (e)
		return pm_symbol_lazy(e, a.sym, a.offset, a.size, bt == Py_True);
	if (PyErr_Occurred())
		return NULL;
	return fallback(self, args, nargsf, kwnames);
}

static int Fast_init(Fast *self, PyObject *args, PyObject *kwds)
{
	unsigned long long fn, sm;
	PyObject *keep, *cell, *slow;

	if (kwds && PyDict_GET_SIZE(kwds)) {
		PyErr_SetString(PyExc_TypeError, "Fast() takes no keyword arguments");
		return -1;
	}
	if (!PyArg_ParseTuple(args, "KKOO!O:Fast", &fn, &sm, &keep, &PyList_Type, &cell, &slow))
		return -1;
	if (!fn || !sm || PyList_GET_SIZE(cell) != 1 || !PyDict_Check(PyList_GET_ITEM(cell, 0)) ||
	    !PyCallable_Check(slow)) {
		PyErr_SetString(PyExc_ValueError, "Fast(): bad arguments");
		return -1;
	}
	self->lookup1 = (lookup1_fn)(uintptr_t)fn;
	self->sm = (pm_symmap *)(uintptr_t)sm;
	Py_XSETREF(self->keep, Py_NewRef(keep));
	Py_XSETREF(self->cell, Py_NewRef(cell));
	Py_XSETREF(self->slow, Py_NewRef(slow));
	Py_CLEAR(self->cache_dict);
	return 0;
}

static int Fast_traverse(Fast *self, visitproc visit, void *arg)
{
	Py_VISIT(self->keep);
	Py_VISIT(self->cell);
	Py_VISIT(self->slow);
	Py_VISIT(self->cache_dict);
	return 0;
}

static int Fast_clear(Fast *self)
{
	Py_CLEAR(self->keep);
	Py_CLEAR(self->cell);
	Py_CLEAR(self->slow);
	Py_CLEAR(self->cache_dict);
	return 0;
}

static void Fast_dealloc(Fast *self)
{
	PyObject_GC_UnTrack(self);
	Fast_clear(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Fast_call_guard(Fast *self, PyObject *const *args, size_t nargsf,
				 PyObject *kwnames)
{
	if (!self->cell) {
		PyErr_SetString(PyExc_RuntimeError, "Fast: not initialized");
		return NULL;
	}
	return Fast_symbolize(self, args, nargsf, kwnames);
}

static PyMethodDef Fast_methods[] = {
	{ "symbolize", (PyCFunction)(void (*)(void))Fast_call_guard,
	  METH_FASTCALL | METH_KEYWORDS, "symbolize(addr, backtrace=False) -> Symbol | None" },
	{ NULL, NULL, 0, NULL }
};

static PyTypeObject FastType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pymod._symfast.Fast",
	.tp_basicsize = sizeof(Fast),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Fast(lookup1, symmap, keep, cell, slow): one-address symbolization",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Fast_init,
	.tp_dealloc = (destructor)Fast_dealloc,
	.tp_traverse = (traverseproc)Fast_traverse,
	.tp_clear = (inquiry)Fast_clear,
	.tp_methods = Fast_methods,
};

static PyObject *set_formatter(PyObject *module, PyObject *fn)
{
	(void)module;
	if (pm_symbol_set_formatter(fn) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{ "set_formatter", set_formatter, METH_O,
	  "set_formatter(f): Symbol.format calls f(name, offset, size, module, build_id, fmt)" },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef symfast_module = {
	PyModuleDef_HEAD_INIT, "pymod._symfast",
	"One-address symbolization in C (csrc/symfast/).", -1,
	module_methods, NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__symfast(void)
{
	PyObject *m;

	if (PyType_Ready(&FastType) < 0 || PyType_Ready(&pm_Symbol_Type) < 0)
		return NULL;
	m = PyModule_Create(&symfast_module);
	if (!m)
		return NULL;
	if (PyModule_AddObjectRef(m, "Fast", (PyObject *)&FastType) < 0 ||
	    PyModule_AddObjectRef(m, "Symbol", (PyObject *)&pm_Symbol_Type) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
