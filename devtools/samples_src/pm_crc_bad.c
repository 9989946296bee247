/* Built against a different _printk: its __versions CRC does not match. */
#include "pm_module.h"

PM_FORCE_VERSION_CRC(_printk, 0x0badc0de);

static int __init pm_crc_bad_init(void)
{
	pr_info("pm_crc_bad: never printed\n");
	return 0;
}

module_init(pm_crc_bad_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: a wrong modversions CRC");
