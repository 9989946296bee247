/* A weak reference nobody satisfies: the kernel leaves it 0 and loads. */
#include "pm_module.h"

void pm_optional_hook(void) __attribute__((weak));

static int __init pm_weak_init(void)
{
	if (pm_optional_hook)
		pm_optional_hook();
	return 0;
}

static void __exit pm_weak_exit(void)
{
}

module_init(pm_weak_init);
module_exit(pm_weak_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: an unresolved weak symbol");
