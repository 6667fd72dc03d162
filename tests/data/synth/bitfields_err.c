// SPDX-License-Identifier: GPL-2.0
/*
 * bitfields_err.c - synthetic kernel: core_reloc_bitfields in a PACKED
 * struct where 'u40' occupies bits 60..99, i.e. crosses an 8-byte
 * boundary: no load of at most 8 bytes can hold it.
 * Expected libbpf result: the first relocation on u40 fails with -E2BIG
 * (the whole object fails to load; bpftool fails the same way).  The
 * relocations before it (ub1..sb20) resolve normally.
 */
struct __attribute__((packed)) core_reloc_bitfields {
	unsigned char ub1: 1;
	unsigned char ub2: 2;
	unsigned int ub7: 7;
	unsigned int ub12: 12;
	signed char sb4: 4;
	int sb20: 20;
	unsigned long long pad: 14;
	unsigned long long u40: 40;
	long long s23: 23;
	unsigned int trailing;
};

struct core_reloc_bitfields err_bitfields;
