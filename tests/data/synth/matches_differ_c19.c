// SPDX-License-Identifier: GPL-2.0
/*
 * matches_differ_c19.c - synthetic kernel (clang-19) for synth_matches_c19:
 * each root differs from the local definition in one way.
 *   struct core_reloc_match_ok      reordered + extra member, and its
 *                                   member struct has an extra member -> 1
 *   struct core_reloc_match_bad     'b' is 'long' (signedness)        -> 0
 *   struct core_reloc_match_fewer   no 'b' (local vlen > target vlen) -> 0
 *   union core_reloc_match_u        one extra member                  -> 1
 *   struct core_reloc_match_arr     v[5] instead of v[4]              -> 0
 *   struct core_reloc_match_ptrs    pointee core_reloc_match_opaque is
 *                                   only a FWD (behind a pointer)     -> 1
 *   enum core_reloc_match_e         extra enumerator, other values    -> 1
 *   enum core_reloc_match_e_missing no CORE_MEM_C                     -> 0
 *   enum core_reloc_match_e64       other values, still 8 bytes       -> 1
 *   core_reloc_match_ok_t           typedef of the reordered struct   -> 1
 *   core_reloc_match_int_t          'unsigned int'                    -> 0
 *   core_reloc_match_fn_t           3 parameters                      -> 0
 *   core_reloc_match_fn2_t          same shape, param points to FWD   -> 1
 * TYPE_EXISTS on core_reloc_match_bad and core_reloc_match_fn_t: 1 and 0
 * (the looser compat check accepts 'long b' but not the 3rd parameter).
 */
struct core_reloc_match_inner {
	char c;
	char extra;
};

struct core_reloc_match_opaque;

struct core_reloc_match_ok {
	long extra;
	struct core_reloc_match_inner in;
	struct core_reloc_match_inner *p;
	unsigned long b;
	int a;
};

struct core_reloc_match_bad {
	int a;
	long b;
};

struct core_reloc_match_fewer {
	int a;
};

union core_reloc_match_u {
	int i;
	char c[4];
	short s;
};

struct core_reloc_match_arr {
	int v[5];
};

struct core_reloc_match_ptrs {
	struct core_reloc_match_ok *self;
	struct core_reloc_match_opaque *o;
};

enum core_reloc_match_e {
	CORE_ME_B = 5,
	CORE_ME_A = 6,
	CORE_ME_C = 7,
};

enum core_reloc_match_e_missing {
	CORE_MEM_A,
	CORE_MEM_B,
};

enum core_reloc_match_e64 {
	CORE_ME64_A = 0x200000000ULL,
	CORE_ME64_B = 9,
};

typedef struct core_reloc_match_ok core_reloc_match_ok_t;
typedef unsigned int core_reloc_match_int_t;
typedef int (*core_reloc_match_fn_t)(struct core_reloc_match_ok *, long, int);
typedef void (*core_reloc_match_fn2_t)(struct core_reloc_match_opaque *, unsigned int);

core_reloc_match_ok_t differ_match_ok;
struct core_reloc_match_bad differ_match_bad;
struct core_reloc_match_fewer differ_match_fewer;
union core_reloc_match_u differ_match_u;
struct core_reloc_match_arr differ_match_arr;
struct core_reloc_match_ptrs differ_match_ptrs;
enum core_reloc_match_e differ_match_e;
enum core_reloc_match_e_missing differ_match_e_missing;
enum core_reloc_match_e64 differ_match_e64;
core_reloc_match_int_t differ_match_int;
core_reloc_match_fn_t differ_match_fn;
core_reloc_match_fn2_t differ_match_fn2;
