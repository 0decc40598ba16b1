"""Tiny random teachers of every supported family, built offline from a config (helpers, not a test module).

WordPiece families (BERT, DistilBERT, ELECTRA, MPNet) get the real bert-base-uncased tokenizer; the others a
tiny byte-level BPE tokenizer trained here, RoBERTa-style (<s> A </s></s> B </s>, pad id 1, no token type
ids), so the non-BERT tokenizer path is exercised too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig

from tests.distill_helpers import minilm_path

WORDPIECE_FAMILIES = {"bert", "distilbert", "electra", "mpnet"}

SENTENCES = (
    ("a gripping , funny and moving film", "1"),
    ("the plot is thin and the acting is worse", "0"),
    ("one of the best films of the year", "1"),
    ("dull , slow and far too long", "0"),
    ("a warm story told with real wit", "1"),
    ("nothing here works , not even the jokes", "0"),
    ("the cast is wonderful", "1"),
    ("i wanted my two hours back", "0"),
)


def sst2_rows(path: Path) -> Path:
    """Eight SST-2-format rows (sentence, label)."""
    path.write_text("sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in SENTENCES))
    return path


def bpe_tokenizer(vocab_size: int = 300):
    """A byte-level BPE tokenizer trained on the rows above (milliseconds), wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([s for s, _ in SENTENCES], trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_input_names=["input_ids", "attention_mask"],
    )


def family_tokenizer(model_type: str):
    return AutoTokenizer.from_pretrained(minilm_path()) if model_type in WORDPIECE_FAMILIES else bpe_tokenizer()


def family_config(model_type: str, vocab_size: int, pad_id: int, layers: int = 2, **extra: Any) -> PretrainedConfig:
    """A tiny config of ``model_type``: hidden 32, 4 heads, ``layers`` layers."""
    common = dict(vocab_size=vocab_size, pad_token_id=pad_id, **extra)
    sizes = dict(hidden_size=32, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=64)
    if model_type == "distilbert":
        return transformers.DistilBertConfig(
            dim=32, n_layers=layers, n_heads=4, hidden_dim=64, max_position_embeddings=64, **common
        )
    if model_type == "deberta-v2":  # v3's layout: relative attention, c2p + p2c, buckets, no absolute positions
        return transformers.DebertaV2Config(
            **sizes,
            **common,
            max_position_embeddings=64,
            relative_attention=True,
            pos_att_type=["p2c", "c2p"],
            position_buckets=16,
            max_relative_positions=-1,
            position_biased_input=False,
            share_att_key=True,
            norm_rel_ebd="layer_norm",
            type_vocab_size=0,
        )
    classes = {
        "bert": transformers.BertConfig,
        "roberta": transformers.RobertaConfig,
        "xlm-roberta": transformers.XLMRobertaConfig,
        "electra": transformers.ElectraConfig,
        "albert": transformers.AlbertConfig,
        "mpnet": transformers.MPNetConfig,
        "deberta": transformers.DebertaConfig,
    }
    if model_type in ("electra", "albert"):  # an embedding narrower than the layers: hidden_states[0] is projected
        extra_sizes: dict[str, Any] = {"embedding_size": 16}
    else:
        extra_sizes = {}
    return classes[model_type](**sizes, **extra_sizes, **common, max_position_embeddings=66)


def family_model(model_type: str, layers: int = 2, seed: int = 0, **extra: Any):
    """(model, tokenizer): a random XForSequenceClassification (2 labels) and its tokenizer."""
    tokenizer = family_tokenizer(model_type)
    torch.manual_seed(seed)
    config = family_config(model_type, len(tokenizer), tokenizer.pad_token_id, layers, num_labels=2, **extra)
    return AutoModelForSequenceClassification.from_config(config).eval(), tokenizer


def make_family_teacher(folder: Path, model_type: str, layers: int = 2) -> Path:
    """A saved SST-2 teacher of ``model_type`` (labels 0/1) with its tokenizer."""
    model, tokenizer = family_model(model_type, layers, id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1})
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
