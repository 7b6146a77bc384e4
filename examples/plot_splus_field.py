"""
A simulated S-PLUS field: 12 bands, stars, galaxies and quasars
===============================================================

:func:`skastro.datasets.make_splus_field` writes a 12-band S-PLUS-like field
as FITS files and returns the catalog measured on it. Here we look at the
r-band image, at one galaxy and one quasar in all 12 bands, and at the
colours that separate the classes: the broad-band ``g - r`` / ``u - g``
plane, where quasars at some redshifts fall on the stellar locus, and a
narrow-band colour (``F660 - r``) that picks up emission lines.
"""

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits

from skastro.datasets import SPLUS_BANDS, make_splus_field

catalog, paths = make_splus_field(
    tempfile.mkdtemp(), n_samples=400, field_shape=(512, 512), random_state=0
)
print(catalog["class"].value_counts())
print(catalog[["x", "y", "fwhm", "r", "r_err", "photoflag", "class"]].head())

# %%
# The r-band image (asinh stretch) with the catalog classes marked.
r_image = fits.getdata(paths[SPLUS_BANDS.index("r")])
header = fits.getheader(paths[SPLUS_BANDS.index("r")])
print(f"ZP(r) = {header['ZP']:.2f} mag, seeing {header['FWHM']:.2f} arcsec")
fig, ax = plt.subplots(figsize=(6, 6))
ax.imshow(np.arcsinh(r_image / header["SKYRMS"]), origin="lower", cmap="gray_r")
colours = {"STAR": "tab:blue", "GALAXY": "tab:orange", "QSO": "tab:red"}
for name, group in catalog.groupby("class"):
    ax.scatter(
        group["x"],
        group["y"],
        s=40,
        facecolor="none",
        edgecolor=colours[name],
        label=name,
    )
ax.legend(loc="upper right")
ax.set_title("r band, asinh(image / sky rms)")

# %%
# One bright galaxy and one quasar in the 12 bands (Martinazzo et al. 2021, Figure 4.3).
images = [fits.getdata(p) for p in paths]
fig, axes = plt.subplots(2, 12, figsize=(14, 3))
for row, cls in enumerate(["GALAXY", "QSO"]):
    obj = catalog[(catalog["class"] == cls) & (catalog["photoflag"] == 0)]
    obj = obj[obj["x"].between(16, 495) & obj["y"].between(16, 495)]
    obj = obj.sort_values("r").iloc[0]
    x, y = int(round(obj["x"])), int(round(obj["y"]))
    for b, band in enumerate(SPLUS_BANDS):
        axes[row, b].imshow(
            images[b][y - 16 : y + 16, x - 16 : x + 16], origin="lower", cmap="gray_r"
        )
        axes[row, b].set_axis_off()
        if row == 0:
            axes[row, b].set_title(band, fontsize=8)
    axes[row, 0].text(-40, 16, f"{cls}\nr={obj['r']:.1f}", fontsize=8, va="center")

# %%
# Colours: quasars are blue in u - g, but at z ~ 2.6-3 they cross the stellar
# locus; a narrow band (F660 holds H-alpha at low redshift, other lines at
# higher z) carries information the broad bands lack.
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for name, group in catalog.groupby("class"):
    axes[0].scatter(
        group["g"] - group["r"],
        group["u"] - group["g"],
        s=8,
        color=colours[name],
        label=name,
    )
    axes[1].scatter(
        group["r"], group["F660"] - group["r"], s=8, color=colours[name], label=name
    )
axes[0].set(xlabel="g - r", ylabel="u - g", xlim=(-0.5, 2), ylim=(-0.8, 3.5))
axes[1].set(xlabel="r", ylabel="F660 - r", ylim=(-1.2, 0.8))
axes[0].legend()
plt.tight_layout()
plt.show()
