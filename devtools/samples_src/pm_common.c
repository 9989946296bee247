/* A tentative definition left in SHN_COMMON: the kernel refuses those. */
#include "pm_module.h"

int pm_common_counter __attribute__((common));

static int __init pm_common_init(void)
{
	pm_common_counter++;
	return 0;
}

module_init(pm_common_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: an SHN_COMMON symbol");
