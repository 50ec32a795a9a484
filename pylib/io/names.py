"""Names that become file names: utterance ids (`<out-dir>/<feature>/<utt>.f4`, `<utt>.wav`), and
the paths built from them.

`name_problem` says what is wrong with a name (None if nothing); `check_name` raises a DataError
naming the file, the line and the id. Every reader of wav.scp, lists, utt2* tables, score and
protocol files applies it, so an id such as `../../corpus/x` or `/abs/x` is refused before anything
is written. `safe_join` builds `<folder>/<name><suffix>` and asserts the result stays in the folder.
"""

import os
import re
import unicodedata
from pathlib import Path

from pylib.errors import DataError

BOM = "\ufeff"
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=,:@%~-]*")  # the usual ids: checked by one match
MAX_NAME_BYTES = 200  # file systems allow 255 bytes; leave room for the suffix and temp-file prefix


def strip_bom(text):
    """`text` without a leading UTF-8 byte-order mark (Windows editors write one)."""
    return text[1:] if text.startswith(BOM) else text


def name_problem(name, subpath=False):
    """Why `name` cannot be a file name (a short phrase), or None when it can.

    subpath=True allows '/' between parts that are each plain names (`x/dup`: the ids score_wavs
    gives files whose stems collide); absolute paths, '..' and empty parts stay refused.
    """
    name = str(name)
    if len(name) <= MAX_NAME_BYTES and _PLAIN.fullmatch(name) and ".." not in name:
        return None
    if subpath and "/" in name and not name.startswith("/"):
        for part in name.split("/"):
            why = name_problem(part)
            if why is not None:
                return f"has a part {part!r} that {why}"
        return None
    if not name:
        return "is empty"
    if "/" in name or "\\" in name:
        return "contains a path separator ('/' or '\\')"
    if ".." in name:
        return "contains '..'"
    if name[0] in "-.":
        return f"starts with {name[0]!r} (a hidden file or a command-line option)"
    for c in name:
        if c == BOM:
            return "contains a byte-order mark (U+FEFF)"
        if c.isspace():
            return f"contains whitespace ({c!r})"
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return f"contains the control or invisible character U+{ord(c):04X}"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None


def check_name(name, where, line=None, what="id", subpath=False):
    """DataError naming `where` (file), `line` and the id if `name` cannot be a file name."""
    why = name_problem(name, subpath)
    if why is None:
        return name
    loc = f"{where}:{line}" if line is not None else str(where)
    raise DataError(
        f"{loc}: {what} {str(name)!r} {why}; ids become file names (<id>.f4, <id>.wav), so they must be "
        f"plain names: letters, digits, '_', '-', '.' (not first), no '/', '\\', '..' or whitespace. "
        f"Rename it in the data preparation (stage 0) and rerun"
    )


def safe_join(folder, name, suffix="", where=None):
    """`folder/<name><suffix>` for a checked plain `name`: the result is a direct child of `folder`.

    (Outputs are written by renaming a temp file over the target, so a symbolic link planted at the
    target is replaced, never written through.) DataError naming `where` (default the folder).
    """
    folder = Path(folder)
    check_name(name, where or folder, what="name")
    path = folder / f"{name}{suffix}"
    if path.parent != folder:  # cannot happen for a checked name; kept as the guarantee it states
        raise DataError(f"{where or folder}: output {path} would land outside {folder}")
    return path


def _file_id(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_not_input(outputs, inputs, what="output"):
    """DataError if any of `outputs` (a path or a list) is (resolves to) one of the `inputs`: an
    entry point never overwrites one of its own inputs, with or without --overwrite."""
    outputs = [outputs] if isinstance(outputs, (str, os.PathLike)) else list(outputs)
    ids = {}
    for src in inputs:
        fid = _file_id(src)
        if fid is not None:
            ids.setdefault(fid, src)
    real_inputs = None
    for out in outputs:
        fid = _file_id(out)
        src = ids.get(fid) if fid is not None else None
        if src is None and fid is None:  # not there yet: compare the resolved names
            if real_inputs is None:
                real_inputs = {os.path.realpath(p): p for p in inputs}
            src = real_inputs.get(os.path.realpath(out))
        if src is not None:
            raise DataError(
                f"{out}: this {what} would overwrite the input {src}; use an output folder or "
                f"file that holds none of the inputs"
            )


def check_out_dir(path, what="--out-dir"):
    """DataError if folder `path` cannot be created because a part of it is a file (not a folder)."""
    path = Path(path)
    for p in [path, *path.parents]:
        if p.exists() and not p.is_dir():
            hint = "" if p == path else f" (a part of {path})"
            raise DataError(
                f"{what} {path}: {p}{hint} is a file, not a folder; remove or rename it, or choose "
                f"another output folder"
            )
        if p.exists():
            break
    return path
