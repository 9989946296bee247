/* Red-black tree without parent pointers: see pm_rbtree.h for the contract. */
#include "pm_rbtree.h"

#include <stdbool.h>

/* A path from the root: path[i] is a node, dirs[i] the way taken from it. */
struct rb_path {
	struct pm_node *node[PM_RB_MAX_DEPTH + 2];
	int dir[PM_RB_MAX_DEPTH + 2];
};

static inline bool is_red(struct pm_node *n, int c)
{
	return n && *pm_rb_red(n, c);
}

static inline void set_child(struct pm_node *n, int c, int dir, struct pm_node *v)
{
	pm_store_release(&n->child[c][dir], v);
}

/* The link that points at path->node[k]: its parent's child slot or the root. */
static inline struct pm_node *_Atomic *link_of(pm_rb_root *root, struct rb_path *p,
					       int c, int k)
{
	return k == 0 ? root : &p->node[k - 1]->child[c][p->dir[k - 1]];
}

/*
 * Rotate @x down towards @dir; its child on the other side takes its place,
 * which @link (the slot that pointed at @x) is updated to.  Returns that child.
 * Store order: the subtree moving across is attached first, so a concurrent
 * reader never sees a node linked below its own descendant.
 */
static struct pm_node *rotate(struct pm_node *_Atomic *link, struct pm_node *x,
			      int c, int dir)
{
	struct pm_node *y = pm_load_relaxed(&x->child[c][!dir]);

	set_child(x, c, !dir, pm_load_relaxed(&y->child[c][dir]));
	set_child(y, c, dir, x);
	pm_store_release(link, y);
	return y;
}

void pm_rb_insert(pm_rb_root *root, struct pm_node *node, int c)
{
	struct rb_path p;
	struct pm_node *cur = pm_load_relaxed(root);
	int d = 0;

	while (cur) {
		int dir = node->base > cur->base;

		p.node[d] = cur;
		p.dir[d] = dir;
		d++;
		cur = pm_load_relaxed(&cur->child[c][dir]);
	}
	pm_store_relaxed(&node->child[c][0], NULL);
	pm_store_relaxed(&node->child[c][1], NULL);
	*pm_rb_red(node, c) = 1;
	/* Publication: the node's key and links are written before it is reachable. */
	pm_store_release(link_of(root, &p, c, d), node);
	p.node[d] = node;

	/* Fix a red node at depth d with a red parent. */
	while (d >= 2) {
		struct pm_node *parent = p.node[d - 1], *gp = p.node[d - 2], *uncle;
		int pdir = p.dir[d - 2];

		if (!*pm_rb_red(parent, c))
			break;
		uncle = pm_load_relaxed(&gp->child[c][!pdir]);
		if (is_red(uncle, c)) {
			*pm_rb_red(parent, c) = 0;
			*pm_rb_red(uncle, c) = 0;
			*pm_rb_red(gp, c) = 1;
			d -= 2;
			continue;
		}
		if (p.dir[d - 1] != pdir) /* inner grandchild: make it outer */
			parent = rotate(&gp->child[c][pdir], parent, c, pdir);
		*pm_rb_red(parent, c) = 0;
		*pm_rb_red(gp, c) = 1;
		rotate(link_of(root, &p, c, d - 2), gp, c, !pdir);
		break;
	}
	/* Only store when it changes: the root's line is in every reader's path,
	 * and a redundant store would still cost each of them a miss. */
	cur = pm_load_relaxed(root);
	if (*pm_rb_red(cur, c))
		*pm_rb_red(cur, c) = 0;
}

/* Restore black height after a black node left the slot at depth k. */
static void erase_fixup(pm_rb_root *root, struct rb_path *p, int c, int k,
			struct pm_node *x)
{
	while (k > 0 && !is_red(x, c)) {
		struct pm_node *parent = p->node[k - 1], *sib;
		int dir = p->dir[k - 1];

		sib = pm_load_relaxed(&parent->child[c][!dir]);
		if (*pm_rb_red(sib, c)) {
			/* Red sibling: rotate it above parent; the path grows by one. */
			*pm_rb_red(sib, c) = 0;
			*pm_rb_red(parent, c) = 1;
			rotate(link_of(root, p, c, k - 1), parent, c, dir);
			p->node[k] = parent;
			p->dir[k] = dir;
			p->node[k - 1] = sib;
			p->dir[k - 1] = dir;
			k++;
			sib = pm_load_relaxed(&parent->child[c][!dir]);
		}
		if (!is_red(pm_load_relaxed(&sib->child[c][0]), c) &&
		    !is_red(pm_load_relaxed(&sib->child[c][1]), c)) {
			*pm_rb_red(sib, c) = 1;
			x = parent;
			k--;
			continue;
		}
		if (!is_red(pm_load_relaxed(&sib->child[c][!dir]), c)) {
			/* Near nephew red, far black: turn it into the far case. */
			*pm_rb_red(pm_load_relaxed(&sib->child[c][dir]), c) = 0;
			*pm_rb_red(sib, c) = 1;
			sib = rotate(&parent->child[c][!dir], sib, c, !dir);
		}
		*pm_rb_red(sib, c) = *pm_rb_red(parent, c);
		*pm_rb_red(parent, c) = 0;
		*pm_rb_red(pm_load_relaxed(&sib->child[c][!dir]), c) = 0;
		rotate(link_of(root, p, c, k - 1), parent, c, dir);
		return;
	}
	if (x && *pm_rb_red(x, c))
		*pm_rb_red(x, c) = 0;
}

void pm_rb_erase(pm_rb_root *root, struct pm_node *node, int c)
{
	struct rb_path p;
	struct pm_node *cur = pm_load_relaxed(root), *left, *right, *x;
	int d = 0, k, removed_red;

	while (cur != node) {
		int dir = node->base > cur->base;

		p.node[d] = cur;
		p.dir[d] = dir;
		d++;
		cur = pm_load_relaxed(&cur->child[c][dir]);
	}
	left = pm_load_relaxed(&node->child[c][0]);
	right = pm_load_relaxed(&node->child[c][1]);

	if (!left || !right) {
		x = left ? left : right;
		removed_red = *pm_rb_red(node, c);
		pm_store_release(link_of(root, &p, c, d), x);
		k = d;
	} else {
		/* Two children: the successor s takes node's place and colour;
		 * the hole moves to s's old slot. */
		struct pm_node *s = right;
		int ds = d + 1;

		p.node[d] = node; /* placeholder, replaced by s below */
		p.dir[d] = 1;
		while (pm_load_relaxed(&s->child[c][0])) {
			p.node[ds] = s;
			p.dir[ds] = 0;
			ds++;
			s = pm_load_relaxed(&s->child[c][0]);
		}
		x = pm_load_relaxed(&s->child[c][1]);
		removed_red = *pm_rb_red(s, c);
		if (s != right) {
			set_child(p.node[ds - 1], c, 0, x);
			set_child(s, c, 1, right);
		}
		set_child(s, c, 0, left);
		*pm_rb_red(s, c) = *pm_rb_red(node, c);
		pm_store_release(link_of(root, &p, c, d), s);
		p.node[d] = s;
		k = ds;
	}
	if (!removed_red)
		erase_fixup(root, &p, c, k, x);
}

/* Every node intersecting [base, last] lies in one in-order run; dead ones
 * may sit in it beside live ones, so the run is searched both ways. */
static struct pm_node *overlap_live(struct pm_node *n, int c, uint64_t base, uint64_t last)
{
	while (n) {
		uint64_t nlast = n->base + (n->size - 1);

		if (last < n->base) {
			n = pm_load_relaxed(&n->child[c][0]);
		} else if (base > nlast) {
			n = pm_load_relaxed(&n->child[c][1]);
		} else {
			struct pm_node *hit;

			if (!pm_load_relaxed(&n->dead))
				return n;
			hit = overlap_live(pm_load_relaxed(&n->child[c][0]), c, base, last);
			if (hit)
				return hit;
			n = pm_load_relaxed(&n->child[c][1]);
		}
	}
	return NULL;
}

struct pm_node *pm_rb_overlap(pm_rb_root *root, int c, uint64_t base, uint64_t size)
{
	return overlap_live(pm_load_relaxed(root), c, base, base + (size - 1));
}

/* Returns black height, or -1; *count accumulates nodes; bounds are inclusive. */
static long validate(struct pm_node *n, int c, uint64_t lo, uint64_t hi, int has_lo,
		     int has_hi, long *count, int depth)
{
	long lh, rh;
	struct pm_node *l, *r;

	if (!n)
		return 1;
	if (depth > PM_RB_MAX_DEPTH || n->size == 0 || n->base + (n->size - 1) < n->base)
		return -1;
	if ((has_lo && n->base < lo) || (has_hi && n->base + (n->size - 1) > hi))
		return -1;
	l = pm_load_relaxed(&n->child[c][0]);
	r = pm_load_relaxed(&n->child[c][1]);
	if (*pm_rb_red(n, c) && (is_red(l, c) || is_red(r, c)))
		return -1;
	(*count)++;
	lh = n->base == 0 ? (l ? -1 : 1) :
		validate(l, c, lo, n->base - 1, has_lo, 1, count, depth + 1);
	rh = n->base + (n->size - 1) == UINT64_MAX ? (r ? -1 : 1) :
		validate(r, c, n->base + n->size, hi, 1, has_hi, count, depth + 1);
	if (lh < 0 || rh < 0 || lh != rh)
		return -1;
	return lh + !*pm_rb_red(n, c);
}

long pm_rb_validate(pm_rb_root *root, int c)
{
	long count = 0;
	struct pm_node *r = pm_load_relaxed(root);

	if (r && *pm_rb_red(r, c))
		return -1;
	if (validate(r, c, 0, UINT64_MAX, 0, 0, &count, 0) < 0)
		return -1;
	return count;
}
