"""ARCHITECTURE.md cannot drift: its module map and the profile facts it states are the code's."""

from __future__ import annotations

import re

import pytest
import yaml

from ecgkit.contract import PROJECT_ROOT

DOC = PROJECT_ROOT / "ARCHITECTURE.md"
PACKAGE = PROJECT_ROOT / "ecgkit"


def module_map(text: str) -> set[str]:
    """The modules named in the '## Module map' table (second column, in backticks)."""
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and line.lstrip().startswith("|"):
            names.update(re.findall(r"`((?:[a-z_]+/)?[a-z_0-9]+\.py)`", cells[1]))
    return names


def package_modules() -> set[str]:
    """Each module's path below ``ecgkit/``: ``cli.py``, ``data/records.py``, ..."""
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
            if p.name not in ("__init__.py", "__main__.py")}


class TestModuleMap:
    def test_every_module_has_an_entry(self):
        missing = sorted(package_modules() - module_map(DOC.read_text()))
        assert not missing, "ARCHITECTURE.md, '## Module map': no entry for " + ", ".join(
            f"ecgkit/{m} (add a row '| <stage> | `{m}` | <its one concept> |')" for m in missing)

    def test_every_entry_is_a_module(self):
        stale = sorted(module_map(DOC.read_text()) - package_modules())
        assert not stale, ("ARCHITECTURE.md, '## Module map' names modules that do not exist: "
                           + ", ".join(f"ecgkit/{m}" for m in stale))

    def test_the_parser_sees_a_new_module_as_missing(self, tmp_path):
        text = DOC.read_text().replace("| | `training/atomic.py` |", "| | `training/gone.py` |")
        names = module_map(text)
        assert "training/atomic.py" not in names and "training/gone.py" in names


PROFILE_FACT = re.compile(r"`params/(\w+)\.yaml`\s*\(`([A-Z_]+):\s*([^`]+)`\)")


class TestProfileFacts:
    def test_facts_are_stated(self):
        assert PROFILE_FACT.findall(DOC.read_text()), "ARCHITECTURE.md states no profile fact"

    @pytest.mark.parametrize("profile, name, value", PROFILE_FACT.findall(DOC.read_text()))
    def test_fact_matches_the_profile(self, profile, name, value):
        path = PROJECT_ROOT / "params" / f"{profile}.yaml"
        data = yaml.safe_load(path.read_text())
        assert name in data, f"ARCHITECTURE.md says {path.name} sets {name}; it does not"
        assert data[name] == yaml.safe_load(value), (
            f"ARCHITECTURE.md says {path.name} has {name}: {value}; the file has {data[name]!r}")
