"""The one error type for a value that cannot be read, in English and Chinese."""

from __future__ import annotations


class ValueProblem(ValueError):
    """A value that cannot be read; ``str()`` is the English message, ``zh`` the Chinese one.

    Bank staff read the Chinese message, auditors and logs often the English one; carrying both
    from the point where the problem is found keeps them saying the same thing.
    """

    def __init__(self, en: str, zh: str | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh or en
