/*
 * pymod._symfast: Symbolizer.symbolize(addr) for one address, in C.
 *
 * Why a CPython extension beside the cffi core: one address through cffi
 * costs a call, a struct-field read per answer field, the name's decoding
 * and a Symbol built in Python, about 2 us; this is one C function and a
 * Symbol whose name is decoded on first use (pm_symobj.c).  It holds no
 * symbol data and no lookup code: it calls the cffi library's
 * pm_symmap_lookup1_on() (one copy of the core and of its RCU state in the
 * process; its read sections on one serialized record, pm_corelib.h), and takes names from a Names registry (pm_names.c).
 *
 * Safety: a Fast cannot be made or re-initialised from Python code (no
 * tp_new; tp_init refuses).  Only make_fast() makes one, from a symmap's
 * handle, which the core turns into a counted reference or refuses, so the
 * symmap lives as long as the Fast whatever Python does.  The core's
 * functions are looked up here, in the library the package imported, never
 * taken from Python.
 *
 * Concurrency: runs with the GIL held throughout, so the Names registry
 * cannot change during a call (only its methods change it, under the GIL).
 * Every table the lookup can reach had its tag put there before it was
 * published, and a tag is dropped only after its table was unpublished and
 * a grace period passed.  pm_symmap_lookup1_on() takes no lock, so a writer
 * waiting out a grace period (GIL released) never waits for us.
 *
 * Anything unusual (not exactly an int, out of range, other keywords, a
 * missing tag) goes to the Python path, which owns the error messages.
 */
#include "pm_symfast.h"   /* Python.h first, as it requires */

#include <dlfcn.h>
#include "pm_corelib.h"
#include "pymod_lookup.h"

typedef uint8_t (*lookup1_fn)(pm_symmap *, uint64_t, int, struct pm_sym_answer *,
			      struct pm_rcu_reader *);
typedef pm_symmap *(*get_fn)(uint64_t);
typedef void (*put_fn)(pm_symmap *);

/* The core's entry points, set once by the module's init. */
static lookup1_fn core_lookup1;
static get_fn core_get;
static put_fn core_put;
/* The read section of every lookup here (pm_core_gil_reader). */
static struct pm_rcu_reader *gil_reader;

typedef struct {
	PyObject_HEAD
	pm_symmap *sm;           /* a counted reference (core_get), dropped at dealloc */
	pm_Names *names;         /* NULL once cleared by the GC */
	PyObject *slow;          /* the Python path: slow(addr, backtrace=False) */
	/* The last answering tag's entry (a reference): valid while the
	 * registry's version is cache_version. */
	PyObject *cache_entry;
	uint64_t cache_version;
	int64_t cache_tag;
} Fast;

static PyObject *fallback(Fast *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	return PyObject_Vectorcall(self->slow, args, nargsf, kwnames);
}

/* The entry of @tag, borrowed (the cache holds it); NULL (maybe with an error) if none. */
static PyObject *entry_of(Fast *self, int64_t tag)
{
	PyObject *e;

	if (self->cache_entry && self->names->version == self->cache_version &&
	    tag == self->cache_tag)
		return self->cache_entry;
	e = pm_names_entry(self->names, tag);
	if (!e)
		return NULL;
	Py_XSETREF(self->cache_entry, Py_NewRef(e));
	self->cache_version = self->names->version;
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

	if (!self->names) {
		PyErr_SetString(PyExc_RuntimeError, "Fast: cleared");
		return NULL;
	}
	if (nargs < 1 || nargs + nkw > 2)
		return fallback(self, args, nargsf, kwnames);
	if (nkw && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "backtrace"))
		return fallback(self, args, nargsf, kwnames);
	if (nargs + nkw == 2)
		bt = args[1];
	if ((bt != Py_True && bt != Py_False) || !pm_exact_u64(args[0], &addr))
		return fallback(self, args, nargsf, kwnames);

	if (core_lookup1(self->sm, addr, bt == Py_True, &a, gil_reader) != PM_SYM_FOUND)
		Py_RETURN_NONE;
	e = entry_of(self, a.table);
	if (e)
		return pm_symbol_lazy(e, a.sym, a.offset, a.size, bt == Py_True);
	if (PyErr_Occurred())
		return NULL;
	return fallback(self, args, nargsf, kwnames);
}

/* Python code can reach a Fast (as symbolize's __self__) but never set one up. */
static int Fast_init(PyObject *self, PyObject *args, PyObject *kwds)
{
	(void)self, (void)args, (void)kwds;
	PyErr_SetString(PyExc_TypeError, "pymod._symfast.Fast cannot be initialised from Python");
	return -1;
}

static int Fast_traverse(Fast *self, visitproc visit, void *arg)
{
	Py_VISIT(self->names);
	Py_VISIT(self->slow);
	Py_VISIT(self->cache_entry);
	return 0;
}

/* The symmap reference stays until dealloc: a cleared Fast refuses calls. */
static int Fast_clear(Fast *self)
{
	Py_CLEAR(self->names);
	Py_CLEAR(self->slow);
	Py_CLEAR(self->cache_entry);
	return 0;
}

static void Fast_dealloc(Fast *self)
{
	PyObject_GC_UnTrack(self);
	Fast_clear(self);
	if (self->sm)
		core_put(self->sm);
	PyObject_GC_Del(self);
}

static PyMethodDef Fast_methods[] = {
	{ "symbolize", (PyCFunction)(void (*)(void))Fast_symbolize,
	  METH_FASTCALL | METH_KEYWORDS, "symbolize(addr, backtrace=False) -> Symbol | None" },
	{ NULL, NULL, 0, NULL }
};

static PyTypeObject FastType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pymod._symfast.Fast",
	.tp_basicsize = sizeof(Fast),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
	.tp_doc = "One-address symbolization over one symmap (made by make_fast only)",
	.tp_init = Fast_init,
	.tp_dealloc = (destructor)Fast_dealloc,
	.tp_traverse = (traverseproc)Fast_traverse,
	.tp_clear = (inquiry)Fast_clear,
	.tp_methods = Fast_methods,
};

/* make_fast(handle, names, slow): a Fast over the live symmap with that handle. */
static PyObject *make_fast(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
	unsigned long long handle;
	pm_symmap *sm;
	Fast *self;

	(void)module;
	if (nargs != 3 || !PyLong_CheckExact(args[0]) || !Py_IS_TYPE(args[1], &pm_Names_Type) ||
	    !PyCallable_Check(args[2])) {
		PyErr_SetString(PyExc_TypeError, "make_fast(handle: int, names: Names, slow)");
		return NULL;
	}
	handle = PyLong_AsUnsignedLongLong(args[0]);
	if (handle == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	sm = core_get(handle);
	if (!sm) {
		PyErr_Format(PyExc_ValueError, "make_fast: no live symmap has handle %llu", handle);
		return NULL;
	}
	self = PyObject_GC_New(Fast, &FastType);
	if (!self) {
		core_put(sm);
		return NULL;
	}
	self->sm = sm;
	self->names = (pm_Names *)Py_NewRef(args[1]);
	self->slow = Py_NewRef(args[2]);
	self->cache_entry = NULL;
	self->cache_version = 0;
	self->cache_tag = 0;
	PyObject_GC_Track(self);
	return (PyObject *)self;
}

static PyObject *set_formatter(PyObject *module, PyObject *fn)
{
	(void)module;
	if (pm_symbol_set_formatter(fn) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{ "make_fast", (PyCFunction)(void (*)(void))make_fast, METH_FASTCALL,
	  "make_fast(handle, names, slow) -> Fast: one-address symbolization over a symmap" },
	{ "set_formatter", set_formatter, METH_O,
	  "set_formatter(f): Symbol.format calls f(name, offset, size, module, build_id, fmt)" },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef symfast_module = {
	PyModuleDef_HEAD_INIT, "pymod._symfast",
	"One-address symbolization in C (csrc/symfast/).", -1,
	module_methods, NULL, NULL, NULL, NULL
};

/* The core's entry points (pm_corelib.h).  Caller: the module's init,
 * once, GIL held.  0, or -1 with an error set. */
static int find_core(void)
{
	void *h = pm_core_library("pymod._symfast");

	if (!h)
		return -1;
	core_lookup1 = (lookup1_fn)dlsym(h, "pm_symmap_lookup1_on");
	core_get = (get_fn)dlsym(h, "pm_symmap_get");
	core_put = (put_fn)dlsym(h, "pm_symmap_put");
	if (!core_lookup1 || !core_get || !core_put)
		return pm_core_missing("pymod._symfast");
	gil_reader = pm_core_gil_reader(h, "pymod._symfast");
	return gil_reader ? 0 : -1;
}

PyMODINIT_FUNC PyInit__symfast(void)
{
	PyObject *m;

	if (find_core() < 0 || PyType_Ready(&FastType) < 0 ||
	    PyType_Ready(&pm_Symbol_Type) < 0 || PyType_Ready(&pm_Names_Type) < 0)
		return NULL;
	m = PyModule_Create(&symfast_module);
	if (!m)
		return NULL;
	if (PyModule_AddObjectRef(m, "Fast", (PyObject *)&FastType) < 0 ||
	    PyModule_AddObjectRef(m, "Names", (PyObject *)&pm_Names_Type) < 0 ||
	    PyModule_AddObjectRef(m, "Symbol", (PyObject *)&pm_Symbol_Type) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
