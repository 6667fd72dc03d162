// SPDX-License-Identifier: Apache-2.0
/*
 * core_loader - libbpf oracle for the btfembed tests.
 *
 * Usage:  core_loader [--autoload-all] OBJECT [BTF_PATH]
 *         core_loader --probe
 *
 * --autoload-all turns autoload on for every program (including SEC("?...")
 * ones): libbpf 1.1 neither relocates nor loads programs with autoload off.
 * --probe only checks that BPF_PROG_LOAD of a trivial program works.
 *
 * Opens OBJECT with libbpf (btf_custom_path = BTF_PATH when given), runs
 * bpf_object__load() and prints, for every program, the instructions exactly
 * as libbpf handed them to the kernel, i.e. after all relocations (CO-RE,
 * maps, subprogram calls) were applied.
 *
 * Technique: this executable defines its own syscall() function. libbpf.so
 * calls syscall(__NR_bpf, cmd, attr, size) through its PLT, and the dynamic
 * linker resolves that reference to the executable's definition (the
 * executable comes first in the global lookup scope; we link with -rdynamic
 * so the symbol is certainly exported).  Every call is forwarded to the
 * real syscall() (found with dlsym(RTLD_NEXT)).  For BPF_PROG_LOAD requests
 * that belong to one of the object's programs (identified by the insns
 * pointer/count libbpf passes, which is the program's own instruction
 * buffer, and by the 15-char truncated name) the instructions are copied
 * before the call.  If the kernel rejects such a load (poisoned
 * instructions, offsets that only make sense on the kernel BTF_PATH
 * describes, ...) a dup of /dev/null is returned as a fake program fd so
 * libbpf carries on (and a failing BPF_MAP_UPDATE_ELEM whose value is such a
 * fake fd, i.e. a prog-array initialisation, is reported as a success).
 * libbpf's own feature probes never match and are forwarded untouched.  If
 * a program libbpf loaded was never seen by the hook, the run fails: the
 * interposition cannot silently stop working.
 *
 * Output (stdout), one record per line:
 *   warn <text>                       every libbpf warning (any time)
 *   prog <name> <section> <insn_cnt>  a loaded program, followed by
 *   insn <index> <16 hex chars>       its raw instructions (8 bytes each)
 *   kernel <name> <0|-errno>          what the kernel said (faked if < 0)
 *   noload <name> <section>           a program with autoload off
 *   map <name> <fd>                   maps (map fds appear in ld_imm64 imm)
 *   syscalls <bpf> <prog_load> <faked>
 *   ok
 * or, on failure:
 *   error <negative errno> <libbpf's last warning line>   (exit status 1)
 *
 * All libbpf messages (debug level included) go to stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <bpf/libbpf.h>

typedef long (*syscall_fn)(long, ...);

struct prog_rec {
	const struct bpf_program *prog;
	unsigned char *insns; /* raw copy, insn_cnt * 8 bytes */
	unsigned int insn_cnt;
	int kernel_err; /* 0 or -errno returned by the kernel */
	int loaded;
};

static struct bpf_object *g_obj;
static int g_loading;
static int g_devnull = -1;
static struct prog_rec *g_recs;
static size_t g_nrecs;
static long g_nbpf, g_nprogload, g_nfaked;
static int g_fake_fds[4096];
static size_t g_nfake;
static char g_last_warn[4096];

static syscall_fn real_syscall(void)
{
	static syscall_fn fn;

	if (!fn) {
		fn = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
		if (!fn) {
			fprintf(stderr, "core_loader: dlsym(syscall): %s\n", dlerror());
			abort();
		}
	}
	return fn;
}

static struct prog_rec *rec_for_load(const union bpf_attr *attr)
{
	const void *insns = (const void *)(uintptr_t)attr->insns;
	size_t i;

	if (!g_obj)
		return NULL;
	for (i = 0; i < g_nrecs; i++) {
		const struct bpf_program *p = g_recs[i].prog;
		const char *name = bpf_program__name(p);

		if ((const void *)bpf_program__insns(p) != insns)
			continue;
		if (bpf_program__insn_cnt(p) != attr->insn_cnt)
			continue;
		/* the kernel name is truncated to BPF_OBJ_NAME_LEN - 1 chars
		 * (and only set when the kernel supports prog names) */
		if (attr->prog_name[0] &&
		    strncmp(attr->prog_name, name, BPF_OBJ_NAME_LEN - 1) != 0)
			continue;
		return &g_recs[i];
	}
	return NULL;
}

static int is_fake_fd(int fd)
{
	size_t i;

	for (i = 0; i < g_nfake; i++)
		if (g_fake_fds[i] == fd)
			return 1;
	return 0;
}

static long bpf_hook(long cmd, union bpf_attr *attr, long size)
{
	syscall_fn real = real_syscall();
	struct prog_rec *rec = NULL;
	long ret;
	int err;

	g_nbpf++;
	if (cmd == BPF_PROG_LOAD && g_loading && attr) {
		g_nprogload++;
		rec = rec_for_load(attr);
		if (rec) {
			size_t n = (size_t)attr->insn_cnt * sizeof(struct bpf_insn);

			free(rec->insns);
			rec->insns = malloc(n ? n : 1);
			if (!rec->insns) {
				errno = ENOMEM;
				return -1;
			}
			memcpy(rec->insns, (const void *)(uintptr_t)attr->insns, n);
			rec->insn_cnt = attr->insn_cnt;
			rec->loaded = 1;
		}
	}

	ret = real(__NR_bpf, cmd, attr, size);
	err = errno;

	if (rec) {
		rec->kernel_err = ret < 0 ? -err : 0;
		if (ret < 0) {
			int fd = dup(g_devnull);

			if (fd < 0) {
				errno = err;
				return ret;
			}
			if (g_nfake < sizeof(g_fake_fds) / sizeof(g_fake_fds[0]))
				g_fake_fds[g_nfake++] = fd;
			g_nfaked++;
			errno = 0;
			return fd;
		}
	} else if (ret < 0 && cmd == BPF_MAP_UPDATE_ELEM && g_nfake && attr &&
		   attr->value) {
		/* prog array initialisation with a fake program fd */
		int v;

		memcpy(&v, (const void *)(uintptr_t)attr->value, sizeof(v));
		if (is_fake_fd(v)) {
			errno = 0;
			return 0;
		}
	}
	errno = err;
	return ret;
}

/* Interposes libc's syscall() for libbpf.so (resolved through its PLT). */
long syscall(long number, ...)
{
	long a[6];
	va_list ap;
	int i;

	va_start(ap, number);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);

	if (number == __NR_bpf)
		return bpf_hook(a[0], (union bpf_attr *)(uintptr_t)a[1], a[2]);
	return real_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static int print_cb(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char buf[8192];
	char *line, *save = NULL;
	int n;

	n = vsnprintf(buf, sizeof(buf), fmt, args);
	if (n < 0)
		return n;
	fputs(buf, stderr);
	if (level != LIBBPF_WARN)
		return n;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			continue;
		snprintf(g_last_warn, sizeof(g_last_warn), "%s", p);
		printf("warn %s\n", p);
	}
	return n;
}

static int fail(int err)
{
	if (err > 0)
		err = -err;
	if (!err)
		err = -EINVAL;
	printf("error %d %s\n", err, g_last_warn[0] ? g_last_warn : "(no libbpf warning)");
	fflush(stdout);
	return 1;
}

static int probe(void)
{
	/* r0 = 0; exit */
	struct bpf_insn insns[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uintptr_t)insns;
	attr.insn_cnt = 2;
	attr.license = (uintptr_t)"GPL";
	fd = real_syscall()(__NR_bpf, (long)BPF_PROG_LOAD, &attr, (long)sizeof(attr));
	if (fd < 0) {
		printf("error %d bpf(BPF_PROG_LOAD) of a trivial program failed: %s\n",
		       -errno, strerror(errno));
		return 1;
	}
	close((int)fd);
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_program *prog;
	struct bpf_map *map;
	int autoload_all = 0;
	size_t i;
	int err;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc == 2 && strcmp(argv[1], "--probe") == 0)
		return probe();
	if (argc >= 2 && strcmp(argv[1], "--autoload-all") == 0) {
		autoload_all = 1;
		argv++;
		argc--;
	}
	if (argc < 2 || argc > 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s [--autoload-all] OBJECT [BTF_PATH]\n"
			"       %s --probe\n", argv[0], argv[0]);
		return 2;
	}

	g_devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (g_devnull < 0) {
		printf("error %d cannot open /dev/null\n", -errno);
		return 1;
	}
	libbpf_set_print(print_cb);
	if (argc == 3)
		opts.btf_custom_path = argv[2];

	g_obj = bpf_object__open_file(argv[1], &opts);
	if (!g_obj)
		return fail(-errno);

	bpf_object__for_each_program(prog, g_obj)
		g_nrecs++;
	g_recs = calloc(g_nrecs ? g_nrecs : 1, sizeof(*g_recs));
	if (!g_recs)
		return fail(-ENOMEM);
	i = 0;
	bpf_object__for_each_program(prog, g_obj) {
		g_recs[i++].prog = prog;
		if (autoload_all && bpf_program__set_autoload(prog, true))
			return fail(-EINVAL);
	}

	g_loading = 1;
	err = bpf_object__load(g_obj);
	g_loading = 0;
	if (err)
		return fail(err);

	for (i = 0; i < g_nrecs; i++) {
		struct prog_rec *r = &g_recs[i];
		const char *name = bpf_program__name(r->prog);
		const char *sec = bpf_program__section_name(r->prog);
		unsigned int k;

		if (!bpf_program__autoload(r->prog)) {
			printf("noload %s %s\n", name, sec);
			continue;
		}
		if (!r->loaded) {
			snprintf(g_last_warn, sizeof(g_last_warn),
				 "core_loader: BPF_PROG_LOAD of program '%s' was not intercepted "
				 "(syscall() interposition ineffective?)", name);
			return fail(-ENOSYS);
		}
		printf("prog %s %s %u\n", name, sec, r->insn_cnt);
		for (k = 0; k < r->insn_cnt; k++) {
			const unsigned char *b = r->insns + (size_t)k * 8;

			printf("insn %u %02x%02x%02x%02x%02x%02x%02x%02x\n", k,
			       b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
		}
		printf("kernel %s %d\n", name, r->kernel_err);
	}
	bpf_object__for_each_map(map, g_obj)
		printf("map %s %d\n", bpf_map__name(map), bpf_map__fd(map));
	printf("syscalls %ld %ld %ld\n", g_nbpf, g_nprogload, g_nfaked);
	printf("ok\n");
	fflush(stdout);

	bpf_object__close(g_obj);
	for (i = 0; i < g_nrecs; i++)
		free(g_recs[i].insns);
	free(g_recs);
	return 0;
}
