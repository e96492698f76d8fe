"""Errors and warnings raised for bad input: their messages are shown to the user verbatim."""


class VolumeReadError(ValueError):
    """A file or folder cannot be read as an MR volume; the message says why."""


class VolumeWriteError(ValueError):
    """A layer cannot be written as NIfTI; the message says why."""


class NonFiniteVoxelsWarning(UserWarning):
    """NaN or infinite voxels were found and replaced."""


class NotSkullStrippedWarning(UserWarning):
    """A volume still shows scalp and skull where a skull-stripped brain is assumed."""


class AffineFallbackWarning(UserWarning):
    """A file's sform or qform was unusable (NaN, infinite or singular) and the other one was used."""
