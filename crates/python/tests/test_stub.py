"""The type stub (python/lrplan/_lrplan.pyi) says what the native module has: the same classes
and members, the same docstrings, and the plan's fields as lrplan.FIELDS lists them.

`LRPLAN_BLESS=1 pytest crates/python/tests/test_stub.py` rewrites the fields block."""

import ast
import inspect
import json
import os
from importlib import resources
from pathlib import Path

import lrplan
from lrplan import _lrplan

STUB = Path(__file__).resolve().parents[1] / "python" / "lrplan" / "_lrplan.pyi"
BEGIN, END = "# fields: begin\n", "# fields: end\n"
# Names the stub defines for typing only.
TYPING_ONLY = {"FieldValue", "PhaseName", "PlanFields", "_PlanAttributes"}


def field_type(f) -> str:
    kind = {"float": "float", "int": "int", "bool": "bool"}.get(f.kind)
    if kind is None:
        kind = f"Literal[{', '.join(json.dumps(c) for c in f.choices)}]"
    return f"Optional[{kind}]" if f.optional else kind


def fields_block() -> str:
    """The stub's text for the fields: keyword types for Plan(...) and typed attributes."""
    lines = [BEGIN, "class PlanFields(TypedDict, total=False):\n"]
    lines += [f"    {f.name}: {field_type(f)}\n" for f in lrplan.FIELDS]
    lines += ["\n", "class _PlanAttributes:\n"]
    for f in lrplan.FIELDS:
        lines += ["    @property\n", f"    def {f.name}(self) -> {field_type(f)}:\n",
                  f'        """{f.doc}"""\n']
    return "".join(lines + [END])


def test_the_fields_block_is_made_from_the_field_table():
    text = STUB.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    if os.environ.get("LRPLAN_BLESS") == "1":
        STUB.write_text(text[:start] + fields_block() + text[end:])
        text = STUB.read_text()
    assert text[start:end] == fields_block(), (
        "the stub's fields differ from lrplan.FIELDS: rerun with LRPLAN_BLESS=1"
    )


def stub_classes() -> dict:
    tree = ast.parse(STUB.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def stub_top_level() -> set:
    names = set()
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets)
    return names


def members(node: ast.ClassDef) -> dict:
    """A stub class's public members (methods, properties, attributes) and their docstrings;
    special methods are left out (the runtime has CPython's generic docstrings for them)."""
    out = {}
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
            out[item.name] = ast.get_docstring(item)
        elif isinstance(item, ast.AnnAssign):
            out[item.target.id] = None
    return out


def test_the_stub_names_what_the_module_has():
    public = {n for n in dir(_lrplan) if not n.startswith("_")} | {"__version__"}
    assert stub_top_level() - TYPING_ONLY == public
    assert set(lrplan.__all__) == public


def test_every_class_has_the_stubs_members_and_docstrings():
    classes = stub_classes()
    for name, node in classes.items():
        if name in TYPING_ONLY:
            continue
        cls = getattr(_lrplan, name)
        assert inspect.cleandoc(cls.__doc__) == ast.get_docstring(node), name
        stubbed = members(node)
        runtime = {n for n in vars(cls) if not n.startswith("_")}
        if issubclass(cls, BaseException):
            runtime = {"violations"}  # set on each instance the module raises
        assert set(stubbed) == runtime, name
        for member, doc in stubbed.items():
            if doc is not None:
                assert inspect.cleandoc(getattr(cls, member).__doc__) == doc, (name, member)


def test_the_installed_package_has_the_stub_and_its_marker():
    package = resources.files("lrplan")
    assert (package / "_lrplan.pyi").read_text() == STUB.read_text()
    assert (package / "py.typed").is_file()
