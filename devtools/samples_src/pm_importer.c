/* Uses all three exports of pm_exporter and imports its namespace. */
#include "pm_module.h"

int pm_shared_fn(int x);
int pm_gpl_fn(int x);
int pm_ns_fn(int x);

static int __init pm_importer_init(void)
{
	return pm_ns_fn(pm_gpl_fn(pm_shared_fn(1))) == 1 ? 0 : -22;
}

static void __exit pm_importer_exit(void)
{
}

module_init(pm_importer_init);
module_exit(pm_importer_exit);
MODULE_IMPORT_NS(PYMOD_TEST);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: uses pm_exporter's symbols");
