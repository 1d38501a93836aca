"""Every probability and range of the synthetic-data generator, one frozen config per modality.

Numbers printed in the r_em paper (Lobato et al. 2023, "Data generation", "TEM noise model", "S(T)EM noise
model", "Post-processing distortions") are the defaults and cite their equation or section. Where the paper gives
no number (most read-out noise amplitudes, the fast-scan PSF parameters, per-distortion probabilities) the value is
our choice, marked ``[choice]`` with the reasoning; change them here and nowhere else.

Ranges are ``(low, high)`` tuples, drawn uniformly unless the field says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

MODALITIES = ("hrstem", "lrstem", "hrtem", "lrtem", "hrsem", "lrsem")


def _check(obj) -> None:
    """Validate every field: probabilities in [0, 1], ranges ordered."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name.endswith("probability") and not (0.0 <= value <= 1.0):
            raise ValueError(f"{type(obj).__name__}.{f.name} must be in [0, 1]; received {value}.")
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            if value[0] > value[1]:
                raise ValueError(f"{type(obj).__name__}.{f.name} must be (low, high) with low <= high; "
                                 f"received {value}.")


@dataclass(frozen=True)
class ImagingConfig:
    """Undistorted-image generation ("Specimen generation" and "Undistorted data generation")."""

    resolution: str = "high"  # "high" (atomic, Eq. 16-22) or "low" (particles, grains, ...)
    pixel_size: tuple = (0.025, 0.90)  # Angstrom, paper section "Specimen generation"
    specimen_probabilities: tuple = (0.6, 0.3, 0.1)  # crystalline, amorphous, points [choice: paper gives none]
    max_species: int = 16  # "up to 16 unique atomic types", Z in [1, 103]
    lattice_parameter: tuple = (3.1, 25.0)  # Angstrom
    lattice_angle: tuple = (45.0, 120.0)  # degrees
    min_distance_crystal: tuple = (0.95, 7.0)  # Angstrom
    min_distance_amorphous: tuple = (0.95, 1.6)  # Angstrom
    density_amorphous: tuple = (2.0, 7.0)  # g/cm^3
    min_distance_points: tuple = (1.0, 20.0)  # pixel sizes
    zone_axis_probability: float = 0.75
    mistilt_std_deg: float = 5.0
    wedge_probability: float = 0.75
    wedge_angle: tuple = (5.0, 45.0)  # degrees
    shape_probability: float = 0.5
    shape_keep_probability: float = 0.5
    polygon_vertices: tuple = (3, 15)
    polyhedron_vertices: tuple = (4, 20)
    shape_radius: tuple = (0.01, 0.5)  # fraction of max(box)
    defect_probability: float = 0.8
    defect_fraction: float = 0.25
    defect_move_probability: float = 0.5
    defect_unmoved: str = "keep"  # selected atoms that are not moved: "keep" (paper: the text only moves them) or
    # "remove" (vacancies) [choice beyond the paper; nothing measured for it, so the paper's setting is the default]
    support_probability: float = 0.95
    support_thickness: tuple = (10.0, 300.0)  # Angstrom (1-30 nm)
    support_composition: str = "light"  # "paper": the support is made like the specimen (Z in [1, 103], rendered
    # like any atom); "light": a light film, the three fields below [choice beyond the paper, measured in
    # docs/synth.md "Support film": with "paper" the film carries a median 79 % of the clean image's variance and
    # over half of it in 72 % of images; "light": median 0 %]
    support_atomic_number: tuple = (1, 14)  # "light" film Z: C, N, O, Si films
    support_lighter_than_specimen: bool = True  # "light": Z <= lightest specimen Z, so Eq. 22 holds across layers
    support_z_exponent: tuple = (1.0, 2.0)  # "light": support atoms weighted (Z_support / Z_specimen)^gamma, gamma
    # from the Z^gamma law behind Eq. 22 (paper ref. 71)
    thickness: tuple = (5.0, 150.0)  # specimen thickness in Angstrom [choice: paper uses n_z = max(n_x, n_y) pixels]
    max_atoms: int = 30000  # cap on atoms in the extended box, None = no cap (paper: none) [choice beyond the paper,
    # measured in docs/synth.md "Atom cap": uncapped elements took up to 33 CPU s (1.2 million atoms), capped 0.2]
    profile_order: tuple = (4.0, 16.0)  # Butterworth n, Eq. 17
    profile_alpha: tuple = (0.75, 1.25)  # Eq. 18
    profile_height: tuple = (0.5, 1.0)  # h1, h2, h3, Eq. 17 with the ordering of Eq. 22
    inversion_probability: float = 0.5  # Eq. 23
    power_probability: float = 0.5  # Eq. 24
    power_beta: tuple = (0.5, 1.5)  # Eq. 24
    background_plane_probability: float = 0.5  # else Gaussian background
    background_gaussian_width: tuple = (0.2, 0.6)  # fraction of min(n_x, n_y)
    std_over_mean: tuple = (0.01, 0.35)  # Eq. 25
    # low resolution ("Undistorted data generation", last paragraphs)
    soft_particles: tuple = (15, 85)
    soft_particle_aspect: tuple = (0.8, 1.2)
    sharp_particles: tuple = (15, 40)
    sharp_ellipse_probability: float = 0.5  # "polygonal or elliptical with equal probabilities"
    sharp_polygon_vertices: tuple = (3, 5)  # "the number of vertices is randomly chosen in the range [3, 5]"
    grains: tuple = (15, 175)
    grain_border_probability: float = 0.5
    grain_border_factor: tuple = (0.5, 1.5)
    low_resolution_object_probability: float = 0.5  # each of the six object types [choice]

    def __post_init__(self):
        if self.resolution not in ("high", "low"):
            raise ValueError(f"resolution must be 'high' or 'low'; received {self.resolution!r}.")
        if self.support_composition not in ("paper", "light"):
            raise ValueError(f"support_composition must be 'paper' or 'light'; received {self.support_composition!r}.")
        if self.defect_unmoved not in ("keep", "remove"):
            raise ValueError(f"defect_unmoved must be 'keep' or 'remove'; received {self.defect_unmoved!r}.")
        if self.max_atoms is not None and int(self.max_atoms) < 1:
            raise ValueError(f"max_atoms must be a positive integer or None (no cap); received {self.max_atoms!r}.")
        if abs(sum(self.specimen_probabilities) - 1.0) > 1e-6:
            raise ValueError(f"specimen_probabilities must sum to 1; received {self.specimen_probabilities}.")
        _check(self)


@dataclass(frozen=True)
class TEMNoiseConfig:
    """TEM noise model, Eq. 27-40. Amplitudes of read-out terms are in detector counts (electrons)."""

    mtf_probability: float = 1.0  # Eq. 27: the camera PSF is always part of the TEM image
    mtf_a: tuple = (0.0, 1.3)  # Eq. 29 [choice], kept only if MTF_r is positive and decreasing
    mtf_b: tuple = (0.1, 1.5)  # Nyquist units [choice]
    mtf_c: tuple = (0.1, 1.5)  # Nyquist units [choice]
    dose_counts: tuple = (0.5, 750.0)  # mean counts per pixel alpha E{y}, Eq. 30
    dose_exponential_scale: float = 0.5  # exponential on the normalised range, Eq. 30 (see sample_dose)
    dose_mapping: str = "log"  # how the exponential variable maps onto dose_counts [choice, see sample_dose]
    fixed_pattern_probability: float = 0.5  # [choice]
    fixed_pattern_sigma: tuple = (0.0, 0.05)  # Eq. 31 [choice]
    dark_current_probability: float = 0.5  # [choice]
    dark_current_mean: tuple = (0.0, 2.0)  # counts, Eq. 32 [choice]
    dark_current_std: tuple = (0.0, 1.0)  # counts, Eq. 32 [choice]
    hot_pixel_fraction: tuple = (0.0, 1e-3)  # Eq. 32 [choice]
    thermal_probability: float = 0.75  # [choice]
    thermal_sigma: tuple = (0.0, 2.0)  # counts, Eq. 34 [choice]
    flicker_probability: float = 0.5  # [choice]
    flicker_sigma: tuple = (0.0, 1.0)  # counts, Eq. 35 [choice]
    flicker_exponent: float = 1.0  # PSD ~ 1/f^exponent; Eq. 35's text: "1/f noise or pink noise" (the printed
    # N(0, sigma)/f divides the amplitude by f, i.e. 1/f^2 power, which is exponent 2)
    reset_probability: float = 0.5  # [choice]
    reset_sigma: tuple = (0.0, 1.0)  # counts, Eq. 36 [choice]
    black_probability: float = 0.25  # [choice]
    black_count: tuple = (1.0, 20.0)  # Eq. 37 [choice]
    black_steps: tuple = (0, 8)  # random-walk length, Eq. 37 [choice]
    black_level: tuple = (0.0, 0.1)  # residual sensitivity [choice]
    zinger_probability: float = 0.25  # [choice]
    zinger_count: tuple = (1.0, 10.0)  # Eq. 38 [choice]
    zinger_steps: tuple = (0, 8)  # [choice]
    zinger_gain: tuple = (2.0, 8.0)  # [choice]
    clip_probability: float = 0.25  # [choice]
    clip_fraction: tuple = (0.7, 1.0)  # T_u as a fraction of the image maximum, Eq. 39 [choice]
    quantize_probability: float = 0.5  # [choice]
    quantize_gain: tuple = (0.25, 4.0)  # ADC levels per count, Eq. 40 [choice]

    def __post_init__(self):
        _check(self)


@dataclass(frozen=True)
class STEMNoiseConfig:
    """S(T)EM noise model, Eq. 41-55."""

    jitter_probability: float = 0.9  # section "Scanning jitter distortion"
    jitter_xy_probabilities: tuple = (0.25, 0.25, 0.5)  # X only, Y only, both
    jitter_sigma: tuple = (0.0025, 0.8)  # Angstrom, divided by the pixel size
    jitter_phi: tuple = (0.0, 0.7)
    dose_counts: tuple = (0.5, 750.0)  # mean electrons per pixel alpha E{y}, Eq. 45 [choice: TEM range of Eq. 30]
    dose_exponential_scale: float = 0.5
    dose_mapping: str = "log"
    # Eq. 43-44: the PMT noise sigma follows from the mean count and m_c, eta, delta, delta_c^2 (G cancels in electron
    # units, see noise_stem.pmt_noise). The paper gives only "around 100 photons reach the cathode" per electron.
    pmt_photons: tuple = (50.0, 200.0)  # m_c, photons per electron [choice: "around 100", within a factor 2]
    pmt_quantum_efficiency: tuple = (0.1, 0.3)  # eta [choice: bialkali photocathodes, Burle handbook (paper ref. 85)]
    pmt_stage_gain: tuple = (3.0, 6.0)  # delta, secondary emission per dynode [choice: typical dynode gains, ref. 85]
    pmt_photon_variance_ratio: tuple = (1.0, 1.0)  # delta_c^2 / m_c [choice: Poisson photon yield]
    fast_scan_probability: float = 0.75  # [choice]
    fast_scan_alpha: tuple = (0.5, 4.0)  # Lorentzian width, pixels, Eq. 48 [choice]
    fast_scan_beta: tuple = (0.5, 4.0)  # damping length, pixels, Eq. 49 [choice]
    fast_scan_gamma: tuple = (4.0, 40.0)  # oscillation period, pixels, Eq. 49 [choice]
    fast_scan_theta: tuple = (0.3, 1.5707963)  # phase, rad, Eq. 49 [choice: keeps the integral positive]
    fast_scan_taps: int = 32
    row_line_probability: float = 0.25  # [choice]
    row_line_max_count: int = 6  # Eq. 51 [choice]
    row_line_length_fraction: float = 1.0
    row_line_factor: tuple = (0.5, 1.5)  # Eq. 51
    black_probability: float = 0.15  # Eq. 52 [choice]; 0 for SEM (pores look alike)
    black_count: tuple = (1.0, 20.0)
    black_level: tuple = (0.0, 0.1)
    zinger_probability: float = 0.15  # Eq. 53 [choice]
    zinger_count: tuple = (1.0, 10.0)
    zinger_gain: tuple = (2.0, 8.0)
    clip_probability: float = 0.25  # Eq. 54 [choice]
    clip_fraction: tuple = (0.7, 1.0)
    quantize_probability: float = 0.5  # Eq. 55 [choice]
    quantize_gain: tuple = (0.25, 4.0)

    def __post_init__(self):
        if abs(sum(self.jitter_xy_probabilities) - 1.0) > 1e-6:
            raise ValueError(f"jitter_xy_probabilities must sum to 1; received {self.jitter_xy_probabilities}.")
        _check(self)


@dataclass(frozen=True)
class PostprocessConfig:
    """Post-processing distortions (section "Post-processing distortions")."""

    interpolation_probability: float = 0.2  # [choice]
    interpolation_max_rotation: float = math.pi
    interpolation_scale: tuple = (0.8, 1.25)
    interpolation_max_shear: float = 0.2
    blur_probability: float = 0.25  # [choice]
    blur_sigma: tuple = (0.0, 1.0)  # pixels, paper
    annotation_probability: float = 0.1  # [choice]
    crop_probability: float = 0.1  # [choice]
    crop_keep_fraction: float = 0.5  # paper: "such as 50 % of the total image area"

    def __post_init__(self):
        _check(self)


@dataclass(frozen=True)
class ModalityConfig:
    """Everything that defines one modality's (distorted, clean) pairs."""

    name: str
    detector: str  # "tem", "stem" or "sem"
    imaging: ImagingConfig
    tem: TEMNoiseConfig = field(default_factory=TEMNoiseConfig)
    stem: STEMNoiseConfig = field(default_factory=STEMNoiseConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def __post_init__(self):
        if self.detector not in ("tem", "stem", "sem"):
            raise ValueError(f"detector must be 'tem', 'stem' or 'sem'; received {self.detector!r}.")

    def to_json(self) -> str:
        """The config as JSON (saved next to generated data and weights)."""
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ModalityConfig":
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        tup = lambda sub: {k: tuple(v) if isinstance(v, list) else v for k, v in sub.items()}  # noqa: E731
        return cls(name=d["name"], detector=d["detector"], imaging=ImagingConfig(**tup(d["imaging"])),
                   tem=TEMNoiseConfig(**tup(d["tem"])), stem=STEMNoiseConfig(**tup(d["stem"])),
                   postprocess=PostprocessConfig(**tup(d["postprocess"])))


#: Named settings of :func:`modality_config`. ``"default"``: the config's defaults, i.e. the paper's numbers and, for
#: each option beyond the paper, the setting chosen for a measured reason. ``"paper"``: every option beyond the paper
#: set as the text reads (:data:`PAPER_SETTINGS`); the ``[choice]`` values where the paper gives no number stay.
PRESETS = ("default", "paper")
#: The options beyond the paper and their settings that follow the text (section "Specimen generation").
PAPER_SETTINGS = {
    "imaging": {
        "support_composition": "paper",  # "the process described above ... is used for the support layer"
        "max_atoms": None,  # the paper's box has no atom cap
        "defect_unmoved": "keep",  # selected atoms are only "randomly changed with a probability of 0.5"
    },
    "tem": {"flicker_exponent": 1.0},  # Eq. 35: "1/f noise or pink noise"
}


def modality_config(modality: str, preset: str = "default") -> ModalityConfig:
    """The config of ``modality`` (one of :data:`MODALITIES`) under ``preset`` (one of :data:`PRESETS`).

    Parameters
    ----------
    modality : str or ModalityConfig
        A ModalityConfig is returned unchanged (``preset`` is then ignored).
    preset : str
        ``"default"`` or ``"paper"`` (see :data:`PRESETS`).

    Raises
    ------
    ValueError
        For an unknown modality or preset name.
    """
    if isinstance(modality, ModalityConfig):
        return modality
    key = str(modality).lower()
    if key not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}; received {modality!r}.")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}; received {preset!r}.")
    resolution = "high" if key.startswith("hr") else "low"
    detector = key[2:]
    imaging = ImagingConfig(resolution=resolution)
    stem = STEMNoiseConfig(black_probability=0.0) if detector == "sem" else STEMNoiseConfig()
    tem = TEMNoiseConfig()
    if preset == "paper":
        imaging = dataclasses.replace(imaging, **PAPER_SETTINGS["imaging"])
        tem = dataclasses.replace(tem, **PAPER_SETTINGS["tem"])
    return ModalityConfig(name=key, detector=detector, imaging=imaging, tem=tem, stem=stem)
