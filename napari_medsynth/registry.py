"""Every model the training engine can run, in one table.

The engine (:mod:`napari_medsynth.train`) never imports a model package: it looks a recipe name
up here and imports the named module only when that recipe is used. Listing, describing and
ordering recipes (the Train panel, ``napari-medsynth train --help``) therefore costs nothing.

A new model is one package (its networks, its recipe, its inference API) plus one entry below.
Recipes written elsewhere (a notebook, a test) can still register themselves with
:func:`napari_medsynth.train.register_recipe`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Kinds of recipe, in the order they are listed: what users train first comes first.
KINDS = ("generator", "evaluation", "reference")


@dataclass(frozen=True)
class RecipeEntry:
    name: str
    #: ``"module:Class"`` of the :class:`~napari_medsynth.train.Recipe` subclass.
    target: str
    kind: str
    #: One line for the Train panel and ``--help``.
    description: str

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def class_name(self) -> str:
        return self.target.partition(":")[2]


RECIPES: tuple[RecipeEntry, ...] = (
    RecipeEntry("sage-lmsgan", "napari_medsynth.sage.lmsgan_recipe:LMSGANRecipe", "generator",
                "SAGE shape model (LMS-GAN): binary tumor masks from noise, real shapes or interpolations"),
    RecipeEntry("pggan-labels", "napari_medsynth.pggan.recipe:PGGANLabelsRecipe", "generator",
                "PGGAN: 7-class brain label maps (tissues and tumor) from noise, grown progressively"),
    RecipeEntry("pggan-mr", "napari_medsynth.pggan.recipe:PGGANMRRecipe", "generator",
                "PGGAN: MR slices from noise, grown progressively (Han et al.)"),
    RecipeEntry("stylegan2", "napari_medsynth.stylegan2.recipe:StyleGAN2Recipe", "generator",
                "StyleGAN2 + ADA: tumor / non-tumor MR slices with a steerable style space"),
    RecipeEntry("spade", "napari_medsynth.spade.recipe:SpadeRecipe", "generator",
                "SPADE: renders MR from a 7-class label map, with selectable styles"),
    RecipeEntry("sage-dcgan", "napari_medsynth.sage.baseline_recipes:SageDCGANRecipe", "generator",
                "SAGE baseline: DC-GAN on whole textured tumor crops"),
    RecipeEntry("sage-wgangp", "napari_medsynth.sage.baseline_recipes:SageWGANGPRecipe", "generator",
                "SAGE baseline: WGAN-GP on whole textured tumor crops"),
    RecipeEntry("classifier", "napari_medsynth.networks.classifier_recipe:ClassifierRecipe", "evaluation",
                "small ResNet image classifier: the evaluation's domain and downstream classifier"),
    RecipeEntry("c2st", "napari_medsynth.networks.classifier_recipe:C2STRecipe", "evaluation",
                "machine Turing test: a fresh classifier telling real from synthetic images"),
    RecipeEntry("unet2d", "napari_medsynth.networks.unet_recipe:UNetRecipe", "evaluation",
                "2-D U-Net tumor segmenter: the evaluation's downstream Dice experiment"),
    RecipeEntry("dcgan", "napari_medsynth.networks.dcgan_recipe:DCGANRecipe", "reference",
                "reference DC-GAN on crops of any image folder (small; checks the engine and the machine)"),
)

_BY_NAME = {e.name: e for e in RECIPES}


def entry(name: str) -> RecipeEntry | None:
    return _BY_NAME.get(name)
