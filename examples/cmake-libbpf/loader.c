// SPDX-License-Identifier: Apache-2.0
/*
 * loader.c - the CMake example's libbpf loader (see CMakeLists.txt).
 *
 * uts_btf.h is generated at build time by btfembed_add_library(uts_btf ...
 * PREFIX uts): uts_btf_path() picks the embedded BTF of the running kernel
 * (unless the kernel has its own; --force or BTFEMBED_FORCE=1 uses the
 * embedded one anyway), which goes to libbpf as btf_custom_path.  Then
 * uts_report.bpf.o is loaded and attached, a few system calls trigger it,
 * and what it read through CO-RE is printed:
 *
 *     btfembed: status=0 (embedded BTF selected for this kernel) key=x86_64/debian/12/6.1.0-50-amd64 ...
 *     report: pid=1234 tgid=1234 nodename=myhost release=6.1.0-50-amd64 hits=3
 *
 * usage: uts-loader [-v] [--force] [OBJECT]   (root, or CAP_BPF + CAP_PERFMON)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "uts_btf.h"

#ifndef UTS_REPORT_OBJECT
#define UTS_REPORT_OBJECT "uts_report.bpf.o"
#endif

struct uts_report {
	__u32 pid;
	__u32 tgid;
	__u32 hits;
	char nodename[65];
	char release[65];
};

static int verbose;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Printable ASCII as is, anything else as \xHH (with a wrong BTF the
 * program reads whatever lies at the wrong offset). */
static void print_str(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > ' ' && c < 0x7f && c != '\\')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	struct btfembed_options opts = { 0 };
	struct btfembed_btf btf = { 0 };
	const char *object = UTS_REPORT_OBJECT;
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	struct bpf_link *link = NULL;
	struct uts_report rep;
	__u32 zero = 0, me = (__u32)getpid();
	int i, rc, err = 1, target_fd, report_fd;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--force") == 0)
			opts.flags |= BTFEMBED_FORCE;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "usage: %s [-v] [--force] [OBJECT]\n", argv[0]);
			return 2;
		} else
			object = argv[i];
	}
	libbpf_set_print(print_libbpf);

	rc = uts_btf_path_opts(&btf, &opts);
	printf("btfembed: status=%d (%s) key=%s/%s/%s/%s entry=%ld exact=%d path=%s\n", rc, btfembed_strerror(rc),
	       btf.key.arch, btf.key.distro, btf.key.distro_version, btf.key.release, btf.kernel, btf.exact,
	       btf.path ? btf.path : "(none)");
	if (rc < 0)
		return 1;
	if (rc >= BTFEMBED_NO_MATCH)
		fprintf(stderr, "warning: %s; trying without\n", btfembed_strerror(rc));
	open_opts.btf_custom_path = btf.path;

	obj = bpf_object__open_file(object, &open_opts);
	if (!obj) {
		fprintf(stderr, "cannot open %s: %s\n", object, strerror(errno));
		goto out;
	}
	rc = bpf_object__load(obj);
	btfembed_release(&btf); /* libbpf has read the BTF (CO-RE happens in load) */
	if (rc) {
		fprintf(stderr, "cannot load %s: %s\n", object, strerror(-rc));
		goto out;
	}
	prog = bpf_object__find_program_by_name(obj, "report_uts");
	target_fd = bpf_object__find_map_fd_by_name(obj, "target");
	report_fd = bpf_object__find_map_fd_by_name(obj, "report");
	if (!prog || target_fd < 0 || report_fd < 0) {
		fprintf(stderr, "%s: program or maps missing\n", object);
		goto out;
	}
	link = bpf_program__attach(prog);
	if (!link) {
		fprintf(stderr, "cannot attach: %s\n", strerror(errno));
		goto out;
	}
	if (bpf_map_update_elem(target_fd, &zero, &me, BPF_ANY)) {
		fprintf(stderr, "cannot set the target: %s\n", strerror(errno));
		goto out;
	}
	for (i = 0; i < 3; i++)
		(void)syscall(SYS_getppid);
	memset(&rep, 0, sizeof(rep));
	if (bpf_map_lookup_elem(report_fd, &zero, &rep)) {
		fprintf(stderr, "cannot read the report: %s\n", strerror(errno));
		goto out;
	}
	rep.nodename[sizeof(rep.nodename) - 1] = 0;
	rep.release[sizeof(rep.release) - 1] = 0;
	printf("report: pid=%u tgid=%u nodename=", rep.pid, rep.tgid);
	print_str(rep.nodename, sizeof(rep.nodename));
	printf(" release=");
	print_str(rep.release, sizeof(rep.release));
	printf(" hits=%u\n", rep.hits);
	err = rep.hits ? 0 : 3;
out:
	bpf_link__destroy(link);
	bpf_object__close(obj);
	btfembed_release(&btf);
	return err;
}
