// SPDX-License-Identifier: GPL-2.0
/*
 * base_c19.c - synthetic kernel: SAME layouts as the local programs
 * synth_enum64_c19 and synth_matches_c19.  Built with clang-19 so that the
 * 64-bit enums are BTF_KIND_ENUM64 (kflag=1 for the signed one).
 * Expected libbpf result: every relocation matches with the local value and
 * every TYPE_MATCHES is 1.
 */

/* ---- synth_enum64_c19 ---- */
enum core_reloc_enum64 {
	CORE_E64_SMALL = 1,
	CORE_E64_BIG = 0x1234567890ULL,
	CORE_E64_MAX = 0xffffffffffffffffULL,
};

enum core_reloc_enum64_signed {
	CORE_E64S_NEG = -0x100000000LL,
	CORE_E64S_POS = 0x100000000LL,
};

enum core_reloc_enum32 {
	CORE_E32_A = 1,
	CORE_E32_B = 2,
};

struct core_reloc_enum64_holder {
	int pad;
	enum core_reloc_enum64_signed se;
	enum core_reloc_enum64 ue;
};

struct core_reloc_enum64_holder base_enum64_holder;
enum core_reloc_enum32 base_enum32;

/* ---- synth_matches_c19 ---- */
struct core_reloc_match_inner {
	char c;
};

struct core_reloc_match_opaque {
	int secret;
};

struct core_reloc_match_ok {
	int a;
	unsigned long b;
	struct core_reloc_match_inner *p;
	struct core_reloc_match_inner in;
};

struct core_reloc_match_bad {
	int a;
	unsigned long b;
};

struct core_reloc_match_fewer {
	int a;
	unsigned long b;
};

union core_reloc_match_u {
	int i;
	char c[4];
};

struct core_reloc_match_arr {
	int v[4];
};

struct core_reloc_match_ptrs {
	struct core_reloc_match_opaque *o;
	struct core_reloc_match_ok *self;
};

enum core_reloc_match_e {
	CORE_ME_A,
	CORE_ME_B,
};

enum core_reloc_match_e_missing {
	CORE_MEM_A,
	CORE_MEM_B,
	CORE_MEM_C,
};

enum core_reloc_match_e64 {
	CORE_ME64_A = 0x100000000ULL,
	CORE_ME64_B = 7,
};

typedef struct core_reloc_match_ok core_reloc_match_ok_t;
typedef int core_reloc_match_int_t;
typedef int (*core_reloc_match_fn_t)(struct core_reloc_match_ok *, long);
typedef void (*core_reloc_match_fn2_t)(struct core_reloc_match_opaque *, unsigned int);

core_reloc_match_ok_t base_match_ok;
struct core_reloc_match_bad base_match_bad;
struct core_reloc_match_fewer base_match_fewer;
union core_reloc_match_u base_match_u;
struct core_reloc_match_arr base_match_arr;
struct core_reloc_match_ptrs base_match_ptrs;
struct core_reloc_match_opaque base_match_opaque;
enum core_reloc_match_e base_match_e;
enum core_reloc_match_e_missing base_match_e_missing;
enum core_reloc_match_e64 base_match_e64;
core_reloc_match_int_t base_match_int;
core_reloc_match_fn_t base_match_fn;
core_reloc_match_fn2_t base_match_fn2;
