/* The loaded lookup core for the CPython extensions: see pm_corelib.h. */
#include "pm_corelib.h"   /* Python.h first, as it requires */

#include <dlfcn.h>

void *pm_core_library(const char *who)
{
	PyObject *lib = PyImport_ImportModule("pymod._lookup_cffi"), *file = NULL, *path = NULL;
	void *h = NULL;

	if (lib)
		file = PyObject_GetAttrString(lib, "__file__");
	if (file)
		path = PyUnicode_EncodeFSDefault(file);
	if (path)
		h = dlopen(PyBytes_AS_STRING(path), RTLD_NOW | RTLD_NOLOAD);
	Py_XDECREF(lib);
	Py_XDECREF(file);
	Py_XDECREF(path);
	if (PyErr_Occurred())
		return NULL;
	if (!h)
		pm_core_missing(who);
	return h;
}

int pm_core_missing(const char *who)
{
	PyErr_Format(PyExc_ImportError, "%s: the lookup core is not loaded", who);
	return -1;
}

struct pm_rcu_reader *pm_core_gil_reader(void *h, const char *who)
{
	struct pm_rcu_reader *(*make)(void);
	struct pm_rcu_reader *r;

	make = (struct pm_rcu_reader *(*)(void))dlsym(h, "pm_rcu_reader_new_serialized");
	if (!make) {
		pm_core_missing(who);
		return NULL;
	}
	r = make();
	if (!r)
		PyErr_NoMemory();
	return r;
}
