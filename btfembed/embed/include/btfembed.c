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

/* Parse "distro/version/arch/release" ("_" for an empty field; the
 * release is the rest, it may hold '/').  0 or -EINVAL. */
static int btfembed__parse_key(struct btfembed_key *key, const char *text)
{
	const char *parts[4], *p = text;
	size_t lens[4];
	int i, ok = 1;

	for (i = 0; i < 3; i++) {
		const char *slash = strchr(p, '/');
		if (!slash)
			return -EINVAL;
		parts[i] = p;
		lens[i] = (size_t)(slash - p);
		p = slash + 1;
	}
	parts[3] = p;
	lens[3] = strlen(p);
	for (i = 0; i < 4; i++)
		if (lens[i] == 1 && parts[i][0] == '_')
			lens[i] = 0;
	if (!lens[2] || !lens[3])
		return -EINVAL;
	btfembed__set_field(key->distro, &ok, parts[0], lens[0]);
	btfembed__set_field(key->distro_version, &ok, parts[1], lens[1]);
	btfembed__set_field(key->release, &ok, parts[3], lens[3]);
	if (!ok || lens[2] > BTFEMBED_FIELD_MAX)
		return -EINVAL;
	{
		char machine[BTFEMBED_FIELD_MAX + 1];
		memcpy(machine, parts[2], lens[2]);
		machine[lens[2]] = 0;
		btfembed__normalize_arch(key, machine);
	}
	return 0;
}

/* Read os-release under `root` (NULL: /): etc/os-release, then
 * usr/lib/os-release.  Records the file read in key->source. */
static void btfembed__host_os_release(struct btfembed_key *key, const char *root)
{
	static const char *const rel[2] = { "/etc/os-release", "/usr/lib/os-release" };
	char path[BTFEMBED_PATH_MAX];
	int i, n;

	for (i = 0; i < 2; i++) {
		n = snprintf(path, sizeof(path), "%s%s", root ? root : "", rel[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (btfembed__read_os_release(path, key) == 0) {
			snprintf(key->source, sizeof(key->source), "%s", path);
			return;
		}
	}
	snprintf(key->source, sizeof(key->source), "no os-release");
}

BTFEMBED_API int btfembed_running_key(struct btfembed_key *key, const struct btfembed_options *opt)
{
	unsigned int flags = opt ? opt->flags : 0;
	const char *release, *machine, *osr, *root, *explicit_key;
	struct utsname u;
	int overridden;
	size_t n;

	if (!key)
		return -EINVAL;
	memset(key, 0, sizeof(*key));
	key->uname_ok = 1;
	key->os_ok = 1;

	explicit_key = btfembed__env("BTFEMBED_KEY", flags);
	if (explicit_key) {
		snprintf(key->source, sizeof(key->source), "BTFEMBED_KEY");
	} else if (opt && opt->key && *opt->key) {
		explicit_key = opt->key;
		snprintf(key->source, sizeof(key->source), "key option");
	}
	if (explicit_key) {
		key->explicit_key = 1;
		if (btfembed__parse_key(key, explicit_key) != 0) {
			key->arch[0] = key->distro[0] = key->distro_version[0] = key->release[0] = 0;
			key->uname_ok = key->os_ok = 0;
			n = strlen(key->source);
			snprintf(key->source + n, sizeof(key->source) - n, " (not distro/version/arch/release)");
		}
		return 0;
	}

	release = btfembed__env("BTFEMBED_RELEASE", flags);
	if (!release && opt)
		release = opt->release;
	machine = btfembed__env("BTFEMBED_MACHINE", flags);
	if (!machine && opt)
		machine = opt->machine;
	overridden = release || machine;
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
		if (btfembed__read_os_release(osr, key) == 0)
			snprintf(key->source, sizeof(key->source), "%s", osr);
		else
			snprintf(key->source, sizeof(key->source), "no os-release");
	} else {
		root = btfembed__env("BTFEMBED_HOST_ROOT", flags);
		if (!root && opt && opt->host_root && *opt->host_root)
			root = opt->host_root;
		btfembed__host_os_release(key, root);
	}
	n = strlen(key->source);
	snprintf(key->source + n, sizeof(key->source) - n, ", %s", overridden ? "override" : "uname");
	return 0;
}

/* ------------------------------------------------------------------------
 * SHA-256 (FIPS 180-4), small and portable. */

struct btfembed__sha256 {
	unsigned int h[8];
	unsigned char buf[64];
	size_t used;
	unsigned long long total;
};

static const unsigned int btfembed__k256[64] = {
	0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
	0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
	0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
	0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
	0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
	0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
	0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
	0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

#define BTFEMBED__ROR(x, n) ((((x) >> (n)) | ((x) << (32 - (n)))) & 0xffffffffu)

static void btfembed__sha256_block(unsigned int h[8], const unsigned char *p)
{
	unsigned int w[64], a, b, c, d, e, f, g, hh, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = ((unsigned int)p[4 * i] << 24) | ((unsigned int)p[4 * i + 1] << 16) |
		       ((unsigned int)p[4 * i + 2] << 8) | (unsigned int)p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		unsigned int s0 = BTFEMBED__ROR(w[i - 15], 7) ^ BTFEMBED__ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		unsigned int s1 = BTFEMBED__ROR(w[i - 2], 17) ^ BTFEMBED__ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & 0xffffffffu;
	}
	a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (i = 0; i < 64; i++) {
		t1 = hh + (BTFEMBED__ROR(e, 6) ^ BTFEMBED__ROR(e, 11) ^ BTFEMBED__ROR(e, 25)) + ((e & f) ^ (~e & g)) +
		     btfembed__k256[i] + w[i];
		t2 = (BTFEMBED__ROR(a, 2) ^ BTFEMBED__ROR(a, 13) ^ BTFEMBED__ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		hh = g; g = f; f = e; e = (d + t1) & 0xffffffffu;
		d = c; c = b; b = a; a = (t1 + t2) & 0xffffffffu;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
	for (i = 0; i < 8; i++)
		h[i] &= 0xffffffffu;
}

static void btfembed__sha256_init(struct btfembed__sha256 *s)
{
	static const unsigned int iv[8] = { 0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
					    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u };
	memcpy(s->h, iv, sizeof(iv));
	s->used = 0;
	s->total = 0;
}

/* x86-64 SHA extensions (SHA-NI), used when the CPU has them: several
 * times faster than the portable rounds above on the index and blobs.
 * -DBTFEMBED_NO_SHA_NI leaves them out. */
#if !defined(BTFEMBED_NO_SHA_NI) && defined(__x86_64__) && \
	((defined(__clang__) && __clang_major__ >= 8) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 9))
#define BTFEMBED__SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>

__attribute__((target("sha,ssse3,sse4.1"))) static void btfembed__sha256_ni(unsigned int h[8],
									     const unsigned char *p, size_t n)
{
	const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i abef, cdgh, t, m[16], k;
	int g;

	/* h = a..h -> abef = (a, b, e, f) and cdgh = (c, d, g, h), high lane first */
	t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)h), 0xB1);        /* b a d c */
	cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)(h + 4)), 0x1B); /* h g f e */
	abef = _mm_alignr_epi8(t, cdgh, 8);                                                       /* f e b a */
	cdgh = _mm_blend_epi16(cdgh, t, 0xF0);                                                    /* h g d c */
	for (; n; n--, p += 64) {
		__m128i abef0 = abef, cdgh0 = cdgh;

		for (g = 0; g < 4; g++)
			m[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)), swap);
		for (g = 4; g < 16; g++)
			m[g] = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(m[g - 4], m[g - 3]),
								  _mm_alignr_epi8(m[g - 1], m[g - 2], 4)),
						    m[g - 1]);
		for (g = 0; g < 16; g++) {
			k = _mm_add_epi32(m[g], _mm_loadu_si128((const __m128i *)(const void *)(btfembed__k256 + 4 * g)));
			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, k);
			abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(k, 0x0E));
		}
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}
	t = _mm_shuffle_epi32(abef, 0x1B);    /* a b e f */
	cdgh = _mm_shuffle_epi32(cdgh, 0xB1); /* g h c d */
	_mm_storeu_si128((__m128i *)(void *)h, _mm_blend_epi16(t, cdgh, 0xF0));
	_mm_storeu_si128((__m128i *)(void *)(h + 4), _mm_alignr_epi8(cdgh, t, 8));
}

/* 1 with SHA-NI (and SSSE3, SSE4.1), else 0; asked once, atomically cached. */
static int btfembed__have_sha_ni(void)
{
	static int known; /* 0 unknown, 1 no, 2 yes */
	int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
	unsigned int a, b, c, d;

	if (!v) {
		v = 1;
		if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 9)) && (c & (1u << 19)) &&
		    __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)))
			v = 2;
		__atomic_store_n(&known, v, __ATOMIC_RELAXED);
	}
	return v == 2;
}
#endif

/* n 64-byte blocks */
static void btfembed__sha256_blocks(unsigned int h[8], const unsigned char *p, size_t n)
{
#ifdef BTFEMBED__SHA_NI
	if (btfembed__have_sha_ni()) {
		btfembed__sha256_ni(h, p, n);
		return;
	}
#endif
	for (; n; n--, p += 64)
		btfembed__sha256_block(h, p);
}

static void btfembed__sha256_update(struct btfembed__sha256 *s, const void *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;

	s->total += len;
	if (s->used) {
		size_t take = 64 - s->used < len ? 64 - s->used : len;
		memcpy(s->buf + s->used, p, take);
		s->used += take;
		p += take;
		len -= take;
		if (s->used < 64)
			return;
		btfembed__sha256_blocks(s->h, s->buf, 1);
		s->used = 0;
	}
	btfembed__sha256_blocks(s->h, p, len / 64);
	p += len / 64 * 64;
	len %= 64;
	memcpy(s->buf, p, len);
	s->used = len;
}

static void btfembed__sha256_final(struct btfembed__sha256 *s, unsigned char out[32])
{
	unsigned long long bits = s->total * 8;
	unsigned char pad[72];
	size_t n = (s->used < 56 ? 56 : 120) - s->used;
	int i;

	memset(pad, 0, sizeof(pad));
	pad[0] = 0x80;
	for (i = 0; i < 8; i++)
		pad[n + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
	btfembed__sha256_update(s, pad, n + 8);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(s->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)s->h[i];
	}
}

/* ------------------------------------------------------------------------
 * The pack (docs/pack-format.md) */

struct btfembed__pack {
	const unsigned char *base;
	size_t size, data_offset;
	unsigned int codec, flags;
	size_t n_entries, n_blobs, n_blocks, n_objects, strings_size, block_max;
	const unsigned char *blocks, *blobs, *entries, *objects;
	const char *strings;
};

static size_t btfembed__u32(const unsigned char *p)
{
	return (size_t)p[0] | ((size_t)p[1] << 8) | ((size_t)p[2] << 16) | ((size_t)p[3] << 24);
}

/* A valid string offset: 0 or -EBADMSG. */
static int btfembed__check_string(const struct btfembed__pack *p, size_t off)
{
	size_t len;

	if (off >= p->strings_size || (off && p->strings[off - 1] != 0))
		return -EBADMSG;
	len = strlen(p->strings + off); /* the table ends with a NUL */
	return len > BTFEMBED_FIELD_MAX ? -EBADMSG : 0;
}

static const char *btfembed__entry_field(const struct btfembed__pack *p, size_t i, int field)
{
	return p->strings + btfembed__u32(p->entries + i * BTFEMBED_PACK_ENTRY_RECORD + 4 * (size_t)field);
}

static size_t btfembed__entry_blob(const struct btfembed__pack *p, size_t i)
{
	return btfembed__u32(p->entries + i * BTFEMBED_PACK_ENTRY_RECORD + 16);
}

static int btfembed__cmp_entry(const struct btfembed__pack *p, size_t i, const char *arch, const char *distro,
			       const char *version, const char *release)
{
	int c = strcmp(btfembed__entry_field(p, i, 0), arch);

	if (!c)
		c = strcmp(btfembed__entry_field(p, i, 1), distro);
	if (!c)
		c = strcmp(btfembed__entry_field(p, i, 2), version);
	if (!c)
		c = strcmp(btfembed__entry_field(p, i, 3), release);
	return c;
}

/* Whether table t's index was checked before (table->checked, set by
 * btfembed__open; atomic where the compiler offers it, else never cached). */
static int btfembed__was_checked(const struct btfembed_table *t)
{
#if defined(__GNUC__) && defined(__ATOMIC_ACQUIRE)
	return t->checked && __atomic_load_n(t->checked, __ATOMIC_ACQUIRE);
#else
	(void)t;
	return 0;
#endif
}

static void btfembed__set_checked(const struct btfembed_table *t)
{
#if defined(__GNUC__) && defined(__ATOMIC_RELEASE)
	if (t->checked)
		__atomic_store_n(t->checked, 1, __ATOMIC_RELEASE);
#else
	(void)t;
#endif
}

/* Header, index digest and structure: 0, -EINVAL (not a table of this
 * ABI), -EBADMSG (corrupt).  The digest and structure are checked once per
 * table (table->checked) unless `full`: the header is read every time. */
static int btfembed__open_full(const struct btfembed_table *t, struct btfembed__pack *p, int full)
{
	struct btfembed__sha256 sha;
	unsigned char digest[32];
	const unsigned char *b;
	size_t i, expect = 0, tables;

	if (!t || t->abi != BTFEMBED_TABLE_ABI || (!t->pack && t->size))
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	b = t->pack;
	if (t->size < BTFEMBED_PACK_HEADER_SIZE || memcmp(b, BTFEMBED_PACK_MAGIC, BTFEMBED_PACK_MAGIC_LEN) != 0)
		return -EBADMSG;
	if ((b[14] | (b[15] << 8)) != BTFEMBED_PACK_FORMAT)
		return -EBADMSG;
	p->base = b;
	p->size = t->size;
	p->codec = (unsigned int)btfembed__u32(b + BTFEMBED_PACK_OFF_CODEC);
	p->n_entries = btfembed__u32(b + BTFEMBED_PACK_OFF_N_ENTRIES);
	p->n_blobs = btfembed__u32(b + BTFEMBED_PACK_OFF_N_BLOBS);
	p->n_blocks = btfembed__u32(b + BTFEMBED_PACK_OFF_N_BLOCKS);
	p->n_objects = btfembed__u32(b + BTFEMBED_PACK_OFF_N_OBJECTS);
	p->strings_size = btfembed__u32(b + BTFEMBED_PACK_OFF_STRINGS_SIZE);
	p->block_max = btfembed__u32(b + BTFEMBED_PACK_OFF_BLOCK_MAX);
	p->flags = (unsigned int)btfembed__u32(b + BTFEMBED_PACK_OFF_FLAGS);
	if (p->codec > BTFEMBED_PACK_CODEC_ZSTD || (p->flags & ~BTFEMBED_PACK_FLAGS_KNOWN))
		return -EBADMSG;
	if (btfembed__u32(b + BTFEMBED_PACK_OFF_PACK_SIZE) != t->size)
		return -EBADMSG;
	if (p->n_entries >= BTFEMBED_PACK_COUNT_MAX || p->n_blobs >= BTFEMBED_PACK_COUNT_MAX ||
	    p->n_blocks >= BTFEMBED_PACK_COUNT_MAX || p->n_objects >= BTFEMBED_PACK_COUNT_MAX ||
	    p->block_max > BTFEMBED_PACK_BLOCK_SIZE_MAX || p->strings_size > t->size)
		return -EBADMSG;
	tables = p->n_blocks * BTFEMBED_PACK_BLOCK_RECORD + p->n_blobs * BTFEMBED_PACK_BLOB_RECORD +
		 p->n_entries * BTFEMBED_PACK_ENTRY_RECORD + p->n_objects * BTFEMBED_PACK_OBJECT_RECORD;
	if (tables > t->size || BTFEMBED_PACK_HEADER_SIZE + tables + p->strings_size > t->size)
		return -EBADMSG;
	p->data_offset = BTFEMBED_PACK_HEADER_SIZE + tables + p->strings_size;
	p->blocks = b + BTFEMBED_PACK_HEADER_SIZE;
	p->blobs = p->blocks + p->n_blocks * BTFEMBED_PACK_BLOCK_RECORD;
	p->entries = p->blobs + p->n_blobs * BTFEMBED_PACK_BLOB_RECORD;
	p->objects = p->entries + p->n_entries * BTFEMBED_PACK_ENTRY_RECORD;
	p->strings = (const char *)(p->objects + p->n_objects * BTFEMBED_PACK_OBJECT_RECORD);
	if (!full && btfembed__was_checked(t))
		return 0;

	btfembed__sha256_init(&sha);
	btfembed__sha256_update(&sha, b, 64);
	btfembed__sha256_update(&sha, b + BTFEMBED_PACK_HEADER_SIZE, p->data_offset - BTFEMBED_PACK_HEADER_SIZE);
	btfembed__sha256_final(&sha, digest);
	if (memcmp(digest, b + BTFEMBED_PACK_OFF_META_SHA256, 32) != 0)
		return -EBADMSG;

	if (p->strings_size && (p->strings[0] != 0 || p->strings[p->strings_size - 1] != 0))
		return -EBADMSG;
	if (!p->strings_size && (p->n_entries || p->n_objects))
		return -EBADMSG;

	for (i = 0; i < p->n_blocks; i++) {
		const unsigned char *r = p->blocks + i * BTFEMBED_PACK_BLOCK_RECORD;
		size_t off = btfembed__u32(r), stored = btfembed__u32(r + 4), raw = btfembed__u32(r + 8);
		if (off != expect || stored > t->size - p->data_offset - off || raw > p->block_max)
			return -EBADMSG;
		if (p->codec == BTFEMBED_PACK_CODEC_NONE && stored != raw)
			return -EBADMSG;
		expect = off + stored;
	}
	if (p->data_offset + expect != t->size)
		return -EBADMSG;
	for (i = 0; i < p->n_blobs; i++) {
		const unsigned char *r = p->blobs + i * BTFEMBED_PACK_BLOB_RECORD;
		size_t block = btfembed__u32(r), off = btfembed__u32(r + 4), len = btfembed__u32(r + 8), raw;
		if (block >= p->n_blocks)
			return -EBADMSG;
		raw = btfembed__u32(p->blocks + block * BTFEMBED_PACK_BLOCK_RECORD + 8);
		if (off > raw || len > raw - off || len > BTFEMBED_BLOB_MAX)
			return -EBADMSG;
	}
	for (i = 0; i < p->n_entries; i++) {
		int f;
		for (f = 0; f < 4; f++)
			if (btfembed__check_string(p, btfembed__u32(p->entries + i * BTFEMBED_PACK_ENTRY_RECORD +
								    4 * (size_t)f)) != 0)
				return -EBADMSG;
		if (btfembed__entry_blob(p, i) >= p->n_blobs)
			return -EBADMSG;
		if (i && btfembed__cmp_entry(p, i - 1, btfembed__entry_field(p, i, 0), btfembed__entry_field(p, i, 1),
					     btfembed__entry_field(p, i, 2), btfembed__entry_field(p, i, 3)) >= 0)
			return -EBADMSG;
	}
	for (i = 0; i < p->n_objects; i++)
		if (btfembed__check_string(p, btfembed__u32(p->objects + i * BTFEMBED_PACK_OBJECT_RECORD)) != 0)
			return -EBADMSG;
	btfembed__set_checked(t);
	return 0;
}

static int btfembed__open(const struct btfembed_table *t, struct btfembed__pack *p)
{
	return btfembed__open_full(t, p, 0);
}

/* The BTF recoding (docs/pack-format.md), undone in place on b[0..n):
 * the same walk as the encoder's, over fields it does not change. */
static size_t btfembed__next_string(const unsigned char *s, size_t len, size_t n)
{
	const unsigned char *z = n < len ? (const unsigned char *)memchr(s + n, 0, len - n) : NULL;

	return z ? (size_t)(z - s) + 1 : len;
}

static void btfembed__put32(unsigned char *p, unsigned long v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void btfembed__btf_recode_decode(unsigned char *b, size_t n)
{
	/* BTF kind: bytes after the common 12, bytes per member, members named,
	 * where in a member a value is stored as a difference (0: none) */
	static const unsigned char kinds[20][4] = {
		{ 0, 0, 0, 0 },  { 4, 0, 0, 0 },  { 0, 0, 0, 0 }, { 12, 0, 0, 0 }, { 0, 12, 1, 8 },
		{ 0, 12, 1, 8 }, { 0, 8, 1, 4 },  { 0, 0, 0, 0 }, { 0, 0, 0, 0 },  { 0, 0, 0, 0 },
		{ 0, 0, 0, 0 },  { 0, 0, 0, 0 },  { 0, 0, 0, 0 }, { 0, 8, 1, 0 },  { 4, 0, 0, 0 },
		{ 0, 12, 0, 0 }, { 0, 0, 0, 0 },  { 4, 0, 0, 0 }, { 0, 0, 0, 0 },  { 0, 12, 1, 0 },
	};
	unsigned long long hdr, t0, t1, s0, s1, pos, end, f;
	const unsigned char *strs;
	size_t next = 1, slen;

	if (n < 24 || b[0] != 0x9f || b[1] != 0xeb)
		return;
	hdr = btfembed__u32(b + 4);
	t0 = hdr + btfembed__u32(b + 8);
	t1 = t0 + btfembed__u32(b + 12);
	s0 = hdr + btfembed__u32(b + 16);
	s1 = s0 + btfembed__u32(b + 20);
	if (hdr < 24 || t1 > n || s1 > n || !(t1 <= s0 || s1 <= t0))
		return;
	strs = b + s0;
	slen = (size_t)(s1 - s0);
	for (pos = t0; pos + 12 <= t1; pos = end) {
		size_t info = btfembed__u32(b + pos + 4), kind = (info >> 24) & 0x1f;
		const unsigned char *k = kinds[kind < 20 ? kind : 0];

		if (kind == 0 || kind >= 20)
			break;
		end = pos + 12 + k[0] + (unsigned long long)(info & 0xffff) * k[1];
		if (end > t1)
			break;
		for (f = pos; f < end; f = f == pos ? pos + 12 + k[0] : f + k[1]) {
			size_t v = btfembed__u32(b + f);

			if (v == 0) {
				btfembed__put32(b + f, (unsigned long)next);
				next = btfembed__next_string(strs, slen, next);
			} else if (v <= next) {
				btfembed__put32(b + f, (unsigned long)(v - 1));
			}
			if (!k[2])
				break;
		}
		if (k[3]) {
			unsigned long prev = 0;

			for (f = pos + 12 + k[0] + k[3]; f < end; f += k[1]) {
				prev = (unsigned long)((btfembed__u32(b + f) + prev) & 0xffffffffu);
				btfembed__put32(b + f, prev);
			}
		}
	}
}

/* Where a blob of `len` bytes starting with `h` (at least 24 bytes of it
 * when len >= 24) is cut in a split block (docs/pack-format.md): at its
 * string section when that ends the blob after the types, else at its end. */
static size_t btfembed__split_point(const unsigned char *h, size_t len)
{
	unsigned long long hdr, s0;

	if (len < 24 || h[0] != 0x9f || h[1] != 0xeb)
		return len;
	hdr = btfembed__u32(h + 4);
	s0 = hdr + btfembed__u32(h + 16);
	if (hdr < 24 || hdr + btfembed__u32(h + 8) + btfembed__u32(h + 12) > s0 ||
	    s0 + btfembed__u32(h + 20) != len)
		return len;
	return (size_t)s0;
}

/* Blob `blob` of a split block blk[0..size) into out[0..len): its first part
 * among the first parts of the block's blobs (in table order), its second
 * after all of them.  0, or -EBADMSG when the parts do not fit. */
static int btfembed__unsplit(const struct btfembed__pack *p, size_t blob, const unsigned char *blk, size_t size,
			     unsigned char *out, size_t len)
{
	size_t block = btfembed__u32(p->blobs + blob * BTFEMBED_PACK_BLOB_RECORD), a = 0, rest = 0, j;
	size_t at = 0, cut = 0, b = 0;

	for (j = 0; j < p->n_blobs; j++) {
		const unsigned char *r = p->blobs + j * BTFEMBED_PACK_BLOB_RECORD;
		size_t n = btfembed__u32(r + 8), c;

		if (btfembed__u32(r) != block)
			continue;
		if (a > size || (n >= 24 && size - a < 24))
			return -EBADMSG;
		c = btfembed__split_point(blk + a, n);
		if (j == blob) {
			at = a;
			cut = c;
			b = rest;
		}
		a += c;
		rest += n - c;
		if (a > size || rest > size - a)
			return -EBADMSG;
	}
	memcpy(out, blk + at, cut);
	memcpy(out + cut, blk + a + b, len - cut);
	return 0;
}

/* Blob `blob`: *data points at its raw bytes, checked against its digest;
 * *owned is the buffer to free() (NULL when the bytes lie in the pack). */
static int btfembed__get_blob(const struct btfembed_table *t, const struct btfembed__pack *p, size_t blob,
			      const unsigned char **data, size_t *len, void **owned, unsigned char sha[32])
{
	const unsigned char *r = p->blobs + blob * BTFEMBED_PACK_BLOB_RECORD, *k, *raw;
	struct btfembed__sha256 s;
	unsigned char got[32];
	size_t block = btfembed__u32(r), off = btfembed__u32(r + 4), boff, stored, raw_size;
	void *buf = NULL, *out;

	*owned = NULL;
	k = p->blocks + block * BTFEMBED_PACK_BLOCK_RECORD;
	boff = btfembed__u32(k);
	stored = btfembed__u32(k + 4);
	raw_size = btfembed__u32(k + 8);
	*len = btfembed__u32(r + 8);
	memcpy(sha, r + 12, 32);
	if (p->codec == BTFEMBED_PACK_CODEC_NONE) {
		raw = p->base + p->data_offset + boff;
	} else {
		if (!t->decode)
			return -ENOTSUP;
		buf = malloc(raw_size ? raw_size : 1);
		if (!buf)
			return -ENOMEM;
		if (t->decode(p->codec, buf, raw_size, p->base + p->data_offset + boff, stored) != 0) {
			free(buf);
			return -EBADMSG;
		}
		raw = (const unsigned char *)buf;
	}
	if (p->flags & (BTFEMBED_PACK_FLAG_SPLIT | BTFEMBED_PACK_FLAG_BTF_RECODE)) {
		/* the blob's own copy: reassembled and/or decoded in place */
		out = malloc(*len ? *len : 1);
		if (!out) {
			free(buf);
			return -ENOMEM;
		}
		if (!(p->flags & BTFEMBED_PACK_FLAG_SPLIT))
			memcpy(out, raw + off, *len);
		else if (btfembed__unsplit(p, blob, raw, raw_size, (unsigned char *)out, *len) != 0) {
			free(out);
			free(buf);
			return -EBADMSG;
		}
		free(buf);
		buf = out;
		raw = (const unsigned char *)buf;
		off = 0;
		if (p->flags & BTFEMBED_PACK_FLAG_BTF_RECODE)
			btfembed__btf_recode_decode((unsigned char *)buf, *len);
	}
	btfembed__sha256_init(&s);
	btfembed__sha256_update(&s, raw + off, *len);
	btfembed__sha256_final(&s, got);
	if (memcmp(got, r + 12, 32) != 0) {
		free(buf);
		return -EBADMSG;
	}
	*data = raw + off;
	*owned = buf;
	return 0;
}

static int btfembed__lookup(const struct btfembed__pack *p, const struct btfembed_key *key, size_t *index,
			    int *exact)
{
	size_t lo, hi, i, found = 0;
	int have = 0;

	if (!key->uname_ok)
		return BTFEMBED_NO_MATCH;
	if (key->os_ok) {
		lo = 0;
		hi = p->n_entries;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = btfembed__cmp_entry(p, mid, key->arch, key->distro, key->distro_version, key->release);
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
	if (key->explicit_key)
		return BTFEMBED_NO_MATCH;
	for (i = 0; i < p->n_entries; i++) {
		if (strcmp(btfembed__entry_field(p, i, 0), key->arch) != 0 ||
		    strcmp(btfembed__entry_field(p, i, 3), key->release) != 0)
			continue;
		if (!have) {
			have = 1;
			found = i;
		} else if (btfembed__entry_blob(p, i) != btfembed__entry_blob(p, found)) {
			return BTFEMBED_AMBIGUOUS;
		}
	}
	if (!have)
		return BTFEMBED_NO_MATCH;
	*index = found;
	*exact = 0;
	return BTFEMBED_OK;
}

BTFEMBED_API int btfembed_lookup(const struct btfembed_table *table, const struct btfembed_key *key,
				 size_t *index, int *exact)
{
	struct btfembed__pack p;
	int rc;

	if (!key || !index || !exact)
		return -EINVAL;
	rc = btfembed__open(table, &p);
	if (rc)
		return rc;
	return btfembed__lookup(&p, key, index, exact);
}

BTFEMBED_API int btfembed_check(const struct btfembed_table *table, int blobs)
{
	struct btfembed__pack p;
	size_t i, len;
	int rc = btfembed__open_full(table, &p, 1);

	for (i = 0; !rc && blobs && i < p.n_blobs; i++) {
		const unsigned char *data;
		unsigned char sha[32];
		void *owned;
		rc = btfembed__get_blob(table, &p, i, &data, &len, &owned, sha);
		free(owned);
	}
	return rc;
}

BTFEMBED_API long btfembed_count(const struct btfembed_table *table)
{
	struct btfembed__pack p;
	int rc = btfembed__open(table, &p);

	return rc ? (long)rc : (long)p.n_entries;
}

BTFEMBED_API int btfembed_entry(const struct btfembed_table *table, size_t index, const char *fields[4],
				unsigned int *blob)
{
	struct btfembed__pack p;
	int rc = btfembed__open(table, &p), f;

	if (rc)
		return rc;
	if (index >= p.n_entries)
		return -EINVAL;
	for (f = 0; fields && f < 4; f++)
		fields[f] = btfembed__entry_field(&p, index, f);
	if (blob)
		*blob = (unsigned int)btfembed__entry_blob(&p, index);
	return 0;
}

BTFEMBED_API int btfembed_entry_blob(const struct btfembed_table *table, size_t index, void **data, size_t *size)
{
	struct btfembed__pack p;
	const unsigned char *raw;
	unsigned char sha[32];
	void *owned;
	size_t len;
	int rc;

	if (!data || !size)
		return -EINVAL;
	*data = NULL;
	*size = 0;
	rc = btfembed__open(table, &p);
	if (rc)
		return rc;
	if (index >= p.n_entries)
		return -EINVAL;
	rc = btfembed__get_blob(table, &p, btfembed__entry_blob(&p, index), &raw, &len, &owned, sha);
	if (rc)
		return rc;
	*data = malloc(len ? len : 1);
	if (!*data) {
		free(owned);
		return -ENOMEM;
	}
	memcpy(*data, raw, len);
	*size = len;
	free(owned);
	return 0;
}

/* ------------------------------------------------------------------------
 * Stale-object guard */

static unsigned long long btfembed__elf_word(const unsigned char *p, int size, int big)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < size; i++)
		v |= (unsigned long long)p[big ? size - 1 - i : i] << (8 * i);
	return v;
}

/* The .BTF and .BTF.ext sections of an ELF file: 0 or -ENOEXEC. */
static int btfembed__elf_btf(const unsigned char *e, size_t size, const unsigned char *sec[2], size_t len[2])
{
	int is64, big, i, w;
	unsigned long long shoff, shentsize, shnum, shstrndx, stroff, strsize;

	sec[0] = sec[1] = NULL;
	len[0] = len[1] = 0;
	if (size < 52 || memcmp(e, "\177ELF", 4) != 0 || (e[4] != 1 && e[4] != 2) || (e[5] != 1 && e[5] != 2))
		return -ENOEXEC;
	is64 = e[4] == 2;
	big = e[5] == 2;
	w = is64 ? 8 : 4;
	if (is64 && size < 64)
		return -ENOEXEC;
	shoff = btfembed__elf_word(e + (is64 ? 0x28 : 0x20), w, big);
	shentsize = btfembed__elf_word(e + (is64 ? 0x3A : 0x2E), 2, big);
	shnum = btfembed__elf_word(e + (is64 ? 0x3C : 0x30), 2, big);
	shstrndx = btfembed__elf_word(e + (is64 ? 0x3E : 0x32), 2, big);
	if (shentsize < (unsigned long long)(is64 ? 64 : 40) || shoff > size || shnum > (size - shoff) / shentsize ||
	    shstrndx >= shnum)
		return -ENOEXEC;
	stroff = btfembed__elf_word(e + shoff + shstrndx * shentsize + (is64 ? 0x18 : 0x10), w, big);
	strsize = btfembed__elf_word(e + shoff + shstrndx * shentsize + (is64 ? 0x20 : 0x14), w, big);
	if (stroff > size || strsize > size - stroff)
		return -ENOEXEC;
	for (i = 0; i < (int)shnum; i++) {
		const unsigned char *h = e + shoff + (unsigned long long)i * shentsize;
		unsigned long long name = btfembed__elf_word(h, 4, big), type = btfembed__elf_word(h + 4, 4, big);
		unsigned long long off = btfembed__elf_word(h + (is64 ? 0x18 : 0x10), w, big);
		unsigned long long sz = btfembed__elf_word(h + (is64 ? 0x20 : 0x14), w, big);
		const char *n;
		int which;
		if (name >= strsize || type == 8 /* SHT_NOBITS */)
			continue;
		n = (const char *)e + stroff + name;
		if (!memchr(n, 0, strsize - name))
			return -ENOEXEC;
		which = strcmp(n, ".BTF") == 0 ? 0 : strcmp(n, ".BTF.ext") == 0 ? 1 : -1;
		if (which < 0 || sec[which])
			continue;
		if (off > size || sz > size - off)
			return -ENOEXEC;
		sec[which] = e + off;
		len[which] = (size_t)sz;
	}
	return 0;
}

BTFEMBED_API int btfembed_check_object(const struct btfembed_table *table, const void *obj, size_t size)
{
	const unsigned char *sec[2];
	unsigned char digest[32], n[4];
	struct btfembed__sha256 s;
	struct btfembed__pack p;
	size_t len[2], i;
	int rc, k;

	if (!obj)
		return -EINVAL;
	rc = btfembed__open(table, &p);
	if (rc)
		return rc;
	rc = btfembed__elf_btf((const unsigned char *)obj, size, sec, len);
	if (rc)
		return rc;
	btfembed__sha256_init(&s);
	for (k = 0; k < 2; k++) {
		n[0] = (unsigned char)len[k];
		n[1] = (unsigned char)(len[k] >> 8);
		n[2] = (unsigned char)(len[k] >> 16);
		n[3] = (unsigned char)(len[k] >> 24);
		btfembed__sha256_update(&s, n, 4);
		if (len[k])
			btfembed__sha256_update(&s, sec[k], len[k]);
	}
	btfembed__sha256_final(&s, digest);
	if (!p.n_objects)
		return -ENODATA;
	for (i = 0; i < p.n_objects; i++)
		if (memcmp(p.objects + i * BTFEMBED_PACK_OBJECT_RECORD + 4, digest, 32) == 0)
			return 0;
	return -ESTALE;
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

static const char *const btfembed__how_names[] = { "none", "exact", "shared", "ambiguous", "kernel-btf" };

static const char *btfembed__status_name(int rc)
{
	switch (rc) {
	case BTFEMBED_OK:
		return "embedded";
	case BTFEMBED_KERNEL_BTF:
		return "kernel-btf";
	case BTFEMBED_NO_MATCH:
		return "no-match";
	case BTFEMBED_AMBIGUOUS:
		return "ambiguous";
	default:
		return "error";
	}
}

static const char *btfembed__or_(const char *s)
{
	return (s && *s) ? s : "_";
}

BTFEMBED_API const char *btfembed_explain(const struct btfembed_btf *btf, char *buf, size_t size)
{
	char digest[65];
	size_t n;
	int i;

	if (!buf || !size)
		return buf;
	buf[0] = 0;
	if (!btf)
		return buf;
	for (i = 0; i < 32; i++)
		snprintf(digest + 2 * i, 3, "%02x", btf->sha256[i]);
	snprintf(buf, size, "btfembed: key=%s/%s/%s/%s from=%s match=%s entry=",
		 btfembed__or_(btf->key.distro), btfembed__or_(btf->key.distro_version), btfembed__or_(btf->key.arch),
		 btfembed__or_(btf->key.release), btf->key.source[0] ? btf->key.source : "-",
		 btfembed__how_names[btf->how >= 0 && btf->how <= 4 ? btf->how : 0]);
	n = strlen(buf);
	if (btf->match[0])
		snprintf(buf + n, size - n, "%s/%s/%s/%s sha256=%s", btfembed__or_(btf->match[1]),
			 btfembed__or_(btf->match[2]), btfembed__or_(btf->match[0]), btfembed__or_(btf->match[3]),
			 digest);
	else
		snprintf(buf + n, size - n, "- sha256=-");
	n = strlen(buf);
	if (btf->status < 0)
		snprintf(buf + n, size - n, " status=error (%s)", btfembed_strerror(btf->status));
	else
		snprintf(buf + n, size - n, " status=%s", btfembed__status_name(btf->status));
	return buf;
}

static int btfembed__select(const struct btfembed_table *table, struct btfembed_btf *out,
			    const struct btfembed_options *opt, unsigned int flags)
{
	struct btfembed__pack p;
	const unsigned char *data;
	const char *sysfs, *dir;
	void *owned = NULL;
	size_t index = 0, len = 0;
	int rc, exact = 0, f;

	rc = btfembed__open(table, &p);
	if (rc)
		return rc;
	rc = btfembed_running_key(&out->key, opt);
	if (rc < 0)
		return rc;

	if (!(flags & BTFEMBED_FORCE)) {
		sysfs = btfembed__env("BTFEMBED_SYSFS_BTF", flags);
		if (!sysfs && opt)
			sysfs = opt->sysfs_btf;
		if (!sysfs)
			sysfs = "/sys/kernel/btf/vmlinux";
		if (access(sysfs, R_OK) == 0) {
			out->how = BTFEMBED_HOW_KERNEL_BTF;
			return BTFEMBED_KERNEL_BTF;
		}
	}

	rc = btfembed__lookup(&p, &out->key, &index, &exact);
	if (rc == BTFEMBED_AMBIGUOUS)
		out->how = BTFEMBED_HOW_AMBIGUOUS;
	if (rc != BTFEMBED_OK)
		return rc;
	out->kernel = (long)index;
	out->exact = exact;
	out->how = exact ? BTFEMBED_HOW_EXACT : BTFEMBED_HOW_SHARED;
	for (f = 0; f < 4; f++)
		out->match[f] = btfembed__entry_field(&p, index, f);

	rc = btfembed__get_blob(table, &p, btfembed__entry_blob(&p, index), &data, &len, &owned, out->sha256);
	if (rc)
		return rc;

	rc = -ENOSYS;
	if (!(flags & BTFEMBED_NO_MEMFD))
		rc = btfembed__publish_memfd(out, data, len);
	if (rc != 0) {
		dir = opt && opt->tmpdir && *opt->tmpdir ? opt->tmpdir : NULL;
		if (!dir) {
			dir = getenv("TMPDIR");
			if (!dir || !*dir)
				dir = "/tmp";
		}
		rc = btfembed__publish_tmpfile(out, data, len, dir);
	}
	free(owned);
	return rc;
}

BTFEMBED_API int btfembed_btf_path(const struct btfembed_table *table, struct btfembed_btf *out,
				   const struct btfembed_options *opt)
{
	unsigned int flags = opt ? opt->flags : 0;
	int rc;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->kernel = -1;

	if (btfembed__env_true("BTFEMBED_FORCE", flags))
		flags |= BTFEMBED_FORCE;
	if (btfembed__env_true("BTFEMBED_NO_MEMFD", flags))
		flags |= BTFEMBED_NO_MEMFD;
	if (btfembed__env_true("BTFEMBED_DEBUG", flags))
		flags |= BTFEMBED_DEBUG;

	rc = btfembed__select(table, out, opt, flags);
	if (rc != BTFEMBED_OK) {
		out->path = NULL;
		if (rc < 0 || rc == BTFEMBED_NO_MATCH)
			out->how = rc == BTFEMBED_NO_MATCH ? BTFEMBED_HOW_NONE : out->how;
	}
	out->status = rc;
	if (flags & BTFEMBED_DEBUG) {
		char line[BTFEMBED_EXPLAIN_MAX];
		fprintf(stderr, "%s\n", btfembed_explain(out, line, sizeof(line)));
	}
	return rc;
}

/* --- application keys ------------------------------------------------- */

static int btfembed__pread_all(int fd, void *buf, size_t len, unsigned long long off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOEXEC; /* truncated */
		done += (size_t)n;
	}
	return 0;
}

/* Scan the notes in note[0..len) for NT_GNU_BUILD_ID ("GNU", type 3). */
static int btfembed__gnu_build_id(const unsigned char *note, size_t len, int big, char *hex, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	size_t at = 0;

	while (len - at >= 12) {
		unsigned long long namesz = btfembed__elf_word(note + at, 4, big);
		unsigned long long descsz = btfembed__elf_word(note + at + 4, 4, big);
		unsigned long long type = btfembed__elf_word(note + at + 8, 4, big);
		unsigned long long name_at = at + 12, desc_at = name_at + ((namesz + 3) & ~3ull);
		unsigned long long next = desc_at + ((descsz + 3) & ~3ull);
		size_t i;

		if (namesz > len || descsz > len || desc_at + descsz > len)
			return -ENOEXEC;
		if (type == 3 && namesz == 4 && memcmp(note + name_at, "GNU", 4) == 0 && descsz > 0) {
			if (descsz * 2 + 1 > size)
				return -ENOSPC;
			for (i = 0; i < descsz; i++) {
				hex[2 * i] = digits[note[desc_at + i] >> 4];
				hex[2 * i + 1] = digits[note[desc_at + i] & 15];
			}
			hex[2 * descsz] = '\0';
			return 0;
		}
		if (next >= len)
			break;
		at = (size_t)next;
	}
	return -ENODATA;
}

BTFEMBED_API int btfembed_app_build_id(const char *elf_path, char *hex, size_t size)
{
	unsigned char eh[64], *shdrs = NULL, *note = NULL;
	unsigned long long shoff, shentsize, shnum, i;
	struct stat st;
	int fd, rc, is64, big, w;

	if (!elf_path || !hex || size == 0)
		return -EINVAL;
	hex[0] = '\0';
	fd = open(elf_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	rc = -ENOEXEC;
	if (st.st_size < 52 || btfembed__pread_all(fd, eh, st.st_size < 64 ? 52 : 64, 0) != 0)
		goto out;
	if (memcmp(eh, "\177ELF", 4) != 0 || (eh[4] != 1 && eh[4] != 2) || (eh[5] != 1 && eh[5] != 2))
		goto out;
	is64 = eh[4] == 2;
	big = eh[5] == 2;
	w = is64 ? 8 : 4;
	if (is64 && st.st_size < 64)
		goto out;
	shoff = btfembed__elf_word(eh + (is64 ? 0x28 : 0x20), w, big);
	shentsize = btfembed__elf_word(eh + (is64 ? 0x3A : 0x2E), 2, big);
	shnum = btfembed__elf_word(eh + (is64 ? 0x3C : 0x30), 2, big);
	if (shnum == 0) {
		rc = -ENODATA; /* no section headers: no .note.gnu.build-id to find */
		goto out;
	}
	if (shentsize < (unsigned long long)(is64 ? 64 : 40) || shoff > (unsigned long long)st.st_size ||
	    shnum * shentsize > (unsigned long long)st.st_size - shoff)
		goto out;
	shdrs = malloc((size_t)(shnum * shentsize));
	if (!shdrs) {
		rc = -ENOMEM;
		goto out;
	}
	rc = btfembed__pread_all(fd, shdrs, (size_t)(shnum * shentsize), shoff);
	if (rc != 0)
		goto out;
	rc = -ENODATA;
	for (i = 0; i < shnum && rc == -ENODATA; i++) {
		const unsigned char *h = shdrs + i * shentsize;
		unsigned long long type = btfembed__elf_word(h + 4, 4, big);
		unsigned long long off = btfembed__elf_word(h + (is64 ? 0x18 : 0x10), w, big);
		unsigned long long sz = btfembed__elf_word(h + (is64 ? 0x20 : 0x14), w, big);

		if (type != 7 /* SHT_NOTE */ || sz == 0)
			continue;
		if (off > (unsigned long long)st.st_size || sz > (unsigned long long)st.st_size - off || sz > (1u << 20)) {
			rc = -ENOEXEC;
			break;
		}
		note = malloc((size_t)sz);
		if (!note) {
			rc = -ENOMEM;
			break;
		}
		rc = btfembed__pread_all(fd, note, (size_t)sz, off);
		if (rc == 0)
			rc = btfembed__gnu_build_id(note, (size_t)sz, big, hex, size);
		free(note);
		note = NULL;
	}
out:
	free(shdrs);
	close(fd);
	return rc;
}

BTFEMBED_API int btfembed_app_match(const char *const *ids, size_t n, const char *app_path,
				    const char *app_id, unsigned int flags)
{
	char hex[BTFEMBED_APP_ID_MAX + 1];
	const char *id = app_id, *from = "argument", *forced;
	size_t i;
	int rc = 0;

	if ((!ids && n) || (!app_path && !app_id))
		return -EINVAL;
	if (btfembed__env_true("BTFEMBED_DEBUG", flags))
		flags |= BTFEMBED_DEBUG;
	forced = btfembed__env("BTFEMBED_APP", flags);
	if (forced) {
		id = forced;
		from = "BTFEMBED_APP";
	} else if (!id) {
		rc = btfembed_app_build_id(app_path, hex, sizeof(hex));
		id = hex;
		from = "build-id";
	}
	if (rc == 0) {
		for (i = 0; i < n; i++)
			if (ids[i] && strcmp(ids[i], id) == 0)
				break;
		rc = i < n;
	}
	if (flags & BTFEMBED_DEBUG) {
		if (rc < 0)
			fprintf(stderr, "btfembed: app=%s id=- from=%s match=no error=%s\n", app_path ? app_path : "-",
				from, strerror(-rc));
		else
			fprintf(stderr, "btfembed: app=%s id=%s from=%s match=%s\n", app_path ? app_path : "-", id,
				from, rc ? "yes" : "no");
	}
	return rc;
}
