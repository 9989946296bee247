/*
 * pymod._lookfast: ModTree.find(addr) and ModTree.within(addr, id) in C.
 *
 * Why: through cffi one find costs a cffi call and a Python wrapper around
 * it, several times the lookup itself.  Map is a C type that owns its
 * pm_map; ModTree subclasses it, so t.find(a) is one C method call that
 * calls the lookup core's pm_map_find_on() (pm_map_within_on()) directly.  There
 * is one copy of the core in the process (the cffi library's, found with
 * dlsym as pymod._symfast finds it) and so one RCU domain, one fork
 * registry: everything the core promises holds unchanged.
 *
 * Safety: a Map's pm_map is made by its own tp_new (pm_map_new) and freed
 * by its dealloc (pm_map_free, once no Python code can reach the Map, so no
 * lookup can be running on it); Python code never hands this file a
 * pointer.  ModTree reads the map's address (_map_address) to call the rest
 * of the core through cffi, and keeps that pointer beside the Map it
 * belongs to.
 *
 * Concurrency: the tree lookup and within() run with the GIL held: they
 * take no lock and never wait (the latch contract, pm_latch.h), so a writer
 * that releases the GIL to wait out a grace period never waits for a thread
 * that waits for the GIL.  Their read sections share one serialized RCU
 * record (gil_reader), which the GIL serializes.  A list-strategy find
 * scans O(n) modules and releases the GIL, as the cffi call did, so it
 * calls pm_map_find() on the thread's own record instead.  fork() cannot start inside one
 * of these calls from another Python thread (os.fork takes the GIL).
 *
 * Anything unusual (not exactly an int, out of range, keywords, a wrong
 * number of arguments, an unknown module id) goes to the Python path
 * (set_fallbacks), which owns the checks and the error messages.
 */
#include "pm_lookfast.h"   /* Python.h first, as it requires */

#include <dlfcn.h>
#include <string.h>
#include "pymod_lookup.h"

typedef pm_map *(*new_fn)(int);
typedef void (*free_fn)(pm_map *);
typedef int64_t (*find_fn)(pm_map *, uint64_t);
typedef int64_t (*find_on_fn)(pm_map *, uint64_t, struct pm_rcu_reader *);
typedef int (*within_on_fn)(pm_map *, uint64_t, int64_t, struct pm_rcu_reader *);

/* The core's entry points, set once by the module's init. */
static new_fn core_new;
static free_fn core_free;
static find_fn core_find;
static find_on_fn core_find_on;
static within_on_fn core_within_on;

/* The read sections of every call that keeps the GIL (pm_core_gil_reader). */
static struct pm_rcu_reader *gil_reader;

/* The Python paths: f(tree, *args, **kwargs), set once by pymod.lookup. */
static PyObject *slow_find, *slow_within;

typedef struct {
	PyObject_HEAD
	pm_map *map;      /* owned: made by Map_new, freed by Map_dealloc */
	int strategy;     /* PM_STRATEGY_*, fixed for the map's life */
	struct id_slot *ids; /* ID_SLOTS slots, made at the first id above 256 */
} Map;

/*
 * Found ids as int objects, made once: find answers with an existing
 * object, as a dict or list lookup does, instead of allocating an int per
 * call (CPython preallocates only the ints up to 256).  A small
 * direct-mapped table (slot = id mod ID_SLOTS), so a map holds at most
 * ID_SLOTS ints and 16 KiB whatever its ids are; a miss replaces the slot.
 * GIL held.
 */
#define ID_SLOTS 1024

struct id_slot {
	int64_t id;
	PyObject *obj;    /* the int @id, or NULL */
};

static PyObject *id_object(Map *self, int64_t id)
{
	struct id_slot *slot;

	if (id < 257)
		return PyLong_FromLongLong(id);
	if (!self->ids) {
		self->ids = PyMem_Calloc(ID_SLOTS, sizeof(*self->ids));
		if (!self->ids)
			return PyErr_NoMemory();
	}
	slot = &self->ids[id % ID_SLOTS];
	if (!slot->obj || slot->id != id) {
		PyObject *o = PyLong_FromLongLong(id);

		if (!o)
			return NULL;
		Py_XSETREF(slot->obj, o);
		slot->id = id;
	}
	return Py_NewRef(slot->obj);
}

/* @fn(self, *args, **kwargs) from a vectorcall's arguments. */
static PyObject *call_slow(PyObject *fn, PyObject *self, PyObject *const *args, size_t nargsf,
			   PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
	PyObject *small[8], **stack = small, *r;

	if (!fn) {
		PyErr_SetString(PyExc_RuntimeError, "pymod._lookfast: no fallbacks set");
		return NULL;
	}
	if (total + 1 > (Py_ssize_t)(sizeof(small) / sizeof(small[0]))) {
		stack = PyMem_New(PyObject *, total + 1);
		if (!stack)
			return PyErr_NoMemory();
	}
	stack[0] = self;
	for (Py_ssize_t i = 0; i < total; i++)
		stack[i + 1] = args[i];
	r = PyObject_Vectorcall(fn, stack, (size_t)nargs + 1, kwnames);
	if (stack != small)
		PyMem_Free(stack);
	return r;
}

static PyObject *Map_find(Map *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	uint64_t addr;
	int64_t id;

	if (PyVectorcall_NARGS(nargsf) != 1 || kwnames || !pm_exact_u64(args[0], &addr))
		return call_slow(slow_find, (PyObject *)self, args, nargsf, kwnames);
	if (self->strategy == PM_STRATEGY_TREE) {
		id = core_find_on(self->map, addr, gil_reader);
	} else {
		Py_BEGIN_ALLOW_THREADS
		id = core_find(self->map, addr);
		Py_END_ALLOW_THREADS
	}
	if (id < 0)
		Py_RETURN_NONE;
	return id_object(self, id);
}

/* An exact int in 0..2**63-1 (a module id) into *out; 0 (no error set) otherwise. */
static int exact_id(PyObject *o, int64_t *out)
{
	int overflow;
	long long v;

	if (!PyLong_CheckExact(o))
		return 0;
	v = PyLong_AsLongLongAndOverflow(o, &overflow);
	if (overflow || v < 0 || (v == -1 && PyErr_Occurred())) {
		PyErr_Clear();
		return 0;
	}
	*out = v;
	return 1;
}

static PyObject *Map_within(Map *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	uint64_t addr;
	int64_t id;
	int rc;

	if (PyVectorcall_NARGS(nargsf) != 2 || kwnames || !pm_exact_u64(args[0], &addr) ||
	    !exact_id(args[1], &id))
		return call_slow(slow_within, (PyObject *)self, args, nargsf, kwnames);
	rc = core_within_on(self->map, addr, id, gil_reader);
	if (rc < 0)   /* no such module: the Python path raises its error */
		return call_slow(slow_within, (PyObject *)self, args, nargsf, kwnames);
	return PyBool_FromLong(rc);
}

/* Map(strategy): a new, empty map; strategy is a PM_STRATEGY_* code. */
static PyObject *Map_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	int strategy;
	Map *self;

	if (kwds && PyDict_GET_SIZE(kwds)) {
		PyErr_SetString(PyExc_TypeError, "Map() takes no keyword arguments");
		return NULL;
	}
	if (!PyArg_ParseTuple(args, "i:Map", &strategy))
		return NULL;
	if (strategy != PM_STRATEGY_TREE && strategy != PM_STRATEGY_LIST)
		return PyErr_Format(PyExc_ValueError, "Map: unknown strategy %d", strategy);
	self = (Map *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->strategy = strategy;
	self->map = core_new(strategy);
	if (!self->map) {
		Py_DECREF(self);
		return PyErr_NoMemory();
	}
	return (PyObject *)self;
}

static void Map_dealloc(Map *self)
{
	if (self->map)
		core_free(self->map);
	if (self->ids)
		for (int i = 0; i < ID_SLOTS; i++)
			Py_XDECREF(self->ids[i].obj);
	PyMem_Free(self->ids);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Map_address(Map *self, void *closure)
{
	(void)closure;
	return PyLong_FromVoidPtr(self->map);
}

static PyMethodDef Map_methods[] = {
	{ "find", (PyCFunction)(void (*)(void))Map_find, METH_FASTCALL | METH_KEYWORDS,
	  "find($self, addr)\n--\n\n"
	  "The id of the module owning ``addr``, or None (``mod_find``)." },
	{ "within", (PyCFunction)(void (*)(void))Map_within, METH_FASTCALL | METH_KEYWORDS,
	  "within($self, addr, mod_id)\n--\n\n"
	  "``within_module``: does ``addr`` lie in one of ``mod_id``'s regions?" },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Map_getset[] = {
	{ "_map_address", (getter)Map_address, NULL,
	  "the pm_map's address, for the cffi calls of the owner", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject MapType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pymod._lookfast.Map",
	.tp_basicsize = sizeof(Map),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "An address -> module map owning its C pm_map (ModTree's base)",
	.tp_new = Map_new,
	.tp_dealloc = (destructor)Map_dealloc,
	.tp_methods = Map_methods,
	.tp_getset = Map_getset,
};

static PyObject *set_fallbacks(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
	(void)module;
	if (nargs != 2 || !PyCallable_Check(args[0]) || !PyCallable_Check(args[1])) {
		PyErr_SetString(PyExc_TypeError, "set_fallbacks(find, within)");
		return NULL;
	}
	Py_XSETREF(slow_find, Py_NewRef(args[0]));
	Py_XSETREF(slow_within, Py_NewRef(args[1]));
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{ "set_fallbacks", (PyCFunction)(void (*)(void))set_fallbacks, METH_FASTCALL,
	  "set_fallbacks(find, within): the Python paths, called as f(tree, *args, **kw)" },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef lookfast_module = {
	PyModuleDef_HEAD_INIT, "pymod._lookfast",
	"One-address lookups in C (csrc/lookfast/).", -1,
	module_methods, NULL, NULL, NULL, NULL
};

/* The core's entry points (pm_corelib.h).  Caller: the module's init,
 * once, GIL held.  0, or -1 with an error set. */
static int find_core(void)
{
	void *h = pm_core_library("pymod._lookfast");

	if (!h)
		return -1;
	core_new = (new_fn)dlsym(h, "pm_map_new");
	core_free = (free_fn)dlsym(h, "pm_map_free");
	core_find = (find_fn)dlsym(h, "pm_map_find");
	core_find_on = (find_on_fn)dlsym(h, "pm_map_find_on");
	core_within_on = (within_on_fn)dlsym(h, "pm_map_within_on");
	if (!core_new || !core_free || !core_find || !core_find_on || !core_within_on)
		return pm_core_missing("pymod._lookfast");
	gil_reader = pm_core_gil_reader(h, "pymod._lookfast");
	return gil_reader ? 0 : -1;
}

PyMODINIT_FUNC PyInit__lookfast(void)
{
	PyObject *m;

	if (find_core() < 0 || PyType_Ready(&MapType) < 0 || PyType_Ready(&pm_Probe_Type) < 0)
		return NULL;
	m = PyModule_Create(&lookfast_module);
	if (!m)
		return NULL;
	if (PyModule_AddObjectRef(m, "Map", (PyObject *)&MapType) < 0 ||
	    PyModule_AddObjectRef(m, "Probe", (PyObject *)&pm_Probe_Type) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
