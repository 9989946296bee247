/* Built without intree=Y, like any external module: taint O. */
#include "pm_module.h"

static int __init pm_outoftree_init(void)
{
	return 0;
}

static void __exit pm_outoftree_exit(void)
{
}

module_init(pm_outoftree_init);
module_exit(pm_outoftree_exit);
PM_OUT_OF_TREE();
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: an out-of-tree module");
