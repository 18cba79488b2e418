"""Downloading data sets (:func:`fetch`) and describing them (:func:`info`).

Used by ``download=True`` and by ``minicnn data fetch NAME`` / ``minicnn data info NAME``; nothing
is ever downloaded implicitly. Each file comes from the official source (mirrors tried in
order) with a progress bar (tqdm, an optional extra; plain lines without it), streams into a
temporary file next to its destination while its MD5 is computed, and is renamed into place only
when the MD5 matches: an interrupted or corrupted download never leaves a half-written file.
CIFAR-10's archive is unpacked into a temporary folder first, and only regular files inside its
``cifar-10-batches-py`` folder are taken from it. A failed fetch removes the folders it created
for nothing. Without network, the error says which files to download by hand, from where, and
where to put them. :func:`info` lists the URLs and MD5s from the same table :func:`fetch` reads
(``DATASETS[name].downloads``).
"""
import functools
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

from .formats import _open_maybe_gzip
from .registry import (
    DATASETS,
    ChecksumError,
    CorruptedFileError,
    DownloadError,
    _size_text,
    download_dir,
    search_dirs,
)

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
    """The MD5 of a file's content, gunzipped first when it is gzip data (inflated a chunk at
    a time, so a gzip bomb costs time but no memory)."""
    h = hashlib.md5(usedforsecurity=False)
    try:
        with _open_maybe_gzip(path) as (stream, _, _):
            for chunk in iter(functools.partial(stream.read, _CHUNK), b""):
                h.update(chunk)
    except CorruptedFileError:
        return "unreadable gzip data"
    return h.hexdigest()


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


# Seconds a connection or a read may stall before the mirror counts as unreachable.
_TIMEOUT = 60


class _Failure(Exception):
    """One mirror failed; ``unreachable`` when the host could not be reached at all (no network,
    DNS failure, refused connection, timeout) rather than answering with an error."""

    def __init__(self, url, reason, unreachable):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.unreachable = url, reason, unreachable


def _open(url):
    try:
        return urlopen(url, timeout=_TIMEOUT)
    except HTTPError as e:
        raise _Failure(url, f"HTTP {e.code} {e.reason}", False) from None
    except URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            reason = f"no answer within {_TIMEOUT} s"
        raise _Failure(url, str(reason), True) from None
    except TimeoutError:
        raise _Failure(url, f"no answer within {_TIMEOUT} s", True) from None
    except OSError as e:  # connection reset or refused outside URLError
        raise _Failure(url, f"{type(e).__name__}: {e}", True) from None
    except ValueError as e:
        raise _Failure(url, f"{type(e).__name__}: {e}", False) from None


def _mirrors_text(downloads):
    """Where ``downloads`` come from, for a person: one base URL per mirror when every file sits
    directly under it (``https://host/dir/``), else every URL."""
    counts = {len(d.urls) for d in downloads}
    if len(counts) == 1:
        bases = []
        for i in range(counts.pop()):
            base = {d.urls[i][:-len(d.filename)] for d in downloads}
            if len(base) != 1 or not all(d.urls[i].endswith("/" + d.filename)
                                         for d in downloads):
                break
            bases.append(base.pop())
        else:
            return bases[0] + (f" (or {', '.join(bases[1:])})" if len(bases) > 1 else "")
    return " or ".join(u for d in downloads for u in d.urls)


def _by_hand(data, folder, downloads, root):
    """How to provide ``downloads`` of data set ``data`` without minicnn reaching the network."""
    names = [d.filename for d in downloads]
    files = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    them = "it" if len(names) == 1 else "them"
    text = (f"Download {files} from {_mirrors_text(downloads)} and put {them} in "
            f"{os.path.join(folder, '')}")
    if root is None:
        text += (f" (or in DIR{os.sep}{data.name}{os.sep} and pass root=DIR / --data-root DIR, "
                 f"or set MINICNN_DATA=DIR)")
    check = f"`minicnn data {{}} {data.name}" + (f" --data-root {root}`" if root is not None
                                                else "`")
    if data.archive_folder:
        text += (f"; then run {check.format('fetch')} again, which checks the archive and "
                 f"unpacks it without the network")
    else:
        text += f"; then run {check.format('info')} to check {them}"
    if data.apt_package:
        text += f". Or, on Debian/Ubuntu: sudo apt-get install {data.apt_package}"
    return text + "."


def _download(data, download, folder, missing, root, progress):
    """Get one file into ``folder`` through a temporary name; returns its path. ``missing``: the
    files still to get, named in the error that says how to provide them by hand."""
    dest = os.path.join(folder, download.filename)
    failures = []
    for url in download.urls:
        try:
            response = _open(url)
        except _Failure as e:
            failures.append(e)
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
            failures.append(_Failure(url, f"interrupted ({type(e).__name__}: {e})", False))
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
    by_hand = _by_hand(data, folder, missing, root)
    if all(f.unreachable for f in failures):
        hosts = list(dict.fromkeys(urlsplit(f.url).netloc or f.url for f in failures))
        reasons = "; ".join(dict.fromkeys(f.reason for f in failures))
        raise DownloadError(f"could not reach {' or '.join(hosts)} ({reasons}; no network?). "
                            + by_hand)
    reasons = "\n  ".join(str(f) for f in failures)
    raise DownloadError(f"could not download {download.filename}:\n  {reasons}\n" + by_hand)


def _extract(archive, folder, member_folder):
    """Unpack the regular files of ``member_folder/`` from a tar archive into
    ``folder/member_folder``; refuses links, devices and any path leading elsewhere. The files
    are unpacked into a temporary folder first, so a failure leaves none of them behind."""
    staging = tempfile.mkdtemp(prefix=f".{member_folder}.", suffix=".part", dir=folder)
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
                with open(os.path.join(staging, base), "wb") as out, \
                        tar.extractfile(member) as src:
                    shutil.copyfileobj(src, out, _CHUNK)
    except (tarfile.TarError, EOFError) as e:
        shutil.rmtree(staging)
        raise CorruptedFileError(f"{archive}: damaged archive ({e}); delete it and fetch "
                                 f"again") from None
    except BaseException:
        shutil.rmtree(staging)
        raise
    target = os.path.join(folder, member_folder)
    os.makedirs(target, exist_ok=True)
    for base in os.listdir(staging):
        os.replace(os.path.join(staging, base), os.path.join(target, base))
    os.rmdir(staging)
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


def _verified_copy(name, root):
    """The first folder searched for data set ``name`` that holds all its files with the right
    MD5 (where :func:`fetch` stops without downloading), or None."""
    return next((folder for folder, _ in search_dirs(name, root) if _complete(name, folder)),
                None)


def _makedirs(folder):
    """``os.makedirs(folder, exist_ok=True)``; returns the folders it created, deepest first."""
    created, path = [], os.path.abspath(folder)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        created.append(path)
        path = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    return created


def fetch(name, root=None, progress=True):
    """Make data set ``name`` available and return the folder holding its files.

    When a folder searched by the data set classes already holds every file with the published
    MD5 (for example Debian's /usr/share/datasets/fashion-mnist), nothing is downloaded.
    Otherwise the files of ``DATASETS[name].downloads`` (what ``minicnn data info NAME`` lists)
    go to :func:`~minicnn.data.download_dir` (``root/<name>``, else ``$MINICNN_DATA/<name>``,
    else ``~/.cache/minicnn/<name>``), each file's mirrors tried in order, each connection or
    read given up after 60 s; files already there with the right MD5 are kept. A failure leaves
    no partial file, and no folder that this call created and left empty. ``progress``: show a
    progress bar (tqdm when installed).

    Raises DownloadError (no network, HTTP error: the URLs, the reasons, which files to get by
    hand from where and where to put them), ChecksumError (a download with the wrong MD5, which
    is removed) or CorruptedFileError (a damaged archive).
    """
    data = DATASETS[name]
    found = _verified_copy(data.name, root)
    if found is not None:
        return found
    folder = download_dir(data.name, root)
    try:
        created = _makedirs(folder)
    except OSError as e:
        raise DownloadError(f"cannot create {folder} for {data.title} ({e}); pass root= or set "
                            f"$MINICNN_DATA to a writable folder") from None
    try:
        missing = [d for d in data.downloads
                   if not (os.path.isfile(p := os.path.join(folder, d.filename))
                           and md5sum(p) == d.md5)]
        for i, download in enumerate(missing):
            _download(data, download, folder, missing[i:], root, progress)
        if data.archive_folder:
            archive = os.path.join(folder, data.downloads[0].filename)
            if os.path.isfile(archive):
                _extract(archive, folder, data.archive_folder)
        target = _data_folder(data.name, folder)
        bad = {f: s for f, (_, s) in verify(data.name, target).items() if s != "ok"}
        if bad:
            raise ChecksumError(f"{data.title} in {target} is incomplete after download: "
                                + "; ".join(f"{f}: {s}" for f, s in bad.items()))
    except BaseException:
        for path in created:  # deepest first; stops at the first folder that is not empty
            try:
                os.rmdir(path)
            except OSError:
                break
        raise
    if data.archive_folder:
        os.remove(archive)  # unpacked and verified
    return target


def info(name, root=None):
    """A description of data set ``name`` for ``minicnn data info NAME``: shape, classes,
    mean/std, where its files are (each with its size and MD5 check), the places searched, and
    what :func:`fetch` does: nothing when a verified copy exists, else which files it downloads
    from which URLs (mirrors in the order tried), with the MD5 it checks, and into which folder.
    Everything comes from ``DATASETS[name]``, the table :func:`fetch` uses."""
    data = DATASETS[name]
    c, h, w = data.shape
    lines = [f"{data.title} ({data.name}): {data.num_classes} classes, {c}x{h}x{w} images, "
             f"{data.train_size} training / {data.test_size} test",
             f"classes:   {', '.join(data.classes)}",
             f"mean/std:  {data.mean} / {data.std}",
             f"source:    {data.homepage}"]
    found, ok = None, False
    for folder, origin in search_dirs(data.name, root):
        if os.path.isdir(folder) and any(p for p, _ in verify(data.name, folder).values()):
            found = (folder, origin)
            break
    if found is None:
        lines.append("status:    not found")
        if data.apt_package:
            lines.append(f"           (on Debian/Ubuntu: sudo apt-get install {data.apt_package})")
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
    # the first folder with files, when verified, is the first complete one: where fetch stops
    verified = found[0] if ok else _verified_copy(data.name, root)
    folder = download_dir(data.name, root)
    size = _size_text(sum(d.size for d in data.downloads))
    unpack = (f", unpacks {data.archive_folder}{os.sep} there and deletes the archive"
              if data.archive_folder else "")
    plan = f"{size} into {folder}{unpack}"
    command = f"`minicnn data fetch {data.name}`"
    if verified is None:
        lines.append(f"fetch:     {command} downloads {plan}")
    else:
        lines += [f"fetch:     {command} downloads nothing: every file is verified in {verified}",
                  f"           (without them, it would download {plan})"]
    lines.append("           each file from the first of its URLs that works, kept only when its "
                 "MD5 matches:")
    for d in data.downloads:
        dest = os.path.join(folder, d.filename)
        there = "  (already there)" if os.path.isfile(dest) and md5sum(dest) == d.md5 else ""
        lines.append(f"  {d.filename:32s} {_size_text(d.size):>9s}  MD5 {d.md5}{there}")
        lines += [f"      {url}" for url in d.urls]
    return "\n".join(lines)
