/* Uses a namespaced symbol without MODULE_IMPORT_NS: must be refused. */
#include "pm_module.h"

int pm_ns_fn(int x);

static int __init pm_ns_noimport_init(void)
{
	return pm_ns_fn(3);
}

module_init(pm_ns_noimport_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: forgets to import PYMOD_TEST");
