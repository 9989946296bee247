/*
 * pymod._symfast.Names: the names behind the C tables, tag -> owner entry,
 * for the one-address path (pm_symfast.c).
 *
 * Why in C: the entries are what the C path dereferences, so Python code
 * must not be able to change them.  put() copies what it is given into
 * immutable objects it checks once (every name offset inside the string
 * table), and keeps them in a dict no Python code can reach; drop() is the
 * only other change.  A bad put() can make a name wrong, never make C read
 * outside an object.  The type cannot be subclassed.
 */
#include "pm_symfast.h"   /* Python.h first, as it requires */

#include <string.h>

/* Any thread holding the GIL. */
PyObject *pm_names_entry(pm_Names *names, int64_t tag)
{
	PyObject *key = PyLong_FromLongLong(tag), *e;

	if (!key)
		return NULL;
	e = PyDict_GetItemWithError(names->by_tag, key);   /* int keys: runs no Python code */
	Py_DECREF(key);
	return e;
}

/* Every offset of @names (bytes of uint32) lies inside @strtab. */
static int offsets_inside(PyObject *names, Py_ssize_t strtab_len)
{
	const char *p = PyBytes_AS_STRING(names);
	Py_ssize_t n = PyBytes_GET_SIZE(names) / (Py_ssize_t)sizeof(uint32_t);

	for (Py_ssize_t i = 0; i < n; i++) {
		uint32_t off;

		memcpy(&off, p + i * (Py_ssize_t)sizeof(off), sizeof(off));
		if ((Py_ssize_t)off >= strtab_len)
			return 0;
	}
	return 1;
}

/* put(tag, strtab, names, module, build_id): GIL held, as for every method. */
static PyObject *Names_put(pm_Names *self, PyObject *const *args, Py_ssize_t nargs)
{
	PyObject *strtab, *names, *module, *build_id, *key, *entry;
	long long t;
	int rc;

	if (nargs != 5) {
		PyErr_SetString(PyExc_TypeError, "put(tag, strtab, names, module, build_id)");
		return NULL;
	}
	strtab = args[1], names = args[2], module = args[3], build_id = args[4];
	if (!PyLong_CheckExact(args[0]) || !PyBytes_CheckExact(strtab) ||
	    !PyBytes_CheckExact(names) || (module != Py_None && !PyUnicode_CheckExact(module)) ||
	    (build_id != Py_None && !PyBytes_CheckExact(build_id))) {
		PyErr_SetString(PyExc_TypeError, "put(int, bytes, bytes, str | None, bytes | None)");
		return NULL;
	}
	if (PyBytes_GET_SIZE(names) % (Py_ssize_t)sizeof(uint32_t) ||
	    !offsets_inside(names, PyBytes_GET_SIZE(strtab))) {
		PyErr_SetString(PyExc_ValueError, "put(): a name offset outside the string table");
		return NULL;
	}
	t = PyLong_AsLongLong(args[0]);
	if (t == -1 && PyErr_Occurred())
		return NULL;
	key = PyLong_FromLongLong(t);   /* an exact int key, as the lookup builds it */
	if (!key)
		return NULL;
	entry = PyTuple_Pack(E_LEN, strtab, names, module, build_id);
	rc = entry ? PyDict_SetItem(self->by_tag, key, entry) : -1;
	Py_DECREF(key);
	Py_XDECREF(entry);
	if (rc < 0)
		return NULL;
	self->version++;
	Py_RETURN_NONE;
}

/* drop(tag): no error when the tag is absent. */
static PyObject *Names_drop(pm_Names *self, PyObject *tag)
{
	long long t = PyLong_AsLongLong(tag);
	PyObject *key;
	int rc;

	if (t == -1 && PyErr_Occurred())
		return NULL;
	key = PyLong_FromLongLong(t);
	if (!key)
		return NULL;
	rc = PyDict_DelItem(self->by_tag, key);
	Py_DECREF(key);
	if (rc < 0) {
		if (!PyErr_ExceptionMatches(PyExc_KeyError))
			return NULL;
		PyErr_Clear();
	}
	self->version++;
	Py_RETURN_NONE;
}

static Py_ssize_t Names_len(pm_Names *self)
{
	return PyDict_GET_SIZE(self->by_tag);
}

static int Names_contains(pm_Names *self, PyObject *tag)
{
	return PyDict_Contains(self->by_tag, tag);
}

static PyObject *Names_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	pm_Names *self;

	if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
		PyErr_SetString(PyExc_TypeError, "Names() takes no arguments");
		return NULL;
	}
	self = (pm_Names *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->by_tag = PyDict_New();
	if (!self->by_tag) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

/* Entries hold only str, bytes and None: no cycle can pass through a Names. */
static void Names_dealloc(pm_Names *self)
{
	Py_XDECREF(self->by_tag);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Names_methods[] = {
	{ "put", (PyCFunction)(void (*)(void))Names_put, METH_FASTCALL,
	  "put(tag, strtab, names, module, build_id): copy an owner's names in" },
	{ "drop", (PyCFunction)Names_drop, METH_O, "drop(tag): forget an owner" },
	{ NULL, NULL, 0, NULL }
};

static PySequenceMethods Names_as_sequence = {
	.sq_length = (lenfunc)Names_len,
	.sq_contains = (objobjproc)Names_contains,
};

PyTypeObject pm_Names_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pymod._symfast.Names",
	.tp_basicsize = sizeof(pm_Names),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Names(): tag -> an owner's names, as the C one-address path reads them",
	.tp_new = Names_new,
	.tp_dealloc = (destructor)Names_dealloc,
	.tp_as_sequence = &Names_as_sequence,
	.tp_methods = Names_methods,
};
