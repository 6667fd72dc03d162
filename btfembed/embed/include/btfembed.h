/* SPDX-License-Identifier: Apache-2.0 */
/*
 * btfembed.h - run CO-RE eBPF programs on kernels without
 * /sys/kernel/btf/vmlinux, using minimized BTF embedded at build time.
 *
 * `btfembed generate PACK --lang c --output NAME --prefix P` writes NAME.c
 * and NAME.h.  NAME.c holds the BTF blobs, a sorted key table and a private
 * (static) copy of this runtime, so it is the only file to compile:
 *
 *     cc -I"$(btfembed --includedir)" -c NAME.c        (+ -lz with --compress)
 *
 *     #include "NAME.h"
 *     struct btfembed_btf btf;
 *     int rc = P_btf_path(&btf);          // or P_btf_path_opts(&btf, &opts)
 *     if (rc < 0)
 *             fail(btfembed_strerror(rc));   // corrupt table, out of memory...
 *     if (rc >= BTFEMBED_NO_MATCH)
 *             warn(btfembed_strerror(rc));   // no embedded BTF: your call
 *     open_opts.btf_custom_path = btf.path;  // NULL: the kernel's own BTF
 *     obj = bpf_object__open_file("prog.bpf.o", &open_opts);
 *     err = bpf_object__load(obj);
 *     btfembed_release(&btf);                // after bpf_object__load()
 *
 * Rules (the same as btfembed/embed/runtime.py and btfembed/embed/keys.py):
 *
 * 1. If /sys/kernel/btf/vmlinux is readable: BTFEMBED_KERNEL_BTF, path NULL,
 *    unless forced (BTFEMBED_FORCE flag, or environment BTFEMBED_FORCE=1).
 * 2. The kernel's key: uname machine normalized to BTFHub names (aarch64 ->
 *    arm64, amd64 -> x86_64, ...), ID and VERSION_ID of /etc/os-release
 *    (else /usr/lib/os-release; quotes and escapes removed as os-release(5)
 *    says; empty when missing), uname release.
 * 3. The full key is looked up first.  Otherwise the entries with the same
 *    release and arch are used if they all share one blob (out->exact = 0);
 *    BTFEMBED_AMBIGUOUS if their blobs differ; BTFEMBED_NO_MATCH if none.
 * 4. The blob (inflated if the table is compressed) is written to a sealed
 *    memfd and out->path is "/proc/self/fd/N"; without memfd or /proc, or
 *    with BTFEMBED_NO_MEMFD, a mkstemp file (mode 0600) in opt->tmpdir,
 *    $TMPDIR or /tmp.  btfembed_release() closes or unlinks it.
 *
 * Environment variables (ignored with the BTFEMBED_NO_ENV flag; they win
 * over the options; empty means unset, "0" is false):
 *   BTFEMBED_FORCE=1          use the embedded BTF even if the kernel has BTF
 *   BTFEMBED_NO_MEMFD=1       use a temporary file, not a memfd
 *   BTFEMBED_OS_RELEASE=FILE  read FILE instead of the os-release files
 *   BTFEMBED_RELEASE=R        instead of uname -r
 *   BTFEMBED_MACHINE=M        instead of uname -m (then normalized)
 *   BTFEMBED_SYSFS_BTF=FILE   instead of /sys/kernel/btf/vmlinux
 *
 * Return values: BTFEMBED_OK (0, out->path set), BTFEMBED_KERNEL_BTF,
 * BTFEMBED_NO_MATCH, BTFEMBED_AMBIGUOUS (all > 0, out->path NULL), or a
 * negative errno: -EINVAL (bad arguments or corrupt table), -ENOTSUP
 * (compressed table without decompressor), -EBADMSG (a blob does not
 * decompress to its size), -ENOMEM, or the error of uname/write/mkstemp.
 * For every rc >= 0, out->path is the right value for btf_custom_path.
 *
 * zlib: only tables generated with --compress need it; their NAME.c carries
 * the decompressor (table->inflate), so this runtime never references zlib.
 *
 * Linkage: NAME.c defines BTFEMBED_STATIC and includes btfembed.c, so the
 * runtime is private to it and several generated files (different
 * --prefix) link into one program.  To call btfembed_btf_path() on tables
 * directly, also compile btfembed.c on its own (external linkage).
 *
 * C99 or later; Linux.  Not async-signal-safe; thread-safe as long as each
 * thread uses its own struct btfembed_btf.
 */
#ifndef BTFEMBED_H
#define BTFEMBED_H

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BTFEMBED_VERSION "0.1.0"
/* Layout of struct btfembed_table and friends; generated code checks it. */
#define BTFEMBED_TABLE_ABI 1

/* Return values (negative: -errno). */
#define BTFEMBED_OK         0 /* out->path holds the embedded BTF for this kernel */
#define BTFEMBED_KERNEL_BTF 1 /* the kernel has BTF: out->path is NULL */
#define BTFEMBED_NO_MATCH   2 /* no embedded BTF for this kernel: out->path is NULL */
#define BTFEMBED_AMBIGUOUS  3 /* distro unknown to the table, release matches different BTFs */

/* struct btfembed_options.flags */
#define BTFEMBED_FORCE    (1u << 0) /* ignore /sys/kernel/btf/vmlinux */
#define BTFEMBED_NO_MEMFD (1u << 1) /* always use a temporary file */
#define BTFEMBED_NO_ENV   (1u << 2) /* ignore the BTFEMBED_* environment variables */

/* struct btfembed_btf.flags */
#define BTFEMBED_BTF_MEMFD   (1u << 0) /* path is /proc/self/fd/<fd> */
#define BTFEMBED_BTF_TMPFILE (1u << 1) /* path is a temporary file */

#define BTFEMBED_COMPRESSION_NONE 0u
#define BTFEMBED_COMPRESSION_ZLIB 1u

#define BTFEMBED_FIELD_MAX 255                   /* bytes per key field */
#define BTFEMBED_PATH_MAX 4096
#define BTFEMBED_BLOB_MAX ((size_t)256 << 20)    /* largest raw blob accepted */

#if defined(__has_attribute)
#if __has_attribute(nonstring)
#define BTFEMBED_NONSTRING __attribute__((nonstring))
#endif
#endif
#ifndef BTFEMBED_NONSTRING
#define BTFEMBED_NONSTRING
#endif

#ifdef BTFEMBED_STATIC
#if defined(__GNUC__)
#define BTFEMBED_API static __attribute__((unused))
#else
#define BTFEMBED_API static
#endif
#else
#define BTFEMBED_API extern
#endif

/* Generated tables (do not write these by hand). */
typedef int (*btfembed_inflate_fn)(void *dst, size_t dst_len, const void *src, size_t src_len);

struct btfembed_blob {
	const void *data;        /* stored bytes */
	size_t size;             /* stored size */
	size_t raw_size;         /* size of the BTF (== size when not compressed) */
};

struct btfembed_kernel {
	const char *arch;        /* BTFHub arch: x86_64, arm64, ... */
	const char *distro;      /* os-release ID */
	const char *distro_version; /* os-release VERSION_ID */
	const char *release;     /* uname -r */
	unsigned int blob;       /* index into blobs */
};

struct btfembed_table {
	unsigned int abi;        /* BTFEMBED_TABLE_ABI */
	unsigned int compression; /* BTFEMBED_COMPRESSION_* */
	size_t n_kernels;
	const struct btfembed_kernel *kernels; /* sorted by (arch, distro, version, release), strcmp order */
	size_t n_blobs;
	const struct btfembed_blob *blobs;
	btfembed_inflate_fn inflate; /* returns 0 when exactly dst_len bytes were produced */
};

struct btfembed_options {
	unsigned int flags;      /* BTFEMBED_FORCE | BTFEMBED_NO_MEMFD | BTFEMBED_NO_ENV */
	const char *os_release;  /* file to read instead of /etc/os-release, /usr/lib/os-release */
	const char *release;     /* instead of uname -r */
	const char *machine;     /* instead of uname -m */
	const char *sysfs_btf;   /* instead of /sys/kernel/btf/vmlinux */
	const char *tmpdir;      /* for the temporary-file fallback (default $TMPDIR, /tmp) */
};

/* A kernel key; a field that was too long or held a NUL makes *_ok 0 and
 * the field empty (such a value matches no table entry). */
struct btfembed_key {
	char arch[BTFEMBED_FIELD_MAX + 1];
	char distro[BTFEMBED_FIELD_MAX + 1];
	char distro_version[BTFEMBED_FIELD_MAX + 1];
	char release[BTFEMBED_FIELD_MAX + 1];
	int uname_ok;            /* arch and release usable */
	int os_ok;               /* distro and distro_version usable */
};

struct btfembed_btf {
	const char *path;        /* for btf_custom_path; NULL unless rc == BTFEMBED_OK */
	int fd;                  /* the memfd (BTFEMBED_BTF_MEMFD), else -1 */
	unsigned int flags;      /* BTFEMBED_BTF_MEMFD or BTFEMBED_BTF_TMPFILE */
	long kernel;             /* table entry used, -1 if none */
	int exact;               /* 1: full key matched; 0: release+arch fallback */
	struct btfembed_key key; /* the running kernel's key */
	char path_buf[BTFEMBED_PATH_MAX];
};

/* Select the embedded BTF of `table` for the running kernel; see above.
 * `opt` may be NULL.  `out` is always initialized (release() is then safe). */
BTFEMBED_API int btfembed_btf_path(const struct btfembed_table *table, struct btfembed_btf *out,
				   const struct btfembed_options *opt);

/* The running kernel's key (rule 2), with the overrides of `opt` (may be
 * NULL) and of the environment.  0 or -errno (uname failed). */
BTFEMBED_API int btfembed_running_key(struct btfembed_key *key, const struct btfembed_options *opt);

/* Rule 3 only: BTFEMBED_OK (*index, *exact set), BTFEMBED_NO_MATCH,
 * BTFEMBED_AMBIGUOUS, or -EINVAL for a corrupt table. */
BTFEMBED_API int btfembed_lookup(const struct btfembed_table *table, const struct btfembed_key *key,
				 size_t *index, int *exact);

/* Close the memfd or remove the temporary file.  Safe to call twice, and on
 * a zero-initialized struct.  libbpf reads the file during
 * bpf_object__open*() (and again in bpf_object__load() for CO-RE), so
 * release after loading. */
static inline void btfembed_release(struct btfembed_btf *btf)
{
	int saved = errno;

	if (!btf)
		return;
	if ((btf->flags & BTFEMBED_BTF_MEMFD) && btf->fd >= 0)
		close(btf->fd);
	if (btf->flags & BTFEMBED_BTF_TMPFILE)
		unlink(btf->path_buf);
	btf->flags = 0;
	btf->fd = -1;
	btf->path = NULL;
	errno = saved;
}

/* A message for any return value of btfembed_btf_path(). */
static inline const char *btfembed_strerror(int rc)
{
	switch (rc) {
	case BTFEMBED_OK:
		return "embedded BTF selected for this kernel";
	case BTFEMBED_KERNEL_BTF:
		return "the kernel has its own BTF (/sys/kernel/btf/vmlinux)";
	case BTFEMBED_NO_MATCH:
		return "no embedded BTF for this kernel";
	case BTFEMBED_AMBIGUOUS:
		return "no embedded BTF for this kernel's distribution, and its release matches several different BTFs";
	case -EINVAL:
		return "invalid argument or corrupt embedded BTF table";
	case -ENOTSUP:
		return "embedded BTF is compressed but no decompressor was linked";
	case -EBADMSG:
		return "embedded BTF is corrupt (does not decompress to its size)";
	default:
		return rc < 0 ? strerror(-rc) : "unknown btfembed status";
	}
}

#ifdef __cplusplus
}
#endif

#endif /* BTFEMBED_H */
