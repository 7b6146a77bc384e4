"""
Stars on real survey images: 2MASS zero points and a Spitzer catalogue
======================================================================

Real FITS files as archives publish them: three 2MASS mosaics of the
Galactic centre (16-bit integers with ``BSCALE``/``BZERO``, the zero point in
the header keyword ``MAGZP``, a sky of hundreds of counts) and a Spitzer
GLIMPSE image in Galactic coordinates with its point-source catalogue.

- 2MASS: stars detected with ``sep`` become a catalogue; :class:`~skastro.
  stamps.FITSCropper` cuts J, H, K stamps and passes the header zero points,
  :class:`~skastro.stamps.Calibrator` puts them on a flux scale and
  :class:`~skastro.sources.SourceFeatures` measures ``MAG_AUTO``, compared
  with aperture magnitudes on the ``MAGZP`` scale;
- Spitzer: how many catalogue sources our detections find within 1 arcsec,
  and stamps cut at the catalogue's own positions (Galactic l, b) through the
  image's WCS.

The first run downloads the files (5 MB) into skastro's cache.
"""

# %%
# 2MASS: detect the stars
# -----------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sep
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from skastro.datasets import fetch_2mass_galactic_center, fetch_glimpse_field
from skastro.sources import SourceFeatures
from skastro.stamps import Calibrator, FITSCropper

tmass = fetch_2mass_galactic_center()
print(tmass.bands, tmass.zero_point, f"{tmass.pixel_scale} arcsec/pixel")

k_image = fits.getdata(tmass.filenames[2]).astype(np.float64)  # scaled to DN
background = sep.Background(k_image, bw=64, bh=64)
k_sub = k_image - background.back()
stars = sep.extract(k_sub, 10.0, err=background.globalrms, minarea=5)
stars = stars[(stars["flag"] == 0)]
stars = stars[
    (stars["x"] > 8) & (stars["x"] < 712) & (stars["y"] > 8) & (stars["y"] < 711)
]
stars = stars[np.argsort(-stars["flux"])][:300]
catalog = pd.DataFrame({"x": stars["x"], "y": stars["y"]})  # 0-based pixels
print(f"{len(catalog)} brightest isolated detections on K")

# %%
# Stamps, zero points, calibration
# --------------------------------
# ``zero_point_keyword="MAGZP"`` makes FITSCropper return a SliceDict with
# each band's zero point (and the WCS pixel scale) beside the stamps;
# Calibrator turns counts into ``10**(5 - 0.4 zp) / ps**2`` flux units, in
# which a star's magnitude is ``12.5 - 5 log10(ps) - 2.5 log10(sum)``.
stamps = FITSCropper(
    tmass.filenames, size=15, zero_point_keyword="MAGZP"
).fit_transform(catalog)
calibrated = Calibrator(
    zero_point="header", pixel_scale=tmass.pixel_scale
).fit_transform(stamps)
calibrated = np.asarray(calibrated)
# SourceFeatures measures the stamps as they are: subtract each stamp's sky
# (the median of its outer frame of pixels) first
frame = np.ones((15, 15), dtype=bool)
frame[2:-2, 2:-2] = False
sky = np.nanmedian(calibrated[..., frame], axis=-1)
features = SourceFeatures(
    bands=tmass.bands,
    pixel_scale=tmass.pixel_scale,
    zero_point=12.5 - 5 * np.log10(tmass.pixel_scale),
    minarea=3,
).set_output(transform="pandas")
table = features.fit_transform(calibrated - sky[..., None, None])

# %%
# Against aperture magnitudes on the MAGZP scale
# ----------------------------------------------
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
for ax, band, image_path, zp in zip(
    axes, tmass.bands, tmass.filenames, tmass.zero_point
):
    image = fits.getdata(image_path).astype(np.float64)
    sub = image - sep.Background(image, bw=64, bh=64).back()
    flux, _, _ = sep.sum_circle(sub, catalog["x"], catalog["y"], 3.0)
    direct = zp - 2.5 * np.log10(flux)
    diff = table[f"mag_auto_{band}"] - direct
    print(
        f"{band}: MAG_AUTO - aperture magnitude, median {np.nanmedian(diff):+.3f} mag"
    )
    ax.plot(direct, diff, ".", ms=3)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel=f'{band}, 15" aperture (MAGZP scale)', title=band)
axes[0].set_ylabel("MAG_AUTO - aperture (mag)")
fig.tight_layout()

# %%
# Spitzer GLIMPSE: detections against the catalogue
# -------------------------------------------------
glimpse = fetch_glimpse_field()
data, header = fits.getdata(glimpse.filename, header=True)
wcs = WCS(header)
clean = np.where(np.isfinite(data), data, 0.0).astype(np.float64)
bkg = sep.Background(clean, bw=64, bh=64)
found = sep.extract(clean - bkg.back(), 5.0, err=bkg.globalrms, minarea=5)
ours = wcs.pixel_to_world(found["x"], found["y"])
listed = SkyCoord(
    l=glimpse.catalog["l"].to_numpy() * u.deg,
    b=glimpse.catalog["b"].to_numpy() * u.deg,
    frame="galactic",
)
x, y = wcs.world_to_pixel(listed)
on_image = (x > 2) & (x < data.shape[1] - 3) & (y > 2) & (y < data.shape[0] - 3)
_, separation, _ = listed[on_image].match_to_catalog_sky(ours)
print(
    f"{len(found)} detections; {np.mean(separation < 1 * u.arcsec):.0%} of the "
    f"{on_image.sum()} catalogue sources on the image matched within 1 arcsec"
)

# %%
# Stamps at the catalogue positions
# ---------------------------------
# ``coords="world"`` reads the positions in the image's own celestial frame:
# here Galactic longitude and latitude (``GLON-CAR``/``GLAT-CAR``), so the
# catalogue's ``l``, ``b`` columns go in as they are. (ICRS ``ra``, ``dec``
# would be read as l, b and land off this image: convert them to the image's
# frame first.)
glimpse_stamps = FITSCropper(
    glimpse.filename, coords="world", size=11, position_columns=("l", "b")
).fit_transform(glimpse.catalog[["l", "b"]])
has_data = np.isfinite(glimpse_stamps).any(axis=(1, 2, 3))
peak = np.array(
    [np.unravel_index(np.nanargmax(s[0]), s[0].shape) for s in glimpse_stamps[has_data]]
)
centred = np.all(np.abs(peak - 5) <= 1, axis=1)
print(f"{centred.mean():.0%} of the stamps peak within 1 pixel of their centre")
fig, ax = plt.subplots(figsize=(4, 4))
ax.imshow(
    np.nanmedian(glimpse_stamps[has_data, 0], axis=0), origin="lower", cmap="gray_r"
)
ax.set_title("median of the stamps at catalogue positions")
plt.show()
