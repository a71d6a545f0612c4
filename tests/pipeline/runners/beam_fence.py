"""What a module of ours uses of Beam beyond its public API, found with ``ast``
(``test_beam_version.py`` holds every such use to its module's docstring).

Public is what Beam documents for pipeline authors: ``PUBLIC_BEAM``, kept explicit and small.
Everything else is private, and a use of it is any of:

- an import of a name outside ``PUBLIC_BEAM`` (``from M import n`` is ``M.n``; a submodule of a
  public package is public only when listed);
- an attribute chain from an imported Beam name that reaches a ``_``-prefixed name or a module
  outside ``PUBLIC_BEAM`` (``auth._Credentials._credentials`` -> ``...auth._Credentials``);
- a patch of a private name: an assignment to an attribute of a Beam name, or
  ``setattr``/``patch(beam_name, "attr", ...)`` (names bound by ``x = beam_name`` are
  followed);
- a ``"apache_beam.x"`` module name in a string (``startup`` declines modules by name);
- in a class deriving from a private Beam class, a ``self._x``/``super()._x`` that the class
  does not define itself (Beam's state and hooks it relies on).

Each use names the ``word`` the module's "Private Beam APIs" docstring paragraph must contain:
the dotted name (a longer dotted name under it also counts), or ``_x`` for an inherited one.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[3]

# Beam's API for pipeline authors. A submodule of these is private unless listed itself.
PUBLIC_BEAM = frozenset(
    {
        "apache_beam",  # Pipeline, PTransform, DoFn, CombineFn, ParDo, Map, Create, ...
        "apache_beam.coders",
        "apache_beam.io",  # the documented readers and writers
        "apache_beam.io.filesystem",  # CompressionTypes
        "apache_beam.io.filesystems",  # FileSystems
        "apache_beam.metrics",  # Metrics
        "apache_beam.metrics.metric",  # MetricsFilter, MetricResults (a result's metrics())
        "apache_beam.options.pipeline_options",
        "apache_beam.pvalue",
        "apache_beam.runners",  # DirectRunner, DataflowRunner, PipelineRunner, PipelineState
        "apache_beam.runners.runner",  # PipelineRunner, PipelineResult, PipelineState
        "apache_beam.testing.test_pipeline",
        "apache_beam.testing.util",
        "apache_beam.transforms",
        "apache_beam.transforms.window",
        "apache_beam.typehints",
    }
)

# Every Python file of the repository is ours but these. tests/reference/ is the TFDS reference
# harness: it runs in its own virtualenv with its own Beam pin (tests/reference/pins.py), not on
# the Beam we patch. The fence's test names private APIs as data, to check that the scan finds
# them.
NOT_SCANNED = ("tests/reference/", "tests/pipeline/runners/test_beam_version.py")
_SKIPPED_DIRS = frozenset({"__pycache__", "build", "dist", "node_modules"})
SECTION = "Private Beam APIs"
# How Beam's docstrings mark what is not for its users.
INTERNAL = "For internal use only"
_MODULE_NAME = re.compile(r"apache_beam(\.\w+)+")


@dataclass(frozen=True, order=True)
class Use:
    """One use of a private Beam API: where, what, how, and the word that declares it."""

    line: int
    name: str
    how: str
    word: str


def scanned_files() -> list[Path]:
    """Every Python file of ours that mentions ``apache_beam`` (tests/reference/ aside; hidden
    directories, virtualenvs and build output skipped)."""
    files: list[Path] = []
    for root, dirs, names in os.walk(REPO):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in _SKIPPED_DIRS and not d.endswith(".egg-info")
        )
        for name in sorted(names):
            path = Path(root) / name
            rel = path.relative_to(REPO).as_posix()
            if not name.endswith(".py") or rel.startswith(NOT_SCANNED):
                continue
            if "apache_beam" in path.read_text("utf-8", errors="replace"):
                files.append(path)
    return files


@cache
def is_module(name: str) -> bool:
    """Whether ``name`` is an importable module (imports its parent packages to tell)."""
    if name in sys.modules:
        return isinstance(sys.modules[name], ModuleType)
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, AttributeError, ValueError):  # a parent that is not a package
        return False


def module_of(dotted: str) -> str:
    """The longest prefix of ``dotted`` that is a module."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if is_module(".".join(parts[:end])):
            return ".".join(parts[:end])
    return parts[0]


@cache
def is_public(dotted: str) -> bool:
    """Public: no ``_`` name in it, its module is in ``PUBLIC_BEAM``, and Beam does not mark it
    "For internal use only" (as it does ``runners.create_runner``)."""
    if any(_private_word(part) for part in dotted.split(".")):
        return False
    if module_of(dotted) not in PUBLIC_BEAM:
        return False
    try:
        doc = lookup(dotted).__doc__
    except LookupError:
        return True
    return not (isinstance(doc, str) and INTERNAL in doc)


def _private_word(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _first_private(dotted: str) -> str | None:
    """``dotted`` cut after its first ``_`` name, or None if it has none."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if _private_word(part):
            return ".".join(parts[: i + 1])
    return None


class _Scan:
    """The private Beam uses of one module (``uses``)."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.bound: dict[str, str] = {}  # local name -> dotted Beam name
        self.uses: set[Use] = set()
        self._bind_imports()
        self._bind_aliases()
        docstrings = self._docstring_nodes()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                self._attribute(node)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                self._assignment(node)
            elif isinstance(node, ast.Call):
                self._patch_call(node)
            elif isinstance(node, ast.ClassDef):
                self._subclass(node)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and _MODULE_NAME.fullmatch(node.value)
                and not is_public(node.value)
            ):
                self._use(node, node.value, "named in a string")

    def _use(self, node: ast.AST, name: str, how: str, word: str | None = None) -> None:
        self.uses.add(Use(getattr(node, "lineno", 0), name, how, word or name))

    def _bind_imports(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not alias.name.startswith("apache_beam"):
                        continue
                    if not is_public(alias.name):
                        self._use(node, alias.name, "import")
                    if alias.asname:
                        self.bound[alias.asname] = alias.name
                    else:
                        self.bound[alias.name.split(".")[0]] = "apache_beam"
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if not node.module.startswith("apache_beam"):
                    continue
                for alias in node.names:
                    name = f"{node.module}.{alias.name}"
                    if not is_public(name):
                        self._use(node, name, "import")
                    self.bound[alias.asname or alias.name] = name

    def _bind_aliases(self) -> None:
        """``x = beam_name.attr`` binds ``x`` too (``switching = direct_runner.Switching...``)."""
        for node in ast.walk(self.tree):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Attribute)
            ):
                dotted = self.resolve(node.value)
                if dotted is not None:
                    self.bound.setdefault(node.targets[0].id, dotted)

    def _docstring_nodes(self) -> set[int]:
        nodes: set[int] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    nodes.add(id(body[0].value))
        return nodes

    def resolve(self, node: ast.AST) -> str | None:
        """The dotted Beam name an expression like ``te.Flatten`` stands for, if any."""
        if isinstance(node, ast.Name):
            return self.bound.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def _attribute(self, node: ast.Attribute) -> None:
        dotted = self.resolve(node)
        if dotted is None:
            return
        cut = _first_private(dotted)
        if cut is not None:
            self._use(node, cut, "private name")
            return
        # beam.runners.x from a public name: an import of x would have been declared.
        root: ast.AST = node
        while isinstance(root, ast.Attribute):
            root = root.value
        module = module_of(dotted)
        if isinstance(root, ast.Name) and is_public(self.bound[root.id]) and not is_public(module):
            self._use(node, module, "private module")

    def _assignment(self, node: ast.Assign | ast.AugAssign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute):
                dotted = self.resolve(target)
                if dotted is not None and not is_public(dotted):
                    self._use(node, dotted, "patched")

    def _patch_call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name not in ("setattr", "patch") or len(node.args) < 2:
            return
        owner, attr = node.args[0], node.args[1]
        dotted = self.resolve(owner)
        if dotted is None or not isinstance(attr, ast.Constant) or not isinstance(attr.value, str):
            return
        if not is_public(f"{dotted}.{attr.value}"):  # a test swapping beam.Pipeline is not
            self._use(node, f"{dotted}.{attr.value}", "patched")

    def _subclass(self, node: ast.ClassDef) -> None:
        bases = [b for b in (self.resolve(base) for base in node.bases) if b is not None]
        private_bases = [b for b in bases if not is_public(b)]
        if not private_bases:
            return
        own = _own_names(node)
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Attribute) or not _private_word(sub.attr):
                continue
            value = sub.value
            via_self = isinstance(value, ast.Name) and value.id in ("self", "cls")
            via_super = (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "super"
            )
            if (via_self or via_super) and sub.attr not in own:
                self._use(sub, f"{private_bases[0]}.{sub.attr}", "inherited", sub.attr)


def _own_names(node: ast.ClassDef) -> set[str]:
    """What a class defines itself: its methods and class attributes, and what its
    ``__init__`` assigns to ``self``."""
    own: set[str] = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            own.add(item.name)
            if item.name == "__init__":
                for sub in ast.walk(item):
                    if (
                        isinstance(sub, ast.Attribute)
                        and isinstance(sub.ctx, ast.Store)
                        and isinstance(sub.value, ast.Name)
                        and sub.value.id == "self"
                    ):
                        own.add(sub.attr)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            own.update(t.id for t in targets if isinstance(t, ast.Name))
    return own


def private_uses(path: Path) -> list[Use]:
    """Every private Beam use in the module at ``path``, in line order."""
    return sorted(_Scan(ast.parse(path.read_text("utf-8"))).uses)


def declared(path: Path) -> str | None:
    """The module docstring's "Private Beam APIs" paragraph: its first line and what follows up
    to the first blank line that is not followed by a bullet or an indented line; None if the
    docstring has none."""
    doc = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(SECTION)), None)
    if start is None:
        return None
    kept = [lines[start]]
    for i in range(start + 1, len(lines)):
        if not lines[i].strip():
            following = next((line for line in lines[i + 1 :] if line.strip()), "")
            if not following.startswith(("-", " ")):
                break
        kept.append(lines[i])
    return "\n".join(kept)


def names(word: str, paragraph: str) -> bool:
    """Whether ``paragraph`` names ``word`` (as itself, or as the start of a longer dotted
    name)."""
    return re.search(rf"(?<![\w]){re.escape(word)}(?!\w)", paragraph) is not None


def declared_names(paragraph: str) -> list[str]:
    """The dotted ``apache_beam...`` names a paragraph declares."""
    return sorted({m.group(0) for m in _MODULE_NAME.finditer(paragraph)})


def lookup(dotted: str) -> Any:
    """The object a dotted Beam name stands for in the installed Beam.

    Raises:
        LookupError: no such module or attribute.
    """
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for part in parts[end:]:
            if not hasattr(obj, part):
                raise LookupError(f"{'.'.join(parts[:end])} has no {part}")
            obj = getattr(obj, part)
        return obj
    raise LookupError(f"no module {parts[0]}")


def beam_mentions(cls: type, attr: str) -> bool:
    """Whether a Beam class in ``cls``'s MRO has ``attr`` or its source names it (instance
    attributes exist only once ``__init__`` ran)."""
    word = re.compile(rf"\b{re.escape(attr)}\b")
    for klass in cls.__mro__:
        if not klass.__module__.startswith("apache_beam"):
            continue
        if attr in vars(klass):
            return True
        try:
            if word.search(inspect.getsource(klass)):
                return True
        except (OSError, TypeError):
            continue
    return False
