/* The line program header, shared by pd_line.c (tables) and pd_lineprog.c. */
#ifndef PD_LINE_H
#define PD_LINE_H

#include "pd_internal.h"

struct lhdr {
	unsigned version, min_inst, line_range, opcode_base;
	int line_base;
	const uint8_t *std_lengths;
	const char *comp_dir;
	struct pd_vec dirs;           /* const char * */
	struct pd_unit fu;            /* offset/address sizes for form reads */
	const struct pd_unit *cu;
};

int pd_line_run(struct pd_build *b, struct lhdr *h, struct pd_cur *c);
int pd_line_add_file(struct pd_build *b, struct lhdr *h, const char *name, uint64_t dir);

#endif
