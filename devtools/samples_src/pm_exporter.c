/* Exports one symbol of each kind: plain, GPL-only, namespaced. */
#include "pm_module.h"

int pm_shared_fn(int x)
{
	return x + 1;
}
EXPORT_SYMBOL(pm_shared_fn);

int pm_gpl_fn(int x)
{
	return x * 2;
}
EXPORT_SYMBOL_GPL(pm_gpl_fn);

int pm_ns_fn(int x)
{
	return x - 3;
}
EXPORT_SYMBOL_NS(pm_ns_fn, PYMOD_TEST);

static int __init pm_exporter_init(void)
{
	return 0;
}

static void __exit pm_exporter_exit(void)
{
}

module_init(pm_exporter_init);
module_exit(pm_exporter_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: exports a plain, a GPL-only and a namespaced symbol");
