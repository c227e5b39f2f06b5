"""bghop: a bimanual generative hand-object prior (BG-HOP) that runs on a laptop CPU."""

__version__ = "0.1.0"
