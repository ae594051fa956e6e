"""Fetching PhysioNet's original MIT-BIH files: ``ecgkit download mitdb DIR``.

Introduced in: notebooks/01_data_exploration.ipynb.

Nothing in the workbook needs the network: ``data/mitdb`` ships all 48 records (losslessly
compressed, WFDB format 516) and is the default everywhere. This command fetches PhysioNet's own
files (format 212, about 100 MB), e.g. to re-check or redo the conversion
(``tools/convert_mitdb_flac.py``). Offline it fails within seconds: the host is probed with a
short socket timeout before wfdb starts downloading.
"""

from __future__ import annotations

import socket
from pathlib import Path

from ecgkit.contract import EMBEDDED_DATA_DIR

PHYSIONET_HOST = "physionet.org"
PHYSIONET_PORT = 443
PROBE_TIMEOUT_S = 3.0
DATABASES = {"mitdb": "MIT-BIH Arrhythmia Database 1.0.0 (ODC-By 1.0), 48 records, ~100 MB"}


class DownloadError(RuntimeError):
    """The database could not be downloaded (no network, or PhysioNet unreachable)."""


def can_reach(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    The one network probe of ecgkit: ``download`` and the ImageNet weights check
    (:func:`ecgkit.model.backbone.check_weights`) use it to fail fast offline instead of hanging.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe(host: str = PHYSIONET_HOST, port: int = PHYSIONET_PORT,
          timeout: float = PROBE_TIMEOUT_S) -> None:
    """Checks that ``host:port`` can be reached (:func:`can_reach`).

    Raises:
        DownloadError: the host cannot be reached within ``timeout`` seconds.
    """
    if not can_reach(host, port, timeout):
        raise DownloadError(
            f"cannot reach {host}:{port} within {timeout:g} s; are you offline? "
            f"The embedded MIT-BIH database in {EMBEDDED_DATA_DIR} (all 48 records, FLAC) works "
            f"without network and is the default everywhere; for PhysioNet's original files, "
            f"copy them from a machine that is online (https://physionet.org/content/mitdb/1.0.0/)."
        )


def download_mitdb(dest, host: str = PHYSIONET_HOST, port: int = PHYSIONET_PORT,
                   timeout: float = PROBE_TIMEOUT_S) -> Path:
    """Downloads PhysioNet's MIT-BIH Arrhythmia Database files into ``dest`` (``wfdb.dl_database``).

    Args:
        dest: destination folder (created).
        host, port, timeout: the connectivity probe done first.

    Returns:
        The destination folder.

    Raises:
        DownloadError: offline or PhysioNet unreachable (raised within ``timeout`` seconds),
            or the download failed.
    """
    probe(host, port, timeout)
    import wfdb

    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    try:
        wfdb.dl_database("mitdb", str(out))
    except Exception as exc:
        raise DownloadError(f"downloading mitdb into {out} failed: {exc}") from exc
    return out
