"""pytest's set-up for both test folders (``nbhelpers/tests`` and ``tests/``).

A suite started in the background by a shell without job control (``./run_all.sh --test &``,
``nohup``, some CI runners) inherits SIGINT ignored, and an ignored signal stays ignored in every
process started from it: the batches that the tests of Ctrl-C start would never see it. The
suite takes Python's own handler back, so that what it starts gets SIGINT's default, as from a
terminal."""
import signal


def pytest_configure(config):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
