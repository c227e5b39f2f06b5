"""The BG-HOP models: object autoencoder, text encoder, 3D UNet, the diffusion prior and the category classifier."""

from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.models.checkpoint import CheckpointError
from bghop.models.classifier import CategoryClassifier, ClassifierConfig, load_category_classifier
from bghop.models.prior import DiffusionConfig, InteractionPrior, PriorConfig, widen_to_bimanual
from bghop.models.text import TextEmbedding, TextEncoder, load_text_encoder
from bghop.models.unet import UNet3D, UNetConfig

__all__ = ["AutoencoderConfig", "ObjectAutoencoder", "CheckpointError", "DiffusionConfig", "InteractionPrior",
           "PriorConfig", "widen_to_bimanual", "TextEmbedding", "TextEncoder", "load_text_encoder", "UNet3D",
           "UNetConfig", "CategoryClassifier", "ClassifierConfig", "load_category_classifier"]
