/* A non-GPL licence using a plain export: loads, taints the kernel (P). */
#include "pm_module.h"

int pm_shared_fn(int x);

static int __init pm_proprietary_init(void)
{
	return pm_shared_fn(-1);
}

static void __exit pm_proprietary_exit(void)
{
}

module_init(pm_proprietary_init);
module_exit(pm_proprietary_exit);
MODULE_LICENSE("Proprietary");
MODULE_DESCRIPTION("pymod sample: proprietary licence");
