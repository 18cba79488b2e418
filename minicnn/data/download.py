"""Downloading data sets (:func:`fetch`) and describing them (:func:`info`).

Used by ``download=True`` and by ``minicnn data fetch NAME`` / ``minicnn data info NAME``; nothing
is ever downloaded implicitly. Each file comes from the official source (mirrors tried in
order) with a progress bar (tqdm, an optional extra; plain lines without it), streams into a
temporary file next to its destination while its MD5 is computed, and is renamed into place only
when the MD5 matches: an interrupted or corrupted download never leaves a half-written file.
CIFAR-10's archive is unpacked the same way, and only regular files inside its
``cifar-10-batches-py`` folder are taken from it.
"""
import functools
import hashlib
import os
import sys
import tarfile
import tempfile
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from .datasets import (DATASETS, ChecksumError, CorruptedFileError, DownloadError, _read_maybe_gzip,
                       _size_text, download_dir, search_dirs)

__all__ = ["fetch", "info", "md5sum", "verify"]

_CHUNK = 1 << 20


def md5sum(path):
    """The MD5 of a file, as a hex string."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(functools.partial(f.read, _CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _content_md5(path):
    """The MD5 of a file's content, gunzipped first when it is gzip data."""
    try:
        return hashlib.md5(_read_maybe_gzip(path), usedforsecurity=False).hexdigest()
    except CorruptedFileError:
        return "unreadable gzip data"


def _progress(total, label, enabled):
    """A tqdm bar, or an object with the same update/close doing plain lines on stderr."""
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(total=total or None, unit="B", unit_scale=True, unit_divisor=1024,
                        desc=label, file=sys.stderr, leave=False)

    class _Lines:
        def __init__(self):
            if enabled:
                size = f" ({_size_text(total)})" if total else ""
                print(f"downloading {label}{size} ...", file=sys.stderr, flush=True)

        def update(self, n):
            pass

        def close(self):
            pass

    return _Lines()


def _open(url):
    try:
        return urlopen(url, timeout=60)
    except HTTPError as e:
        raise DownloadError(f"HTTP {e.code} {e.reason}") from None
    except URLError as e:
        raise DownloadError(str(e.reason)) from None
    except (OSError, ValueError) as e:
        raise DownloadError(f"{type(e).__name__}: {e}") from None


def _download(download, folder, progress):
    """Get one file into ``folder`` through a temporary name; returns its path."""
    dest = os.path.join(folder, download.filename)
    failures = []
    for url in download.urls:
        try:
            response = _open(url)
        except DownloadError as e:
            failures.append(f"{url}: {e}")
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{download.filename}.", suffix=".part", dir=folder)
        h = hashlib.md5(usedforsecurity=False)
        try:
            with response, os.fdopen(fd, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) if response.headers else 0
                bar = _progress(total or download.size, download.filename, progress)
                try:
                    for chunk in iter(functools.partial(response.read, _CHUNK), b""):
                        out.write(chunk)
                        h.update(chunk)
                        bar.update(len(chunk))
                finally:
                    bar.close()
        except OSError as e:
            os.unlink(tmp)
            failures.append(f"{url}: interrupted ({type(e).__name__}: {e})")
            continue
        except BaseException:
            os.unlink(tmp)  # Ctrl-C: no half-written file left behind
            raise
        actual = h.hexdigest()
        if actual != download.md5:
            os.unlink(tmp)
            raise ChecksumError(f"{download.filename} downloaded from {url} has MD5 {actual}, "
                                f"expected {download.md5}; the file was removed. Try again "
                                f"later, or download it by hand into {folder} and check its MD5.")
        os.replace(tmp, dest)
        return dest
    reasons = "\n  ".join(failures)
    raise DownloadError(
        f"could not download {download.filename}:\n  {reasons}\n"
        f"Are you offline? To provide the file by hand, download {download.urls[0]} on a "
        f"connected machine and put it in {folder} (MD5 {download.md5}); or point root= or "
        f"$MINICNN_DATA at a folder that holds the data set.")


def _extract(archive, folder, member_folder):
    """Unpack the regular files of ``member_folder/`` from a tar archive into
    ``folder/member_folder``; refuses links, devices and any path leading elsewhere."""
    target = os.path.join(folder, member_folder)
    os.makedirs(target, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name.rstrip("/") == member_folder or not name.startswith(member_folder + "/"):
                    continue  # the folder entry itself, or something the data set does not need
                base = name[len(member_folder) + 1:]
                if not base or "/" in base or "\\" in base or base in (".", ".."):
                    raise CorruptedFileError(f"{archive}: refusing unsafe member {member.name!r}")
                if not member.isreg():
                    raise CorruptedFileError(f"{archive}: refusing {member.name!r}, which is not a "
                                             f"regular file (a link or a device)")
                fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=target)
                try:
                    with os.fdopen(fd, "wb") as out, tar.extractfile(member) as src:
                        for chunk in iter(functools.partial(src.read, _CHUNK), b""):
                            out.write(chunk)
                except BaseException:
                    os.unlink(tmp)
                    raise
                os.replace(tmp, os.path.join(target, base))
    except (tarfile.TarError, EOFError) as e:
        raise CorruptedFileError(f"{archive}: damaged archive ({e}); delete it and fetch "
                                 f"again") from None
    return target


def verify(name, folder):
    """{file name: (path or None, "ok" | "missing" | "MD5 mismatch ...")} for data set
    ``name``'s files in ``folder`` (gzipped or not for the IDX sets)."""
    data = DATASETS[name]
    report = {}
    for fname, md5 in data.files.items():
        path = next((p for p in (os.path.join(folder, fname), os.path.join(folder, fname + ".gz"))
                     if os.path.isfile(p)), None)
        if path is None:
            report[fname] = (None, "missing")
            continue
        actual = _content_md5(path)
        report[fname] = (path, "ok" if actual == md5 else f"MD5 mismatch: {actual}, expected {md5}")
    return report


def _complete(name, folder):
    return os.path.isdir(folder) and all(s == "ok" for _, s in verify(name, folder).values())


def _data_folder(name, folder):
    """Where a data set's files sit under its download folder."""
    sub = DATASETS[name].archive_folder
    return os.path.join(folder, sub) if sub else folder


def fetch(name, root=None, progress=True):
    """Make data set ``name`` available and return the folder holding its files.

    When a folder searched by the data set classes already holds every file with the published
    MD5 (for example Debian's /usr/share/datasets/fashion-mnist), nothing is downloaded.
    Otherwise the files go to :func:`~minicnn.data.download_dir` (``root/<name>``, else
    ``$MINICNN_DATA/<name>``, else ``~/.cache/minicnn/<name>``); files already there with the
    right MD5 are kept. ``progress``: show a progress bar (tqdm when installed).

    Raises DownloadError (offline, HTTP error: the URL, the reason and how to provide the file by
    hand), ChecksumError (a download with the wrong MD5, which is removed) or CorruptedFileError
    (a damaged archive).
    """
    data = DATASETS[name]
    for folder, _ in search_dirs(data.name, root):
        if _complete(data.name, folder):
            return folder
    folder = download_dir(data.name, root)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create {folder} for {data.title} ({e}); pass root= or set "
                            f"$MINICNN_DATA to a writable folder") from None
    for download in data.downloads:
        dest = os.path.join(folder, download.filename)
        if os.path.isfile(dest) and md5sum(dest) == download.md5:
            continue
        if data.archive_folder and _complete(data.name, _data_folder(data.name, folder)):
            continue  # unpacked earlier, archive since removed
        _download(download, folder, progress)
    if data.archive_folder:
        archive = os.path.join(folder, data.downloads[0].filename)
        if os.path.isfile(archive):
            _extract(archive, folder, data.archive_folder)
    target = _data_folder(data.name, folder)
    bad = {f: s for f, (_, s) in verify(data.name, target).items() if s != "ok"}
    if bad:
        raise ChecksumError(f"{data.title} in {target} is incomplete after download: "
                            + "; ".join(f"{f}: {s}" for f, s in bad.items()))
    if data.archive_folder:
        os.remove(os.path.join(folder, data.downloads[0].filename))  # unpacked and verified
    return target


def info(name, root=None):
    """A description of data set ``name`` for ``minicnn data info NAME``: shape, classes,
    mean/std, where its files are (each with its size and MD5 check) or would be downloaded to,
    and the places searched."""
    data = DATASETS[name]
    c, h, w = data.shape
    lines = [f"{data.title} ({data.name}): {data.num_classes} classes, {c}x{h}x{w} images, "
             f"{data.train_size} training / {data.test_size} test",
             f"classes:   {', '.join(data.classes)}",
             f"mean/std:  {data.mean} / {data.std}",
             f"source:    {data.homepage}"]
    found = None
    for folder, origin in search_dirs(data.name, root):
        if os.path.isdir(folder) and any(p for p, _ in verify(data.name, folder).values()):
            found = (folder, origin)
            break
    if found is None:
        size = _size_text(sum(d.size for d in data.downloads))
        lines.append(f"status:    not found; `minicnn data fetch {data.name}` downloads {size} "
                     f"into {_data_folder(data.name, download_dir(data.name, root))}")
        if data.apt_package:
            lines.append(f"           or: sudo apt-get install {data.apt_package}")
    else:
        folder, origin = found
        report = verify(data.name, folder)
        ok = all(s == "ok" for _, s in report.values())
        lines.append(f"status:    {'present and verified' if ok else 'present, NOT verified'} in "
                     f"{folder} [{origin}]")
        for fname, (path, status) in report.items():
            size = _size_text(os.path.getsize(path)) if path else "-"
            shown = os.path.basename(path) if path else fname
            lines.append(f"  {shown:32s} {size:>9s}  {status}")
    lines.append("searched:  " + "\n           ".join(f"{d} [{o}]"
                                                      for d, o in search_dirs(data.name, root)))
    return "\n".join(lines)
