/*
 * The lookup core as pymod's small CPython extensions (_symfast, _lookfast)
 * reach it: through the cffi library the package has already loaded, so
 * that every caller uses the one copy of the core (one RCU domain, one
 * registry of maps and symmaps, one set of fork handlers).
 */
#ifndef PM_CORELIB_H
#define PM_CORELIB_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/*
 * The dlopen handle of the loaded pymod._lookup_cffi, for dlsym.  Found
 * with RTLD_NOLOAD: it is loaded by then (imported first), and nothing is
 * ever loaded here.  Caller: a module init, once, GIL held.  NULL with an
 * error set (the import's, or an ImportError naming @who).
 */
void *pm_core_library(const char *who);

#endif /* PM_CORELIB_H */
