"""The ``vanilla-nn`` command: a thin dispatcher over ``vanilla_nn.commands.<name>``.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int`` and keeps its module-level
imports light (NumPy at most), so ``vanilla-nn --help`` stays fast; heavy or optional packages are
imported inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from vanilla_nn._extras import MissingExtra

# name -> one-line help; the module is vanilla_nn.commands.<name>
COMMANDS: dict[str, str] = {
    "compare": "print an op's output and gradients next to PyTorch's or TensorFlow's",
    "verify": "check every op against PyTorch, TensorFlow and finite differences",
    "train": "train a CNN (LeNet, ResNet-18, MobileNetV2) on the digits or MNIST with NumPy alone; --resume continues",
    "predict": "classify images with weights from train (or PyTorch)",
    "convert": "turn a PyTorch checkpoint (.pth) into .safetensors, reading it with weights_only=True",
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
    parser.command_parsers = {}  # type: ignore[attr-defined]  # name -> subparser, for usage errors
    for name, summary in _available_commands().items():
        module = importlib.import_module(f"vanilla_nn.commands.{name}")
        command_parser = sub.add_parser(name, help=summary, description=module.__doc__)
        module.add_arguments(command_parser)
        parser.command_parsers[name] = command_parser  # type: ignore[attr-defined]
    return parser


def _say(command: str, message: object) -> None:
    """One line on stderr, prefixed with the command."""
    print(f"vanilla-nn {command}: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand under the error policy: no traceback, ever.

    Usage errors exit 2 (argparse's style: the usage line, then ``vanilla-nn CMD: error: ...``); bad data or
    files exit 1 with one line naming the file and the problem; Ctrl-C exits 130 with one line; anything
    unexpected exits 1 with one line (``VANILLA_NN_TRACEBACK=1`` shows the traceback, for debugging).
    """
    from vanilla_nn.commands._common import CommandError, UsageError

    command = "command"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        command = args.command
        module = importlib.import_module(f"vanilla_nn.commands.{command}")
        return int(module.run(args) or 0)
    except UsageError as error:
        parser.command_parsers[command].print_usage(sys.stderr)
        _say(command, f"error: {error}")
        return error.exit_code
    except CommandError as error:
        _say(command, error)
        return error.exit_code
    except MissingExtra as error:  # an optional dependency is missing: one line naming the extra
        _say(command, error)
        return 2
    except SystemExit as exit_:  # a command's own `raise SystemExit("message")`: one line, exit 1
        if isinstance(exit_.code, str):
            print(" ".join(exit_.code.split()), file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        _say(command, "interrupted (Ctrl-C)")
        return 130
    except MemoryError:
        _say(command, "out of memory; try smaller sizes")
        return 1
    except BrokenPipeError:  # e.g. `vanilla-nn compare ... | head`: stop quietly
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 1
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        _say(command, f"{where}{error.strerror or error}")
        return 1
    except Exception as error:
        if os.environ.get("VANILLA_NN_TRACEBACK"):
            raise
        _say(command, f"unexpected error {type(error).__name__}: {error} (please report it; "
                      f"VANILLA_NN_TRACEBACK=1 shows where)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
