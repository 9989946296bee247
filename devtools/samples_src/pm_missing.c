/* Calls a symbol that nobody exports: "Unknown symbol". */
#include "pm_module.h"

void pm_nobody_exports_this(void);

static int __init pm_missing_init(void)
{
	pm_nobody_exports_this();
	return 0;
}

module_init(pm_missing_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: an unresolvable symbol");
