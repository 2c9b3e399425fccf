"""The one error of the learning side that the command line shows as it is."""

from __future__ import annotations


class LearningInputError(ValueError):
    """The warehouse or the model registry cannot feed the asked-for training, prediction or analysis; the message
    says what to do."""
