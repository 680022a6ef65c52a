"""The ``vanilla-nn`` command: a thin dispatcher over ``vanilla_nn.commands.<name>``.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int`` and keeps its module-level
imports light (NumPy at most), so ``vanilla-nn --help`` stays fast; heavy or optional packages are
imported inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vanilla_nn._extras import MissingExtra

# name -> one-line help; the module is vanilla_nn.commands.<name>
COMMANDS: dict[str, str] = {
    "compare": "print an op's output and gradients next to PyTorch's or TensorFlow's",
    "verify": "check every op against PyTorch, TensorFlow and finite differences",
    "train": "train a LeNet-style CNN on the digits (or MNIST) with NumPy alone",
    "predict": "classify images with weights from train (or PyTorch)",
}


def _available_commands() -> dict[str, str]:
    found = {}
    for name, summary in COMMANDS.items():
        try:
            importlib.import_module(f"vanilla_nn.commands.{name}")
        except ModuleNotFoundError:
            continue
        found[name] = summary
    return found


def _version() -> str:
    from vanilla_nn import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vanilla-nn",
        description="Neural-network operations in plain NumPy, proven against PyTorch and TensorFlow.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in _available_commands().items():
        module = importlib.import_module(f"vanilla_nn.commands.{name}")
        command_parser = sub.add_parser(name, help=summary, description=module.__doc__)
        module.add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(f"vanilla_nn.commands.{args.command}")
    try:
        return int(module.run(args) or 0)
    except MissingExtra as error:  # an optional dependency is missing: one line naming the extra, no traceback
        print(f"vanilla-nn {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
