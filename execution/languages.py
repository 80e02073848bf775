"""The language table (data, not code) and how each entry is found on this host.

Every language is a small POSIX shell script run inside the sandbox. The script only ever
names files we wrote (``{box}/main.py``...) and tools resolved here; the candidate's code
is a file, never part of a command line. Toolchains must live under /usr (the only host
tree the sandbox sees; /usr/local is hidden), so a language is offered only when all of its
programs resolve there.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .model import LanguageInfo

#: Where scripts/install-execution.sh installs the pinned esbuild, for any kind of install.
INSTALLED_ESBUILD = Path("/usr/local/lib/codeinterview/esbuild")
#: The checkout's own npm tree (the script runs ``npm ci`` there first).
NODE_TOOLS_DIR = Path(__file__).resolve().parent / "node"
_SEARCH_DIRS = ("/usr/bin", "/usr/sbin")


@dataclass(frozen=True)
class LanguageSpec:
    """How to run one language; ``{name}`` placeholders are filled by :func:`render`."""

    name: str
    aliases: tuple[str, ...]
    source: str  # file name of the submitted code inside {box}
    programs: tuple[tuple[str, str], ...]  # (placeholder, program name looked up in /usr/bin)
    memory: Literal["as", "data"]  # RLIMIT_AS, or RLIMIT_DATA for runtimes reserving huge VMAs
    script: str  # compile and/or run; placeholders: programs, box, tmp, heap_mb, esbuild
    version_script: str  # prints versions; runs inside the sandbox at start-up
    version_pattern: str  # regex over its stdout+stderr with a named group "version"
    runtime: str  # format string over the pattern's groups
    #: Grading (execution/grading.py) builds once and runs each case: ``build`` is one
    #: command (none for interpreters), ``run`` runs what it built.
    build: str = ""
    run: str = ""
    needs_esbuild: bool = False
    heap_percent: int = 75  # {heap_mb}: share of memory_mb for a managed heap (V8, JVM)
    etc_globs: tuple[str, ...] = ()  # host config dirs the runtime needs, bound read-only


# Few threads, small reservations: the JVM must start under RLIMIT_DATA and RLIMIT_NPROC.
_JVM_FLAGS = (
    "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -XX:ReservedCodeCacheSize=32m"
    " -XX:MaxMetaspaceSize=128m -Xss1m -Xshare:auto -Xmx{heap_mb}m"
)

SPECS: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        name="python", aliases=("py", "python3"), source="main.py",
        programs=(("python", "python3"),), memory="as",
        script="exec {python} -I -B {box}/main.py",
        run="{python} -I -B {box}/main.py",
        version_script="{python} --version",
        version_pattern=r"Python (?P<version>\S+)", runtime="CPython {version}",
    ),
    LanguageSpec(
        name="javascript", aliases=("js", "node", "nodejs"), source="main.js",
        programs=(("node", "node"),), memory="data",
        script="exec {node} --max-old-space-size={heap_mb} {box}/main.js",
        run="{node} --max-old-space-size={heap_mb} {box}/main.js",
        version_script="{node} --version",
        version_pattern=r"v(?P<version>\d\S*)", runtime="Node.js {version}",
    ),
    LanguageSpec(
        name="typescript", aliases=("ts",), source="main.ts",
        programs=(("node", "node"),), memory="data", needs_esbuild=True,
        script=(
            "{esbuild} {box}/main.ts --format=cjs --platform=node --log-level=error"
            " --sourcemap=inline --outfile={tmp}/main.js"
            " && exec {node} --enable-source-maps --max-old-space-size={heap_mb} {tmp}/main.js"
        ),
        build=(
            "{esbuild} {box}/main.ts --format=cjs --platform=node --log-level=error"
            " --sourcemap=inline --outfile={tmp}/main.js"
        ),
        run="{node} --enable-source-maps --max-old-space-size={heap_mb} {tmp}/main.js",
        version_script="{esbuild} --version && {node} --version",
        version_pattern=r"(?P<esbuild>\d\S*)\s+v(?P<version>\d\S*)",
        runtime="esbuild {esbuild} (types stripped, not checked) + Node.js {version}",
    ),
    LanguageSpec(
        name="c", aliases=(), source="main.c", programs=(("cc", "gcc"),), memory="as",
        script="{cc} -O2 -pipe -std=gnu17 -o {tmp}/main {box}/main.c -lm && exec {tmp}/main",
        build="{cc} -O2 -pipe -std=gnu17 -o {tmp}/main {box}/main.c -lm", run="{tmp}/main",
        version_script="{cc} -dumpfullversion",
        version_pattern=r"(?P<version>\d+\.\d+\S*)", runtime="GCC {version}, C17",
    ),
    LanguageSpec(
        name="cpp", aliases=("c++", "cxx"), source="main.cpp", programs=(("cxx", "g++"),),
        memory="as",
        script="{cxx} -O2 -pipe -std=gnu++17 -o {tmp}/main {box}/main.cpp && exec {tmp}/main",
        build="{cxx} -O2 -pipe -std=gnu++17 -o {tmp}/main {box}/main.cpp", run="{tmp}/main",
        version_script="{cxx} -dumpfullversion",
        version_pattern=r"(?P<version>\d+\.\d+\S*)", runtime="GCC {version}, C++17",
    ),
    LanguageSpec(
        name="java", aliases=(), source="Main.java",
        programs=(("java", "java"), ("javac", "javac")), memory="data",
        etc_globs=("/etc/java-*",), heap_percent=50,  # metaspace, code cache, stacks
        script="exec {java} " + _JVM_FLAGS + " {box}/Main.java",
        build="{javac} -J-Xmx{heap_mb}m -J-XX:-UsePerfData -d {tmp}/classes {box}/Main.java",
        run="{java} " + _JVM_FLAGS + " -cp {tmp}/classes Main",
        version_script=(
            "{java} " + _JVM_FLAGS + " -version"
            " && {javac} -J-Xmx{heap_mb}m -J-XX:-UsePerfData -version"
        ),
        version_pattern=r'version "(?P<version>[^"]+)"',
        runtime="OpenJDK {version}, single-file source launcher",
    ),
)  # fmt: skip

#: Every name and alias the engine knows, on any host -> its canonical name.
KNOWN_NAMES: Mapping[str, str] = {
    name: spec.name for spec in SPECS for name in (spec.name, *spec.aliases)
}


@dataclass(frozen=True)
class HostLanguage:
    """A spec whose programs were found on this host (the executor then probes it)."""

    spec: LanguageSpec
    paths: Mapping[str, str]  # placeholder -> host path; /usr paths are the same inside
    etc_dirs: tuple[str, ...]


def find_program(name: str) -> str | None:
    """The real path of ``name`` under /usr (not /usr/local), or None."""
    for directory in _SEARCH_DIRS:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            real = os.path.realpath(candidate)
            if real.startswith("/usr/") and not real.startswith("/usr/local/"):
                return real
    return None


def find_esbuild(
    configured: str | None = None,
    installed: Path = INSTALLED_ESBUILD,
    tools_dir: Path = NODE_TOOLS_DIR,
) -> str | None:
    """The esbuild binary: the configured path, else the installed one, else the checkout's.

    A configured path that is not executable finds nothing: the operator asked for that one.
    """
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    pattern = str(tools_dir / "node_modules/@esbuild/linux-*/bin/esbuild")
    for candidate in (str(installed), *sorted(glob.glob(pattern))):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def discover(esbuild: str | None) -> list[HostLanguage]:
    """Every language whose programs exist here (not yet proven to run in the sandbox)."""
    found: list[HostLanguage] = []
    for spec in SPECS:
        paths = {key: find_program(program) for key, program in spec.programs}
        if spec.needs_esbuild:
            paths["esbuild"] = esbuild
        resolved = {key: path for key, path in paths.items() if path is not None}
        if len(resolved) != len(paths):
            continue
        etc_dirs = [d for pattern in spec.etc_globs for d in glob.glob(pattern)]
        etc = tuple(sorted(d for d in etc_dirs if os.path.isdir(d)))
        found.append(HostLanguage(spec=spec, paths=resolved, etc_dirs=etc))
    return found


def render(template: str, paths: Mapping[str, str], *, box: str, tmp: str, heap_mb: int) -> str:
    """Fill a script template; every value is shell-quoted."""
    values = {key: shlex.quote(value) for key, value in paths.items()}
    values.update(box=shlex.quote(box), tmp=shlex.quote(tmp), heap_mb=str(heap_mb))
    return template.format(**values)


def parse_version(spec: LanguageSpec, output: str) -> LanguageInfo | None:
    """Turn the version script's output into a LanguageInfo, or None if unrecognised."""
    match = re.search(spec.version_pattern, output)
    if match is None:
        return None
    return LanguageInfo(
        name=spec.name,
        version=match.group("version"),
        aliases=spec.aliases,
        runtime=spec.runtime.format(**match.groupdict()),
    )
