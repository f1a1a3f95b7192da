"""Where the offline NLP resources live, and the one-line error when they are missing."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ftpipe import ROOT
from ftpipe.infra.errors import PipelineError

SETUP_COMMAND = "make nlp-resources"
DEFAULT_NLTK_DATA = ROOT / ".nlp_data" / "nltk_data"  # built by scripts/setup_nlp_resources.sh


def missing(what: str) -> PipelineError:
    """The error every augmenter raises for an absent resource: what is missing and the command to run."""
    return PipelineError(f"{what}; run `{SETUP_COMMAND}` (scripts/setup_nlp_resources.sh) to install it")


def use_local_nltk_data() -> Path:
    """Point nltk at the repository's `.nlp_data/nltk_data` unless the user chose a folder with NLTK_DATA."""
    os.environ.setdefault("NLTK_DATA", str(DEFAULT_NLTK_DATA))
    first = os.environ["NLTK_DATA"].split(os.pathsep)[0]
    import nltk

    for folder in reversed(os.environ["NLTK_DATA"].split(os.pathsep)):
        if folder not in nltk.data.path:  # nltk reads NLTK_DATA once, at import time
            nltk.data.path.insert(0, folder)
    return Path(first)


def load_wordnet():
    """nltk's WordNet 3.0 reader, or a one-line error naming the set-up command."""
    folder = use_local_nltk_data()
    from nltk.corpus import wordnet

    try:
        version = wordnet.get_version()
    except LookupError:
        raise missing(f"WordNet 3.0 not found under NLTK_DATA ({folder})") from None
    if version != "3.0":
        raise PipelineError(f"WordNet {version} found under NLTK_DATA ({folder}), expected 3.0")
    return wordnet


def require_program(name: str) -> str:
    """Absolute path of an installed program, or a one-line error naming the set-up command."""
    path = shutil.which(name)
    if path is None:
        raise missing(f"program '{name}' not found on PATH")
    return path
