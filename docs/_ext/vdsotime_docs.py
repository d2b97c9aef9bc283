"""What the documentation takes from the installed package at build time, so that it
cannot drift from the code:

- ``vdsotime-help``: the ``--help`` text of the ``vdsotime`` command, or of one of its
  subcommands, from ``vdsotime.cli.build_parser()``;
- ``vdsotime-pytest-options``: the pytest plugin's command-line options, from its
  ``pytest_addoption``;
- records: a record's docstring names its fields, so the per-field properties
  ("Field 0: name") are left out of the API pages, and its signature is its fields (the
  ``__init__`` that ``Record`` writes), not the generic ``__new__(*args, **kwargs)``.
"""

import argparse
import inspect
import os

from docutils import nodes
from docutils.parsers.rst import Directive

HELP_COLUMNS = "88"


def _subcommands(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def command_help(name=None):
    """``vdsotime [NAME] --help``, wrapped at HELP_COLUMNS columns."""
    from vdsotime.cli import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS  # argparse reads it when it formats
    try:
        parser = build_parser()
        if name:
            commands = _subcommands(parser)
            if name not in commands:
                raise ValueError(f"vdsotime has no subcommand {name!r} "
                                 f"(it has {', '.join(commands)})")
            parser = commands[name]
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


class CommandHelp(Directive):
    """``vdsotime-help`` [SUBCOMMAND]: the help text as a literal block."""

    optional_arguments = 1

    def run(self):
        name = self.arguments[0] if self.arguments else None
        try:
            text = command_help(name)
        except ValueError as exc:
            raise self.error(str(exc))
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


class _OptionRecorder:
    """Stands in for pytest's parser: records what pytest_addoption adds."""

    def __init__(self):
        self.options = []

    def getgroup(self, *args, **kwargs):
        return self

    def addoption(self, *names, **settings):
        self.options.append((names, settings))


def pytest_options():
    """[(option strings, metavar, help)] of the vdsotime pytest plugin."""
    from vdsotime import pytest_plugin

    recorder = _OptionRecorder()
    pytest_plugin.pytest_addoption(recorder)
    return [(names, settings.get("metavar"), settings.get("help", "").replace("%%", "%"))
            for names, settings in recorder.options]


class PytestOptions(Directive):
    """``vdsotime-pytest-options``: the plugin's options as a definition list."""

    def run(self):
        listing = nodes.definition_list()
        for names, metavar, text in pytest_options():
            term = ", ".join(f"{name} {metavar}" if metavar else name for name in names)
            item = nodes.definition_list_item()
            item += nodes.term("", "", nodes.literal(term, term))
            item += nodes.definition("", nodes.paragraph(text, text))
            listing += item
        return [listing]


def skip_record_fields(app, what, name, obj, skip, options):
    """Leave out the per-field properties of vdsotime's records."""
    doc = getattr(obj, "__doc__", None) or ""
    if isinstance(obj, property) and doc.startswith("Field "):
        return True
    return None


def record_signature(app, what, name, obj, options, signature, return_annotation):
    """A record's fields as its signature."""
    if what == "class" and isinstance(obj, type) and "_fields" in dir(obj) \
            and "__init__" in vars(obj):
        parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]
        return str(inspect.Signature(parameters)), return_annotation
    return None


def setup(app):
    app.add_directive("vdsotime-help", CommandHelp)
    app.add_directive("vdsotime-pytest-options", PytestOptions)
    app.connect("autodoc-skip-member", skip_record_fields)
    app.connect("autodoc-process-signature", record_signature)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
