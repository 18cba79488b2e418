"""The ``minicnn`` command line (also ``python -m minicnn``)."""
import argparse
import sys


def _info(args):
    from .backends import info

    for key, value in info().items():
        print(f"{key + ':':11s}{value}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="version, backends, OpenMP, threads, BLAS and CUDA")
    p.set_defaults(func=_info)
    args = parser.parse_args(argv)
    sys.exit(args.func(args))
