// SPDX-License-Identifier: GPL-2.0
/*
 * dup_equal.c - synthetic kernel with DUPLICATE, EQUAL types: every root of
 * synth_fields, synth_bitfields, synth_enums, synth_types and synth_dup
 * exists twice, as 'X' and as the flavored 'X___2' with the same layout
 * (like kernels whose BTF was not fully deduplicated, e.g. two task_structs).
 * The typedef roots are duplicated as 'T' and 'T___2' too.
 * Expected libbpf result: every candidate pair agrees, so all relocations
 * resolve as against base.c -- EXCEPT TYPE_ID_TARGET (synth_types program
 * 'type_ids_probe'): the two candidates have different type ids, so libbpf
 * reports "relocation decision ambiguity" and the load fails.
 * bpftool marks only the first candidate of each relocation.
 */
#define DUP_TYPES(SFX)							\
enum core_reloc_kind##SFX { CORE_KIND_A##SFX = 1, CORE_KIND_B##SFX = 2 };	\
struct core_reloc_inner##SFX { int x; int y; };				\
struct core_reloc_fields##SFX {						\
	int a;								\
	char b;								\
	long c;								\
	void *p;							\
	int arr[4];							\
	short mat[2][3];						\
	struct core_reloc_inner##SFX inner;				\
	union {								\
		int u_int;						\
		struct {						\
			short lo;					\
			short hi;					\
		};							\
	};								\
	enum core_reloc_kind##SFX kind;					\
	unsigned int only_new;						\
	int flex[];							\
};									\
typedef struct core_reloc_fields##SFX core_reloc_fields_t##SFX;		\
struct core_reloc_chain_c##SFX { int pad_c; int val; };			\
struct core_reloc_chain_b##SFX { long pad_b; struct core_reloc_chain_c##SFX *c; }; \
struct core_reloc_chain_a##SFX { int pad_a; struct core_reloc_chain_b##SFX *b; }; \
struct core_reloc_bitfields##SFX {					\
	unsigned char ub1: 1;						\
	unsigned char ub2: 2;						\
	unsigned int ub7: 7;						\
	unsigned int ub12: 12;						\
	signed char sb4: 4;						\
	int sb20: 20;							\
	unsigned long long u40: 40;					\
	long long s23: 23;						\
	unsigned int trailing;						\
};									\
enum core_reloc_enum##SFX {						\
	CORE_E_ZERO##SFX = 0,						\
	CORE_E_ONE##SFX = 1,						\
	CORE_E_TWO##SFX = 2,						\
	CORE_E_NEG##SFX = -5,						\
	CORE_E_BIG##SFX = 0x7fffffff,					\
	CORE_E_THREE##SFX = 3,						\
};									\
typedef enum core_reloc_enum##SFX core_reloc_enum_t##SFX;		\
struct core_reloc_type_struct##SFX { int a; long b; };			\
union core_reloc_type_union##SFX { int i; char c[12]; };		\
struct core_reloc_dup##SFX { int shared; int only_b; };			\
core_reloc_fields_t##SFX *dup_fields##SFX;				\
struct core_reloc_chain_a##SFX dup_chain_a##SFX;			\
struct core_reloc_chain_b##SFX dup_chain_b##SFX;			\
struct core_reloc_chain_c##SFX dup_chain_c##SFX;			\
struct core_reloc_bitfields##SFX dup_bitfields##SFX;			\
core_reloc_enum_t##SFX dup_enum##SFX;					\
struct core_reloc_type_struct##SFX dup_type_struct##SFX;		\
union core_reloc_type_union##SFX dup_type_union##SFX;			\
struct core_reloc_dup##SFX dup_dup##SFX;

DUP_TYPES()
DUP_TYPES(___2)
