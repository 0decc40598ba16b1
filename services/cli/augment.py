"""`distillery augment`: TinyBERT data augmentation of a TSV/CSV/JSONL file.

Reads and validates the whole input first (a bad file is refused before any model loads), then
augments chunk by chunk with a progress bar on a terminal, and writes the output in the input's
format through a temp file and a rename, so a failure never leaves half a file.
"""

from __future__ import annotations

import argparse
import time

from services.cli.checks import UsageError, check_not_input, check_output_file
from services.cli.command import add_command
from services.cli.deploy_args import fail
from services.cli.params import add_precision_argument, params_from_args
from services.cli.progress_bar import RowProgress
from shared.job_params import AugmentRunParams
from shared.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    d = AugmentRunParams.setting_defaults(s)
    parser = add_command(
        subparsers, "augment", run, "augment a dataset with TinyBERT's masked-LM + GloVe word replacement"
    )
    parser.add_argument("--input", required=True, help="dataset file (.tsv, .csv or .jsonl)")
    parser.add_argument("--output", required=True, help="where to write the augmented dataset (input's format)")
    parser.add_argument("--task", help="GLUE task preset naming the text and label columns (e.g. sst-2, mrpc)")
    parser.add_argument(
        "--text-column", action="append", dest="text_columns", metavar="C", help="text column (once or twice)"
    )
    parser.add_argument("--label-column", help="label column (copied unchanged)")
    parser.add_argument("--format", choices=["tsv", "csv", "jsonl"], help="input format (default: from suffix)")
    parser.add_argument("--mlm-model", help=f"masked LM, folder or hub id ({d['mlm_model']})")
    parser.add_argument("--glove", help=f"GloVe source ({d['glove']}) or .txt/.bin/.kv path")
    parser.add_argument("--n", type=int, help=f"samples per text column (N, {d['n']})")
    parser.add_argument("--k", type=int, help=f"candidates per word (K, {d['k']})")
    parser.add_argument("--p", type=float, help=f"replacement probability (p_t, {d['p']})")
    parser.add_argument("--seed", type=int, help=f"random seed ({d['seed']})")
    parser.add_argument("--batch-size", type=int, help=f"masked copies per forward pass ({d['batch_size']})")
    parser.add_argument("--device", default=s.device, help=f"auto, cpu or cuda[:i] ({s.device})")
    add_precision_argument(parser, s)
    parser.add_argument(
        "--no-pair-input",
        dest="pair_input",
        action="store_false",
        default=None,
        help="MLM input is '[CLS] masked [SEP]' without the original sentence",
    )
    parser.add_argument(
        "--stop-words", help="stop-word file (one per line); '' for none; default: the setting, else a built-in list"
    )


def run(args: argparse.Namespace) -> int:
    """Augment a dataset: each eligible word is replaced with probability P by one of its K masked-LM
    (single-piece words) or GloVe (multi-piece words) candidates, N times per text column."""
    # Validate, augment, write; exit 2 with a one-line message on any user error.
    from shared.dataset_io import DatasetError, atomic_write_text, format_header, format_rows, read_table, resolve_spec
    from shared.tasks import UnknownTaskError

    started = time.perf_counter()
    try:
        check_output_file(args.output)
        check_not_input(args.output, ("--input", args.input), folder=False)
    except UsageError as exc:
        return fail("augment", str(exc))
    try:
        table = read_table(args.input, args.format, task=args.task)
        spec = resolve_spec(
            table,
            task=args.task,
            text_columns=args.text_columns,
            label_column=args.label_column,
            name=args.input,
        )
    except (DatasetError, UnknownTaskError) as exc:
        return fail("augment", str(exc))

    from workers.augment.engine import AugmentParams, get_augmenter
    from workers.augment.mlm import ModelLoadError

    try:
        run_params = params_from_args(AugmentRunParams, args, get_settings())
        augmenter = get_augmenter(AugmentParams.from_run(run_params, args.device))
    except (ModelLoadError, FileNotFoundError, ValueError, OSError) as exc:
        return fail("augment", str(exc))

    with RowProgress(len(table.rows), "augment") as bar:
        rows = augmenter.augment_rows(table, spec, on_progress=bar.update)
    out = table.with_rows(rows)
    try:
        atomic_write_text(args.output, [format_header(out), format_rows(out, rows)])
    except (DatasetError, OSError) as exc:
        return fail("augment", f"cannot write {args.output}: {exc}")

    st = augmenter.stats
    print(
        f"augmented {args.input} -> {args.output}: rows in {st['rows_in']}, rows out {st['rows_out']}, "
        f"words replaced by MLM {st['replaced_mlm']}, by GloVe {st['replaced_glove']}, "
        f"{time.perf_counter() - started:.1f} s; precision {augmenter.precision.precision} "
        f"({augmenter.precision.reason})"
    )
    return 0
