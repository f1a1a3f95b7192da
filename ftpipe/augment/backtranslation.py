"""Back-translation (source -> pivot -> source) with two backends: Apertium (offline, rule-based) and MarianMT."""
from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from typing import Any

from ftpipe.augment.resources import missing, require_program
from ftpipe.infra.errors import PipelineError

# ISO 639-1 (config) -> Apertium's three-letter codes (mode names such as `eng-spa`)
APERTIUM_CODES = {"en": "eng", "es": "spa", "ca": "cat", "fr": "fra", "pt": "por", "it": "ita", "de": "deu"}
BLANK_LINE = re.compile(r"\n[ \t]*\n")


def one_line(text: str) -> str:
    """Collapse all whitespace (newlines included) so a text is one line with no blank line inside."""
    return " ".join(text.split())


def match_first_letter_case(original: str, translated: str) -> str:
    """Apertium capitalises every sentence start; keep a lower-case first letter lower-case."""
    first = next((c for c in original if c.isalpha()), "")
    if first.islower():
        for i, c in enumerate(translated):
            if c.isalpha():
                return translated[:i] + c.lower() + translated[i + 1:]
    return translated


class ApertiumBackend:
    """`apertium -u MODE` on a whole batch: one text per paragraph, i.e. texts separated by a blank line.

    A plain newline is only a blank to Apertium, whose transfer rules then move words across it (one line's
    words end up in the next). A blank line is a sentence end, so nothing crosses it. Apertium escapes its
    own format characters (`$ ^ [ ] < > @ \\`) in text mode; if a batch still comes back with the wrong
    count, it is halved until the culprit is translated alone, where alignment cannot fail.
    """

    def __init__(self, source: str, pivot: str, timeout_s: float = 600.0):
        self.program = require_program("apertium")
        listed = subprocess.run([self.program, "-l"], capture_output=True, text=True).stdout.split()
        codes = [APERTIUM_CODES.get(lang, lang) for lang in (source, pivot)]
        self.forward, self.backward = f"{codes[0]}-{codes[1]}", f"{codes[1]}-{codes[0]}"
        for mode in (self.forward, self.backward):
            if mode not in listed:
                if pivot in ("es", "ca"):  # the pairs the set-up script installs
                    raise missing(f"Apertium mode '{mode}' (augment.backtranslation.pivots: {pivot}) is not installed")
                raise PipelineError(f"augment.backtranslation.pivots: Apertium has no mode '{mode}' here (installed: "
                                    f"{', '.join(m for m in listed if '-' in m) or 'none'}); use es or ca, or "
                                    "install that pair's Debian package apertium-*")
        self.timeout_s = timeout_s

    def _run(self, mode: str, texts: list[str]) -> list[str]:
        done = subprocess.run([self.program, "-u", mode], input="\n\n".join(texts) + "\n", capture_output=True,
                              text=True, timeout=self.timeout_s)
        if done.returncode != 0:
            raise PipelineError(f"apertium {mode} failed: {one_line(done.stderr)[:300]}")
        parts = [one_line(p) for p in BLANK_LINE.split(done.stdout.strip())]
        if len(parts) == len(texts):
            return parts
        if len(texts) == 1:
            return [one_line(done.stdout)]
        half = len(texts) // 2
        return self._run(mode, texts[:half]) + self._run(mode, texts[half:])

    def translate(self, texts: Sequence[str], forward: bool = True) -> list[str]:
        """Translate in one call; empty texts stay empty and are never sent."""
        lines = [one_line(t) for t in texts]
        todo = [i for i, line in enumerate(lines) if line]
        out = self._run(self.forward if forward else self.backward, [lines[i] for i in todo]) if todo else []
        for i, translated in zip(todo, out):
            lines[i] = translated
        return lines


class MarianBackend:
    """Two MarianMT models (source->pivot, pivot->source) from hub names or local folders, batched, on GPU if any."""

    def __init__(self, forward: str, backward: str, batch_size: int = 32, num_beams: int = 1,
                 max_new_tokens: int = 256, device: str | None = None):
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size, self.num_beams, self.max_new_tokens = batch_size, num_beams, max_new_tokens
        self.models = {True: self._load(forward), False: self._load(backward)}

    def _load(self, name_or_path: str) -> tuple[Any, Any]:
        from transformers import MarianMTModel, MarianTokenizer

        try:
            tokenizer = MarianTokenizer.from_pretrained(name_or_path)
            model = MarianMTModel.from_pretrained(name_or_path).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise PipelineError(f"marian model '{name_or_path}' cannot be loaded ({type(exc).__name__}); offline, "
                                "set augment.backtranslation.marian.forward/backward to local folders") from None
        return tokenizer, model

    def translate(self, texts: Sequence[str], forward: bool = True) -> list[str]:
        import torch

        tokenizer, model = self.models[forward]
        positions = model.config.max_position_embeddings  # neither input nor output may run past them
        lines = [one_line(t) for t in texts]
        # longest first, so each batch pads to similar lengths; the original order is restored below
        todo = sorted((i for i, line in enumerate(lines) if line), key=lambda i: -len(lines[i]))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            batch = tokenizer([lines[i] for i in chunk], return_tensors="pt", padding=True, truncation=True,
                              max_length=positions)
            with torch.inference_mode():
                generated = model.generate(**batch.to(self.device), num_beams=self.num_beams, do_sample=False,
                                           max_new_tokens=min(self.max_new_tokens, positions - 1))
            for i, text in zip(chunk, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                lines[i] = one_line(text)
        return lines


def build_backend(cfg: Any, source: str, pivot: str) -> Any:
    backend = cfg.get("backend", "apertium")
    if backend == "apertium":
        return ApertiumBackend(source, pivot)
    if backend == "marian":
        marian = cfg.get("marian") or {}
        names = {key: str(marian.get(key, default)).format(source=source, pivot=pivot) for key, default in
                 (("forward", "Helsinki-NLP/opus-mt-{source}-{pivot}"),
                  ("backward", "Helsinki-NLP/opus-mt-{pivot}-{source}"))}
        return MarianBackend(names["forward"], names["backward"], batch_size=int(cfg.get("batch_size", 32)),
                             num_beams=int(marian.get("num_beams", 1)), device=marian.get("device"))
    raise PipelineError(f"augment.backtranslation.backend: unknown backend '{backend}' (known: apertium, marian)")


class BacktranslationAugmenter:
    """One paraphrase per pivot language: copy k goes through pivots[k]. Deterministic (no sampling)."""

    name = "backtranslation"

    def __init__(self, cfg: Any):
        self.source = str(cfg.get("source_lang", "en"))
        self.pivots = [str(p) for p in (cfg.get("pivots") or [])]
        if not self.pivots:
            raise PipelineError("augment.backtranslation.pivots: give at least one pivot language, e.g. [es]")
        self.copies = len(self.pivots)
        self.batch_size = int(cfg.get("batch_size", 512))
        self.backends = [build_backend(cfg, self.source, pivot) for pivot in self.pivots]

    def augment(self, texts: Sequence[str], seeds: Sequence[int], copy: int = 0) -> list[str]:
        backend = self.backends[copy]
        back = backend.translate(backend.translate(texts, forward=True), forward=False)
        return [match_first_letter_case(o, b) if one_line(o) else o for o, b in zip(texts, back)]
