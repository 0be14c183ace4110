# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence of USB-SATA trouble in kernel log text (``dmesg`` output or kern.log).

A line counts as evidence *for the boot bridge* only when it names that bridge: its disk
(``sda``, ``sda2``), its USB port (``2-1``, ``2-1:1.0``) or its SCSI host (``host0``,
``0:0:0:0``). Everything else is counted under ``other`` so one flaky stick on another port
never earns the boot SSD a UAS quirk.

Pure functions, standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# kind -> pattern; the first matching kind wins for a line.
PATTERNS = (
    ("uas_abort", re.compile(r"uas_eh_abort_handler|uas.*\bcmd_abort|uas_zap_pending")),
    ("uas_reset", re.compile(r"uas_eh_(device|bus)_reset_handler")),
    ("command_timeout", re.compile(r"timing out command|\bcmd timed out\b|DID_TIME_OUT")),
    ("io_error", re.compile(r"I/O error, dev \w+|Buffer I/O error on dev|blk_update_request: I/O error")),
    ("usb_disconnect", re.compile(r"usb [\d.-]+: USB disconnect")),
    ("usb_reset", re.compile(r"usb [\d.-]+: reset (?:high|full|low|super|SuperSpeed)[\w ]*USB device number")),
)
KINDS = tuple(kind for kind, _pattern in PATTERNS)
UAS_KINDS = ("uas_abort", "uas_reset")
_NEW_DEVICE = re.compile(r"usb ([\d.-]+): New USB device found, idVendor=([0-9a-fA-F]{4}), idProduct=([0-9a-fA-F]{4})")
_TIMESTAMP = re.compile(r"^\s*\[\s*[\d.]+\]\s*")
MAX_SAMPLES = 10


def empty_counts():
    return dict((kind, 0) for kind in KINDS)


def _target_patterns(disk=None, port=None, host=None):
    patterns = []
    if disk:
        patterns.append(re.compile(r"(?<![\w])(?:\[)?%s(?:\d+|p\d+)?(?:\])?(?![\w])" % re.escape(disk)))
    if port:
        patterns.append(re.compile(r"(?<![\w.-])%s(?::\d+\.\d+)?(?![\w.-])" % re.escape(port)))
    if host is not None:
        patterns.append(re.compile(r"\bhost%d\b|(?<![\w:])%d:\d+:\d+:\d+\b" % (host, host)))
    return patterns


def scan(text, disk=None, port=None, host=None):
    """Count trouble lines in ``text``; return ``{bridge: counts, other: counts, samples, usb_ids}``.

    ``usb_ids`` maps each USB port seen in "New USB device found" lines to ``vid:pid`` (the
    last seen wins), which lets callers cross-check the bridge identity from sysfs.
    """
    targets = _target_patterns(disk, port, host)
    bridge = empty_counts()
    other = empty_counts()
    samples = []
    usb_ids = {}
    for raw in (text or "").splitlines():
        line = _TIMESTAMP.sub("", raw)
        found = _NEW_DEVICE.search(line)
        if found:
            usb_ids[found.group(1)] = ("%s:%s" % (found.group(2), found.group(3))).lower()
            continue
        for kind, pattern in PATTERNS:
            if pattern.search(line):
                if targets and any(t.search(line) for t in targets):
                    bridge[kind] += 1
                    if len(samples) < MAX_SAMPLES:
                        samples.append(line.strip()[:300])
                else:
                    other[kind] += 1
                break
    return {"bridge": bridge, "other": other, "samples": samples, "usb_ids": usb_ids}


def uas_trouble(counts):
    """UAS-specific events (aborts and resets of the UAS error handler) in a counts dict."""
    return sum(counts.get(kind, 0) for kind in UAS_KINDS)
