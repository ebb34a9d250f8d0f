"""Experiment configs, one file each; ``*_base.py`` hold settings shared by a paper's configs.

A package so that the configs import their base with ``from . import zhao2019_base``:
``jaxser.config.load`` loads a file of this folder as a module of this package, from any
working directory.
"""
