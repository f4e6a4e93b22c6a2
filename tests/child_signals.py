"""Children that take Ctrl-C as a terminal gives it, however the test suite itself was started."""

from __future__ import annotations

import contextlib
import signal


@contextlib.contextmanager
def sigint_not_ignored():
    """Processes started inside get SIGINT's default. A suite started in the background (`cmd &` in a script)
    runs with SIGINT ignored; a child inherits that, Python then installs no KeyboardInterrupt, and the
    command rightly ignores a test's Ctrl-C (CI checks run so here: `tonemorph midi live` still polling 15 s
    after the signal, `sampler generate` finishing its batch). A handler, unlike SIG_IGN, is not inherited
    across exec. Main thread only (signal.signal)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
