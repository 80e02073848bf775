"""Host tools and the exact command line of a run, sandboxed (bubblewrap) or not.

The sandbox: fresh user, pid, network, ipc, uts, cgroup and mount namespaces; a root that
holds only /usr (read-only, /usr/local hidden), a private /proc, a minimal /dev, the code
at /box/<file> (read-only, copied from a memfd: no host directory is shared) and a small
tmpfs /tmp, the only writable place. No environment from the server, no nested user
namespaces, a seccomp deny-list, rlimits via prlimit, and the sandbox is the kernel's
preferred OOM victim. When the server runs as root it first drops to an unprivileged user,
because RLIMIT_NPROC does not bind real root.

Two things bubblewrap cannot do are done around it. ``taskset`` pins the whole run to one
CPU (seccomp stops it widening that again), so its processes together get one core at most.
And /tmp and /dev/shm are tmpfs mounts with an inode cap (``nr_inodes``, which bwrap 0.8 has
no flag for): ``unshare`` gives bwrap a user and mount namespace of its own, a short
shell script mounts the two tmpfs over /dev/shm there, and bwrap binds them in.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import pwd
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import SandboxUnavailable
from .languages import HostLanguage, find_program, render
from .model import ExecutionLimits
from .process import Launch
from .seccomp import filter_fd

log = logging.getLogger(__name__)

SANDBOX_USER = "codeinterview-exec"  # created by scripts/install-execution.sh
_MIB = 1024 * 1024
_SANDBOX_ESBUILD = "/opt/tools/esbuild"
_SANDBOX_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Identity:
    """Who sandboxed code runs as on the host; None keeps the server's own uid."""

    uid: int | None
    gid: int | None
    label: str


@dataclass(frozen=True)
class Tools:
    """Host programs every launch needs, resolved once at start-up."""

    prlimit: str
    sh: str
    wrappers: tuple[str, ...]  # nice and choom, when present: the sandbox yields to the server
    identity: Identity
    taskset: str | None = None  # pins a run to one CPU; without it runs are not pinned
    scratch: tuple[str, ...] = ()  # unshare, mount, mkdir: set with bwrap, all are needed
    bwrap: str | None = None  # set once bubblewrap proved to work
    disable_userns: bool = False
    seccomp: bytes | None = None


def sandbox_identity() -> Identity:
    """The dedicated sandbox user when the server is root, else the server itself."""
    if os.geteuid() != 0:
        return Identity(None, None, f"uid {os.geteuid()}")
    for name in (SANDBOX_USER, "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Identity(entry.pw_uid, entry.pw_gid, name)
    return Identity(65534, 65534, "uid 65534")


def host_tools() -> Tools:
    """prlimit and sh are required for any run; raise SandboxUnavailable without them."""
    prlimit, sh = find_program("prlimit"), find_program("sh")
    if prlimit is None or sh is None:
        raise SandboxUnavailable("prlimit (util-linux) and /usr/bin/sh are required to run code")
    wrappers: list[str] = []
    if nice := find_program("nice"):
        wrappers += [nice, "-n", "10"]
    if choom := find_program("choom"):
        wrappers += [choom, "-n", "1000", "--"]
    taskset = find_program("taskset")
    if taskset is None:
        log.warning("taskset (util-linux) not found: a run's processes may use every core")
    return Tools(
        prlimit=prlimit, sh=sh, wrappers=tuple(wrappers), identity=sandbox_identity(),
        taskset=taskset,
    )  # fmt: skip


async def capture(argv: list[str], timeout_s: float = 10.0) -> tuple[int | None, str]:
    """Run a trusted helper command; its exit code and merged output."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={},
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None, f"{argv[0]} did not answer within {timeout_s}s"
    return proc.returncode, out.decode(errors="replace").strip()


async def with_bwrap(tools: Tools, bwrap_path: str) -> Tools:
    """``tools`` with a usable-looking bubblewrap (>= 0.7), or SandboxUnavailable saying why."""
    path = bwrap_path if os.sep in bwrap_path else shutil.which(bwrap_path)
    if path is None or not os.access(path, os.X_OK):
        raise SandboxUnavailable(
            f"bubblewrap not found at {bwrap_path!r}; install it (scripts/install-execution.sh)"
        )
    try:
        code, output = await capture([path, "--version"])
    except OSError as exc:
        raise SandboxUnavailable(f"cannot run {path}: {exc}") from exc
    match = re.search(r"(\d+)\.(\d+)", output)
    if code != 0 or match is None:
        raise SandboxUnavailable(f"{path} --version failed: {output[:200]}")
    version = (int(match.group(1)), int(match.group(2)))
    if version < (0, 7):
        raise SandboxUnavailable(f"bubblewrap {output} is too old: need >= 0.7 (for --size)")
    scratch = tuple(find_program(name) or "" for name in ("unshare", "mount", "mkdir"))
    if not all(scratch):
        raise SandboxUnavailable("unshare and mount (util-linux) and mkdir are required")
    return replace(tools, bwrap=path, disable_userns=version >= (0, 8), scratch=scratch)


def _prlimit(
    tools: Tools, limits: ExecutionLimits, memory: str, timeout_s: float, nproc: bool
) -> list[str]:
    cpu = math.ceil(timeout_s) + 1  # the wall timer normally wins; this stops burners early
    argv = [
        tools.prlimit, f"--nofile={limits.max_open_files}", f"--cpu={cpu}:{cpu + 1}", "--core=0",
        f"--{memory}={limits.memory_mb * _MIB}",
    ]  # fmt: skip
    if nproc:
        argv.append(f"--nproc={limits.max_processes}")
    return [*argv, "--"]


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)  # pass_fds makes it inheritable for bwrap
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _root_layout(language: HostLanguage) -> list[str]:
    """Mount arguments for the read-only root: /usr, its merged-usr links, a few /etc bits."""
    args = ["--ro-bind", "/usr", "/usr"]
    if os.path.isdir("/usr/local"):
        args += ["--size", "4096", "--tmpfs", "/usr/local", "--remount-ro", "/usr/local"]
    for name in _ROOT_LINKS:
        host = f"/{name}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for directory in language.etc_dirs:
        args += ["--ro-bind", directory, directory]
    return args


def _pin(tools: Tools, cpu: int | None) -> list[str]:
    """taskset in front: affinity is inherited by bwrap and everything the run starts."""
    if cpu is None or tools.taskset is None:
        return []
    return [tools.taskset, "--cpu-list", str(cpu)]


# Runs in the namespace unshare made (as its root): mounts the run's /tmp and /dev/shm over
# /dev/shm, which only this namespace sees, then becomes bwrap. Arguments: mount, mkdir,
# /tmp's size and inodes, /dev/shm's size and inodes, then bwrap's command line.
_SCRATCH_SCRIPT = (
    "set -e; m=$1; d=$2; o=nosuid,nodev,size; shift 2\n"
    '"$m" -t tmpfs -o "$o=$1,nr_inodes=$2,mode=0755" codeinterview-tmp /dev/shm\n'
    '"$d" /dev/shm/tmp /dev/shm/shm\n'
    '"$m" -t tmpfs -o "$o=$3,nr_inodes=$4,mode=1777" codeinterview-shm /dev/shm/shm\n'
    'shift 4; unset PWD; exec "$@"'  # sh exports PWD: bwrap's pid 1 keeps no environment
)
_SHM_FILES = 64  # POSIX semaphores and shared memory objects: each one is a file here
_SCRATCH_DIRS = 3  # the tmpfs root and its tmp/ and shm/ directories take inodes too


def _scratch(tools: Tools, limits: ExecutionLimits) -> list[str]:
    """unshare + the mount script, up to where bwrap's own command line starts."""
    unshare, mount, mkdir = tools.scratch
    return [
        unshare, "--user", "--map-root-user", "--mount", "--propagation", "private", "--",
        tools.sh, "-c", _SCRATCH_SCRIPT, "scratch", mount, mkdir,
        str(limits.tmpfs_mb * _MIB), str(limits.max_tmp_files + _SCRATCH_DIRS),
        str(_MIB), str(_SHM_FILES + 1),
    ]  # fmt: skip


def sandboxed_launch(
    tools: Tools,
    limits: ExecutionLimits,
    language: HostLanguage,
    code: bytes,
    timeout_s: float,
    template: str | None = None,
    cpu: int | None = None,
) -> Launch:
    """bwrap around prlimit around ``sh -c <language script>`` (or ``template``).

    ``cpu``: the one CPU the whole run may use (None: any).
    """
    spec = language.spec
    paths = dict(language.paths)
    if spec.needs_esbuild:  # the host path is bound at a neutral one
        paths["esbuild"] = _SANDBOX_ESBUILD
    heap_mb = _heap(limits, language)
    script = render(template or spec.script, paths, box="/box", tmp="/tmp", heap_mb=heap_mb)
    info_r, info_w = os.pipe()
    fds = [info_w]
    try:
        code_fd = _add(fds, _memfd("code", code))
        seccomp_fd = _add(fds, filter_fd(tools.seccomp)) if tools.seccomp else None
    except BaseException:
        for fd in (info_r, *fds):
            os.close(fd)
        raise
    argv = [
        *_pin(tools, cpu),
        *tools.wrappers,
        *_scratch(tools, limits),
        *_bwrap_args(tools, language, code_fd=code_fd, info_fd=info_w, seccomp=seccomp_fd),
        *_prlimit(tools, limits, spec.memory, timeout_s, nproc=True),
        *(tools.sh, "-c", script),
    ]
    uid, gid = tools.identity.uid, tools.identity.gid
    return Launch(argv=argv, env={}, cwd="/", pass_fds=tuple(fds), info_fd=info_r, uid=uid, gid=gid)


def _bwrap_args(
    tools: Tools,
    language: HostLanguage,
    *,
    code_fd: int,
    info_fd: int,
    seccomp: int | None,
) -> list[str]:
    """The bubblewrap half of the command line, up to and including ``--``."""
    assert tools.bwrap is not None
    spec = language.spec
    esbuild = []
    if spec.needs_esbuild:
        esbuild = ["--ro-bind", language.paths["esbuild"], _SANDBOX_ESBUILD]
    # bwrap is root of unshare's namespace: --cap-drop ALL empties the bounding set too.
    return [
        tools.bwrap, "--unshare-all", "--unshare-user",
        *(["--disable-userns"] if tools.disable_userns else []),
        "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--uid", "1000",
        "--gid", "1000", "--hostname", "sandbox", *_root_layout(language),
        "--proc", "/proc", "--dev", "/dev",
        "--bind", "/dev/shm/tmp", "/tmp", "--bind", "/dev/shm/shm", "/dev/shm",
        "--perms", "0444", "--ro-bind-data", str(code_fd), f"/box/{spec.source}",
        *esbuild, "--remount-ro", "/dev", "--remount-ro", "/",
        "--chdir", "/tmp", "--clearenv",
        *_setenv({**_SANDBOX_ENV, "HOME": "/tmp", "TMPDIR": "/tmp"}),
        "--info-fd", str(info_fd),
        *(["--seccomp", str(seccomp)] if seccomp is not None else []),
        "--",
    ]  # fmt: skip


def _heap(limits: ExecutionLimits, language: HostLanguage) -> int:
    return max(16, limits.memory_mb * language.spec.heap_percent // 100)


def _add(fds: list[int], fd: int) -> int:
    fds.append(fd)
    return fd


def _setenv(env: Mapping[str, str]) -> list[str]:
    return [arg for key, value in env.items() for arg in ("--setenv", key, value)]


def unsandboxed_launch(
    tools: Tools,
    limits: ExecutionLimits,
    language: HostLanguage,
    code: bytes,
    timeout_s: float,
    scratch: Path,
    template: str | None = None,
    cpu: int | None = None,
) -> Launch:
    """prlimit around the same script in ``scratch``: NO isolation (allow_unsandboxed only).

    Blocking file writes: call it in a thread.
    """
    spec, identity = language.spec, tools.identity
    box, tmp = scratch / "box", scratch / "tmp"
    box.mkdir(mode=0o755)
    tmp.mkdir(mode=0o700)
    os.chmod(scratch, 0o755)
    (box / spec.source).write_bytes(code)
    os.chmod(box / spec.source, 0o644)
    if identity.uid is not None and identity.gid is not None:
        os.chown(tmp, identity.uid, identity.gid)
    script = render(
        template or spec.script, language.paths, box=str(box), tmp=str(tmp),
        heap_mb=_heap(limits, language),
    )  # fmt: skip
    # Without a user namespace RLIMIT_NPROC counts every process of the uid: only bind it
    # when the run has a uid of its own (a root server dropping to the sandbox user).
    nproc = identity.uid is not None
    argv = [*_pin(tools, cpu), *tools.wrappers]
    argv += _prlimit(tools, limits, spec.memory, timeout_s, nproc)
    argv += [tools.sh, "-c", script]
    env = {**_SANDBOX_ENV, "HOME": str(tmp), "TMPDIR": str(tmp)}
    return Launch(argv=argv, env=env, cwd=str(tmp), uid=identity.uid, gid=identity.gid)


def make_scratch() -> Path:
    """A private directory for one unsandboxed run (blocking: call it in a thread)."""
    return Path(tempfile.mkdtemp(prefix="codeinterview-run-"))
