/* The plain case: GPL, init/exit, one vmlinux call, a version string. */
#include "pm_module.h"

static int __init pm_hello_init(void)
{
	pr_info("pm_hello: hello\n");
	return 0;
}

static void __exit pm_hello_exit(void)
{
	pr_info("pm_hello: bye\n");
}

module_init(pm_hello_init);
module_exit(pm_hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: hello world");
MODULE_AUTHOR("pymod");
MODULE_VERSION("1.0");
