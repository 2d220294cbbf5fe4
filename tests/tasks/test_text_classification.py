"""Text classification end to end with the real MiniLM on a Rotten Tomatoes slice; LoRA; a tiny GPT-2."""
from __future__ import annotations

import csv
import json

import pytest
import torch

import graft
from graft.backbones.text import TextBackbone
from graft.errors import DataError
from graft.tasks.text_classification import TextClassifier


@pytest.fixture
def encoder_calls(monkeypatch):
    calls = {"texts": 0}
    original = TextBackbone.forward_layers

    def counting(self, input_ids, attention_mask, last=1):
        calls["texts"] += input_ids.shape[0]
        return original(self, input_ids, attention_mask, last)

    monkeypatch.setattr(TextBackbone, "forward_layers", counting)
    return calls


def test_feature_extraction_caches_embeddings(rotten_slice, encoder_calls, tmp_path):
    clf = TextClassifier("minilm-l6", "feature-extraction", epochs=30)
    clf.fit(rotten_slice / "train.csv")
    first = encoder_calls["texts"]
    assert first == 160
    report = clf.evaluate(rotten_slice / "test.csv")
    assert report["accuracy"] >= 0.6, report["accuracy"]  # real sentiment signal from 128 reviews
    TextClassifier("minilm-l6", "feature-extraction", epochs=5, head=(32,)).fit(rotten_slice / "train.csv")
    assert encoder_calls["texts"] == first + report["n"]  # second fit: no encoder pass at all
    out = clf.save(tmp_path / "model")
    assert (out / "tokenizer" / "tokenizer.json").is_file() and (out / "backbone_config.json").is_file()
    # feature extraction chose how many hidden layers to pool by validation, and the bundle remembers it
    choice = clf.run_report["pool_layers"]
    assert set(choice["val_accuracy"]) == {"1", "2", "4"}
    assert choice["val_accuracy"][str(choice["chosen"])] == max(choice["val_accuracy"].values())
    assert choice["val_accuracy"][str(choice["chosen"])] == max(r["val_accuracy"] for r in clf.history)
    assert json.loads((out / "config.json").read_text())["backbone"]["pool_layers"] == choice["chosen"]
    loaded = graft.load(out)
    loaded.cache = False
    assert loaded.model.backbone.pool_layers == choice["chosen"]
    texts = ["A moving, beautifully acted film.", "Dull, lifeless and far too long."]
    assert [r["label"] for r in loaded.predict(texts)] == [r["label"] for r in clf.predict(texts)]


def test_lora_adapter_and_head_survive_save_and_load(rotten_slice, tmp_path):
    clf = TextClassifier("minilm-l6", "lora", epochs=2, head_epochs=2, batch_size=16, lora_r=4)
    # validated on its own training texts, the adapter phase surely beats the head phase and is kept
    clf.fit(rotten_slice / "train.csv", val=rotten_slice / "train.csv")
    head_best = max(r["val_accuracy"] for r in clf.history if r["phase"] == "head")
    assert max(r["val_accuracy"] for r in clf.history if r["phase"] == "lora") > head_best
    config = json.loads(clf.save(tmp_path / "lora").joinpath("config.json").read_text())
    assert config["strategy"]["used"] == "lora" and config["strategy"]["lora"]["r"] == 4
    loaded = graft.load(tmp_path / "lora")
    texts = [row["text"] for row in csv.DictReader(open(rotten_slice / "test.csv"))][:20]
    original, restored = clf.logits(texts), loaded.logits(texts)
    assert torch.allclose(original, restored, atol=1e-5)
    pretrained = TextClassifier("minilm-l6").build_backbone("pretrained")
    merged = loaded.model.backbone.model.state_dict()
    changed = [k for k, v in pretrained.model.state_dict().items() if not torch.equal(v, merged[k])]
    assert changed and all("attention" in k for k in changed)  # LoRA touched only attention weights


def test_fine_tune_trains_the_encoder(rotten_slice):
    clf = TextClassifier("minilm-l6", "fine-tune", epochs=2, head_epochs=1, batch_size=16, unfreeze=2)
    before = {k: v.clone() for k, v in clf.build_backbone("pretrained").model.state_dict().items()}
    # validated on its own training texts, the fine-tuned encoder surely beats the head phase and is kept
    clf.fit(rotten_slice / "train.csv", val=rotten_slice / "train.csv")
    after = clf.model.backbone.model.state_dict()
    changed = {k.split(".")[2] for k, v in before.items() if not torch.equal(v, after[k]) and k.startswith("encoder")}
    assert changed == {"4", "5"}  # exactly the last two transformer layers moved
    assert clf.model.backbone.pool_layers == 1  # fine-tuning pools the last layer, the one it trains
    assert torch.equal(before["embeddings.word_embeddings.weight"], after["embeddings.word_embeddings.weight"])


def _toy_gpt2_tokenizer(directory, texts):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=300, special_tokens=["<|endoftext|>"])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                  unk_token="<|endoftext|>")
    assert tokenizer.pad_token is None  # as GPT-2's own
    tokenizer.save_pretrained(directory)
    return len(tokenizer)


def test_tiny_gpt2_classifies_after_fine_tuning(tmp_path):
    good = ["what a great day", "i love this", "great and wonderful", "such a lovely film", "love it, great"]
    bad = ["what a terrible day", "i hate this", "awful and boring", "such a dreadful film", "hate it, awful"]
    data = tmp_path / "toy.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(6):
            writer.writerows([[t, "pos"] for t in good] + [[t, "neg"] for t in bad])
    vocab = _toy_gpt2_tokenizer(tmp_path / "tok", good + bad)
    clf = TextClassifier("gpt2", "fine-tune", weights=None, tokenizer=tmp_path / "tok", epochs=15, head_epochs=1,
                         lr=3e-3, batch_size=8, patience=None,
                         config_overrides=dict(n_layer=2, n_embd=32, n_head=2, vocab_size=vocab, n_positions=64))
    clf.fit(data, val=data)
    assert clf.model.backbone.tokenizer.pad_token == "<|endoftext|>"
    assert clf.evaluate(data)["accuracy"] >= 0.9
    loaded = graft.load(clf.save(tmp_path / "gpt2"))
    assert [r["label"] for r in loaded.predict(["i love this", "i hate this"])] == ["pos", "neg"]


def test_bad_rows_are_reported_by_line(tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text('text,label\n"fine film",fresh\n"too many",fields,here\n"ok",rotten\n')
    with pytest.raises(DataError, match="line 3"):
        TextClassifier("minilm-l6", "feature-extraction").fit(data)


def test_pool_layer_ties_go_to_the_lower_validation_loss():
    """All three at 33.33 %: the one with the lowest validation loss wins, not simply the fewest layers."""
    from graft.tasks.text_classification import choose_pool_layers

    assert choose_pool_layers({1: (1 / 3, -1.10), 2: (1 / 3, -1.05), 4: (1 / 3, -0.98)}) == 4
    assert choose_pool_layers({1: (0.5, -1.0), 2: (0.5, -1.0)}) == 1  # a full tie: fewer layers
    assert choose_pool_layers({1: (0.4, -0.1), 4: (0.6, -2.0)}) == 4  # accuracy first
