"""Load and run any compressed variant from its own directory.

This file ships verbatim as `predict.py` in every variant directory (and so in `deploy/`): it must
import nothing from this project, only numpy, transformers (tokenizer, torch formats) and torch or
onnxruntime. The stage measures variants through the same class that users run.

Usage from the shipped directory:  python predict.py "a great film" "dull and slow"
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

MANIFEST = "variant.json"
LABELS = "labels.json"
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def quantize_torch(model, embeddings: bool):
    """Dynamic int8 for every nn.Linear; optionally 8-bit per-row weights for nn.Embedding too.

    Embeddings hold about half of a MiniLM's bytes and `quantize_dynamic`'s default spec skips them.
    """
    import torch
    from torch.ao.quantization import float_qparams_weight_only_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    spec = {torch.nn.Linear: per_channel_dynamic_qconfig}
    if embeddings:
        spec[torch.nn.Embedding] = float_qparams_weight_only_qconfig
    return quantize_dynamic(model, qconfig_spec=spec, dtype=torch.qint8)


def encode(tokenizer, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """int64 model inputs, padded to the longest text in the batch (not to max_length): short texts stay cheap."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np")
    return {k: np.asarray(enc[k], dtype=np.int64) for k in MODEL_INPUTS if k in enc}


class Predictor:
    """Tokenizer + model of one variant; `predict(texts)` gives labels and probabilities."""

    def __init__(self, directory: str | Path | None = None, threads: int | None = None):
        from transformers import AutoTokenizer

        self.directory = Path(directory or Path(__file__).resolve().parent)
        self.manifest = json.loads((self.directory / MANIFEST).read_text())
        self.labels = json.loads((self.directory / LABELS).read_text())["names"]
        self.max_length = int(self.manifest["max_length"])
        # fitted on validation by train (or compress, for a distilled student): calibrated probabilities
        self.temperature = float(self.manifest.get("temperature", 1.0))
        self.tokenizer = AutoTokenizer.from_pretrained(self.directory)
        self.threads = threads
        fmt = self.manifest["format"]
        loaders = {"hf": self._load_hf, "torch_int8": self._load_torch_int8, "onnx": self._load_onnx}
        if fmt not in loaders:
            raise ValueError(f"{self.directory / MANIFEST}: unknown format '{fmt}'")
        loaders[fmt]()

    def _load_hf(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        if self.threads:
            torch.set_num_threads(self.threads)
        self.model = AutoModelForSequenceClassification.from_pretrained(self.directory).eval()
        self._run = self._run_torch

    def _load_torch_int8(self) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification

        if self.threads:
            torch.set_num_threads(self.threads)
        config = AutoConfig.from_pretrained(self.directory)
        model = AutoModelForSequenceClassification.from_config(config).eval()
        model = quantize_torch(model, embeddings=self.manifest.get("embeddings", False))
        state = torch.load(self.directory / self.manifest["file"], weights_only=True)  # tensors only, no pickle code
        model.load_state_dict(state)
        self.model = model
        self._run = self._run_torch

    def _load_onnx(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        # idle workers sleep instead of spinning, as torch's do under OMP_WAIT_POLICY=PASSIVE:
        # spinning steals the CPU from whatever runs next on a small or shared machine
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.directory / self.manifest["file"]), options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._run = self._run_onnx

    def _run_torch(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            inputs = {k: torch.from_numpy(v) for k, v in encoded.items() if k in MODEL_INPUTS}
            return self.model(**inputs).logits.float().numpy()

    def _run_onnx(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["logits"], {k: encoded[k] for k in self.input_names})[0]

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        return encode(self.tokenizer, texts, self.max_length)

    def logits(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        return self._run(encoded)

    def probabilities(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        """Class probabilities: softmax of the logits divided by the shipped temperature."""
        logits = self.logits(encoded).astype(np.float64) / self.temperature
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, texts: list[str]) -> list[dict]:
        """One `{"label", "probabilities": {name: p}}` per text."""
        probs = self.probabilities(self.encode(texts))
        return [{"label": self.labels[int(row.argmax())],
                 "probabilities": {name: float(p) for name, p in zip(self.labels, row)}} for row in probs]


def main(argv: list[str]) -> int:
    texts = argv or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        print("usage: python predict.py TEXT [TEXT ...]   (or texts on stdin, one per line)", file=sys.stderr)
        return 2
    threads = int(os.environ.get("PREDICT_THREADS", "0")) or None
    for text, result in zip(texts, Predictor(threads=threads).predict(texts)):
        print(json.dumps({"text": text, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
