"""btfembed: tailored kernel BTF for CO-RE eBPF programs, embedded at build time."""

__version__ = "0.1.0"
