"""A seccomp deny-list for sandboxed code, as raw classic BPF for ``bwrap --seccomp FD``.

Namespaces already cut the network and the filesystem off; this filter shrinks the kernel
surface behind them (new namespaces, mounts, io_uring, bpf, keyrings, ptrace, TIOCSTI,
modify_ldt, personality changes) and refuses every socket family but AF_UNIX. It also
closes ways around the run's limits: memory no limit counts (memfd, SysV shared memory,
semaphore and message queues, whose pages belong to no process the watchdog sees) and
widening the CPU affinity the run was pinned to. Default is ALLOW, so interpreters,
threads, fork, subprocesses and compilers keep working (none of the supported runtimes
calls the denied ones: checked with strace over the language tests). Written by hand
(about twenty instructions plus one per denied call) to avoid a libseccomp binding; only
x86-64 has a table, other machines run without the filter and the namespaces stay the wall.
"""

from __future__ import annotations

import errno
import os
import platform
import struct
from dataclasses import dataclass

# Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
_LD_W_ABS = 0x00 | 0x00 | 0x20
_JEQ_K = 0x05 | 0x10
_JGE_K = 0x05 | 0x30
_JSET_K = 0x05 | 0x40
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_OFF_NR, _OFF_ARCH, _OFF_ARG0, _OFF_ARG1 = 0, 4, 16, 24  # struct seccomp_data, low words

_AF_UNIX = 1
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
# CLONE_NEWNS 0x20000 | NEWCGROUP 0x2000000 | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
# (0x4000000 .. 0x40000000). NEWTIME is 0x80, which clone() reads as the exit signal, so only
# clone3/unshare could use it: both are denied.
_CLONE_NEW_MASK = 0x7E020000

# x86-64 numbers (asm/unistd_64.h) of calls sandboxed code never needs -> EPERM.
_DENY_X86_64 = {
    "ptrace": 101, "syslog": 103, "uselib": 134, "vhangup": 153, "pivot_root": 155,
    "_sysctl": 156, "adjtimex": 159, "chroot": 161, "acct": 163, "settimeofday": 164,
    "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
    "create_module": 174, "init_module": 175, "delete_module": 176, "quotactl": 179,
    "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311,
    "kcmp": 312, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_getfd": 438,
    "mount_setattr": 442, "quotactl_fd": 443, "modify_ldt": 154,
    "sched_setaffinity": 203,  # the run is pinned to one CPU and must stay there
}  # fmt: skip
# Calls a kernel may lack; ENOSYS makes programs take their fallback path (files in /tmp).
_ABSENT_X86_64 = {
    "shmget": 29, "semget": 64, "msgget": 68, "memfd_create": 319, "memfd_secret": 447,
}  # fmt: skip
_SOCKET, _CLONE, _IOCTL, _CLONE3, _PERSONALITY = 41, 56, 16, 435, 135
_PERSONALITY_QUERY, _PER_LINUX = 0xFFFFFFFF, 0  # reading it, or the default: harmless


@dataclass(frozen=True)
class _Insn:
    code: int
    k: int
    jt: str | None = None  # label to jump to when true; None = next instruction
    jf: str | None = None


def _program() -> list[_Insn | str]:
    """The filter as instructions and labels (a label is a plain string)."""
    deny = [_Insn(_JEQ_K, nr, jt="eperm") for nr in sorted(_DENY_X86_64.values())]
    deny += [_Insn(_JEQ_K, nr, jt="enosys") for nr in sorted(_ABSENT_X86_64.values())]
    return [
        _Insn(_LD_W_ABS, _OFF_ARCH),
        _Insn(_JEQ_K, _AUDIT_ARCH_X86_64, jf="kill"),  # i386 entry points: other numbers
        _Insn(_LD_W_ABS, _OFF_NR),
        _Insn(_JGE_K, _X32_SYSCALL_BIT, jt="eperm"),  # the x32 ABI: same calls, other numbers
        _Insn(_JEQ_K, _SOCKET, jt="socket"),
        _Insn(_JEQ_K, _CLONE, jt="clone"),
        _Insn(_JEQ_K, _IOCTL, jt="ioctl"),
        _Insn(_JEQ_K, _CLONE3, jt="enosys"),  # libc falls back to clone(), whose flags we see
        _Insn(_JEQ_K, _PERSONALITY, jt="personality"),
        *deny,
        _Insn(_RET_K, _RET_ALLOW),
        "personality",  # e.g. ADDR_NO_RANDOMIZE would turn ASLR off for what it executes
        _Insn(_LD_W_ABS, _OFF_ARG0),  # the kernel reads persona as 32-bit
        _Insn(_JEQ_K, _PERSONALITY_QUERY, jt="allow"),
        _Insn(_JEQ_K, _PER_LINUX, jt="allow", jf="eperm"),
        "socket",
        _Insn(_LD_W_ABS, _OFF_ARG0),
        _Insn(_JEQ_K, _AF_UNIX, jt="allow", jf="eafnosupport"),
        "clone",
        _Insn(_LD_W_ABS, _OFF_ARG0),
        _Insn(_JSET_K, _CLONE_NEW_MASK, jt="eperm", jf="allow"),
        "ioctl",
        _Insn(_LD_W_ABS, _OFF_ARG1),  # the kernel reads cmd as 32-bit
        _Insn(_JEQ_K, _TIOCSTI, jt="eperm"),
        _Insn(_JEQ_K, _TIOCLINUX, jt="eperm"),
        "allow",
        _Insn(_RET_K, _RET_ALLOW),
        "eperm",
        _Insn(_RET_K, _RET_ERRNO | errno.EPERM),
        "enosys",
        _Insn(_RET_K, _RET_ERRNO | errno.ENOSYS),
        "eafnosupport",
        _Insn(_RET_K, _RET_ERRNO | errno.EAFNOSUPPORT),
        "kill",
        _Insn(_RET_K, _RET_KILL_PROCESS),
    ]


def _assemble(program: list[_Insn | str]) -> bytes:
    """Resolve labels to forward offsets and pack ``struct sock_filter`` entries."""
    labels: dict[str, int] = {}
    insns: list[_Insn] = []
    for item in program:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)

    def offset(index: int, label: str | None) -> int:
        if label is None:
            return 0
        distance = labels[label] - index - 1
        if not 0 <= distance <= 255:
            raise ValueError(f"seccomp jump to {label} out of range: {distance}")
        return distance

    return b"".join(
        struct.pack("=HBBI", i.code, offset(n, i.jt), offset(n, i.jf), i.k)
        for n, i in enumerate(insns)
    )


def build_filter() -> bytes | None:
    """The BPF program for this machine, or None where no syscall table exists."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    return _assemble(_program())


def filter_fd(program: bytes) -> int:
    """A fresh memfd holding the program: bwrap reads it to EOF, so one fd per run."""
    fd = os.memfd_create("codeinterview-seccomp", os.MFD_CLOEXEC)  # pass_fds hands it on
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
