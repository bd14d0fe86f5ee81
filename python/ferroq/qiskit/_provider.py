"""A provider, for code written against ``provider.get_backend(...)``."""

from __future__ import annotations

from typing import Any

from qiskit.providers.exceptions import QiskitBackendNotFoundError

from ferroq.exceptions import FerroqError
from ferroq.qiskit._backend import FerroqSimulator

__all__ = ["FerroqBackendNotFoundError", "FerroqProvider"]


class FerroqBackendNotFoundError(QiskitBackendNotFoundError, FerroqError):
    """No backend of that name: Qiskit's ``QiskitBackendNotFoundError`` (as Aer's
    provider raises) and a :class:`~ferroq.exceptions.FerroqError`."""


class FerroqProvider:
    """Hands out :class:`FerroqSimulator` backends.

    >>> from ferroq.qiskit import FerroqProvider
    >>> [b.name for b in FerroqProvider().backends()]
    ['ferroq_simulator']
    """

    def backends(self, name: str | None = None, **filters: Any) -> list[FerroqSimulator]:
        """Backends matching ``name`` (all when ``None``); ``filters`` are backend options."""
        backend = FerroqSimulator(provider=self, **filters)
        return [backend] if name in (None, backend.name) else []

    def get_backend(self, name: str | None = None, **options: Any) -> FerroqSimulator:
        """The backend called ``name`` (there is one: ``"ferroq_simulator"``)."""
        found = self.backends(name, **options)
        if not found:
            raise FerroqBackendNotFoundError(f"no backend named {name!r}; available: ['ferroq_simulator']")
        return found[0]

    def __repr__(self) -> str:
        return "FerroqProvider()"
