"""The computations behind each chapter, one module per chapter.

Notebooks call these functions so that the numbers they show are produced by
tested code; the exercises' answers are computed here too.
"""
