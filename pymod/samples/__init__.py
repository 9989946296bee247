"""pymod's sample kernel modules: C sources, the gcc builder, prebuilt copies.

Importing this package needs no compiler; only ``devtools.build_samples`` runs gcc.
"""

from __future__ import annotations

from pathlib import Path

from pymod.samples.catalog import BY_NAME, SAMPLES, Sample, sample

__all__ = ["BY_NAME", "SAMPLES", "Sample", "sample", "prebuilt_dir", "prebuilt_path",
           "default_symvers", "signed_path", "signing_cert"]

_HERE = Path(__file__).resolve().parent


def prebuilt_dir() -> Path:
    """The folder of prebuilt sample ``.ko`` files shipped in the package."""
    return _HERE / "prebuilt"


def prebuilt_path(name: str) -> Path:
    """``prebuilt/<name>.ko`` for a sample in the catalog."""
    return prebuilt_dir() / (sample(name).name + ".ko")


def signed_path(name: str) -> Path:
    """``signed/<name>.ko``: ``pm_hello_signed`` (verifies with
    :func:`signing_cert`) or ``pm_hello_tampered`` (a payload byte changed
    after signing).  Signed at build time with a throwaway key that was
    never written down."""
    if name not in ("pm_hello_signed", "pm_hello_tampered"):
        raise KeyError("no signed sample %r" % name)
    return _HERE / "signed" / (name + ".ko")


def signing_cert() -> Path:
    """The certificate of the key the signed samples were signed with (DER)."""
    return _HERE / "signed" / "signing_cert.der"


def default_symvers() -> Path:
    """``Module.symvers`` of the built-in default kernel's vmlinux (the samples' target)."""
    return _HERE / "default.symvers"
