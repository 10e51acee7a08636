"""Resumable HTTP downloads of large archives: a `.part` file continued with Range requests, sizes checked.

A cut connection leaves `NAME.part` (and `NAME.part.json`, which remembers the URL, the announced size and
the server's ETag/Last-Modified); the next attempt, in this run or a later one, asks for the rest. A server
that ignores Range (answers 200) or whose file changed (If-Range fails) is read again from the start. The
finished file must have exactly the announced size; it is then renamed to NAME.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from isabelle_env.install.errors import DownloadError, InstallError

log = logging.getLogger(__name__)

#: pause before each retry of a cut or failed attempt; one retry per entry
RETRY_DELAYS: tuple[float, ...] = (0.5, 2.0, 5.0)
CHUNK = 1 << 20
USER_AGENT = "subgoalxl-isabelle-install/0.1"

#: (bytes so far, total or None) after every chunk
ProgressFn = Callable[[int, int | None], None]
#: (total or None, bytes already on disk) before any byte is written; raise to refuse (e.g. no disk space)
SizeCheckFn = Callable[[int | None, int], None]


class UrlNotFoundError(DownloadError):
    """The server answered 404: the file is not at this URL (another candidate may have it)."""


class _Retry(Exception):
    """An attempt failed in a way worth repeating (cut connection, 5xx, timeout)."""

    def __init__(self, message: str, *, no_connection: bool = False):
        super().__init__(message)
        self.no_connection = no_connection


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    url: str
    #: bytes reused from an earlier, interrupted attempt
    resumed_from: int


def download(
    url: str,
    dest: Path,
    *,
    on_progress: ProgressFn | None = None,
    on_size: SizeCheckFn | None = None,
    retry_delays: tuple[float, ...] | None = None,
    on_retry: Callable[[str], None] | None = None,
    timeout: float = 30.0,
) -> Downloaded:
    """Fetch `url` into `dest`, resuming `dest.part` when one exists for the same URL.

    `on_retry(reason)` hears about each failed attempt that is tried again (e.g. to tell the user).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, meta_path = _part_paths(dest)
    if _read_meta(meta_path).get("url") != url:  # a .part of another URL (or without its record): useless
        _discard(part, meta_path)
    resumed_from = part.stat().st_size if part.exists() else 0
    delays = RETRY_DELAYS if retry_delays is None else retry_delays
    problem = _Retry("no attempt made")
    client = httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )
    with client:
        for attempt in range(len(delays) + 1):
            if attempt:
                log.info("retrying %s in %.1fs: %s", url, delays[attempt - 1], problem)
                if on_retry is not None:
                    on_retry(str(problem))
                time.sleep(delays[attempt - 1])
            try:
                size = _attempt(client, url, part, meta_path, on_progress, on_size)
            except _Retry as exc:
                problem = exc
                continue
            part.replace(dest)
            meta_path.unlink(missing_ok=True)
            return Downloaded(dest, size, url, resumed_from)
    host = httpx.URL(url).host or url
    if problem.no_connection and not part.exists():
        raise DownloadError(
            f"cannot reach {host} ({problem}): check the internet connection or proxy (HTTPS_PROXY), use a mirror "
            "with --url, or download the archive elsewhere and pass --archive FILE"
        )
    if not part.exists():
        raise DownloadError(
            f"download of {url} failed after {len(delays) + 1} attempts ({problem}): try again later, use a mirror "
            "with --url, or download the archive elsewhere and pass --archive FILE"
        )
    have = part.stat().st_size
    total = _read_meta(meta_path).get("total")
    of_total = f" of {total}" if total else ""
    raise DownloadError(
        f"download of {url} failed after {len(delays) + 1} attempts ({problem}); {have}{of_total} bytes are kept in "
        f"{part}: run the same command again to resume from there",
        partial=part,
    )


def _attempt(
    client: httpx.Client,
    url: str,
    part: Path,
    meta_path: Path,
    on_progress: ProgressFn | None,
    on_size: SizeCheckFn | None,
) -> int:
    """One GET; returns the final size when the file is complete, raises `_Retry` when worth repeating."""
    offset = part.stat().st_size if part.exists() else 0
    meta = _read_meta(meta_path)
    headers = {}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if meta.get("validator"):
            headers["If-Range"] = meta["validator"]
    try:
        with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == 416:
                return _complete_or_restart(response, offset, meta, part, meta_path)
            _raise_for_status(url, status, part, meta_path)
            if status == 206:
                start, total = _content_range(response.headers.get("content-range", ""))
                if start != offset or (meta.get("total") and total != meta["total"]):
                    _discard(part, meta_path)
                    raise _Retry("the server resumed at the wrong place or its file changed; starting again")
                if meta.get("total") is None and total is not None:
                    meta = {**meta, "total": total}
                    _write_meta(meta_path, meta)
                mode = "ab"
            else:
                if offset:
                    log.info("%s ignored the Range request: downloading again from the start", url)
                offset = 0
                length = response.headers.get("content-length")
                total = int(length) if length and length.isdigit() else None
                validator = response.headers.get("etag") or response.headers.get("last-modified")
                meta = {"url": url, "total": total, "validator": validator}
                _write_meta(meta_path, meta)
                mode = "wb"
            if on_size is not None:
                try:
                    on_size(meta.get("total"), offset)
                except InstallError:
                    _discard(part, meta_path)
                    raise
            _stream_into(response, part, mode, offset, meta.get("total"), on_progress)
    except httpx.ConnectError as exc:
        raise _Retry(_describe(exc), no_connection=True) from None
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise _Retry(_describe(exc)) from None
    except OSError as exc:
        _discard(part, meta_path)
        if exc.errno == errno.ENOSPC:
            raise DownloadError(
                f"the disk holding {part.parent} is full: free space there, or set SUBGOALXL_CACHE_DIR to a "
                "folder on a larger disk"
            ) from None
        raise DownloadError(f"cannot write {part}: {exc.strerror}") from None
    size = part.stat().st_size
    total = meta.get("total")
    if total is None or size == total:
        return size
    if size < total:
        raise _Retry(f"the connection closed after {size} of {total} bytes")
    _discard(part, meta_path)
    raise DownloadError(f"{url} sent {size} bytes but announced {total}: try again later or use another mirror (--url)")


def _stream_into(
    response: httpx.Response, part: Path, mode: str, done: int, total: int | None, on_progress: ProgressFn | None
) -> None:
    with part.open(mode) as out:
        if on_progress:
            on_progress(done, total)
        for chunk in response.iter_raw():  # as received: a cut loses nothing already read
            out.write(chunk)
            done += len(chunk)
            if on_progress:
                on_progress(done, total)


def _complete_or_restart(response: httpx.Response, offset: int, meta: dict, part: Path, meta_path: Path) -> int:
    """416 to `Range: bytes=N-`: the file has exactly N bytes (we have it all) or our part does not fit it."""
    _, total = _content_range(response.headers.get("content-range", ""))
    if offset and total == offset:
        announced = meta.get("total")
        if announced is not None and announced != total:
            _discard(part, meta_path)
            raise DownloadError(
                f"{response.url} announced {announced} bytes but holds {total}: the server sends a broken file; "
                "try again later or use another mirror (--url)"
            )
        return offset
    _discard(part, meta_path)
    raise _Retry("the partial download does not fit the file on the server; starting again")


def _raise_for_status(url: str, status: int, part: Path, meta_path: Path) -> None:
    if status in (200, 206):
        return
    if status >= 500 or status in (408, 429):
        raise _Retry(f"HTTP {status} from the server")
    _discard(part, meta_path)
    if status == 404:
        raise UrlNotFoundError(f"{url} does not exist (HTTP 404)")
    raise DownloadError(f"{url} answered HTTP {status}: check the URL (--url) or download the file by hand (--archive)")


_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


def _content_range(value: str) -> tuple[int | None, int | None]:
    match = _CONTENT_RANGE.match(value.strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def _part_paths(dest: Path) -> tuple[Path, Path]:
    return dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_meta(path: Path, meta: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(path)


def _discard(part: Path, meta_path: Path) -> None:
    part.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)


def discard_partial(dest: Path) -> None:
    """Remove the `.part` state of a download to `dest` (e.g. after the user gave up on it)."""
    _discard(*_part_paths(dest))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
