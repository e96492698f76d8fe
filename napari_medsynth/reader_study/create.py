"""Creating a blind study: pick images, anonymize them, write the folder and (elsewhere) the key.

Sources per group and kind. With ``groups=["control", "mutated"]`` and folder sources, the
images are read from ``REAL/control``, ``REAL/mutated``, ``SYNTHETIC/control`` and
``SYNTHETIC/mutated``; without groups, directly from ``REAL`` and ``SYNTHETIC`` (one group named
``all``). In Python a source may also be a mapping ``{group: folder or (N, H, W) array}`` or, for
a single group, an array / list of 2-D arrays straight from a generator.

Blinding measures (each closes a way a reader could learn the answer without looking):

* identical processing and file format for every image, with background, quantisation and
  resampling made equal (:mod:`.stimuli`); a histogram classifier checks what is left
  (:mod:`.leakcheck`: its accuracy is reported, with a warning above 70%);
* ``seed`` decides only *which* images are selected. The shuffle, the ids (random fixed-length
  numbers) and the readers' order key come from a fresh 32-byte secret (:mod:`.private`) that is
  written only beside the key: replaying the creation with guessed seeds recovers nothing from
  the study folder, and neither the ids nor their order say anything about the source;
* files are written in id order and given one common timestamp, so creation order, inode order
  and modification times carry no information either;
* ``study.json`` holds settings only; the key (which id is real, its group, the source file) and
  the secret are written *outside* the study folder (default: ``<study>_key.csv`` and
  ``<study>_key.secret`` next to it), readable by the organizer only (0600), so the folder
  (readable, as an ordinary mkdir makes it) can be handed to readers as is.

The folder is built under a temporary name and renamed into place at the end: an interrupted
creation leaves no half study that could be mistaken for a complete one.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .leakcheck import LeakCheck, histogram_features, leak_check
from .private import (
    PUBLIC_DIR_MODE,
    PUBLIC_FILE_MODE,
    as_secret,
    derive,
    secret_path,
    secret_text,
    write_private_text,
)
from .rng import HashRandom
from .sheets import KeyEntry, write_key
from .stimuli import SourceImage, StimulusError, from_arrays, list_folder, native_description, prepare, write_png
from .study import STIMULI_DIR, STUDY_FILE, StudyError, StudySettings

DEFAULT_GROUP = "all"


@dataclass
class CreatedStudy:
    folder: Path
    key_path: Path
    counts: dict[tuple[str, str], int]  # (group, source) -> number of stimuli
    warnings: list[str] = field(default_factory=list)
    secret_path: Path | None = None  # <key>.secret: with the seed, reproduces the study exactly
    leak: LeakCheck | None = None  # histogram classifier on the stimuli; None: too few to check
    notes: list[str] = field(default_factory=list)  # e.g. label files and duplicate renderings skipped


def default_key_path(study_folder: str | os.PathLike) -> Path:
    folder = Path(study_folder).resolve()
    return folder.parent / f"{folder.name}_key.csv"


def create_study(out: str | os.PathLike, real, synthetic, groups: Sequence[str] | None = None,
                 n: int | None = None, n_real: int | None = None, n_synthetic: int | None = None,
                 size: int = 100, fit: str = "pad", slices: str = "middle",
                 tumor_groups: Sequence[str] | None = None, ask_tumor: bool | None = None,
                 confidence: bool = False, allow_revise: bool = False, seed: int | str | None = None,
                 key_path: str | os.PathLike | None = None, title: str | None = None,
                 secret: bytes | str | None = None) -> CreatedStudy:
    """Build a study folder at ``out``, its answer key at ``key_path`` and the secret beside it.

    ``n`` images per group and source (``n_real`` / ``n_synthetic`` override per source; None
    takes every image). ``tumor_groups`` names groups whose images show a tumor (the others do
    not); giving it turns on the tumor question unless ``ask_tumor`` says otherwise. ``seed``
    makes the selection reproducible; the ids come from ``secret`` (default: a new random one,
    written to ``<key>.secret``), so seed and secret together reproduce the study exactly.
    """
    out = Path(out)
    groups = _checked_groups(groups)
    tumor_groups = set(tumor_groups or ())
    unknown = tumor_groups - set(groups)
    if unknown:
        raise StudyError(f"tumor group(s) {', '.join(sorted(unknown))} are not among the groups {groups}.")
    ask_tumor = bool(tumor_groups) if ask_tumor is None else bool(ask_tumor)
    key_path = Path(key_path) if key_path else default_key_path(out)
    _check_targets(out, key_path)
    secret = as_secret(secret)
    rng = HashRandom(f"study:{secrets.randbits(128) if seed is None else seed}")  # selection only

    chosen: list[SourceImage] = []
    counts: dict[tuple[str, str], int] = {}
    warnings: list[str] = []
    notes: list[str] = []
    for group in groups:
        tumor = (group in tumor_groups) if tumor_groups else None
        by_source = {}
        for source, spec, wanted in (("real", real, n_real if n_real is not None else n),
                                     ("synthetic", synthetic, n_synthetic if n_synthetic is not None else n)):
            candidates = _resolve(spec, source, group, groups, tumor, slices, notes)
            if wanted is not None and wanted > len(candidates):
                raise StudyError(f"group {group!r}: {wanted} {source} images requested, only {len(candidates)} found.")
            picked = rng.sample(candidates, wanted) if wanted is not None else list(candidates)
            if not picked:
                raise StudyError(f"group {group!r}: no {source} images selected.")
            by_source[source] = picked
            counts[(group, source)] = len(picked)
            chosen.extend(picked)
        warnings.extend(_format_warnings(group, by_source))
    if ask_tumor and not tumor_groups:
        warnings.append("the tumor question is asked but no tumor groups were given: tumor answers cannot be scored.")

    names = HashRandom(derive(secret, "stimuli"))  # nothing the readers get comes from the seed
    names.shuffle(chosen)
    ids = _draw_ids(len(chosen), names)
    settings = StudySettings(title=title or out.name, n_stimuli=len(chosen), image_size=int(size),
                             groups=tuple(groups), ask_tumor=ask_tumor,
                             confidence_levels=5 if confidence else 0, allow_revise=bool(allow_revise),
                             order_key=derive(secret, "order").hex())
    private = [key_path, secret_path(key_path)]
    made: list[Path] = []
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        entries, features = _write_folder(tmp, settings, sorted(zip(ids, chosen)), size, fit)
        write_key(key_path, entries)
        made.append(key_path)
        write_private_text(private[1], secret_text(secret, out.name))
        made.append(private[1])
        if out.exists():
            out.rmdir()  # checked empty above
        os.replace(tmp, out)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for path in made:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise StudyError(_write_failure(exc, out)) from exc
        raise
    leak = leak_check(features, [e.source == "synthetic" for e in entries])
    if leak is not None and leak.warning():
        warnings.append(leak.warning())
    return CreatedStudy(out, key_path, counts, warnings, private[1], leak, notes)


def _write_failure(exc: OSError, out: Path) -> str:
    why = "the disk is full (no space left on the device)" if exc.errno in (errno.ENOSPC, getattr(
        errno, "EDQUOT", errno.ENOSPC)) else (exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename else ""
    return f"could not create the study {out}: {why}{where}. Nothing was kept: no study folder, no key."


def _write_folder(folder: Path, settings: StudySettings, items, size: int, fit: str):
    """Stimuli and ``study.json`` into ``folder``; the key entries and each stimulus's histogram features."""
    os.chmod(folder, PUBLIC_DIR_MODE)  # mkdtemp makes it 0700: readers must be able to open it
    stim_dir = folder / STIMULI_DIR
    stim_dir.mkdir()
    os.chmod(stim_dir, PUBLIC_DIR_MODE)
    stamp = int(time.time())
    entries, features = [], []
    for stimulus_id, image in items:  # id order: file creation order says nothing about sources
        try:
            pixels = prepare(image.pixels(), size, fit)
        except StimulusError as exc:
            raise StimulusError(f"{image.origin}: {exc}") from exc
        path = stim_dir / f"{stimulus_id}.png"
        write_png(path, pixels)
        os.chmod(path, PUBLIC_FILE_MODE)
        os.utime(path, (stamp, stamp))
        entries.append(KeyEntry(stimulus_id, image.source, image.tumor, image.group, image.origin))
        features.append(histogram_features(pixels))
    (folder / STUDY_FILE).write_text(settings.to_json(), encoding="utf-8")
    os.chmod(folder / STUDY_FILE, PUBLIC_FILE_MODE)
    for path in (stim_dir, folder / STUDY_FILE, folder):
        os.utime(path, (stamp, stamp))
    return entries, np.array(features)


def _draw_ids(count: int, rng: HashRandom) -> list[str]:
    digits = max(6, len(str(count * 100)))  # sparse: ids cannot be guessed or counted through
    low = 10 ** (digits - 1)
    return [str(v) for v in rng.sample(range(low, 10 ** digits), count)]


def _checked_groups(groups) -> list[str]:
    groups = [str(g).strip() for g in (groups or [DEFAULT_GROUP])]
    for g in groups:
        if not g or any(ch in g for ch in "/\\") or g.startswith("."):
            raise StudyError(f"group name {g!r}: use a plain folder name (no slashes).")
    if len(set(groups)) != len(groups):
        raise StudyError(f"group names repeat: {groups}")
    if len(groups) > 1 and DEFAULT_GROUP in groups:
        raise StudyError(f"the group name {DEFAULT_GROUP!r} is reserved for the whole study; rename that group.")
    return groups


def _check_targets(out: Path, key_path: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StudyError(f"{out} already exists and is not empty; choose a new study folder.")
    try:
        key_path.resolve().relative_to(out.resolve())
    except ValueError:
        pass
    else:
        raise StudyError(f"the answer key {key_path} would be inside the study folder that readers get; "
                         "put it elsewhere.")
    if key_path.exists():
        raise StudyError(f"{key_path} already exists; refusing to overwrite another study's answer key.")
    if secret_path(key_path).exists():
        raise StudyError(f"{secret_path(key_path)} already exists; refusing to overwrite another study's secret.")


def _resolve(spec, source: str, group: str, groups: list[str], tumor, slices, notes) -> list[SourceImage]:
    """Candidates of one source for one group (see the module docstring for the accepted forms)."""
    if isinstance(spec, Mapping):
        if group not in spec:
            raise StudyError(f"no {source} images given for group {group!r}.")
        spec = spec[group]
    elif isinstance(spec, (str, os.PathLike)) and groups != [DEFAULT_GROUP]:
        spec = Path(spec) / group
    if isinstance(spec, (str, os.PathLike)):
        skipped: list[str] = []
        found = list_folder(spec, source, group, tumor, slices, skipped)
        if skipped:
            notes.append(f"{spec}: {len(skipped)} file(s) left out as label maps, masks or second renderings of "
                         f"an image ({', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''}).")
        return found
    if isinstance(spec, (np.ndarray, list, tuple)):
        return from_arrays(spec, source, group, tumor, name=f"{source}/{group}")
    raise StudyError(f"{source} images for group {group!r}: give a folder, an (N, H, W) array or a list of arrays.")


def _format_warnings(group: str, by_source: dict[str, list[SourceImage]]) -> list[str]:
    """Native format differences survive resizing as sharpness or grey-level texture cues."""
    described = {s: sorted({native_description(img) for img in imgs[:50]}) for s, imgs in by_source.items()}
    if described["real"] != described["synthetic"]:
        return [f"group {group!r}: real images are {', '.join(described['real'][:3])} but synthetic images are "
                f"{', '.join(described['synthetic'][:3])}; after resizing they may differ in sharpness or grey-level "
                "texture. For the blindest study give both in the same size and pixel type."]
    return []
