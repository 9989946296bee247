/* Exports pm_shared_fn again: refused while pm_exporter is loaded. */
#include "pm_module.h"

int pm_shared_fn(int x)
{
	return x;
}
EXPORT_SYMBOL(pm_shared_fn);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: a duplicate export");
