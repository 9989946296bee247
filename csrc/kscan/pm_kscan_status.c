/*
 * The text of every scanner status (enum pm_kscan_status in pymod_kscan.h).
 *
 * The switch names every enumerator and has no default, so -Wswitch (in
 * -Wall, an error under -Werror) refuses a build in which a status was
 * added without its text.  Texts are phrases without a subject, so callers
 * can prefix what failed: "12-byte image: shorter than an ELF64 header".
 */
#include "pymod_kscan.h"

const char *pm_kscan_strerror(int status)
{
	switch ((enum pm_kscan_status)status) {
	case PM_KSCAN_OK:
		return "success";
	case PM_KSCAN_ESHORT:
		return "shorter than an ELF64 header";
	case PM_KSCAN_ESHDR:
		return "section header table cannot be read "
		       "(e_shentsize is not 64 or the table runs past the end)";
	case PM_KSCAN_ESECTION:
		return "a section the scan reads (symbol or string table, __ksymtab_strings, "
		       "__versions) runs past the end of the image";
	case PM_KSCAN_ENOSPC:
		return "the names or weak buffer is too small";
	case PM_KSCAN_EINVAL:
		return "NULL image or result";
	}
	return "unknown status";
}
