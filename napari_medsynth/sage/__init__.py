"""SAGE, the Sequential Attribute Generator: tumor crops, shapes (LMS-GAN), textures (TAN), merge.

Qt-free; the widgets and the CLI are thin layers over these modules.
"""
