// SPDX-License-Identifier: Apache-2.0
/*
 * loader.c - attach a uprobe CO-RE program to one version of an
 * application, with BTF embedded by btfembed that merges the kernel's types
 * and that application's own types.
 *
 * app_v1_btf.c/.h and app_v2_btf.c/.h are generated, one per application
 * version (see Makefile):
 *
 *     btfembed build req_probe.bpf.o --kernels sysfs --userspace app-v1 \
 *         --emit c --output app_v1_btf --prefix app_v1 --out-dir out-v1
 *
 * usage: loader [-v] [--table v1|v2] APP [ID VALUE]
 *   APP       the application binary to probe (it is run once, with ID VALUE)
 *   --table   which embedded BTF to use, the one made with app-v1 or app-v2,
 *             instead of the one whose recorded build id is APP's
 *
 * Each generated table records the GNU build id of the application it was
 * built for (app_v1_app_ids[]); without --table the loader picks the table
 * whose id is APP's (app_vN_matches_app(APP)), and refuses a binary that no
 * table was built for.  BTFEMBED_APP=ID replaces the build id read from APP,
 * BTFEMBED_DEBUG=1 prints what was read and whether it matched.
 *
 * It then selects the table's blob for the running kernel (BTFEMBED_FORCE=1 is
 * implied: the application's types are never in the kernel's own BTF),
 * loads req_probe.bpf.o with it as btf_custom_path, attaches the uprobe to
 * APP's handle_req(), runs APP and prints what the BPF program read:
 *
 *     seen: id=7 value=1234 hits=1
 *
 * With the other version's table the offsets are that version's, so the
 * values read are wrong: the embedded BTF must match the application.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "app_v1_btf.h"
#include "app_v2_btf.h"

struct seen {
	long long id;
	long value;
	unsigned int hits;
};

static int verbose;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-v] [--table v1|v2] APP [ID VALUE]\n", argv0);
	return 2;
}

/* Run APP once with its arguments; 0 when it exited with status 0. */
static int run_app(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	LIBBPF_OPTS(bpf_uprobe_opts, uprobe_opts);
	struct btfembed_options opts = { .flags = BTFEMBED_FORCE };
	struct btfembed_btf btf = { 0 };
	const char *table = NULL, *how = "--table", *object = "req_probe.bpf.o";
	char *app_argv[4] = { NULL, NULL, NULL, NULL };
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	struct bpf_link *link = NULL;
	struct bpf_map *bss;
	struct seen seen;
	__u32 zero = 0;
	int i, rc, err = 1, nargs = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
			table = argv[++i];
		else if (strcmp(argv[i], "--object") == 0 && i + 1 < argc)
			object = argv[++i];
		else if (argv[i][0] == '-' || nargs == 3)
			return usage(argv[0]);
		else
			app_argv[nargs++] = argv[i];
	}
	if (!app_argv[0] || (table && strcmp(table, "v1") && strcmp(table, "v2")))
		return usage(argv[0]);
	libbpf_set_print(print_libbpf);

	if (!table) {
		/* The table built for this binary: by its GNU build id. */
		int v1 = app_v1_matches_app(app_argv[0]), v2 = v1 < 0 ? v1 : app_v2_matches_app(app_argv[0]);

		if (v1 < 0 || v2 < 0) {
			fprintf(stderr, "%s: cannot read its build id: %s\n", app_argv[0],
				v1 == -ENODATA ? "no .note.gnu.build-id" :
				v1 == -ENOEXEC ? "not an ELF file" : strerror(-(v1 < 0 ? v1 : v2)));
			return 4;
		}
		if (v1 == v2) {
			fprintf(stderr, "%s: %s embedded table was built for this binary (use --table)\n",
				app_argv[0], v1 ? "more than one" : "no");
			return 4;
		}
		table = v1 ? "v1" : "v2";
		how = "build id";
	}

	rc = strcmp(table, "v1") == 0 ? app_v1_btf_path_opts(&btf, &opts) : app_v2_btf_path_opts(&btf, &opts);
	printf("btfembed: table=%s (by %s) status=%d (%s) key=%s/%s/%s/%s\n", table, how, rc, btfembed_strerror(rc),
	       btf.key.distro, btf.key.distro_version, btf.key.arch, btf.key.release);
	if (rc != 0 || !btf.path)
		return 1;
	open_opts.btf_custom_path = btf.path;

	obj = bpf_object__open_file(object, &open_opts);
	if (!obj) {
		fprintf(stderr, "cannot open %s: %s\n", object, strerror(errno));
		goto out;
	}
	rc = bpf_object__load(obj);
	btfembed_release(&btf);   /* libbpf has read it */
	if (rc) {
		fprintf(stderr, "cannot load %s: %s\n", object, strerror(-rc));
		goto out;
	}
	prog = bpf_object__find_program_by_name(obj, "req_probe");
	bss = bpf_object__find_map_by_name(obj, ".bss");
	if (!prog || !bss) {
		fprintf(stderr, "%s: program or .bss missing\n", object);
		goto out;
	}
	uprobe_opts.func_name = "handle_req";
	link = bpf_program__attach_uprobe_opts(prog, -1, app_argv[0], 0, &uprobe_opts);
	if (!link) {
		fprintf(stderr, "cannot attach to %s:handle_req: %s\n", app_argv[0], strerror(errno));
		goto out;
	}
	if (run_app(app_argv)) {
		fprintf(stderr, "%s failed\n", app_argv[0]);
		goto out;
	}
	memset(&seen, 0, sizeof(seen));
	if (bpf_map_lookup_elem(bpf_map__fd(bss), &zero, &seen)) {
		fprintf(stderr, "cannot read .bss: %s\n", strerror(errno));
		goto out;
	}
	printf("seen: id=%lld value=%ld hits=%u\n", seen.id, seen.value, seen.hits);
	err = seen.hits ? 0 : 3;
out:
	bpf_link__destroy(link);
	bpf_object__close(obj);
	btfembed_release(&btf);
	return err;
}
