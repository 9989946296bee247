"""The simulated kernel's message log (what ``dmesg`` would show)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class KernelLog:
    """Append-only list of ``(level, message)``; ``*_once`` keys are remembered."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    _once: set[str] = field(default_factory=set)

    def pr(self, level: str, message: str) -> str:
        self.lines.append((level, message))
        return message

    def pr_err(self, message: str) -> str:
        return self.pr("err", message)

    def pr_warn(self, message: str) -> str:
        return self.pr("warn", message)

    def pr_notice(self, message: str) -> str:
        return self.pr("notice", message)

    def pr_notice_once(self, key: str, message: str) -> None:
        if key not in self._once:
            self._once.add(key)
            self.pr("notice", message)

    def text(self) -> str:
        return "".join(message + "\n" for _, message in self.lines)
