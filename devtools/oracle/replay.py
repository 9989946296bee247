"""The same questions, asked of pymod: each guest boot is replayed on a
fresh :class:`pymod.Kernel` with the same config, keys and enforcement,
case by case, step by step, then the guest's own cleanup unloads.

pymod runs no module code.  A module's init function is module code, so
the replay passes the kernel's own answer in as ``init_result`` (the API's
way of saying what init returned); a step whose verdict then came from init
is counted as *decided by module code*, never as agreement.  Lines the
kernel printed after every loader line of a step that reached init (or an
unload's exit) are the module's own output, set aside the same way.
"""

from __future__ import annotations

import errno as E
from dataclasses import dataclass, field
from typing import Any

from devtools.oracle.targets import Target
from pymod.oracle.model import O_NONBLOCK, O_TRUNC, Answer, Case, Outcome, Step, level_number


@dataclass
class PymodAnswer(Answer):
    """pymod's answer, with what the comparison needs to know about it."""

    reached_init: bool = False            # the verdict depended on the init function
    code_refs: bool = False               # references taken by running code decided it
    undecided: list[str] = field(default_factory=list)   # what module code decides
    stage: str | None = None


def _lines(k: Any, start: int) -> list[tuple[int, str]]:
    out = []
    for level, message in k.log.lines[start:]:
        for text in message.split("\n"):
            out.append((level_number(level), text))
    return out


def _ask(k: Any, step: Step, kernel_errno: int) -> PymodAnswer:
    from pymod import ModuleLoadError, PymodError

    start = len(k.log.lines)
    try:
        if step.op == "delete":
            k.delete_module(step.name, force=bool(step.flags & O_TRUNC))
            return PymodAnswer(0, _lines(k, start))
        assert step.image is not None
        data = step.image.data()
        init = -kernel_errno if kernel_errno else 0
        if step.op == "init":
            mod = k.init_module(data, step.params, init_result=init)
        else:
            mod = k.finit_module(data, step.params, step.flags, init_result=init)
        return PymodAnswer(0, _lines(k, start), reached_init=True,
                           undecided=[str(u) for u in mod.undecided])
    except ModuleLoadError as e:
        return PymodAnswer(e.errno or 0, _lines(k, start), reached_init=e.stage == "init",
                           stage=e.stage)
    except PymodError as e:               # pymod's own argument checks
        return PymodAnswer(e.errno or E.EINVAL, _lines(k, start), stage="pymod-argument")


def _unload(k: Any, name: str, kernel_errno: int) -> PymodAnswer:
    """The guest's cleanup unload.  A LIVE module that the loader left
    without holders or references, which the kernel calls busy, is held by
    references its own running code took (a registered crypto algorithm, a
    device): module code decided, and pymod keeps it loaded as the kernel did."""
    mod = k.module(name)
    if kernel_errno == E.EWOULDBLOCK and mod is not None and mod.refcount == 0 \
            and not mod.holders:
        return PymodAnswer(kernel_errno, [], code_refs=True)
    return _ask(k, Step("delete", name=name, flags=O_NONBLOCK), kernel_errno)


def _resync(k: Any, keep: set[str]) -> None:
    """Unload what pymod holds and the guest does not (a verdict module code
    decided the other way); harness bookkeeping, so it leaves no line and
    no taint behind."""
    if all(m.name in keep for m in k.modules):
        return
    lines, taints = len(k.log.lines), dict(vars(k.taint))
    for mod in reversed(list(k.modules)):          # newest first: users before used
        if mod.name not in keep:
            try:
                k.delete_module(mod.name, force=True)
            except Exception:  # noqa: BLE001 - best effort, as documented
                pass
    del k.log.lines[lines:]
    vars(k.taint).update(taints)


def replay(target: Target, cases: list[Case], kernel_says: dict[int, Outcome],
           boots: list[int], enforce: bool) -> dict[int, list[PymodAnswer]]:
    """pymod's answers, case id -> step answers then cleanup answers."""
    out: dict[int, list[PymodAnswer]] = {}
    ends = [*boots[1:], len(cases)]
    for first, end in zip(boots, ends, strict=True):
        k = target.kernel(enforce)
        for cid in range(first, end):
            said = kernel_says.get(cid)
            if said is None:
                continue
            before = {m.name for m in k.modules}
            answers = []
            for i, step in enumerate(cases[cid].steps[:len(said.steps)]):
                answers.append(_ask(k, step, said.steps[i].errno))
            for name, theirs in said.cleanup:
                answers.append(_unload(k, name, theirs.errno))
            failed = {name for name, a in said.cleanup if a.errno}
            _resync(k, before | failed)
            out[cid] = answers
    return out
