// SPDX-License-Identifier: GPL-2.0
/*
 * enums_changed.c - synthetic kernel (clang 14, only BTF_KIND_ENUM):
 *   enum core_reloc_enum: other values (ONE=10, TWO=20 under the flavored
 *     name CORE_E_TWO___v2, NEG=-50, THREE=30), CORE_E_BIG missing,
 *     and the enum type itself is flavored (core_reloc_enum___changed);
 *   typedef core_reloc_enum_t -> that enum;
 *   enum core_reloc_uenum: CORE_U_A missing;
 *   enum core_reloc_enum64: a 32-bit ENUM here (SMALL=7, BIG=8, no MAX)
 *     for the ENUM64 program (ENUM vs ENUM64 candidates are compatible).
 * Expected libbpf result: values follow this file; missing enumerators give
 * ENUMVAL_EXISTS = 0 and a poisoned ENUMVAL_VALUE.
 */
enum core_reloc_enum___changed {
	CORE_E_ZERO = 0,
	CORE_E_ONE = 10,
	CORE_E_TWO___v2 = 20,
	CORE_E_NEG = -50,
	CORE_E_THREE = 30,
};

typedef enum core_reloc_enum___changed core_reloc_enum_t;

enum core_reloc_uenum {
	CORE_U_B = 0xfffffffeu,
};

enum core_reloc_enum64 {
	CORE_E64_SMALL = 7,
	CORE_E64_BIG = 8,
};

core_reloc_enum_t changed_enum;
enum core_reloc_uenum changed_uenum;
enum core_reloc_enum64 changed_enum64;
