// SPDX-License-Identifier: GPL-2.0
/*
 * enum64_changed_c19.c - synthetic kernel (clang-19, BTF_KIND_ENUM64):
 *   enum core_reloc_enum64: SMALL=2, BIG=0xabcdef0123, MAX missing;
 *   enum core_reloc_enum64_signed: values negated (kflag=1);
 *   enum core_reloc_enum32: now ENUM64 (B = 0x100000002);
 *   enum core_reloc_enum: ENUM64 (ONE = 0x100000001, TWO = 2, no NEG,
 *     no BIG, no THREE) for the clang-14 program synth_enums;
 *   struct core_reloc_enum64_holder: 'se' and 'ue' swapped.
 * Expected libbpf result: 64-bit values as above (LD_IMM64 patched);
 * missing enumerators -> EXISTS 0 / VALUE poisoned.
 */
enum core_reloc_enum64 {
	CORE_E64_SMALL = 2,
	CORE_E64_BIG = 0xabcdef0123ULL,
};

enum core_reloc_enum64_signed {
	CORE_E64S_NEG = 0x100000000LL,
	CORE_E64S_POS = -0x100000000LL,
};

enum core_reloc_enum32 {
	CORE_E32_A = 1,
	CORE_E32_B = 0x100000002ULL,
};

enum core_reloc_enum {
	CORE_E_ZERO = 0,
	CORE_E_ONE = 0x100000001ULL,
	CORE_E_TWO = 2,
};

typedef enum core_reloc_enum core_reloc_enum_t;

struct core_reloc_enum64_holder {
	int pad;
	enum core_reloc_enum64 ue;
	enum core_reloc_enum64_signed se;
};

struct core_reloc_enum64_holder changed64_holder;
enum core_reloc_enum32 changed64_enum32;
core_reloc_enum_t changed64_enum;
