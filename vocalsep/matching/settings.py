"""Settings of fingerprint matching: the config.yaml `fingerprint:` section as a frozen dataclass."""

from dataclasses import dataclass, field

from ..fingerprint.metrics import GROUPS
from ..fingerprint.views import N_VIEWS

RENDERS = ("two_source", "wiener", "magnitude")  # the vocal's gain: see render.render_gain
GROUP_NAMES = tuple(GROUPS)


@dataclass(frozen=True)
class MatchSettings:
    """Settings of the optimisation (config.yaml `fingerprint:` section), read by every stage.

    The fields' comments say what each one sets; `from_config` builds them from the section.
    """

    scales: tuple = (2048, 1024, 512)
    hop_fraction: float = 0.5
    mask_n_fft: int = 2048        # as config.yaml: the best matching of 1024/2048/4096 (bench/fingerprint_quality.py)
    mask_hop: int = 512
    profile_iterations: int = 6   # stage 1: fixed-point updates matching view 0's profiles
    iterations: int = 3           # stage 2: Adam steps on the whole fingerprint loss
    learning_rate: float = 0.05   # Adam on the logits, cosine-decayed to 5 % of this
    init_mask: float = 0.5
    log_floor: float = 1e-5
    group_weights: dict = field(default_factory=lambda: {g: 1.0 if g == "profile" else 0.1 for g in GROUP_NAMES})
    loss_views: tuple = tuple(range(N_VIEWS))  # the views in the loss (all 19 by default)
    other_views_weight: float = 0.25  # total weight of the loss views other than view 0 (view 0: 1)
    views_per_step: int = 1      # 0: every loss view each step; k: view 0 + k others drawn per step
    check_views: int = 3         # the losses at both ends: view 0 + k others drawn once (0: view 0 alone)
    monitor_every: int = 0       # also evaluate every loss view (no gradient) every k steps (0: never)
    render: str = "two_source"   # the vocal's gain: see render.render_gain ("two_source", "wiener", "magnitude")
    refine_sizes: tuple = (2048, 4096)  # stage 3 (refine.py; render "two_source" only, else skipped): the STFTs the
    refine_updates: tuple = (1, 2)      # rendered outputs are refitted on, and the updates on each; () turns it off
    polish_steps: int = 3               # stage 4 (polish.py; after stage 3 only): Adam steps on stage 3's gains
    polish_learning_rate: float = 0.45  # through their mean render (0 steps: off), at this first rate (cosine-decayed),
    polish_views: tuple = (0, 1, 7)     # on the fingerprint loss of these views (view 0 weighed as in stage 2)
    chunk_seconds: float = 30.0
    context_seconds: float = 0.5
    seed: int = 0

    @classmethod
    def from_config(cls, section: dict | None) -> "MatchSettings":
        """Settings from the `fingerprint:` config section (missing keys take the defaults).

        Keys that are not fields (the section's other settings) are ignored; lists become
        tuples, and `group_weights` overrides the default weights group by group.

        Args:
            section: the config's `fingerprint:` section, or None for all the defaults.

        Returns:
            The settings.

        Raises:
            ValueError: when `render` is not one of RENDERS, or refine_sizes and refine_updates differ
                in length.
        """
        keys = cls.__dataclass_fields__
        values = {k: v for k, v in (section or {}).items() if k in keys}
        if "scales" in values:
            values["scales"] = tuple(int(s) for s in values["scales"])
        for key in ("refine_sizes", "refine_updates"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key] or ())
        for key in ("loss_views", "polish_views"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        if "group_weights" in values:
            values["group_weights"] = {**cls().group_weights, **values["group_weights"]}
        if values.get("render", "two_source") not in RENDERS:
            raise ValueError(f"fingerprint render must be one of {', '.join(RENDERS)}, not {values['render']!r}")
        settings = cls(**values)
        if len(settings.refine_sizes) != len(settings.refine_updates):
            raise ValueError(f"fingerprint refine_sizes {list(settings.refine_sizes)} and refine_updates "
                             f"{list(settings.refine_updates)} must be as long as each other")
        return settings
