"""Tests for read_alerts on the two real ZTF alert packets in ../shared/realdata/ztf_alerts."""

from __future__ import annotations

import copy
import gzip
import io
import math

import numpy as np
import pytest
from astropy.io import fits

from skastro.datasets import read_alerts
from skastro.lightcurves import FATSFeatures, LightCurveExtractor

fastavro = pytest.importorskip("fastavro")

# the two public packets (ZwickyTransientFacility/ztf-avro-alert): a bright
# variable fainter than its reference (isdiffpos 'f'), and a faint brightening
PACKETS = {
    "ZTF17aaacxxf": "2019_01_10_739260766315010006.avro",
    "ZTF17aaajnnn": "472263571115115000.avro",
}


@pytest.fixture(scope="module")
def alert_dir(realdata):
    return realdata / "ztf_alerts"


@pytest.fixture(scope="module")
def alerts(alert_dir):
    return read_alerts(alert_dir)


def _load(path):
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        return reader.writer_schema, list(reader)


def _write(path, schema, records):
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), records)
    return path


def _gzipped_fits(image):
    buf = io.BytesIO()
    fits.PrimaryHDU(image.astype(">f4")).writeto(buf)
    return gzip.compress(buf.getvalue())


# ---------------------------------------------------------------------------
# layout


def test_sequences_layout(alerts):
    """One sequence per object; keys, shapes and dtypes of make_hits_sequences."""
    X = alerts.sequences
    assert list(alerts.ids) == sorted(PACKETS)
    assert X["stamps"].shape == (2, 1, 63, 63) and X["stamps"].dtype == np.float32
    for key in ("science", "reference", "difference"):
        assert X[key].shape == (2, 1, 63, 63)
        assert np.isfinite(X[key]).all()
    np.testing.assert_array_equal(X["stamps"], X["difference"])
    assert X["mask"].dtype == bool and X["mask"].all()
    for key in ("mjd", "zero_point", "exptime", "sky", "fwhm", "limiting_mag"):
        assert X[key].shape == (2, 1) and np.isfinite(X[key]).all(), key
    cand = alerts.candidates
    np.testing.assert_allclose(X["mjd"][:, 0], cand["jd"] - 2400000.5)
    np.testing.assert_allclose(
        X["zero_point"][:, 0], cand["magzpsci"] - 2.5 * np.log10(cand["exptime"])
    )
    np.testing.assert_allclose(X["fwhm"][:, 0], cand["seeratio"] * cand["fwhm"])
    # the candidate sits at the centre pixel, offset by the fraction of xpos/ypos
    np.testing.assert_allclose(
        X["center"][:, 0, 0], 31 + cand["xpos"] - np.round(cand["xpos"])
    )
    assert list(X["band"][:, 0]) == ["r", "r"]
    assert list(X["isdiffpos"][:, 0]) == [False, True]


def test_difference_cutout_peaks_at_candidate(alerts):
    """The brightest difference pixel is the candidate's (positive for both signs)."""
    D = alerts.sequences["difference"][:, 0]
    for img, (cx, cy) in zip(D, alerts.sequences["center"][:, 0]):
        y, x = np.unravel_index(np.argmax(img[25:38, 25:38]), (13, 13))
        assert abs(x + 25 - cx) <= 1 and abs(y + 25 - cy) <= 1


def test_science_stamps_and_crop(alert_dir):
    """stamps='science' with its sky; stamp_size crops and shifts the centre."""
    full = read_alerts(alert_dir, stamps="science")
    small = read_alerts(alert_dir, stamps="science", stamp_size=21)
    np.testing.assert_array_equal(
        small.sequences["stamps"], full.sequences["science"][..., 21:42, 21:42]
    )
    np.testing.assert_allclose(small.sequences["center"], full.sequences["center"] - 21)
    sky = full.sequences["sky"][:, 0]
    np.testing.assert_allclose(
        sky, np.median(full.sequences["science"][:, 0], axis=(1, 2)), rtol=1e-6
    )


# ---------------------------------------------------------------------------
# photometry against the alert's own


@pytest.mark.parametrize("method", ["optimal", "aperture"])
def test_extractor_agrees_with_magpsf(alerts, method):
    """LightCurveExtractor on the difference cutouts gives magpsf within sigmapsf."""
    lc = LightCurveExtractor(method=method).fit_transform(alerts.sequences)
    cand = alerts.candidates
    diff = lc["mag"][:, 0] - cand["magpsf"].to_numpy()
    assert np.all(np.abs(diff) < cand["sigmapsf"].to_numpy()), diff
    np.testing.assert_allclose(lc["time"][:, 0], alerts.sequences["mjd"][:, 0])


def test_light_curves_for_fats(alerts):
    """Detections of candidate + prv_candidates, one curve per object and band."""
    curves = alerts.light_curves
    assert curves.groupby("id").size().to_dict() == {
        "ZTF17aaacxxf.g": 10,
        "ZTF17aaacxxf.r": 13,
        "ZTF17aaajnnn.r": 1,
    }
    assert curves.groupby("id")["time"].apply(lambda t: t.is_monotonic_increasing).all()
    cand = alerts.candidates.set_index("object_id")
    last = curves[curves["id"] == "ZTF17aaacxxf.r"].iloc[-1]
    assert last["mag"] == pytest.approx(cand.loc["ZTF17aaacxxf", "magpsf"])
    assert last["err"] == pytest.approx(cand.loc["ZTF17aaacxxf", "sigmapsf"])
    assert alerts.upper_limits.shape[0] == 17
    assert (alerts.upper_limits["limiting_mag"] > 17).all()
    table = FATSFeatures(["Amplitude", "Mean"]).fit_transform(
        curves[curves["object_id"] == "ZTF17aaacxxf"]
    )
    assert table.shape == (2, 2) and np.isfinite(table).all()


# ---------------------------------------------------------------------------
# several alerts of one object, truncated cutouts


def test_alerts_of_one_object_form_a_sequence(alert_dir, tmp_path):
    """Two alerts of one object: a 2-epoch sequence in time order, no duplicated history."""
    schema, (rec,) = _load(alert_dir / PACKETS["ZTF17aaajnnn"])
    later = copy.deepcopy(rec)
    later["candid"] += 1
    later["candidate"]["candid"] += 1
    later["candidate"]["jd"] += 1.0
    later["candidate"]["magpsf"] += 0.5
    later["prv_candidates"] = [*rec["prv_candidates"], rec["candidate"]]
    _write(tmp_path / "later.avro", schema, [later])
    _write(tmp_path / "first.avro", schema, [rec, rec])  # a duplicate record too
    both = read_alerts([tmp_path / "later.avro", tmp_path / "first.avro"])
    assert list(both.ids) == ["ZTF17aaajnnn"]
    X = both.sequences
    assert X["stamps"].shape == (1, 2, 63, 63) and X["mask"].all()
    assert X["mjd"][0, 1] - X["mjd"][0, 0] == pytest.approx(1.0)
    assert list(both.candidates["candid"]) == [rec["candid"], rec["candid"] + 1]
    assert (
        len(both.light_curves) == 2
    )  # the history repeated in `later` is counted once
    assert len(both.upper_limits) == 11
    lc = LightCurveExtractor().fit_transform(X)
    assert np.isfinite(lc["mag"]).all()


def test_mixed_lengths_are_padded(alert_dir, tmp_path):
    """Objects with fewer alerts are padded at the end and masked."""
    schema, (rec,) = _load(alert_dir / PACKETS["ZTF17aaajnnn"])
    later = copy.deepcopy(rec)
    later["candid"] += 1
    later["candidate"]["jd"] += 2.0
    _write(tmp_path / "two.avro", schema, [rec, later])
    out = read_alerts([tmp_path / "two.avro", alert_dir / PACKETS["ZTF17aaacxxf"]])
    X = out.sequences
    assert X["mask"].tolist() == [[True, False], [True, True]]
    assert np.isnan(X["mjd"][0, 1]) and np.isnan(X["stamps"][0, 1]).all()
    assert X["band"][0, 1] == ""
    lc = LightCurveExtractor().fit_transform(X)
    assert np.isfinite(lc["mag"][0, 0]) and np.isnan(lc["mag"][0, 1])


def test_truncated_cutout_near_edge(alert_dir, tmp_path):
    """A cutout cut by the image edge is placed on the far side, NaN-padded, centre kept."""
    schema, (rec,) = _load(alert_dir / PACKETS["ZTF17aaajnnn"])
    edge = copy.deepcopy(rec)
    full = read_alerts(alert_dir / PACKETS["ZTF17aaajnnn"]).sequences
    # the candidate 20.3 pixels from the left edge: 11 columns missing on the left
    edge["candidate"]["xpos"] = 20.3
    for key in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        name = {"cutoutScience": "science", "cutoutTemplate": "reference"}.get(
            key, "difference"
        )
        edge[key]["stampData"] = _gzipped_fits(full[name][0, 0][:, 11:])
    out = read_alerts(_write(tmp_path / "edge.avro", schema, [edge])).sequences
    assert np.isnan(out["difference"][0, 0][:, :11]).all()
    np.testing.assert_array_equal(
        out["difference"][0, 0][:, 11:], full["difference"][0, 0][:, 11:]
    )
    assert out["center"][0, 0, 0] == pytest.approx(31.3)
    lc = LightCurveExtractor().fit_transform(out)
    assert np.isfinite(lc["mag"][0, 0])


# ---------------------------------------------------------------------------
# bad input


def test_not_avro(tmp_path):
    """A file that is not Avro: the error names it."""
    path = tmp_path / "notes.avro"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.avro' is not an Avro container file"):
        read_alerts(path)


def test_kafka_wire_format(tmp_path):
    """A schemaless Kafka message (Confluent framing) is recognised and explained."""
    path = tmp_path / "message.avro"
    path.write_bytes(b"\x00\x00\x00\x01\x02" + b"\x10" * 50)
    with pytest.raises(ValueError, match="schemaless Kafka message"):
        read_alerts(path)


def test_avro_but_not_alert(tmp_path):
    """An Avro file of other records: the error names the file and the missing fields."""
    schema = {
        "type": "record",
        "name": "star",
        "fields": [{"name": "ra", "type": "double"}, {"name": "dec", "type": "double"}],
    }
    path = _write(tmp_path / "stars.avro", schema, [{"ra": 1.0, "dec": 2.0}])
    with pytest.raises(
        ValueError, match=r"stars\.avro' is an Avro file but not a ZTF alert"
    ) as info:
        read_alerts(path)
    assert "candidate" in str(info.value) and "cutoutDifference" in str(info.value)


def test_empty_and_corrupt_avro(alert_dir, tmp_path):
    """No records, or truncated bytes: errors naming the file."""
    schema, (rec,) = _load(alert_dir / PACKETS["ZTF17aaajnnn"])
    empty = _write(tmp_path / "empty.avro", schema, [])
    with pytest.raises(ValueError, match=r"empty\.avro' holds no alert"):
        read_alerts(empty)
    raw = (alert_dir / PACKETS["ZTF17aaajnnn"]).read_bytes()
    cut = tmp_path / "cut.avro"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut\.avro' is a corrupt Avro file"):
        read_alerts(cut)


def test_corrupt_cutout(alert_dir, tmp_path):
    """A cutout that is not gzipped FITS: the error names the cutout, alert and file."""
    schema, (rec,) = _load(alert_dir / PACKETS["ZTF17aaajnnn"])
    rec["cutoutDifference"]["stampData"] = gzip.compress(b"not a FITS file")
    path = _write(tmp_path / "bad_cutout.avro", schema, [rec])
    with pytest.raises(
        ValueError, match=r"cutoutDifference of alert \d+ in .*bad_cutout\.avro"
    ):
        read_alerts(path)


def test_missing_paths(tmp_path):
    """A missing file or a folder without .avro files."""
    with pytest.raises(FileNotFoundError, match="nothere.avro"):
        read_alerts(tmp_path / "nothere.avro")
    with pytest.raises(FileNotFoundError, match="holds no .avro file"):
        read_alerts(tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"stamps": "reference"}, "stamps must be"),
        ({"stamp_size": 20}, "odd int"),
        ({"stamp_size": 65}, "odd int"),
    ],
)
def test_bad_parameters(alert_dir, kwargs, match):
    """Bad stamps/stamp_size values are refused with what is allowed."""
    with pytest.raises(ValueError, match=match):
        read_alerts(alert_dir, **kwargs)


def test_alert_without_cutouts(alert_dir, tmp_path):
    """A packet without cutouts still gives its light curve; its epoch is masked."""
    schema, (rec,) = _load(alert_dir / PACKETS["ZTF17aaajnnn"])
    rec["cutoutScience"] = rec["cutoutTemplate"] = rec["cutoutDifference"] = None
    path = _write(tmp_path / "nocut.avro", schema, [rec])
    out = read_alerts([path, alert_dir / PACKETS["ZTF17aaacxxf"]])
    assert out.sequences["mask"].tolist() == [[True], [False]]
    assert "ZTF17aaajnnn.r" in set(out.light_curves["id"])
    assert math.isfinite(out.sequences["mjd"][1, 0])
