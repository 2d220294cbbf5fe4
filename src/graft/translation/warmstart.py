"""An encoder-decoder warm-started from a pretrained encoder (Rothe et al. 2020, "Leveraging Pre-trained
Checkpoints for Sequence Generation Tasks"): BERT2BERT with shared weights initialised from the same checkpoint.

The encoder is the pretrained model as it is. The decoder is a copy of it run causally, with a cross-attention
layer per block that is new (randomly initialised) and an LM head whose projection is the shared word
embeddings. Encoder and decoder share the word embeddings (one 250k x 384 matrix for multilingual-e5-small,
not two). Built with transformers' ``EncoderDecoderModel``; nothing here is trained.
"""
from __future__ import annotations

import warnings
from pathlib import Path

# transformers' EncoderDecoderModel warns on every training step about a v4.12 change and a tensor copy of its own
# making: nothing a user can act on, so kept out of the progress output
warnings.filterwarnings("ignore", message="Version v4.12.0 introduces a better way", category=FutureWarning)
warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning,
                        module="transformers.models.encoder_decoder")


def warm_started(folder: Path):
    """(EncoderDecoderModel, tokenizer) from the encoder in ``folder`` (a transformers BERT-family folder)."""
    from transformers import AutoTokenizer, EncoderDecoderModel
    from transformers.utils import logging as hf_logging

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized: crossattention...": new by design
    try:
        model = EncoderDecoderModel.from_encoder_decoder_pretrained(str(folder), str(folder),
                                                                    decoder_add_cross_attention=True,
                                                                    decoder_is_decoder=True,
                                                                    encoder_add_pooling_layer=False)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.decoder.set_input_embeddings(model.encoder.get_input_embeddings())
    model.decoder.tie_weights()  # the LM head projects onto the shared embeddings
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    model.config.decoder_start_token_id = start
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    model.config.vocab_size = model.config.decoder.vocab_size
    model.generation_config.decoder_start_token_id = start
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def new_parameter_names(model) -> list[str]:
    """The parameters the pretrained encoder did not have: cross-attention and the LM head's transform."""
    return [n for n, _ in model.named_parameters() if "crossattention" in n or ".cls." in n or n.startswith("cls.")]
