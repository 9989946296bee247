/* Module parameters of each common kind, one hidden; a per-CPU variable. */
#include "pm_module.h"

static int count = 3;
static _Bool verbose;
static char *who = "world";
static int levels[4] = { 1, 2 };
static unsigned int nlevels;
static char label[8] = "lbl";
static unsigned int hidden = 7;
static DEFINE_PER_CPU(int, pm_hits);

module_param(count, int, 0644);
MODULE_PARM_DESC(count, "how many");
module_param(verbose, bool, 0444);
module_param(who, charp, 0444);
module_param_array(levels, int, &nlevels, 0444);
module_param_string(label, label, sizeof(label), 0444);
module_param(hidden, uint, 0);

static int __init pm_params_init(void)
{
	pr_info("pm_params: %d %d %s %d %u %s %u %p\n", count, verbose, who, levels[0], nlevels,
		label, hidden, &pm_hits);
	return 0;
}

static void __exit pm_params_exit(void)
{
}

module_init(pm_params_init);
module_exit(pm_params_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: module parameters and per-CPU data");
