/*
 * pymod.symbolize.Symbol: name, offset, size, module, build id, and whether
 * it answers a backtrace lookup (%pB).  A C type rather than a NamedTuple
 * because building one is most of a one-address lookup's cost: this one is
 * not tracked by the GC (it holds only str, int, bytes and owner entries,
 * which cannot lead back to it) and, when the lookup made it, decodes its
 * name on first use, as drgn's Symbol does.  A lazy symbol keeps its
 * owner's string table alive until it goes.
 */
#include "pm_symfast.h"   /* Python.h first, as it requires */

#include <string.h>

typedef struct {
	PyObject_HEAD
	PyObject *name;       /* str; NULL until decoded from entry */
	PyObject *entry;      /* owner entry for the lazy name, or NULL */
	PyObject *module;     /* str or None */
	PyObject *build_id;   /* bytes or None */
	PyObject *source;     /* tuple of frames, or NULL: no debug info */
	uint64_t offset, size;
	int64_t sym;          /* the name's index in entry */
	int backtrace;
} Symbol;

static PyObject *formatter;   /* pymod.symbolize.fmt.format_symbol */

int pm_symbol_set_formatter(PyObject *fn)
{
	if (!PyCallable_Check(fn)) {
		PyErr_SetString(PyExc_TypeError, "formatter must be callable");
		return -1;
	}
	Py_XSETREF(formatter, Py_NewRef(fn));
	return 0;
}

/* Caller: @entry is one Names.put() built (a tuple of E_LEN); GIL held. */
PyObject *pm_symbol_lazy(PyObject *entry, int64_t sym, uint64_t offset, uint64_t size,
			 int backtrace)
{
	Symbol *s = PyObject_New(Symbol, &pm_Symbol_Type);

	if (!s)
		return NULL;
	s->name = NULL;
	s->entry = Py_NewRef(entry);
	s->module = Py_NewRef(PyTuple_GET_ITEM(entry, E_MODULE));
	s->build_id = Py_NewRef(PyTuple_GET_ITEM(entry, E_BUILD_ID));
	s->source = NULL;
	s->offset = offset;
	s->size = size;
	s->sym = sym;
	s->backtrace = backtrace;
	return (PyObject *)s;
}

/*
 * Decode the name from the entry.  The entry was built and checked by
 * Names.put() (pm_names.c); the index is checked here again, so a table
 * and names that disagree give an error, never a read outside the bytes.
 */
static PyObject *decode_name(Symbol *s)
{
	PyObject *strtab = PyTuple_GET_ITEM(s->entry, E_STRTAB);
	PyObject *names = PyTuple_GET_ITEM(s->entry, E_NAMES);
	Py_ssize_t count = PyBytes_GET_SIZE(names) / (Py_ssize_t)sizeof(uint32_t), len;
	const char *p, *end;
	uint32_t off;

	if (s->sym < 0 || s->sym >= count) {
		PyErr_Format(PyExc_RuntimeError, "pymod: symbol %lld is not in its owner's names",
			     (long long)s->sym);
		return NULL;
	}
	memcpy(&off, PyBytes_AS_STRING(names) + s->sym * (Py_ssize_t)sizeof(off), sizeof(off));
	len = PyBytes_GET_SIZE(strtab) - (Py_ssize_t)off;   /* > 0: put() checked every offset */
	p = PyBytes_AS_STRING(strtab) + off;
	end = memchr(p, 0, (size_t)len);
	return PyUnicode_DecodeUTF8(p, end ? end - p : len, "surrogateescape");
}

static PyObject *Symbol_get_name(Symbol *s, void *closure)
{
	(void)closure;
	if (!s->name) {
		s->name = decode_name(s);
		if (!s->name)
			return NULL;
		Py_CLEAR(s->entry);   /* the string table is no longer needed */
	}
	return Py_NewRef(s->name);
}

static PyObject *Symbol_get_offset(Symbol *s, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(s->offset);
}

static PyObject *Symbol_get_size(Symbol *s, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(s->size);
}

static PyObject *Symbol_get_module(Symbol *s, void *closure)
{
	(void)closure;
	return Py_NewRef(s->module);
}

static PyObject *Symbol_get_build_id(Symbol *s, void *closure)
{
	(void)closure;
	return Py_NewRef(s->build_id);
}

/* A new list each time: the frames are kept in a tuple, so that a caller
 * changing the list it got can neither alter the symbol nor make a cycle
 * through it (the type is not tracked by the GC). */
static PyObject *Symbol_get_source(Symbol *s, void *closure)
{
	(void)closure;
	if (!s->source)
		Py_RETURN_NONE;
	return PySequence_List(s->source);
}

static PyObject *Symbol_get_backtrace(Symbol *s, void *closure)
{
	(void)closure;
	return PyBool_FromLong(s->backtrace);
}

/* (name, offset, size, module, build_id, backtrace): the constructor's arguments. */
static PyObject *Symbol_fields(Symbol *s)
{
	PyObject *name = Symbol_get_name(s, NULL);

	if (!name)
		return NULL;
	return Py_BuildValue("(NKKOOO)", name, (unsigned long long)s->offset,
			     (unsigned long long)s->size, s->module, s->build_id,
			     s->backtrace ? Py_True : Py_False);
}

static int as_u64(PyObject *o, uint64_t *out, const char *what)
{
	PyObject *i = PyNumber_Index(o);

	if (!i)
		return -1;
	*out = PyLong_AsUnsignedLongLong(i);
	Py_DECREF(i);
	if (*out == (uint64_t)-1 && PyErr_Occurred()) {
		PyErr_Format(PyExc_ValueError, "%s must be in 0..2**64-1", what);
		return -1;
	}
	return 0;
}

static PyObject *Symbol_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = { "name", "offset", "size", "module", "build_id", "backtrace",
				  "source", NULL };
	PyObject *name, *off, *size, *module, *build_id = Py_None, *source = Py_None;
	int backtrace = 0;
	Symbol *s;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "UOOO|OpO:Symbol", kwlist, &name, &off,
					 &size, &module, &build_id, &backtrace, &source))
		return NULL;
	if (module != Py_None && !PyUnicode_Check(module))
		return PyErr_Format(PyExc_TypeError, "module must be a str or None");
	if (build_id != Py_None && !PyBytes_Check(build_id))
		return PyErr_Format(PyExc_TypeError, "build_id must be bytes or None");
	s = (Symbol *)type->tp_alloc(type, 0);
	if (!s)
		return NULL;
	if (as_u64(off, &s->offset, "offset") || as_u64(size, &s->size, "size")) {
		Py_DECREF(s);
		return NULL;
	}
	if (source != Py_None) {
		/* frames are tuples of str, int and bool: immutable, no cycle back */
		s->source = PySequence_Tuple(source);
		if (!s->source) {
			Py_DECREF(s);
			return NULL;
		}
	}
	s->name = Py_NewRef(name);
	s->module = Py_NewRef(module);
	s->build_id = Py_NewRef(build_id);
	s->backtrace = backtrace;
	return (PyObject *)s;
}

static void Symbol_dealloc(Symbol *s)
{
	Py_XDECREF(s->name);
	Py_XDECREF(s->entry);
	Py_XDECREF(s->module);
	Py_XDECREF(s->build_id);
	Py_XDECREF(s->source);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Symbol_format(Symbol *s, PyObject *const *args, Py_ssize_t nargs)
{
	PyObject *name, *out, *fmt;

	if (nargs > 1) {
		PyErr_SetString(PyExc_TypeError, "format() takes at most one argument");
		return NULL;
	}
	if (!formatter) {
		PyErr_SetString(PyExc_RuntimeError, "pymod._symfast: no formatter set");
		return NULL;
	}
	fmt = nargs ? Py_NewRef(args[0]) : PyUnicode_FromString("S");
	name = fmt ? Symbol_get_name(s, NULL) : NULL;
	out = name ? PyObject_CallFunction(formatter, "OKKOOO", name,
					   (unsigned long long)s->offset,
					   (unsigned long long)s->size, s->module, s->build_id, fmt)
		   : NULL;
	Py_XDECREF(name);
	Py_XDECREF(fmt);
	return out;
}

static PyObject *Symbol_str(Symbol *s)
{
	PyObject *fmt = PyUnicode_FromString(s->backtrace ? "B" : "S"), *out;

	if (!fmt)
		return NULL;
	out = Symbol_format(s, &fmt, 1);
	Py_DECREF(fmt);
	return out;
}

static PyObject *Symbol_repr(Symbol *s)
{
	PyObject *f = Symbol_fields(s), *out;

	if (!f)
		return NULL;
	out = PyUnicode_FromFormat("Symbol(name=%R, offset=%R, size=%R, module=%R, build_id=%R, "
				   "backtrace=%R)", PyTuple_GET_ITEM(f, 0), PyTuple_GET_ITEM(f, 1),
				   PyTuple_GET_ITEM(f, 2), PyTuple_GET_ITEM(f, 3),
				   PyTuple_GET_ITEM(f, 4), PyTuple_GET_ITEM(f, 5));
	Py_DECREF(f);
	return out;
}

/* Equal when every field is: compared (and hashed) as the tuple of fields. */
static PyObject *Symbol_richcompare(PyObject *a, PyObject *b, int op)
{
	PyObject *fa, *fb, *out;

	if (!PyObject_TypeCheck(b, &pm_Symbol_Type) || (op != Py_EQ && op != Py_NE))
		Py_RETURN_NOTIMPLEMENTED;
	fa = Symbol_fields((Symbol *)a);
	fb = fa ? Symbol_fields((Symbol *)b) : NULL;
	out = fb ? PyObject_RichCompare(fa, fb, op) : NULL;
	Py_XDECREF(fa);
	Py_XDECREF(fb);
	return out;
}

static Py_hash_t Symbol_hash(Symbol *s)
{
	PyObject *f = Symbol_fields(s);
	Py_hash_t h;

	if (!f)
		return -1;
	h = PyObject_Hash(f);
	Py_DECREF(f);
	return h;
}

static PyObject *Symbol_reduce(Symbol *s, PyObject *unused)
{
	PyObject *f = Symbol_fields(s);

	(void)unused;
	if (f && s->source) {
		PyObject *g = Py_BuildValue("(OOOOOOO)", PyTuple_GET_ITEM(f, 0),
					    PyTuple_GET_ITEM(f, 1), PyTuple_GET_ITEM(f, 2),
					    PyTuple_GET_ITEM(f, 3), PyTuple_GET_ITEM(f, 4),
					    PyTuple_GET_ITEM(f, 5), s->source);
		Py_SETREF(f, g);
	}
	return f ? Py_BuildValue("(ON)", (PyObject *)Py_TYPE(s), f) : NULL;
}

static PyGetSetDef Symbol_getset[] = {
	{ "name", (getter)Symbol_get_name, NULL, "the symbol's name", NULL },
	{ "offset", (getter)Symbol_get_offset, NULL,
	  "address minus the symbol's (plus one for %pB)", NULL },
	{ "size", (getter)Symbol_get_size, NULL, "the symbol's size", NULL },
	{ "module", (getter)Symbol_get_module, NULL, "the owning module, None for vmlinux", NULL },
	{ "build_id", (getter)Symbol_get_build_id, NULL, "the owner's build id, or None", NULL },
	{ "backtrace", (getter)Symbol_get_backtrace, NULL, "found by a %pB lookup", NULL },
	{ "source", (getter)Symbol_get_source, NULL,
	  "the source frames (function, file, line, column, inlined), innermost first, "
	  "as addr2line -f -i prints them; None without debug info", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyMethodDef Symbol_methods[] = {
	{ "format", (PyCFunction)(void (*)(void))Symbol_format, METH_FASTCALL,
	  "format(fmt='S') -> str: the symbol as printk(fmt) prints it (S, s, B, Sb, ...)" },
	{ "__reduce__", (PyCFunction)(void (*)(void))Symbol_reduce, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

PyTypeObject pm_Symbol_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pymod.symbolize.Symbol",
	.tp_basicsize = sizeof(Symbol),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Symbol(name, offset, size, module, build_id=None, backtrace=False, source=None)\n\n"
		  "A found symbol.  str() is its %pS text (%pB for a backtrace lookup);\n"
		  "format() gives any other.",
	.tp_new = Symbol_new,
	.tp_dealloc = (destructor)Symbol_dealloc,
	.tp_repr = (reprfunc)Symbol_repr,
	.tp_str = (reprfunc)Symbol_str,
	.tp_hash = (hashfunc)Symbol_hash,
	.tp_richcompare = Symbol_richcompare,
	.tp_getset = Symbol_getset,
	.tp_methods = Symbol_methods,
};
