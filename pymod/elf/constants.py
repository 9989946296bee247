"""Every number a module file is read by, defined once.

ELF64 values (``include/uapi/linux/elf.h``), the kernel's own section and
symbol flags for modules, the signature trailer's magic, and pymod's size cap.
"""

from __future__ import annotations

# ELF header
ELFMAG = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
ET_REL = 1
EM_X86_64 = 62
ELF64_EHDR_SIZE = 64
ELF64_SHDR_SIZE = 64
ELF64_SYM_SIZE = 24
ELF64_RELA_SIZE = 24

# Section types
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOBITS, SHT_REL = 8, 9

# Section flags; the last two are the module loader's own (include/linux/module.h,
# include/uapi/linux/elf.h): it marks .data..ro_after_init with the first, and
# livepatch relocation sections carry the second.
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHF_RELA_LIVEPATCH = 0x00100000
SHF_RO_AFTER_INIT = 0x00200000

# Special section indices; SHN_LIVEPATCH marks livepatch symbols to resolve later.
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
SHN_LIVEPATCH = 0xFF20

# Symbol binding (st_info >> 4)
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2

# struct module (x86-64): name[] follows `state` (4 bytes + padding) and the
# `list` list_head; MODULE_NAME_LEN = 64 - sizeof(unsigned long).
STRUCT_MODULE_NAME_OFFSET = 24
MODULE_NAME_LEN = 56

# Export tables: struct kernel_symbol {int value, name, namespace} (PREL32),
# and the 64-byte __versions entry {unsigned long crc; char name[56]}.
KSYM_ENTRY_SIZE = 12
MODVERSION_ENTRY_SIZE = 64

# Signature trailer (include/linux/module_signature.h)
MODULE_SIG_STRING = b"~Module signature appended~\n"
MODULE_SIGNATURE_SIZE = 12        # struct module_signature
PKEY_ID_PKCS7 = 2

# File names kmod treats as modules.
MODULE_SUFFIXES = (".ko", ".ko.gz", ".ko.xz", ".ko.zst")

# The kernel has no cap on a module's size; pymod has one so that a
# decompression bomb or /dev/zero cannot take the machine's memory.  A real
# module decompresses to a few MiB at most.
MAX_DECOMPRESSED = 256 << 20
