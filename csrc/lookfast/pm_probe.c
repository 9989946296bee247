/*
 * pymod._lookfast.Probe: the cheapest extension call on ModTree.find's path,
 * for the bench only (bench/lookup_cases.py), never used by pymod itself.
 *
 * Why here and not on ModTree: a measuring stick is not part of the lookup
 * API.  Why a type and not a function: find is a method of a Python
 * subclass of a C type, so the floor is one too (the bench subclasses Probe
 * with ModTree's slots): same attribute lookup, same calling convention,
 * same argument test; only the core call is missing.
 */
#include "pm_lookfast.h"

static PyObject *Probe_find(PyObject *self, PyObject *const *args, size_t nargsf,
			    PyObject *kwnames)
{
	uint64_t addr;

	(void)self;
	if (PyVectorcall_NARGS(nargsf) == 1 && !kwnames && pm_exact_u64(args[0], &addr))
		Py_RETURN_NONE;
	PyErr_SetString(PyExc_TypeError, "Probe.find(addr): one int in 0..2**64-1");
	return NULL;
}

static PyMethodDef Probe_methods[] = {
	{ "find", (PyCFunction)(void (*)(void))Probe_find, METH_FASTCALL | METH_KEYWORDS,
	  "find(addr) -> None: ModTree.find's argument test, no lookup" },
	{ NULL, NULL, 0, NULL }
};

PyTypeObject pm_Probe_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pymod._lookfast.Probe",
	.tp_basicsize = sizeof(PyObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "The bench's floor: a find that parses its address and does nothing",
	.tp_new = PyType_GenericNew,
	.tp_methods = Probe_methods,
};
