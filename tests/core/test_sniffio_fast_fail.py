"""The async client's I/O module marks a missing sniffio as not importable (a speed fix:
httpcore tries ``import sniffio`` several times per request), and leaves an installed one
alone."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from fluidstack.core._async import _io


def test_missing_sniffio_fails_at_once_with_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    _io._fail_fast_without_sniffio()
    assert sys.modules["sniffio"] is None
    with pytest.raises(ImportError):
        import sniffio  # noqa: F401


def test_installed_sniffio_is_left_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("sniffio") is None:
        pytest.skip("sniffio is not installed here")
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    _io._fail_fast_without_sniffio()
    import sniffio

    assert sniffio.current_async_library is not None
