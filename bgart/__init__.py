"""bgart: generative background art for anime production, with measured human credit."""

__version__ = "0.1.0"
