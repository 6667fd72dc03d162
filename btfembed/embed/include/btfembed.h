/* SPDX-License-Identifier: Apache-2.0 */
/*
 * btfembed.h - run CO-RE eBPF programs on kernels without
 * /sys/kernel/btf/vmlinux, using minimized BTF embedded at build time.
 *
 * `btfembed generate PACK --lang c --output NAME` writes NAME.c and NAME.h
 * (symbol prefix P: --prefix, default NAME's file name).  NAME.c holds the
 * pack (format 3, docs/pack-format.md: blobs solid-compressed in blocks,
 * every blob and the index covered by SHA-256) and a private (static) copy
 * of this runtime, so it is the only file to compile:
 *
 *     cc -I"$(btfembed --includedir)" -c NAME.c
 *     link with -lz (codec zlib, the default), -llzma (xz), -lzstd (zstd)
 *
 *     #include "NAME.h"
 *     struct btfembed_btf btf;
 *     int rc = P_btf_path(&btf);          // or P_btf_path_opts(&btf, &opts)
 *     if (rc < 0)
 *             fail(btfembed_strerror(rc));   // corrupt pack, out of memory...
 *     if (rc >= BTFEMBED_NO_MATCH)
 *             warn(btfembed_strerror(rc));   // no embedded BTF: your call
 *     open_opts.btf_custom_path = btf.path;  // NULL: the kernel's own BTF
 *     obj = bpf_object__open_file("prog.bpf.o", &open_opts);
 *     err = bpf_object__load(obj);
 *     btfembed_release(&btf);                // after bpf_object__load()
 *
 * Rules (the same as btfembed/embed/runtime.py):
 *
 * 1. If /sys/kernel/btf/vmlinux is readable: BTFEMBED_KERNEL_BTF, path NULL,
 *    unless forced (BTFEMBED_FORCE flag, or environment BTFEMBED_FORCE=1).
 * 2. The kernel's key: uname machine normalized to BTFHub names (aarch64 ->
 *    arm64, amd64 -> x86_64, ...), ID and VERSION_ID of /etc/os-release
 *    (else /usr/lib/os-release; both under opt->host_root or
 *    BTFEMBED_HOST_ROOT when set, as agents in containers see the host;
 *    quotes and escapes removed as os-release(5) says; empty when missing),
 *    uname release.  An explicit key (opt->key or BTFEMBED_KEY, written
 *    distro/version/arch/release, "_" for an empty field) replaces all this
 *    and selects one entry exactly (no fallback).
 * 3. The full key is looked up first.  Otherwise the entries with the same
 *    release and arch are used if they all share one blob (out->exact = 0);
 *    BTFEMBED_AMBIGUOUS if their blobs differ; BTFEMBED_NO_MATCH if none.
 * 4. Only the block holding the blob is decompressed; the blob's SHA-256
 *    (and the index's) is checked before anything is handed out (-EBADMSG
 *    on a mismatch).  The index (digest and structure) is checked on the
 *    first call only: the pack is constant data of the program, and
 *    table->checked remembers the result; every blob's digest is checked
 *    on every call.  The blob is written to a sealed memfd and out->path
 *    is "/proc/self/fd/N"; without memfd or /proc, or with
 *    BTFEMBED_NO_MEMFD, a mkstemp file (mode 0600) in opt->tmpdir, $TMPDIR
 *    or /tmp.  btfembed_release() closes or unlinks it.
 *
 * btfembed_explain() describes the decision in one line (which key, from
 * what, how it matched, the blob's digest); BTFEMBED_DEBUG=1 prints that
 * line on stderr.  btfembed_check_object() is the stale-object guard: it
 * fails when a BPF object (e.g. a skeleton's embedded ELF) is not one the
 * pack was built for.
 *
 * Environment variables (ignored with the BTFEMBED_NO_ENV flag; they win
 * over the options; empty means unset, "0" is false):
 *   BTFEMBED_FORCE=1          use the embedded BTF even if the kernel has BTF
 *   BTFEMBED_KEY=D/V/A/R      use exactly this entry
 *   BTFEMBED_HOST_ROOT=DIR    read DIR/etc/os-release, DIR/usr/lib/os-release
 *   BTFEMBED_DEBUG=1          print the decision on stderr
 *   BTFEMBED_NO_MEMFD=1       use a temporary file, not a memfd
 *   BTFEMBED_OS_RELEASE=FILE  read FILE instead of the os-release files
 *   BTFEMBED_RELEASE=R        instead of uname -r
 *   BTFEMBED_MACHINE=M        instead of uname -m (then normalized)
 *   BTFEMBED_SYSFS_BTF=FILE   instead of /sys/kernel/btf/vmlinux
 *
 * Return values: BTFEMBED_OK (0, out->path set), BTFEMBED_KERNEL_BTF,
 * BTFEMBED_NO_MATCH, BTFEMBED_AMBIGUOUS (all > 0, out->path NULL), or a
 * negative errno: -EINVAL (bad arguments, or a table of another ABI),
 * -EBADMSG (corrupt pack: index or blob digest, sizes, truncated block),
 * -ENOTSUP (codec without decoder), -ENOMEM, or the error of
 * uname/write/mkstemp.  For every rc >= 0, out->path is the right value
 * for btf_custom_path.
 *
 * Decompressors: NAME.c carries the one its codec needs (table->decode),
 * so this runtime never references zlib, liblzma or libzstd itself.
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
/* Layout of struct btfembed_table; generated code checks it. */
#define BTFEMBED_TABLE_ABI 3

/* Return values (negative: -errno). */
#define BTFEMBED_OK         0 /* out->path holds the embedded BTF for this kernel */
#define BTFEMBED_KERNEL_BTF 1 /* the kernel has BTF: out->path is NULL */
#define BTFEMBED_NO_MATCH   2 /* no embedded BTF for this kernel: out->path is NULL */
#define BTFEMBED_AMBIGUOUS  3 /* distro unknown to the table, release matches different BTFs */

/* struct btfembed_options.flags */
#define BTFEMBED_FORCE    (1u << 0) /* ignore /sys/kernel/btf/vmlinux */
#define BTFEMBED_NO_MEMFD (1u << 1) /* always use a temporary file */
#define BTFEMBED_NO_ENV   (1u << 2) /* ignore the BTFEMBED_* environment variables */
#define BTFEMBED_DEBUG    (1u << 3) /* print btfembed_explain() on stderr */

/* struct btfembed_btf.flags */
#define BTFEMBED_BTF_MEMFD   (1u << 0) /* path is /proc/self/fd/<fd> */
#define BTFEMBED_BTF_TMPFILE (1u << 1) /* path is a temporary file */

/* struct btfembed_btf.how: how the entry was chosen */
#define BTFEMBED_HOW_NONE       0 /* no entry (error, or no match) */
#define BTFEMBED_HOW_EXACT      1 /* the full key */
#define BTFEMBED_HOW_SHARED     2 /* release + arch, all candidates share one blob */
#define BTFEMBED_HOW_AMBIGUOUS  3 /* release + arch, candidates with different blobs */
#define BTFEMBED_HOW_KERNEL_BTF 4 /* not looked up: the kernel has BTF */

/* Pack format 3 (docs/pack-format.md).  A copy of btfembed/embed/format.py,
 * which owns these values (tests/test_pack_format.py compares them). */
#define BTFEMBED_PACK_MAGIC "BTFEMBED-PACK\n"
#define BTFEMBED_PACK_MAGIC_LEN 14
#define BTFEMBED_PACK_FORMAT 3
#define BTFEMBED_PACK_HEADER_SIZE 96
#define BTFEMBED_PACK_BLOCK_RECORD 12
#define BTFEMBED_PACK_BLOB_RECORD 44
#define BTFEMBED_PACK_ENTRY_RECORD 20
#define BTFEMBED_PACK_OBJECT_RECORD 36
#define BTFEMBED_PACK_CODEC_NONE 0
#define BTFEMBED_PACK_CODEC_ZLIB 1
#define BTFEMBED_PACK_CODEC_XZ 2
#define BTFEMBED_PACK_CODEC_ZSTD 3
#define BTFEMBED_PACK_OFF_FORMAT 14
#define BTFEMBED_PACK_OFF_CODEC 16
#define BTFEMBED_PACK_OFF_N_ENTRIES 20
#define BTFEMBED_PACK_OFF_N_BLOBS 24
#define BTFEMBED_PACK_OFF_N_BLOCKS 28
#define BTFEMBED_PACK_OFF_N_OBJECTS 32
#define BTFEMBED_PACK_OFF_STRINGS_SIZE 36
#define BTFEMBED_PACK_OFF_BLOCK_MAX 40
#define BTFEMBED_PACK_OFF_FLAGS 44
#define BTFEMBED_PACK_OFF_PACK_SIZE 48
#define BTFEMBED_PACK_OFF_META_SHA256 64
#define BTFEMBED_PACK_COUNT_MAX (1u << 24)
#define BTFEMBED_PACK_FLAG_BTF_RECODE 1u /* blobs stored transformed by the BTF recoding */
#define BTFEMBED_PACK_FLAG_SPLIT 2u /* a block holds its blobs' first parts, then their second parts */
#define BTFEMBED_PACK_FLAGS_KNOWN 3u
#define BTFEMBED_PACK_BLOCK_SIZE_MAX ((size_t)256 << 20)

#define BTFEMBED_FIELD_MAX 255                   /* bytes per key field */
#define BTFEMBED_PATH_MAX 4096
#define BTFEMBED_BLOB_MAX ((size_t)256 << 20)    /* largest raw blob accepted */
#define BTFEMBED_EXPLAIN_MAX (BTFEMBED_PATH_MAX + 8 * BTFEMBED_FIELD_MAX + 256)

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

/* Decompress one block: returns 0 when exactly dst_len bytes came out.
 * Generated code supplies it for the codec of its pack. */
typedef int (*btfembed_decode_fn)(unsigned int codec, void *dst, size_t dst_len, const void *src,
				  size_t src_len);

/* Generated tables (do not write these by hand). */
struct btfembed_table {
	unsigned int abi;              /* BTFEMBED_TABLE_ABI */
	const unsigned char *pack;     /* pack format 3 bytes */
	size_t size;                   /* their number */
	btfembed_decode_fn decode;     /* NULL for codec none */
	int *checked;                  /* set once the index is checked (NULL: check every call) */
};

struct btfembed_options {
	unsigned int flags;      /* BTFEMBED_FORCE | _NO_MEMFD | _NO_ENV | _DEBUG */
	const char *os_release;  /* file to read instead of /etc/os-release, /usr/lib/os-release */
	const char *release;     /* instead of uname -r */
	const char *machine;     /* instead of uname -m */
	const char *sysfs_btf;   /* instead of /sys/kernel/btf/vmlinux */
	const char *tmpdir;      /* for the temporary-file fallback (default $TMPDIR, /tmp) */
	const char *host_root;   /* read the os-release files under this directory (e.g. "/host") */
	const char *key;         /* "distro/version/arch/release": use exactly this entry */
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
	int explicit_key;        /* from opt->key / BTFEMBED_KEY: exact match only */
	char source[BTFEMBED_PATH_MAX + 64]; /* what the key was computed from */
};

struct btfembed_btf {
	const char *path;        /* for btf_custom_path; NULL unless rc == BTFEMBED_OK */
	int fd;                  /* the memfd (BTFEMBED_BTF_MEMFD), else -1 */
	unsigned int flags;      /* BTFEMBED_BTF_MEMFD or BTFEMBED_BTF_TMPFILE */
	long kernel;             /* table entry used, -1 if none */
	int exact;               /* 1: full key matched; 0: release+arch fallback */
	struct btfembed_key key; /* the running kernel's key */
	char path_buf[BTFEMBED_PATH_MAX];
	int status;              /* the return value */
	int how;                 /* BTFEMBED_HOW_* */
	const char *match[4];    /* the entry's arch, distro, distro_version, release (or NULL) */
	unsigned char sha256[32]; /* the blob's digest (when an entry was chosen) */
};

/* Select the embedded BTF of `table` for the running kernel; see above.
 * `opt` may be NULL.  `out` is always initialized (release() is then safe). */
BTFEMBED_API int btfembed_btf_path(const struct btfembed_table *table, struct btfembed_btf *out,
				   const struct btfembed_options *opt);

/* The running kernel's key (rule 2), with the overrides of `opt` (may be
 * NULL) and of the environment.  0 or -errno (uname failed). */
BTFEMBED_API int btfembed_running_key(struct btfembed_key *key, const struct btfembed_options *opt);

/* Rule 3 only: BTFEMBED_OK (*index, *exact set), BTFEMBED_NO_MATCH,
 * BTFEMBED_AMBIGUOUS, or -EINVAL / -EBADMSG for a bad table. */
BTFEMBED_API int btfembed_lookup(const struct btfembed_table *table, const struct btfembed_key *key,
				 size_t *index, int *exact);

/* Check the whole pack: header, index digest and structure (0 or -errno),
 * always (also after an earlier call checked them); with `blobs` also
 * decompress every block and check every blob digest. */
BTFEMBED_API int btfembed_check(const struct btfembed_table *table, int blobs);

/* Number of entries (>= 0), or -errno for a bad table. */
BTFEMBED_API long btfembed_count(const struct btfembed_table *table);

/* Entry `index`: its key fields (pointers into the pack, valid as long as
 * the table) and its blob number.  0 or -errno. */
BTFEMBED_API int btfembed_entry(const struct btfembed_table *table, size_t index, const char *fields[4],
				unsigned int *blob);

/* The raw BTF of entry `index`, checked against its digest, in a malloc()ed
 * buffer the caller frees (e.g. for btf__new()).  0 or -errno. */
BTFEMBED_API int btfembed_entry_blob(const struct btfembed_table *table, size_t index, void **data,
				     size_t *size);

/* Stale-object guard: 0 when the BPF object in obj[0..size) (an ELF file,
 * e.g. a skeleton's embedded bytes) is one the pack was built for (same
 * .BTF and .BTF.ext), -ESTALE when it is not, -ENODATA when the pack
 * records no objects, -ENOEXEC when the bytes are not an ELF file. */
BTFEMBED_API int btfembed_check_object(const struct btfembed_table *table, const void *obj, size_t size);

/* Application keys (tables built with --userspace APP or APP=VERSION record
 * the ids of the applications they were built for).
 *
 * btfembed_app_build_id(): the GNU build id (.note.gnu.build-id, an
 * SHT_NOTE of type NT_GNU_BUILD_ID) of the ELF file at elf_path, as
 * lowercase hex in hex[0..size).  0, or -ENOENT/-EACCES/... (cannot open),
 * -ENOEXEC (not an ELF file, or a damaged one), -ENODATA (an ELF file
 * without a build id), -ENOSPC (hex too small: BTFEMBED_APP_ID_MAX + 1 is
 * always enough), -EINVAL (bad arguments or not a regular file). */
#define BTFEMBED_APP_ID_MAX 255
BTFEMBED_API int btfembed_app_build_id(const char *elf_path, char *hex, size_t size);

/* Whether a table's recorded application ids ids[0..n) include the
 * application's: app_id when given (e.g. a version string), else the build
 * id of the ELF file app_path.  BTFEMBED_APP=ID (unless BTFEMBED_NO_ENV)
 * replaces both, as BTFEMBED_KEY replaces the running kernel's key.  1 when
 * it matches, 0 when not, or -errno as btfembed_app_build_id().  With
 * BTFEMBED_DEBUG in flags or BTFEMBED_DEBUG=1, one line on stderr:
 *   btfembed: app=PATH id=ID from=build-id|argument|BTFEMBED_APP match=yes|no */
BTFEMBED_API int btfembed_app_match(const char *const *ids, size_t n, const char *app_path,
				    const char *app_id, unsigned int flags);

/* The decision of the last btfembed_btf_path() call on `btf`, in one line
 * (what BTFEMBED_DEBUG=1 prints):
 *   btfembed: key=D/V/A/R from=SOURCE match=HOW entry=D/V/A/R sha256=HEX status=STATUS
 * Returns buf. */
BTFEMBED_API const char *btfembed_explain(const struct btfembed_btf *btf, char *buf, size_t size);

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
		return "invalid argument, or an embedded BTF table of another btfembed version";
	case -ENOTSUP:
		return "embedded BTF is compressed but no decompressor was linked";
	case -EBADMSG:
		return "embedded BTF is corrupt (a digest, size or block does not match)";
	case -ESTALE:
		return "the BPF object is not one the embedded BTF was built for (rebuild the pack)";
	case -ENODATA:
		return "the embedded BTF records no BPF objects to check against";
	case -ENOEXEC:
		return "not a BPF object (ELF file)";
	case -ENOSPC:
		return "buffer too small";
	default:
		return rc < 0 ? strerror(-rc) : "unknown btfembed status";
	}
}

#ifdef __cplusplus
}
#endif

#endif /* BTFEMBED_H */
