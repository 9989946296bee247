/*
 * pmguest: PID 1 of the oracle's guest.  It asks the booted kernel the
 * questions the host wrote into the initramfs and reports the answers.
 *
 * Contract with the host (devtools/oracle/guest.py writes the input, and
 * devtools/oracle/results.py reads the output):
 *
 *   /cases.txt   one line per record, fields separated by single spaces:
 *     C <id>                          a case begins
 *     S <op> <arg> <flags> <params> <len> <patches>
 *                                     one syscall: op is finit, init or delete;
 *                                     arg is a blob number (/blobs/<n>) or, for
 *                                     delete, the module name in hex; params is
 *                                     hex or "-"; len is the image length (the
 *                                     blob is cut or zero-extended to it);
 *                                     patches is "-" or off:hex[,off:hex...]
 *     E                               the case ends
 *   /proc/cmdline pmstart=<id>        cases before <id> are skipped (the host
 *                                     boots again after a case killed a guest)
 *
 *   /dev/ttyS1, one line per record:
 *     B <id>                          about to run case <id>
 *     R <id> <step> <ret> <errno>     a step's syscall returned
 *     X <id> <name> <ret> <errno>     cleanup: delete_module(name, O_NONBLOCK)
 *                                     of a module the case left loaded
 *     K <level> <text>                a /dev/kmsg record added by the syscall
 *                                     just reported (text escaped as kmsg does)
 *     T <id> <tainted>                /proc/sys/kernel/tainted after the case
 *     Z                               every case ran
 *
 * Each step's kmsg records are exactly those that appeared between its
 * syscall and the next report: the reader drains /dev/kmsg (non-blocking)
 * before and after every call.  The helper never retries and never
 * interprets a result; deciding is the host's job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#define MAX_LINE (1 << 20)
#define MAX_MODS 512
#define NAME_LEN 64

static FILE *out;
static int kmsg = -1;

static void die(const char *what)
{
	fprintf(out ? out : stderr, "F %s: %s\n", what, strerror(errno));
	fflush(out);
	sync();
	reboot(RB_POWER_OFF);
	_exit(1);
}

/* Report every record queued since the last drain; a record overwritten
 * before it was read (EPIPE) is reported as lost rather than skipped. */
static void drain_kmsg(int report)
{
	static char rec[8192];

	for (;;) {
		ssize_t n = read(kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE) {
			if (report)
				fprintf(out, "K 9 (kmsg records lost)\n");
			continue;
		}
		if (n <= 0)
			break;
		rec[n] = 0;
		char *semi = strchr(rec, ';');
		char *nl = semi ? strchr(semi, '\n') : NULL;
		if (!semi)
			continue;
		if (nl)
			*nl = 0;
		int prio = atoi(rec);
		if (report && (prio >> 3) == 0)
			fprintf(out, "K %d %s\n", prio & 7, semi + 1);
	}
	fflush(out);
}

static int unhex(const char *s, unsigned char *dst, size_t max)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		dst[i] = (unsigned char)v;
	}
	return (int)(n / 2);
}

static unsigned char *read_blob(const char *arg, size_t *size)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/blobs/%s", arg);
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	unsigned char *buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || read(fd, buf, st.st_size) != st.st_size)
		die(path);
	close(fd);
	*size = st.st_size;
	return buf;
}

/* The step's image: the blob, cut or zero-extended to len, then patched. */
static unsigned char *build_image(const char *arg, size_t len, char *patches)
{
	size_t size;
	unsigned char *blob = read_blob(arg, &size);
	unsigned char *img = calloc(len ? len : 1, 1);
	if (!img)
		die("calloc");
	memcpy(img, blob, size < len ? size : len);
	free(blob);
	if (strcmp(patches, "-") == 0)
		return img;
	for (char *p = strtok(patches, ","); p; p = strtok(NULL, ",")) {
		char *colon = strchr(p, ':');
		if (!colon)
			die("patch syntax");
		size_t off = strtoul(p, NULL, 10);
		int n = unhex(colon + 1, img + off, off <= len ? len - off : 0);
		if (n < 0)
			die("patch out of range");
	}
	return img;
}

/* Names in /proc/modules, newest first (the order the file lists them). */
static int list_modules(char names[][NAME_LEN])
{
	FILE *f = fopen("/proc/modules", "r");
	int n = 0;
	if (!f)
		die("/proc/modules");
	while (n < MAX_MODS && fscanf(f, "%63s%*[^\n]", names[n]) == 1)
		n++;
	fclose(f);
	return n;
}

static int listed(char names[][NAME_LEN], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

static void run_step(long id, int step, char *fields[6])
{
	const char *op = fields[0];
	unsigned long flags = strtoul(fields[2], NULL, 10);
	static char params[MAX_LINE];
	long ret;

	params[0] = 0;
	if (strcmp(fields[3], "-") != 0 &&
	    unhex(fields[3], (unsigned char *)params, sizeof(params) - 1) < 0)
		die("params syntax");
	else if (strcmp(fields[3], "-") != 0)
		params[strlen(fields[3]) / 2] = 0;
	drain_kmsg(0);
	if (strcmp(op, "delete") == 0) {
		char name[NAME_LEN * 2] = { 0 };
		unhex(fields[1], (unsigned char *)name, sizeof(name) - 1);
		ret = syscall(SYS_delete_module, name, flags);
	} else {
		size_t len = strtoul(fields[4], NULL, 10);
		unsigned char *img = build_image(fields[1], len, fields[5]);
		if (strcmp(op, "init") == 0) {
			ret = syscall(SYS_init_module, img, len, params);
		} else {
			/* finit_module refuses a file open for writing
			 * (ETXTBSY): write it, close it, open it again. */
			int fd = open("/tmp/m.ko", O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || write(fd, img, len) != (ssize_t)len || close(fd) < 0)
				die("/tmp/m.ko");
			fd = open("/tmp/m.ko", O_RDONLY);
			if (fd < 0)
				die("/tmp/m.ko");
			ret = syscall(SYS_finit_module, fd, params, flags);
			close(fd);
		}
		free(img);
	}
	fprintf(out, "R %ld %d %ld %d\n", id, step, ret, ret < 0 ? errno : 0);
	drain_kmsg(1);
}

static void cleanup(long id, char before[][NAME_LEN], int nbefore)
{
	static char now[MAX_MODS][NAME_LEN];
	int progress = 1;

	while (progress) {
		progress = 0;
		int n = list_modules(now);
		for (int i = 0; i < n; i++) {
			if (listed(before, nbefore, now[i]))
				continue;
			drain_kmsg(0);
			long ret = syscall(SYS_delete_module, now[i], O_NONBLOCK);
			fprintf(out, "X %ld %s %ld %d\n", id, now[i], ret, ret < 0 ? errno : 0);
			drain_kmsg(1);
			progress |= ret == 0;
		}
	}
}

static long start_case(void)
{
	char cmd[4096] = { 0 };
	int fd = open("/proc/cmdline", O_RDONLY);
	if (fd < 0 || read(fd, cmd, sizeof(cmd) - 1) < 0)
		die("/proc/cmdline");
	close(fd);
	char *p = strstr(cmd, "pmstart=");
	return p ? strtol(p + 8, NULL, 10) : 0;
}

static void report_taint(long id)
{
	char buf[64] = { 0 };
	int fd = open("/proc/sys/kernel/tainted", O_RDONLY);
	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		fprintf(out, "T %ld %s", id, buf);
	if (fd >= 0)
		close(fd);
}

/* Mount what the guest needs, open the report tty (raw) and /dev/kmsg,
 * positioned after the boot's records. */
static void open_channels(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
	out = fopen("/dev/ttyS1", "w");
	if (!out)
		die("/dev/ttyS1");
	/* Raw: the tty would turn every "\n" into "\r\n" and the host must
	 * see the bytes the kernel gave (a module name may hold a '\r'). */
	struct termios raw;
	if (tcgetattr(fileno(out), &raw) == 0) {
		cfmakeraw(&raw);
		tcsetattr(fileno(out), TCSANOW, &raw);
	}
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg < 0)
		die("/dev/kmsg");
	lseek(kmsg, 0, SEEK_END);
}

/* An S record's six fields, split in place. */
static void split_step(char *rest, char *fields[6])
{
	char *save = NULL;
	char *tok = strtok_r(rest, " ", &save);
	for (int i = 0; i < 6; i++, tok = strtok_r(NULL, " ", &save)) {
		if (!tok)
			die("step syntax");
		fields[i] = tok;
	}
}

/* Every case of /cases.txt from case @start on, reported as it runs. */
static void run_cases(FILE *cases, long start)
{
	static char line[MAX_LINE];
	static char before[MAX_MODS][NAME_LEN];
	long id = -1;
	int step = 0, nbefore = 0, skipping = 1;

	while (fgets(line, sizeof(line), cases)) {
		line[strcspn(line, "\n")] = 0;
		if (line[0] == 'C') {
			id = strtol(line + 2, NULL, 10);
			skipping = id < start;
			if (skipping)
				continue;
			step = 0;
			nbefore = list_modules(before);
			fprintf(out, "B %ld\n", id);
			fflush(out);
		} else if (line[0] == 'S' && !skipping) {
			char *fields[6];
			split_step(line + 2, fields);
			run_step(id, step++, fields);
		} else if (line[0] == 'E' && !skipping) {
			cleanup(id, before, nbefore);
			report_taint(id);
			fflush(out);
		}
	}
}

int main(void)
{
	long start;

	open_channels();
	start = start_case();
	FILE *cases = fopen("/cases.txt", "r");
	if (!cases)
		die("/cases.txt");
	run_cases(cases, start);
	fprintf(out, "Z\n");
	fflush(out);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
