"""Inputs by URL or any GDAL path: ``https://`` and ``s3://`` Cloud-Optimized GeoTIFFs read in windows.

GDAL reads a COG behind a URL with HTTP range requests (``/vsicurl/``, ``/vsis3/``): opening fetches
the header, and each windowed read fetches only the tiles it touches. :func:`remote_env` sets the
GDAL options that keep it that way (no directory listing, no probing for side-car files) and GDAL's
own retries of HTTP 429/5xx answers (:data:`HTTP_MAX_RETRY` tries, :data:`HTTP_RETRY_DELAY` s
doubling). :func:`with_retries` adds retries with backoff (:data:`RETRY_DELAYS` s) around a whole
open or read, for failures GDAL does not retry (a connection dropped mid-read), then raises an
:class:`~microflow.errors.InputError` whose one-line message names the URL.

Local paths are returned as they are; any other GDAL path (``/vsizip/...``, ``DRIVER:...``) is
passed to GDAL untouched.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from typing import Callable, TypeVar

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from microflow.errors import InputError

T = TypeVar("T")

URL_PREFIXES = {"http://": "/vsicurl/", "https://": "/vsicurl/", "s3://": "/vsis3/", "gs://": "/vsigs/",
                "az://": "/vsiaz/"}
RASTER_EXTENSIONS = (".tif", ".tiff", ".jp2", ".vrt")
RETRY_DELAYS = (0.5, 1.0, 2.0)   # s: pauses before the 2nd, 3rd and 4th try of a failed remote open or read
HTTP_MAX_RETRY = 3               # GDAL's own retries of an HTTP 429, 502, 503 or 504 answer
HTTP_RETRY_DELAY = 0.5           # s: GDAL's first retry delay (doubled at each retry)
_PERMANENT = re.compile(r"\b(400|401|403|404|405|410)\b|does not exist|not recognized|no such file",
                        re.IGNORECASE)


def is_url(path) -> bool:
    """True for ``http(s)://``, ``s3://``, ``gs://`` and ``az://`` addresses."""
    return isinstance(path, str) and path.lower().startswith(tuple(URL_PREFIXES))


def is_remote(path) -> bool:
    """True for a URL or a GDAL network path (``/vsicurl/``, ``/vsis3/``, ...)."""
    text = str(path)
    return is_url(text) or bool(re.match(r"^/vsi(curl|s3|gs|az|adls|oss|swift|webhdfs|http)", text))


def is_gdal_path(path) -> bool:
    """True for a path only GDAL understands: a URL, ``/vsi...`` or a ``DRIVER:...`` connection string."""
    text = str(path)
    return is_url(text) or text.startswith("/vsi") or bool(re.match(r"^[A-Z][A-Za-z0-9_]+:", text))


def gdal_path(path) -> str:
    """The path GDAL opens: ``https://h/a.tif`` -> ``/vsicurl/https://h/a.tif``, ``s3://b/k`` -> ``/vsis3/b/k``."""
    text = os.fspath(path)
    lower = text.lower()
    for prefix, vsi in URL_PREFIXES.items():
        if lower.startswith(prefix):
            return vsi + (text if vsi == "/vsicurl/" else text[len(prefix):])
    return text


def display_name(path) -> str:
    """A dataset name as the user wrote it (``/vsicurl/https://...`` -> ``https://...``)."""
    text = str(path)
    return text[len("/vsicurl/"):] if text.startswith("/vsicurl/") else text


def remote_env(*paths) -> rasterio.Env:
    """GDAL settings for windowed reads over HTTP of ``paths`` (options already in the environment win).

    - ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR``: no listing of the URL's "folder" on open;
    - ``CPL_VSIL_CURL_ALLOWED_EXTENSIONS``: only raster files are fetched, never ``.aux.xml``/``.ovr``/
      ``.msk`` side-car probes (each one a request answered 404); left unset when one of ``paths``
      is a URL without such an extension (a signed address, an API endpoint);
    - ``GDAL_HTTP_MAX_RETRY``/``GDAL_HTTP_RETRY_DELAY``: GDAL's retries of 429/5xx answers;
    - ``GDAL_HTTP_MERGE_CONSECUTIVE_RANGES``: adjacent tiles in one request.
    """
    options = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
               "GDAL_HTTP_MAX_RETRY": str(HTTP_MAX_RETRY), "GDAL_HTTP_RETRY_DELAY": str(HTTP_RETRY_DELAY),
               "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES"}
    if all(allowed_extension(p) for p in paths if is_url(str(p))):
        options["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"] = ",".join(RASTER_EXTENSIONS + tuple(e.upper() for e in RASTER_EXTENSIONS))
    return rasterio.Env(**{key: value for key, value in options.items() if key not in os.environ})


def allowed_extension(path) -> bool:
    """Whether a URL ends (before any ``?query``) in a raster extension that :func:`remote_env` lets GDAL fetch."""
    return str(path).split("?", 1)[0].lower().endswith(RASTER_EXTENSIONS)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (rasterio's own message may only say "see previous exception")."""
    detail = exc.__cause__ if isinstance(exc, RasterioError) and exc.__cause__ else exc
    return " ".join(str(detail).split()) or type(exc).__name__


def with_retries(action: Callable[[], T], what: str, remote: bool, delays=None) -> T:
    """``action()``, tried again after each pause in ``delays`` (default :data:`RETRY_DELAYS`) when
    ``remote`` and it raises a transient :class:`RasterioError`; then InputError(``what``: reason).

    ``what`` names the input (e.g. ``"pre image https://host/a.tif could not be read"``). Permanent
    failures (HTTP 4xx, not a raster) are not retried.
    """
    delays = RETRY_DELAYS if delays is None else delays
    pauses = list(delays) if remote else []
    while True:
        try:
            return action()
        except RasterioError as exc:
            reason = one_line(exc)
            if not pauses or _PERMANENT.search(reason):
                tries = len(delays) + 1 - len(pauses) if remote else 1
                suffix = f" (after {tries} tries)" if tries > 1 else ""
                raise InputError(f"{what}: {reason}{suffix}") from None
            time.sleep(pauses.pop(0))


def open_raster(path, role: str) -> rasterio.io.DatasetReader:
    """Open a local file, URL or GDAL path for reading, or raise InputError naming it.

    ``role`` ("pre", "post") starts the error messages. A URL is opened under :func:`remote_env`.
    """
    path = os.fspath(path)
    if not is_gdal_path(path):
        if not os.path.exists(path):
            raise InputError(f"{role} image not found: {path}")
        if os.path.isdir(path):
            raise InputError(f"{role} image is a folder, not a raster: {path}")
    remote = is_remote(path)

    def attempt():
        with warnings.catch_warnings(), remote_env(path):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(gdal_path(path))

    what = f"{role} image {path} could not be opened" if remote else f"{role} image is not a readable raster: {path}"
    return with_retries(attempt, what, remote)
