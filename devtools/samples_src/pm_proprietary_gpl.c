/* A non-GPL licence using a GPL-only export: must be refused. */
#include "pm_module.h"

int pm_gpl_fn(int x);

static int __init pm_proprietary_gpl_init(void)
{
	return pm_gpl_fn(0);
}

module_init(pm_proprietary_gpl_init);
MODULE_LICENSE("Proprietary");
MODULE_DESCRIPTION("pymod sample: proprietary licence using a GPL-only symbol");
