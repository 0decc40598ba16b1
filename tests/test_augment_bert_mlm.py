"""The plain-torch BERT masked LM answers exactly as transformers' BertForMaskedLM, and augmentation built on
it does not import transformers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO_ROOT
from workers.augment.bert_mlm import load_plain_bert
from workers.augment.mlm import MaskedLM

SST2_DEV = REPO_ROOT.parent / "shared" / "data" / "glue" / "SST-2" / "dev.tsv"


def _both(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[MaskedLM, MaskedLM]:
    from shared.settings import get_settings

    plain = MaskedLM(str(folder), device="cpu")
    monkeypatch.setenv("DISTILLERY_MLM_PLAIN_BERT", "false")
    get_settings.cache_clear()
    try:
        reference = MaskedLM(str(folder), device="cpu")
    finally:
        monkeypatch.delenv("DISTILLERY_MLM_PLAIN_BERT")
        get_settings.cache_clear()
    assert (plain.loader, reference.loader) == ("plain", "transformers")
    return plain, reference


def _jobs(mlm: MaskedLM, texts: list[str]) -> list[tuple[list[int], int]]:
    return [(enc.ids, i) for enc in mlm.encode(texts) for i in range(len(enc.ids))]


@pytest.mark.parametrize("which", ["tiny", "rough"])
def test_plain_bert_gives_transformers_answers_bit_for_bit(
    which: str, tiny_mlm_dir: Path, minilm3_mlm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tiny_mlm_dir if which == "tiny" else minilm3_mlm_dir
    plain, reference = _both(folder, monkeypatch)
    assert plain.template == reference.template and plain.words == reference.words
    assert (plain.mask_id, plain.pad_id, plain.max_len, plain.use_types) == (
        reference.mask_id, reference.pad_id, reference.max_len, reference.use_types
    )  # fmt: skip
    texts = [line.split("\t")[0] for line in SST2_DEV.read_text().splitlines()[1:16]]
    jobs = _jobs(plain, texts)
    assert [e.ids for e in plain.encode(texts)] == [e.ids for e in reference.encode(texts)]
    batch = [plain.build_input(ids, pos, True) for ids, pos in jobs[:48]]
    with torch.inference_mode():  # padded batch of mixed lengths: the encoder's states, exactly
        ids, types, attention = plain.pad_batch(batch)  # type: ignore[arg-type]
        ours = plain.base(input_ids=ids, attention_mask=attention, token_type_ids=types)[0]  # type: ignore[misc]
        theirs = reference.base(input_ids=ids, attention_mask=attention, token_type_ids=types)[0]  # type: ignore[misc]
        assert torch.equal(ours, theirs)
        assert torch.equal(plain.head(ours[:, 3]), reference.head(theirs[:, 3]))  # type: ignore[misc]
    assert plain.top_candidates(jobs, k=15, batch_size=32) == reference.top_candidates(jobs, k=15, batch_size=32)
    # bf16 runs the last layer at the mask rows only (other shapes, other roundings): the same words, nearly always
    # (on a third of the jobs: a CPU without native bf16 emulates it at several times fp32's cost)
    some = jobs[::3]
    ours_bf16, theirs_bf16 = (m.top_candidates(some, k=15, batch_size=32, bf16=True) for m in (plain, reference))
    overlap = [len(set(a) & set(b)) / max(1, len(set(a) | set(b))) for a, b in zip(ours_bf16, theirs_bf16)]
    assert sum(overlap) / len(overlap) >= 0.97


def test_the_last_layer_at_the_mask_rows_equals_the_full_pass_there(minilm3_mlm_dir: Path) -> None:
    plain = MaskedLM(str(minilm3_mlm_dir), device="cpu")
    texts = [line.split("\t")[0] for line in SST2_DEV.read_text().splitlines()[1:9]]
    batch = [plain.build_input(ids, pos, True) for ids, pos in _jobs(plain, texts)[:40]]
    ids, types, attention = plain.pad_batch(batch)  # type: ignore[arg-type]
    at = torch.tensor([pos for _, _, pos in batch])  # type: ignore[misc]
    with torch.inference_mode():
        full = plain.base(input_ids=ids, attention_mask=attention, token_type_ids=types)[0]  # type: ignore[misc]
        rows = plain.base(input_ids=ids, attention_mask=attention, token_type_ids=types, at=at)[0]  # type: ignore[misc]
    assert rows.shape == (len(batch), full.shape[-1])
    torch.testing.assert_close(rows, full[torch.arange(len(batch)), at], rtol=1e-5, atol=1e-5)


def test_folders_it_does_not_reproduce_go_to_transformers(tiny_mlm_dir: Path, tmp_path: Path) -> None:
    assert load_plain_bert(str(tiny_mlm_dir)) is not None
    for change in ({"hidden_act": "relu"}, {"position_embedding_type": "relative_key"}, {"model_type": "roberta"}):
        folder = Path(shutil.copytree(tiny_mlm_dir, tmp_path / next(iter(change.values()))))
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **change}))
        assert load_plain_bert(str(folder)) is None
    shutil.copytree(tiny_mlm_dir, tmp_path / "cased")  # config casing vs tokenizer.json's normalizer
    cased = tmp_path / "cased" / "tokenizer_config.json"
    cased.write_text(json.dumps({**json.loads(cased.read_text()), "do_lower_case": False}))
    assert load_plain_bert(str(tmp_path / "cased")) is None
    (tmp_path / "relu" / "model.safetensors").unlink()
    assert load_plain_bert(str(tmp_path / "relu")) is None


def test_augmentation_with_a_bert_mlm_never_imports_transformers(minilm3_mlm_dir: Path) -> None:
    probe = (
        "import sys; from workers.augment.mlm import MaskedLM; "
        f"m = MaskedLM({str(minilm3_mlm_dir)!r}, device='cpu'); "
        "print(m.loader, m.top_candidates([(m.encode(['a fine film'])[0].ids, 1)], k=5, batch_size=1)[0][:1], "
        "any(n == 'transformers' or n.startswith('transformers.') for n in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loader, _, imported = done.stdout.split()[0], done.stdout.split()[1], done.stdout.split()[-1]
    assert (loader, imported) == ("plain", "False")
