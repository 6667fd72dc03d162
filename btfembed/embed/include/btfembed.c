/* SPDX-License-Identifier: Apache-2.0 */
/*
 * btfembed.c - the runtime declared in btfembed.h.
 *
 * Compiled on its own it exports btfembed_btf_path(), btfembed_lookup() and
 * btfembed_running_key().  Generated NAME.c files define BTFEMBED_STATIC and
 * #include this file first, which makes every function static: each
 * generated file then has a private copy and several link into one program
 * without clashes.  Internal names start with btfembed__.
 *
 * The os-release and arch rules mirror btfembed/embed/keys.py and
 * btfembed/embed/runtime.py byte for byte (the tests compare the three).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memfd/syscall, mkostemp, secure_getenv */
#endif

#include "btfembed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

#define BTFEMBED__OS_RELEASE_MAX (64 * 1024)

/* Same table as btfembed/embed/keys.py. */
static const char *const btfembed__arch_aliases[][2] = {
	{ "aarch64", "arm64" },
	{ "arm64", "arm64" },
	{ "armv8", "arm64" },
	{ "x86_64", "x86_64" },
	{ "amd64", "x86_64" },
	{ "x86-64", "x86_64" },
	{ "x64", "x86_64" },
	{ "i386", "x86" },
	{ "i486", "x86" },
	{ "i586", "x86" },
	{ "i686", "x86" },
	{ "x86", "x86" },
	{ "armv7l", "arm" },
	{ "armv6l", "arm" },
	{ "armhf", "arm" },
	{ "arm", "arm" },
	{ "ppc64le", "ppc64le" },
	{ "powerpc64le", "ppc64le" },
	{ "s390x", "s390x" },
	{ "riscv64", "riscv64" },
	{ "loongarch64", "loongarch64" },
	{ "mips64", "mips64" },
};

static int btfembed__is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int btfembed__is_key_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Environment variable, or NULL when unset, empty, or env is disabled. */
static const char *btfembed__env(const char *name, unsigned int flags)
{
	const char *v;

	if (flags & BTFEMBED_NO_ENV)
		return NULL;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 17))
	v = secure_getenv(name);
#else
	v = getenv(name);
#endif
	return (v && *v) ? v : NULL;
}

static int btfembed__env_true(const char *name, unsigned int flags)
{
	const char *v = btfembed__env(name, flags);

	return v && strcmp(v, "0") != 0;
}

/* Copy `len` bytes into a key field; *ok = 0 (and the field empty) when they
 * do not fit or contain a NUL. */
static void btfembed__set_field(char *dst, int *ok, const char *src, size_t len)
{
	if (len > BTFEMBED_FIELD_MAX || memchr(src, 0, len)) {
		dst[0] = 0;
		*ok = 0;
		return;
	}
	memcpy(dst, src, len);
	dst[len] = 0;
}

static void btfembed__strip(const char **s, size_t *len)
{
	while (*len && btfembed__is_space((unsigned char)(*s)[0])) {
		(*s)++;
		(*len)--;
	}
	while (*len && btfembed__is_space((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static void btfembed__normalize_arch(struct btfembed_key *key, const char *machine)
{
	char buf[BTFEMBED_FIELD_MAX + 1];
	size_t len = strlen(machine), i;
	const char *s = machine;

	btfembed__strip(&s, &len);
	if (len > BTFEMBED_FIELD_MAX) {
		key->arch[0] = 0;
		key->uname_ok = 0;
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
	}
	buf[len] = 0;
	for (i = 0; i < sizeof(btfembed__arch_aliases) / sizeof(btfembed__arch_aliases[0]); i++) {
		if (strcmp(buf, btfembed__arch_aliases[i][0]) == 0) {
			strcpy(key->arch, btfembed__arch_aliases[i][1]);
			return;
		}
	}
	memcpy(key->arch, buf, len + 1);
}

/* os-release(5) value, in place: strip, then remove matching outer quotes;
 * inside double quotes a backslash escapes " \ $ and `.  Returns the new
 * length.  (keys.py _unquote) */
static size_t btfembed__unquote(char *v, size_t len)
{
	const char *s = v;
	size_t i, n = 0;
	char q;

	btfembed__strip(&s, &len);
	memmove(v, s, len);
	if (len < 2 || v[0] != v[len - 1] || (v[0] != '"' && v[0] != '\''))
		return len;
	q = v[0];
	if (q == '\'') {
		memmove(v, v + 1, len - 2);
		return len - 2;
	}
	for (i = 1; i < len - 1; i++) {
		char c = v[i];
		if (c == '\\' && i + 1 < len - 1 &&
		    (v[i + 1] == '"' || v[i + 1] == '\\' || v[i + 1] == '$' || v[i + 1] == '`')) {
			v[n++] = v[i + 1];
			i++;
			continue;
		}
		v[n++] = c;
	}
	return n;
}

/* Parse os-release content (modified in place) into key->distro/version.
 * Lines end at \n or \r; the last assignment wins.  (keys.py) */
static void btfembed__parse_os_release(char *buf, size_t len, struct btfembed_key *key)
{
	int distro_ok = 1, version_ok = 1;
	size_t pos = 0;

	while (pos <= len) {
		size_t end = pos, klen, vlen;
		const char *line, *k;
		char *eq, *val;

		while (end < len && buf[end] != '\n' && buf[end] != '\r')
			end++;
		line = buf + pos;
		klen = end - pos;
		pos = end + 1;
		btfembed__strip(&line, &klen);
		if (!klen || line[0] == '#')
			continue;
		eq = memchr(line, '=', klen);
		if (!eq)
			continue;
		val = eq + 1;
		vlen = klen - (size_t)(val - line);
		k = line;
		klen = (size_t)(eq - line);
		btfembed__strip(&k, &klen);
		if (!klen)
			continue;
		{
			size_t i;
			int valid = 1;
			for (i = 0; i < klen; i++)
				if (!btfembed__is_key_char((unsigned char)k[i]))
					valid = 0;
			if (!valid)
				continue;
		}
		if (klen == 2 && memcmp(k, "ID", 2) == 0) {
			vlen = btfembed__unquote(val, vlen);
			distro_ok = 1;
			btfembed__set_field(key->distro, &distro_ok, val, vlen);
		} else if (klen == 10 && memcmp(k, "VERSION_ID", 10) == 0) {
			vlen = btfembed__unquote(val, vlen);
			version_ok = 1;
			btfembed__set_field(key->distro_version, &version_ok, val, vlen);
		}
	}
	key->os_ok = distro_ok && version_ok;
}

/* Read up to BTFEMBED__OS_RELEASE_MAX bytes of `path` and parse them.
 * Returns 0, or -errno when the file cannot be opened or read (O_NONBLOCK:
 * a FIFO without data reads as empty or EAGAIN, never hangs). */
static int btfembed__read_os_release(const char *path, struct btfembed_key *key)
{
	char *buf;
	size_t len = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	buf = (char *)malloc(BTFEMBED__OS_RELEASE_MAX);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < BTFEMBED__OS_RELEASE_MAX) {
		ssize_t n = read(fd, buf + len, BTFEMBED__OS_RELEASE_MAX - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!err)
		btfembed__parse_os_release(buf, len, key);
	free(buf);
	return err;
}

BTFEMBED_API int btfembed_running_key(struct btfembed_key *key, const struct btfembed_options *opt)
{
	unsigned int flags = opt ? opt->flags : 0;
	const char *release, *machine, *osr;
	struct utsname u;

	if (!key)
		return -EINVAL;
	memset(key, 0, sizeof(*key));
	key->uname_ok = 1;
	key->os_ok = 1;

	release = btfembed__env("BTFEMBED_RELEASE", flags);
	if (!release && opt)
		release = opt->release;
	machine = btfembed__env("BTFEMBED_MACHINE", flags);
	if (!machine && opt)
		machine = opt->machine;
	if (!release || !machine) {
		if (uname(&u) != 0)
			return -errno;
		if (!release)
			release = u.release;
		if (!machine)
			machine = u.machine;
	}
	btfembed__set_field(key->release, &key->uname_ok, release, strlen(release));
	btfembed__normalize_arch(key, machine);

	osr = btfembed__env("BTFEMBED_OS_RELEASE", flags);
	if (!osr && opt)
		osr = opt->os_release;
	if (osr) {
		(void)btfembed__read_os_release(osr, key);
	} else if (btfembed__read_os_release("/etc/os-release", key) != 0) {
		(void)btfembed__read_os_release("/usr/lib/os-release", key);
	}
	return 0;
}

static int btfembed__cmp_kernel(const struct btfembed_kernel *k, const char *arch, const char *distro,
				const char *version, const char *release)
{
	int c = strcmp(k->arch, arch);

	if (!c)
		c = strcmp(k->distro, distro);
	if (!c)
		c = strcmp(k->distro_version, version);
	if (!c)
		c = strcmp(k->release, release);
	return c;
}

/* Bounds, pointers, sizes and order of a table: 0 or -EINVAL. */
static int btfembed__check_table(const struct btfembed_table *t)
{
	size_t i;

	if (!t || t->abi != BTFEMBED_TABLE_ABI)
		return -EINVAL;
	if ((t->n_kernels && !t->kernels) || (t->n_blobs && !t->blobs))
		return -EINVAL;
	if (t->compression != BTFEMBED_COMPRESSION_NONE && t->compression != BTFEMBED_COMPRESSION_ZLIB)
		return -EINVAL;
	for (i = 0; i < t->n_blobs; i++) {
		const struct btfembed_blob *b = &t->blobs[i];
		if (b->raw_size > BTFEMBED_BLOB_MAX || (b->size && !b->data))
			return -EINVAL;
		if (t->compression == BTFEMBED_COMPRESSION_NONE && b->size != b->raw_size)
			return -EINVAL;
	}
	for (i = 0; i < t->n_kernels; i++) {
		const struct btfembed_kernel *k = &t->kernels[i];
		if (!k->arch || !k->distro || !k->distro_version || !k->release || k->blob >= t->n_blobs)
			return -EINVAL;
		if (i && btfembed__cmp_kernel(&t->kernels[i - 1], k->arch, k->distro, k->distro_version,
					      k->release) >= 0)
			return -EINVAL;
	}
	return 0;
}

BTFEMBED_API int btfembed_lookup(const struct btfembed_table *table, const struct btfembed_key *key,
				 size_t *index, int *exact)
{
	size_t lo, hi, i, found = 0;
	int have = 0;

	if (!key || !index || !exact || btfembed__check_table(table) != 0)
		return -EINVAL;
	if (!key->uname_ok)
		return BTFEMBED_NO_MATCH;
	if (key->os_ok) {
		lo = 0;
		hi = table->n_kernels;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = btfembed__cmp_kernel(&table->kernels[mid], key->arch, key->distro,
						     key->distro_version, key->release);
			if (c == 0) {
				*index = mid;
				*exact = 1;
				return BTFEMBED_OK;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	for (i = 0; i < table->n_kernels; i++) {
		const struct btfembed_kernel *k = &table->kernels[i];
		if (strcmp(k->arch, key->arch) != 0 || strcmp(k->release, key->release) != 0)
			continue;
		if (!have) {
			have = 1;
			found = i;
		} else if (k->blob != table->kernels[found].blob) {
			return BTFEMBED_AMBIGUOUS;
		}
	}
	if (!have)
		return BTFEMBED_NO_MATCH;
	*index = found;
	*exact = 0;
	return BTFEMBED_OK;
}

static int btfembed__write_all(int fd, const void *data, size_t len)
{
	const char *p = (const char *)data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* memfd + /proc/self/fd/N; 0, or -errno to fall back to a file. */
static int btfembed__publish_memfd(struct btfembed_btf *out, const void *data, size_t len)
{
#if defined(SYS_memfd_create)
	int fd, err;

	fd = (int)syscall(SYS_memfd_create, "btfembed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	err = btfembed__write_all(fd, data, len);
	if (err) {
		close(fd);
		return err;
	}
#if defined(F_ADD_SEALS) && defined(F_SEAL_SEAL) && defined(F_SEAL_SHRINK) && defined(F_SEAL_GROW) && \
	defined(F_SEAL_WRITE)
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
#endif
	snprintf(out->path_buf, sizeof(out->path_buf), "/proc/self/fd/%d", fd);
	if (access(out->path_buf, R_OK) != 0) { /* no /proc: libbpf could not open it */
		err = -errno;
		close(fd);
		out->path_buf[0] = 0;
		return err ? err : -ENOENT;
	}
	out->fd = fd;
	out->flags = BTFEMBED_BTF_MEMFD;
	out->path = out->path_buf;
	return 0;
#else
	(void)out;
	(void)data;
	(void)len;
	return -ENOSYS;
#endif
}

static int btfembed__publish_tmpfile(struct btfembed_btf *out, const void *data, size_t len,
				     const char *dir)
{
	int fd, n, err;

	n = snprintf(out->path_buf, sizeof(out->path_buf), "%s/btfembed-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(out->path_buf)) {
		out->path_buf[0] = 0;
		return -ENAMETOOLONG;
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 7))
	fd = mkostemp(out->path_buf, O_CLOEXEC);
#else
	fd = mkstemp(out->path_buf);
#endif
	if (fd < 0) {
		err = -errno;
		out->path_buf[0] = 0;
		return err;
	}
	err = fchmod(fd, S_IRUSR | S_IWUSR) ? -errno : 0;
	if (!err)
		err = btfembed__write_all(fd, data, len);
	if (close(fd) != 0 && !err)
		err = -errno;
	if (err) {
		unlink(out->path_buf);
		out->path_buf[0] = 0;
		return err;
	}
	out->flags = BTFEMBED_BTF_TMPFILE;
	out->path = out->path_buf;
	return 0;
}

BTFEMBED_API int btfembed_btf_path(const struct btfembed_table *table, struct btfembed_btf *out,
				   const struct btfembed_options *opt)
{
	unsigned int flags = opt ? opt->flags : 0;
	const struct btfembed_blob *blob;
	const char *sysfs, *dir;
	void *inflated = NULL;
	const void *data;
	size_t index = 0;
	int rc, exact = 0;

	if (!out)
		return -EINVAL;
	out->path = NULL;
	out->fd = -1;
	out->flags = 0;
	out->kernel = -1;
	out->exact = 0;
	out->path_buf[0] = 0;
	memset(&out->key, 0, sizeof(out->key));
	if (btfembed__check_table(table) != 0)
		return -EINVAL;

	if (btfembed__env_true("BTFEMBED_FORCE", flags))
		flags |= BTFEMBED_FORCE;
	if (btfembed__env_true("BTFEMBED_NO_MEMFD", flags))
		flags |= BTFEMBED_NO_MEMFD;

	rc = btfembed_running_key(&out->key, opt);
	if (rc < 0)
		return rc;

	if (!(flags & BTFEMBED_FORCE)) {
		sysfs = btfembed__env("BTFEMBED_SYSFS_BTF", flags);
		if (!sysfs && opt)
			sysfs = opt->sysfs_btf;
		if (!sysfs)
			sysfs = "/sys/kernel/btf/vmlinux";
		if (access(sysfs, R_OK) == 0)
			return BTFEMBED_KERNEL_BTF;
	}

	rc = btfembed_lookup(table, &out->key, &index, &exact);
	if (rc != BTFEMBED_OK)
		return rc;
	out->kernel = (long)index;
	out->exact = exact;

	blob = &table->blobs[table->kernels[index].blob];
	if (table->compression == BTFEMBED_COMPRESSION_NONE) {
		data = blob->data;
	} else {
		if (!table->inflate)
			return -ENOTSUP;
		inflated = malloc(blob->raw_size ? blob->raw_size : 1);
		if (!inflated)
			return -ENOMEM;
		if (table->inflate(inflated, blob->raw_size, blob->data, blob->size) != 0) {
			free(inflated);
			return -EBADMSG;
		}
		data = inflated;
	}

	rc = -ENOSYS;
	if (!(flags & BTFEMBED_NO_MEMFD))
		rc = btfembed__publish_memfd(out, data, blob->raw_size);
	if (rc != 0) {
		dir = opt && opt->tmpdir && *opt->tmpdir ? opt->tmpdir : NULL;
		if (!dir) {
			dir = getenv("TMPDIR");
			if (!dir || !*dir)
				dir = "/tmp";
		}
		rc = btfembed__publish_tmpfile(out, data, blob->raw_size, dir);
	}
	free(inflated);
	return rc;
}
