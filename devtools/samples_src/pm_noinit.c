/* Neither init nor exit: loads, and can be removed (no exit is fine without init). */
#include "pm_module.h"

int pm_noinit_answer(void)
{
	return 42;
}

MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("pymod sample: no init or exit function");
