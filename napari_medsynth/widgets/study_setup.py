"""Create reader study panel: the form version of ``napari-medsynth study create``."""

from pathlib import Path

from magicgui import magic_factory

#: Where the folder choosers start (magicgui needs a default path).
HOME = Path.home()


@magic_factory(
    call_button="Create study",
    result_widget=True,
    real={"mode": "d", "label": "Real images"},
    synthetic={"mode": "d", "label": "Synthetic images"},
    groups={"label": "Groups", "tooltip": "comma-separated, e.g. control, mutated: subfolders of both folders"},
    n={"label": "Images per group and source", "min": 0, "max": 100000, "tooltip": "0 = all"},
    size={"label": "Display size (px)", "min": 8, "max": 1024},
    tumor_groups={"label": "Groups with tumor", "tooltip": "comma-separated; asks tumor / non-tumor too"},
    confidence={"label": "Ask confidence (1-5)"},
    allow_revise={"label": "Allow revising answers"},
    parent={"mode": "d", "label": "Save in"},
    name={"label": "Study name"},
)
def create_study_widget(real: Path = HOME, synthetic: Path = HOME, groups: str = "", n: int = 0,
                        size: int = 100, tumor_groups: str = "", confidence: bool = False,
                        allow_revise: bool = False, parent: Path = HOME, name: str = "reader_study") -> str:
    """Create the study folder and the answer key beside it; returns what happened, for the form."""
    from ..reader_study.create import create_study

    split = lambda text: [x.strip() for x in text.split(",") if x.strip()] or None  # noqa: E731
    try:
        made = create_study(Path(parent) / name, real, synthetic, groups=split(groups), n=n or None, size=size,
                            tumor_groups=split(tumor_groups), confidence=confidence, allow_revise=allow_revise)
    except (ValueError, OSError) as exc:
        return f"Not created: {exc}"
    leak = (f" Leak check: a histogram classifier tells real from synthetic at {made.leak.accuracy:.0%} "
            f"(chance {made.leak.chance:.0%}).") if made.leak else ""
    warn = f" Warning: {' '.join(made.warnings)}" if made.warnings else ""
    return f"Created {made.folder} ({sum(made.counts.values())} images); key: {made.key_path}.{leak}{warn}"
