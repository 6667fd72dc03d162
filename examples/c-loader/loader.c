// SPDX-License-Identifier: Apache-2.0
/*
 * loader.c - load a CO-RE BPF program with BTF embedded by btfembed.
 *
 * example_btf.c/.h are generated (see Makefile):
 *     btfembed generate btf.pack --lang c --output example_btf --prefix example
 *
 * The program picks the embedded BTF of the running kernel (unless the
 * kernel has its own; --force or BTFEMBED_FORCE=1 uses the embedded one
 * anyway), passes it to libbpf as btf_custom_path, loads and attaches
 * task_report.bpf.o, makes a few system calls and prints what the BPF
 * program read from its task_struct:
 *
 *     btfembed: status=0 (embedded BTF selected for this kernel) key=x86_64/debian/12/6.1.0-50-amd64 ...
 *     report: pid=1234 tgid=1234 ppid=1200 comm=loader hits=3
 *
 * Before loading, the stale-object guard example_check_object() checks that
 * OBJECT is one the embedded BTF was built for (its .BTF and .BTF.ext are
 * recorded in the pack): a rebuilt object needs a rebuilt pack.  With a
 * libbpf skeleton, pass the skeleton's embedded ELF (e.g.
 * prog_bpf__elf_bytes(&size)).
 *
 * usage: loader [-v] [--force] [--no-memfd] [--comm NAME] [--btf PATH] [OBJECT]
 *   -v          libbpf debug output (shows the CO-RE relocations) on stderr
 *   --force     use the embedded BTF even if /sys/kernel/btf/vmlinux exists
 *   --no-memfd  hand the BTF over in a temporary file instead of a memfd
 *   --comm NAME set this process's name first (checked by the tests)
 *   --btf PATH  skip the embedded BTF, use PATH as btf_custom_path
 *   OBJECT      the BPF object (default task_report.bpf.o)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "example_btf.h"

struct report {
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 hits;
	char comm[16];
};

static int verbose;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* comm as read by the BPF program: printable ASCII, anything else as \xHH
 * (with the wrong BTF it is whatever lies at the wrong offset). */
static void print_comm(const char *comm, size_t size)
{
	size_t i;

	for (i = 0; i < size && comm[i]; i++) {
		unsigned char c = (unsigned char)comm[i];
		if (c > ' ' && c < 0x7f && c != '\\')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
}

/* The stale-object guard on the object file's bytes. */
static int check_object(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long size;
	int rc = -errno;

	if (!f)
		return rc;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (data = malloc((size_t)size)) && fread(data, 1, (size_t)size, f) == (size_t)size)
		rc = example_check_object(data, (size_t)size);
	else
		rc = -EIO;
	free(data);
	fclose(f);
	printf("btfembed: object check %s: %s\n", path, rc == 0 ? "built for this object" : btfembed_strerror(rc));
	return rc;
}

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-v] [--force] [--no-memfd] [--comm NAME] [--btf PATH] [OBJECT]\n", argv0);
	return 2;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	struct btfembed_options opts = { 0 };
	struct btfembed_btf btf = { 0 };
	const char *object = "task_report.bpf.o", *comm = NULL, *btf_override = NULL;
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	struct bpf_link *link = NULL;
	struct report rep;
	__u32 zero = 0, me = (__u32)getpid();
	int i, rc, err = 1, target_fd, report_fd;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--force") == 0)
			opts.flags |= BTFEMBED_FORCE;
		else if (strcmp(argv[i], "--no-memfd") == 0)
			opts.flags |= BTFEMBED_NO_MEMFD;
		else if (strcmp(argv[i], "--comm") == 0 && i + 1 < argc)
			comm = argv[++i];
		else if (strcmp(argv[i], "--btf") == 0 && i + 1 < argc)
			btf_override = argv[++i];
		else if (argv[i][0] == '-')
			return usage(argv[0]);
		else
			object = argv[i];
	}
	if (comm && prctl(PR_SET_NAME, comm, 0, 0, 0) != 0) {
		perror("prctl(PR_SET_NAME)");
		return 1;
	}
	libbpf_set_print(print_libbpf);

	if (btf_override) {
		open_opts.btf_custom_path = btf_override;
	} else {
		rc = check_object(object);
		if (rc == -ESTALE) {
			fprintf(stderr, "%s: %s\n", object, btfembed_strerror(rc));
			return 1;
		}
		rc = example_btf_path_opts(&btf, &opts);
		printf("btfembed: status=%d (%s) key=%s/%s/%s/%s entry=%ld exact=%d path=%s\n", rc,
		       btfembed_strerror(rc), btf.key.arch, btf.key.distro, btf.key.distro_version,
		       btf.key.release, btf.kernel, btf.exact, btf.path ? btf.path : "(none)");
		if (rc < 0)
			return 1;
		if (rc >= BTFEMBED_NO_MATCH)
			fprintf(stderr, "warning: %s; trying without\n", btfembed_strerror(rc));
		open_opts.btf_custom_path = btf.path;
	}

	obj = bpf_object__open_file(object, &open_opts);
	if (!obj) {
		fprintf(stderr, "cannot open %s: %s\n", object, strerror(errno));
		goto out;
	}
	rc = bpf_object__load(obj);
	/* libbpf has read the BTF (CO-RE relocation happens during load). */
	btfembed_release(&btf);
	if (rc) {
		fprintf(stderr, "cannot load %s: %s\n", object, strerror(-rc));
		goto out;
	}
	prog = bpf_object__find_program_by_name(obj, "report_task");
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
	rep.comm[sizeof(rep.comm) - 1] = 0;
	printf("report: pid=%u tgid=%u ppid=%u comm=", rep.pid, rep.tgid, rep.ppid);
	print_comm(rep.comm, sizeof(rep.comm));
	printf(" hits=%u\n", rep.hits);
	err = rep.hits ? 0 : 3;
out:
	bpf_link__destroy(link);
	bpf_object__close(obj);
	btfembed_release(&btf);
	return err;
}
