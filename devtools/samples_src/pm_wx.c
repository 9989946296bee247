/* A section that is both writable and executable: refused under W^X. */
#include "pm_module.h"

asm("	.section .pm_wx_text,\"awx\",@progbits\n"
    "	.globl pm_wx_trampoline\n"
    "	.type pm_wx_trampoline,@function\n"
    "pm_wx_trampoline:\n"
    "	ret\n"
    "	.size pm_wx_trampoline, .-pm_wx_trampoline\n"
    "	.previous\n");

void pm_wx_trampoline(void);

static int __init pm_wx_init(void)
{
	pm_wx_trampoline();
	return 0;
}

module_init(pm_wx_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pymod sample: a WRITE|EXEC section");
