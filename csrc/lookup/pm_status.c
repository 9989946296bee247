/*
 * The text of every lookup-core status (enum pm_status in pymod_lookup.h).
 *
 * The switch names every enumerator and has no default, so -Wswitch (in
 * -Wall, an error under -Werror) refuses a build in which a status was
 * added without its text.  Texts are short phrases without a subject, so
 * callers can prefix what failed: "module 5: id already present".
 */
#include "pymod_lookup.h"

const char *pm_strerror(int status)
{
	switch ((enum pm_status)status) {
	case PM_OK:
		return "success";
	case PM_ENOMEM:
		return "out of memory";
	case PM_EDUPID:
		return "id already present";
	case PM_EOVERLAP:
		return "a region overlaps a region of another module";
	case PM_EBADREGION:
		return "a region wraps past 2**64";
	case PM_ESELFOVERLAP:
		return "two of its regions overlap";
	case PM_ENOENT:
		return "no such module";
	case PM_EINVAL:
		return "invalid argument";
	case PM_EIDINDEX:
		return "list and id index disagree";
	case PM_ECOUNT:
		return "counts disagree";
	case PM_ETREE0:
		return "latch copy 0 is not a valid red-black tree";
	case PM_ETREE1:
		return "latch copy 1 is not a valid red-black tree";
	case PM_ENODES:
		return "tree nodes do not match the live regions";
	case PM_ELIST:
		return "modules list back links are broken";
	}
	return "unknown status";
}
