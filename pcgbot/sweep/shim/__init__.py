"""Folder put on PYTHONPATH of every run: holds the mode-injection ``sitecustomize``."""

import os

SHIM_DIR = os.path.dirname(os.path.abspath(__file__))
