// SPDX-License-Identifier: GPL-2.0
/*
 * bitfields_moved.c - synthetic kernel: core_reloc_bitfields re-laid out in
 * a PACKED struct (kflag=1):
 *   ub1   1-bit bitfield -> plain 'unsigned char' (not a bitfield)   bit 0
 *   ub7   7 bits -> 9 bits                                          bit 8
 *   ub2   moved after ub7                                           bit 17
 *   sb4   signed char:4 -> int:6                                    bit 19
 *   ub12  now straddles the 32-bit boundary (bits 25..36): libbpf
 *         widens the load to 8 bytes                                bit 25
 *   sb20  int:20 -> unsigned int:20 (FIELD_SIGNED becomes 0)        bit 37
 *   u40   same width, moved                                         bit 64
 *   s23   same width, moved                                         bit 104
 *   trailing  plain u32, moved                                      bit 128
 * Expected libbpf result: every relocation matches; offsets, load sizes
 * and shifts change (see README).
 */
struct __attribute__((packed)) core_reloc_bitfields {
	unsigned char ub1;
	unsigned int ub7: 9;
	unsigned int ub2: 2;
	int sb4: 6;
	unsigned int ub12: 12;
	unsigned int sb20: 20;
	unsigned int : 7;
	unsigned long long u40: 40;
	long long s23: 23;
	unsigned int trailing;
};

struct core_reloc_bitfields moved_bitfields;
