/* A __ro_after_init variable: .data..ro_after_init becomes read-only after init. */
#include "pm_module.h"

static int pm_limit __ro_after_init = 16;

static int __init pm_ro_after_init_init(void)
{
	pm_limit *= 2;
	pr_info("pm_ro_after_init: limit %d\n", pm_limit);
	return 0;
}

static void __exit pm_ro_after_init_exit(void)
{
	pr_info("pm_ro_after_init: limit was %d\n", pm_limit);
}

module_init(pm_ro_after_init_init);
module_exit(pm_ro_after_init_exit);
MODULE_LICENSE("GPL v2");
MODULE_DESCRIPTION("pymod sample: a __ro_after_init variable");
