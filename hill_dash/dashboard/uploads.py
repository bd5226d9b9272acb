"""Uploaded data files: decode a dcc.Upload payload, save it, validate it, summarise the data set.

Uploads are untrusted: files over 64 MB are refused before decoding, the bytes go to a fresh
generated name under `<data_dir>/uploads/`, and `hill_dash.engine.data.load_file` validates them.
Errors name the file as the person uploaded it, never the generated name; a file that fails
validation is removed.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from pathlib import Path

from hill_dash.engine.data import BUILTINS, Dataset, load_builtin, load_file
from hill_dash.engine.data_files import FILE_SUFFIXES
from hill_dash.engine.errors import DataError

UPLOAD_LIMIT_BYTES = 64 * 1024 * 1024
UPLOAD_NAME = re.compile(r"^upload-[0-9a-f]{32}\.(npz|csv)$")


def display_name(filename: object) -> str:
    """The uploaded file's base name, as the person knows it (never used as a path)."""
    name = Path(str(filename or "upload")).name.strip()
    return name[:120] or "upload"


def decoded_size(b64: str) -> int:
    """Bytes that a base64 payload decodes to, computed without decoding it."""
    return len(b64) * 3 // 4 - b64[-2:].count("=")


def save_upload(
    contents: str | None,
    filename: str,
    root: Path,
    size: int | None = None,
    limit: int = UPLOAD_LIMIT_BYTES,
    seed: int = 0,
) -> tuple[str, Dataset]:
    """Decode a dcc.Upload payload to `<root>/uploads/` and validate it.

    Returns (token, data set): the token is the generated file name. Raises
    DataError naming the uploaded file; on any error the temp file is removed.
    """
    shown = display_name(filename)
    suffix = Path(shown).suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise DataError(
            f"{shown}: file extension: {suffix or '(none)'!r} is not supported; "
            "expected .npz or .csv"
        )
    header, _, b64 = (contents or "").partition(",")
    n = max(size or 0, decoded_size(b64) if b64 else 0)
    if n > limit:
        raise DataError(
            f"{shown}: file: {n / 2**20:.1f} MB is over the upload limit of "
            f"{limit / 2**20:.0f} MB; use a smaller file or `python -m hill_dash "
            "train --data-file`"
        )
    if not header.endswith(";base64") or not b64:
        raise DataError(
            f"{shown}: file: the upload arrived empty or unreadable; expected a .npz or .csv file"
        )
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"{shown}: file: the upload is not valid base64") from None
    folder = Path(root) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    token = f"upload-{uuid.uuid4().hex}{suffix}"
    path = folder / token
    path.write_bytes(raw)
    try:
        return token, _load_upload(path, shown, seed)
    except DataError:
        path.unlink(missing_ok=True)
        raise


def load_choice(choice: str, upload: dict | None, root: Path, seed: int = 0) -> Dataset:
    """The chosen data set: a built-in by name, or the validated upload of this tab."""
    if choice in BUILTINS:
        return load_builtin(choice, root, seed)
    if choice != "upload" or not upload:
        raise DataError(f"data set {choice!r}: expected {', '.join(BUILTINS)} or an upload")
    token, shown = upload.get("token"), display_name(upload.get("filename"))
    if not isinstance(token, str) or not UPLOAD_NAME.match(token):
        raise DataError(f"{shown}: upload: unknown upload; upload the file again")
    path = Path(root) / "uploads" / token
    if not path.is_file():
        raise DataError(f"{shown}: upload: no longer on the server; upload the file again")
    return _load_upload(path, shown, seed)


def summary_facts(data: Dataset) -> dict:
    """What the Data page shows about a data set: name, kind, shape, classes, split sizes,
    labelled training points per class (unlabelled ones, label -1, counted apart) and the
    scenario's description. Groups and true labels stay hidden: they are what a person is
    meant to find."""
    return {
        "name": data.name,
        "kind": data.kind,
        "sample_shape": list(data.sample_shape),
        "classes": list(data.label_names),
        "train": len(data.y_train),
        "val": len(data.y_val),
        "test": len(data.y_test),
        "unlabelled": data.n_unlabelled,
        "train_per_class": data.class_counts("train").tolist(),
        "description": data.description,
    }


def _load_upload(path: Path, shown: str, seed: int) -> Dataset:
    """Load a saved upload; errors and the data set's name use the name the person knows."""
    try:
        data = load_file(path, seed=seed)
    except DataError as exc:
        raise DataError(str(exc).replace(str(path), shown)) from None
    data.name = _dataset_name(shown)
    return data


def _dataset_name(shown: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(shown).stem).strip("-.")[:40] or "upload"
