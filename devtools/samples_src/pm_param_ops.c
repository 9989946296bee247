/*
 * Parameters parsed by the module's own kernel_param_ops (module_param_cb):
 * only its code knows which values it takes, so a loader that runs no
 * module code cannot judge them.  "mode" takes 0, 1 or 2 (alone: 1, its ops
 * having KERNEL_PARAM_OPS_FL_NOARG); "modes" is an array of them (the
 * kernel's param_array_ops, the module's ops per element); "count" is a
 * plain int beside them.
 */
#include "pm_module.h"

#define KERNEL_PARAM_OPS_FL_NOARG 1

struct kernel_param_ops {
	unsigned int flags;
	int (*set)(const char *val, const struct pm_kernel_param *kp);
	int (*get)(char *buffer, const struct pm_kernel_param *kp);
	void (*free)(void *arg);
};

static int mode = 1;
static int modes[3];
static unsigned int nmodes;
static int count = 5;

static int mode_set(const char *val, const struct pm_kernel_param *kp)
{
	if (!val)
		val = "1";
	if (val[0] < '0' || val[0] > '2' || val[1])
		return -22;
	*(int *)kp->arg = val[0] - '0';
	return 0;
}

static int mode_get(char *buffer, const struct pm_kernel_param *kp)
{
	buffer[0] = '0' + *(int *)kp->arg;
	buffer[1] = '\n';
	buffer[2] = 0;
	return 2;
}

static const struct kernel_param_ops pm_mode_ops = {
	.flags = KERNEL_PARAM_OPS_FL_NOARG,
	.set = mode_set,
	.get = mode_get,
};

extern const struct kernel_param_ops param_array_ops;
static const struct kparam_array __param_arr_modes = { 3, sizeof(int), &nmodes, &pm_mode_ops,
						       modes };

PM_PARAM(mode, pm_mode_ops, &mode, 0644);
PM_PARAM(modes, param_array_ops, &__param_arr_modes, 0444);
module_param(count, int, 0444);

static int __init pm_param_ops_init(void)
{
	pr_info("pm_param_ops: %d %d %u %d\n", mode, modes[0], nmodes, count);
	return 0;
}

static void __exit pm_param_ops_exit(void)
{
}

module_init(pm_param_ops_init);
module_exit(pm_param_ops_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: parameters parsed by the module's own ops");
