"""`bakeoff dataset import FILE --name NAME`: store test cases (JSON lines, CSV, YAML) as a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from bakeoff.collector.cli.common import add_target, call_collector, open_store, uses_store
from bakeoff.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(parser))
    importer = actions.add_parser("import", help="import test cases from a file")
    importer.add_argument("file", help="JSON lines, CSV (id,input,expected,tags) or YAML")
    importer.add_argument("--name", required=True, help="the dataset's name")
    importer.add_argument("--replace", action="store_true", help="overwrite a dataset of that name")
    add_target(importer)
    lister = actions.add_parser("list", help="list datasets")
    add_target(lister)


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args)
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file}: no such file")
    from bakeoff.collector.datasets import import_cases, parse_cases

    cases = parse_cases(path.read_bytes(), path.name)
    if uses_store(args):
        store = open_store(args)
        try:
            summary = import_cases(store, args.name, cases, path.stem, replace=args.replace)
        finally:
            store.close()
    else:
        import orjson

        body = {"name": args.name, "rows": cases, "source": path.stem, "replace": args.replace}
        summary = orjson.loads(call_collector(args, "POST", "/v1/datasets/import", body))
    print(f"dataset {summary['dataset']}: {summary['size']} test cases imported from {path.name}")
    return 0


def _list(args: argparse.Namespace) -> int:
    if uses_store(args):
        from bakeoff.collector.datasets import list_datasets

        store = open_store(args)
        try:
            rows = list_datasets(store)
        finally:
            store.close()
    else:
        import orjson

        rows = orjson.loads(call_collector(args, "GET", "/v1/datasets"))["datasets"]
    for row in rows:
        print(f"{row['name']}\t{row['strategy']}\t{row['size']}/{row['population']}\t{row['created']}")
    return 0
