"""The package's public names exist and stay importable (httpx-style export check)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import coordinator

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(coordinator.__path__, prefix="coordinator.")
    if not m.name.rsplit(".", 1)[-1].startswith("_")
)


def test_top_level_exports():
    assert set(coordinator.__all__) >= {"Coordinator", "Reply", "CoordinatorError", "UsageError"}
    for name in coordinator.__all__:
        assert getattr(coordinator, name) is not None


@pytest.mark.parametrize("module_name", MODULES)
def test_every_module_exports_what_it_declares(module_name):
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", ()):
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"


def test_error_hierarchy_has_one_root():
    from coordinator import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.CoordinatorError)
    assert issubclass(errors.ConfigError, errors.UsageError)
