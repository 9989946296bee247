"""Build the sample modules with gcc into kbuild-shaped x86-64 ``.ko`` files.

Like kbuild, each module is two objects linked with ``ld -r``: the sample's
own ``<name>.o`` and a generated ``<name>.mod.o`` holding what modpost would
add (export tables, ``__versions``, the name/vermagic/depends modinfo and
``.gnu.linkonce.this_module``).  What to generate is read back from the
compiled ``<name>.o`` with binutils: its undefined symbols, and the records
the ``pm_module.h`` macros leave in ``.pm_build`` (exports, forced CRCs),
which the link then discards.

``python -m devtools.build_samples --out DIR`` builds every sample into DIR;
``--update`` rewrites the prebuilt copies shipped in the package.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devtools.modpost import (  # noqa: F401  (Target & co. are part of this module's API)
    DEFAULT_TARGET,
    EXIT_OFFSET_6_12,
    INIT_OFFSET_6_12,
    SAMPLES_SYMVERS,
    BuildOptions,
    ObjectFacts,
    SampleBuildError,
    SampleExport,
    Target,
    export_entries,
    generate_mod_c,
    sample_export_crc,
    strings,
)
from pymod.loader.symvers import SymversEntry, format_symvers, read_symvers
from pymod.samples import prebuilt_dir
from pymod.samples.catalog import SAMPLES, Sample, sample

SRC_DIR = Path(__file__).resolve().parent / "samples_src"
PREBUILT_DIR = prebuilt_dir()
LINKER_SCRIPT = SRC_DIR / "module.lds"
DEFAULT_SYMVERS = DEFAULT_TARGET.symvers
MANIFEST = "MANIFEST"

CFLAGS = (
    "-std=gnu11", "-O2", "-nostdinc", "-ffreestanding", "-fno-pic", "-fno-pie",
    "-mcmodel=kernel", "-mno-red-zone", "-mno-sse", "-mno-mmx", "-mno-sse2",
    "-mno-3dnow", "-mno-avx", "-fno-asynchronous-unwind-tables", "-fno-common",
    "-fno-strict-aliasing", "-fno-stack-protector", "-falign-functions=16",
    "-pg", "-mfentry", "-mrecord-mcount",
    "-mfunction-return=thunk-extern", "-mindirect-branch=thunk-extern",
    "-mindirect-branch-register", "-Wall",
)
LDFLAGS = ("-r", "-m", "elf_x86_64", "-z", "noexecstack", "--build-id=sha1")


# --- tools -----------------------------------------------------------------

def _tool(name: str) -> str:
    path = shutil.which(os.environ.get(name.upper(), name))
    if path is None:
        raise SampleBuildError("%s not found: building the samples needs gcc and binutils "
                               "(the prebuilt copies in %s need neither)" % (name, PREBUILT_DIR))
    return path


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SampleBuildError("%s failed (exit %d):\n%s" % (" ".join(argv), proc.returncode,
                                                             proc.stderr.strip()))
    return proc.stdout


def _compile(source: Path, obj: Path) -> None:
    _run([_tool("gcc"), *CFLAGS, "-I", str(SRC_DIR), "-c", "-o", str(obj), str(source)])


def _section_bytes(obj: Path, section: str, scratch: Path) -> bytes:
    out = scratch / (obj.name + section.replace("/", "_") + ".bin")
    _run([_tool("objcopy"), "-O", "binary", "--only-section=" + section, str(obj), str(out)])
    return out.read_bytes() if out.exists() else b""


# --- reading the compiled sample (modpost's input) --------------------------

def _scan(s: Sample, workdir: Path) -> ObjectFacts:
    source = SRC_DIR / (s.source_name + ".c")
    if not source.is_file():
        raise SampleBuildError("sample source %s is missing" % source)
    obj = workdir / (s.name + ".o")
    _compile(source, obj)

    undefined: list[tuple[str, bool]] = []
    defined: set[str] = set()
    for line in _run([_tool("nm"), "-P", "-p", str(obj)]).splitlines():
        name, kind = line.split()[:2]
        if kind in ("U", "w", "v"):
            undefined.append((name, kind != "U"))
        elif kind.isupper():
            defined.add(name)

    exports: list[SampleExport] = []
    forced: dict[str, int] = {}
    outoftree = False
    for record in strings(_section_bytes(obj, ".pm_build", workdir)):
        kind, _, rest = record.partition(":")
        if kind == "export":
            gpl, name, namespace = rest.split(":")
            if name not in defined:
                raise SampleBuildError("%s exports %s, which it does not define" % (source, name))
            exports.append(SampleExport(name, gpl == "_gpl", namespace))
        elif kind == "crc":
            name, value = rest.split(":")
            forced[name] = int(value, 0)
        elif kind == "outoftree":
            outoftree = True
        else:
            raise SampleBuildError("%s: unknown build record %r" % (source, record))

    modinfo = tuple(item.partition("=")[::2] for item in
                    strings(_section_bytes(obj, ".modinfo", workdir)))
    # modpost's srcversion is an MD4 of the sources; any stable digest will do.
    digest = hashlib.md5(source.read_bytes() + (SRC_DIR / "pm_module.h").read_bytes())
    return ObjectFacts(s, obj, tuple(undefined), frozenset(defined), tuple(exports), forced,
                       outoftree, modinfo, digest.hexdigest().upper()[:23])


def _link(scan: ObjectFacts, modname: str, opts: BuildOptions, target: Target,
          symvers: Mapping[str, SymversEntry], out_dir: Path, workdir: Path) -> Path:
    mod_c = workdir / (modname + ".mod.c")
    mod_c.write_text(generate_mod_c(scan, modname, opts, target, symvers))
    mod_o = workdir / (modname + ".mod.o")
    # Keep the generated tables in source order, as they are written.
    _run([_tool("gcc"), *CFLAGS, "-fno-toplevel-reorder", "-c", "-o", str(mod_o), str(mod_c)])
    out_dir.mkdir(parents=True, exist_ok=True)
    ko = out_dir / (modname + ".ko")
    _run([_tool("ld"), *LDFLAGS, "-T", str(LINKER_SCRIPT), "-o", str(ko),
          str(scan.obj), str(mod_o)])
    return ko


def _options(s: Sample, overrides: Mapping[str, Any]) -> BuildOptions:
    merged = {**s.overrides, **overrides}
    unknown = set(merged) - {f.name for f in dataclasses.fields(BuildOptions)}
    if unknown:
        raise TypeError("unknown build override(s): %s" % ", ".join(sorted(unknown)))
    return BuildOptions(**merged)


def _symvers_for(target: Target, extra: Mapping[str, SymversEntry]) -> dict[str, SymversEntry]:
    table = read_symvers(target.symvers)
    for name, entry in extra.items():
        table.setdefault(name, entry)
    return table


# --- public API --------------------------------------------------------------

def build_module(name: str, out_dir: str | os.PathLike[str], target: Target = DEFAULT_TARGET,
                 **overrides: Any) -> Path:
    """Build one sample (see ``catalog.SAMPLES``) and return ``out_dir/<modname>.ko``.

    ``overrides`` are ``BuildOptions`` fields; ``modname`` renames the module
    (file name, ``name=`` and ``struct module`` name) so variants can coexist.
    """
    s = sample(name)
    opts = _options(s, overrides)
    extra = read_symvers(opts.extra_symvers) if opts.extra_symvers else {}
    with tempfile.TemporaryDirectory(prefix="pymod-sample-") as tmp:
        scan = _scan(s, Path(tmp))
        return _link(scan, opts.modname or s.name, opts, target, _symvers_for(target, extra),
                     Path(out_dir), Path(tmp))


def build_all(out_dir: str | os.PathLike[str], target: Target = DEFAULT_TARGET) -> dict[str, Path]:
    """Build every sample into ``out_dir``; also writes ``out_dir/Module.symvers``.

    The samples' exports come from this build, not from ``samples.symvers``.
    """
    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="pymod-samples-") as tmp:
        scans = [_scan(s, Path(tmp)) for s in SAMPLES]
        exported: dict[str, SymversEntry] = {}
        for scan in scans:
            for entry in export_entries(scan):
                exported.setdefault(entry.name, entry)
        symvers = _symvers_for(target, exported)
        built = {}
        for scan in scans:
            opts = _options(scan.sample, {"extra_symvers": None})
            built[scan.sample.name] = _link(scan, scan.sample.name, opts, target, symvers, out,
                                            Path(tmp))
    (out / "Module.symvers").write_text(format_symvers(exported.values()))
    return built


def write_manifest(folder: Path) -> str:
    """``sha256  file`` lines (``sha256sum -c`` format) for every ``.ko`` in folder."""
    lines = ["%s  %s\n" % (hashlib.sha256(p.read_bytes()).hexdigest(), p.name)
             for p in sorted(folder.glob("*.ko"))]
    text = "".join(lines)
    (folder / MANIFEST).write_text(text)
    return text


def update_prebuilt() -> dict[str, Path]:
    """Rebuild the shipped copies: ``prebuilt/*.ko``, its MANIFEST and samples.symvers."""
    with tempfile.TemporaryDirectory(prefix="pymod-prebuilt-") as tmp:
        fresh = build_all(tmp)
        for old in PREBUILT_DIR.glob("*.ko"):
            old.unlink()
        PREBUILT_DIR.mkdir(exist_ok=True)
        for path in fresh.values():
            shutil.copyfile(path, PREBUILT_DIR / path.name)
        shutil.copyfile(Path(tmp) / "Module.symvers", SAMPLES_SYMVERS)
    write_manifest(PREBUILT_DIR)
    make_signed_variants(PREBUILT_DIR / "pm_hello.ko", SIGNED_DIR)
    return {name: PREBUILT_DIR / (name + ".ko") for name in fresh}


SIGNED_DIR = PREBUILT_DIR.parent / "signed"


def make_signed_variants(unsigned: Path, out_dir: Path) -> dict[str, Path]:
    """``pm_hello`` signed with a throwaway RSA key made now (its private half
    is never written), the same module with one payload byte changed after
    signing, and the certificate that verifies the first."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from pymod.elf.signing import sign_module

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pymod samples signing key")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=36500))
            .sign(key, hashes.SHA256()))
    signed = sign_module(unsigned.read_bytes(), key, cert, "sha256")
    tampered = bytearray(signed)
    tampered[len(signed) // 3] ^= 0x01            # inside the signed ELF payload
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"pm_hello_signed": out_dir / "pm_hello_signed.ko",
             "pm_hello_tampered": out_dir / "pm_hello_tampered.ko",
             "cert": out_dir / "signing_cert.der"}
    files["pm_hello_signed"].write_bytes(signed)
    files["pm_hello_tampered"].write_bytes(bytes(tampered))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.build_samples",
                                     description="Build pymod's sample kernel modules with gcc.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="build every sample into this folder")
    group.add_argument("--update", action="store_true",
                       help="rewrite the prebuilt copies shipped in %s" % PREBUILT_DIR)
    args = parser.parse_args(argv)
    try:
        built = update_prebuilt() if args.update else build_all(args.out)
    except SampleBuildError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    for name, path in built.items():
        print("%-20s %6d bytes  %s" % (name, path.stat().st_size, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())

