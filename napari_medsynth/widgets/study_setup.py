"""Create reader study panel: the form version of ``napari-medsynth study create``.

The folder fields start empty and say what to choose (a default folder showed as a bare "root"
where the home folder is /root); the image count says that 0 means all; the outcome is a line of text
under the button, not a "None" box before anything was created.
"""

from pathlib import Path

from magicgui import magic_factory
from magicgui.widgets import Label

#: What the empty folder fields ask for (short: the field is narrow; its label says which folder).
PLACEHOLDER = "choose a folder"


def _init(form) -> None:
    for name in ("real", "synthetic", "parent"):
        form[name].line_edit.native.setPlaceholderText(PLACEHOLDER)
    outcome = Label(name="outcome", value="", gui_only=True)
    outcome.label = ""  # a line under the button, not a field
    outcome.native.setWordWrap(True)
    form.append(outcome)
    form.called.connect(lambda message: setattr(outcome, "value", message))


@magic_factory(
    widget_init=_init,
    call_button="Create study",
    real={"mode": "d", "label": "Real images", "nullable": True},
    synthetic={"mode": "d", "label": "Synthetic images", "nullable": True},
    groups={"label": "Groups", "tooltip": "comma-separated, e.g. control, mutated: subfolders of both folders"},
    n={"label": "Images per group and source (0 = all)", "min": 0, "max": 100000,
       "tooltip": "how many images of each group are drawn from each folder; 0: every image"},
    size={"label": "Display size (px)", "min": 8, "max": 1024},
    tumor_groups={"label": "Groups with tumor", "tooltip": "comma-separated; asks tumor / non-tumor too"},
    confidence={"label": "Ask confidence (1-5)"},
    allow_revise={"label": "Allow revising answers"},
    parent={"mode": "d", "label": "Save in", "nullable": True},
    name={"label": "Study name"},
)
def create_study_widget(real: Path | None = None, synthetic: Path | None = None, groups: str = "", n: int = 0,
                        size: int = 100, tumor_groups: str = "", confidence: bool = False,
                        allow_revise: bool = False, parent: Path | None = None, name: str = "reader_study") -> str:
    """Create the study folder and the answer key beside it; returns what happened, for the form."""
    from ..reader_study.create import create_study

    missing = [label for label, value in (("Real images", real), ("Synthetic images", synthetic), ("Save in", parent))
               if value is None or str(value) in ("", ".")]
    if missing:
        return f"Not created: choose a folder for {', '.join(missing)}."
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
