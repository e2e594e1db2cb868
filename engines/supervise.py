#!/usr/bin/env python3
"""Run one engine as a child process and make sure it never outlives its owner.

    python engines/supervise.py [--grace SECONDS] [--log FILE] -- CMD ARGS...

* Starts CMD (stdout/stderr inherited).
* If the supervisor's parent dies (os.getppid() changes; polled every 0.25 s),
  the child gets SIGTERM, then SIGKILL after the grace period, and the
  supervisor exits.
* SIGTERM / SIGINT / SIGHUP to the supervisor are forwarded to the child; the
  supervisor exits with the child's status once it has ended (SIGKILL after
  the grace period if it has not).
* If the child exits by itself, the supervisor exits with its code
  (128+N when the child was killed by signal N).

Belt and braces on Linux:
* The supervisor asks the kernel (prctl PR_SET_PDEATHSIG) for SIGUSR1 when its
  parent goes away, and then checks getppid(). A dedicated signal is used
  instead of SIGTERM because PDEATHSIG fires when the parent *thread* that
  spawned us exits, not only the parent process: a multi-threaded parent
  (Swift concurrency / Dispatch worker threads come and go) would otherwise
  kill the engine at random. With the check, only a real parent death counts.
* The child gets PR_SET_PDEATHSIG=SIGKILL towards the supervisor (single-
  threaded, so the thread caveat does not apply), so even a SIGKILLed
  supervisor does not leave the engine behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
POLL_S = 0.25
DEFAULT_GRACE_S = 3.0


def log(msg: str) -> None:
    try:
        sys.stderr.write(f"supervise[{os.getpid()}]: {msg}\n")
        sys.stderr.flush()
    except Exception:
        pass


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


LIBC = _libc()


def set_pdeathsig(sig: int) -> bool:
    if LIBC is None:
        return False
    try:
        return LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except Exception:
        return False


def exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def main(argv: list[str]) -> int:
    grace = DEFAULT_GRACE_S
    log_path = None
    args = list(argv)
    while args and args[0] != "--":
        if args[0] == "--grace" and len(args) > 1:
            grace = float(args[1])
            args = args[2:]
        elif args[0] == "--log" and len(args) > 1:
            log_path = args[1]
            args = args[2:]
        elif args[0] in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            break
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        log("usage: supervise.py [--grace S] [--log FILE] -- CMD ARGS...")
        return 2

    if log_path is not None:
        # The engine's output (and ours) goes to the log file, opened here rather than
        # by the parent, so the parent shares no file descriptors with us.
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            log(f"cannot open log {log_path!r}: {exc}")
            return 2
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    # A parent may spawn us with signals blocked or ignored (Dispatch signal
    # sources ignore SIGTERM, for instance); both would be inherited. Undo that
    # here; exec resets our handlers to the default for the child.
    watched = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, watched)
    except (AttributeError, OSError):
        pass

    original_ppid = os.getppid()
    state = {"signal": None, "parent_gone": False}

    def on_parent_death_hint(_signum, _frame):
        if os.getppid() != original_ppid:
            state["parent_gone"] = True

    if set_pdeathsig(signal.SIGUSR1):
        signal.signal(signal.SIGUSR1, on_parent_death_hint)
    if os.getppid() != original_ppid or original_ppid == 1:
        # The parent died before we could watch it (or we were started orphaned).
        log("parent already gone; not starting child")
        return 1

    child = None

    def on_stop(signum, _frame):
        if state["signal"] is None:
            state["signal"] = signum
        if child is not None and child.poll() is None:
            try:
                child.send_signal(signum if signum != signal.SIGHUP else signal.SIGTERM)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_stop)

    def child_setup():
        # Runs in the child between fork and exec. Die with the supervisor.
        set_pdeathsig(signal.SIGKILL)
        if os.getppid() == 1:
            os._exit(1)

    try:
        child = subprocess.Popen(args, preexec_fn=child_setup if LIBC is not None else None)
    except OSError as exc:
        log(f"cannot start {args[0]!r}: {exc}")
        return 127

    # A signal that arrived between installing the handler and Popen returning.
    if state["signal"] is not None and child.poll() is None:
        child.send_signal(signal.SIGTERM if state["signal"] == signal.SIGHUP else state["signal"])

    def stop_child(first_signal: int) -> int:
        if child.poll() is None:
            try:
                child.send_signal(first_signal)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if child.poll() is None:
            log(f"child {child.pid} ignored signal {first_signal} for {grace:g}s; SIGKILL")
            try:
                child.kill()
            except ProcessLookupError:
                pass
        return child.wait()

    while True:
        rc = child.poll()
        if rc is not None:
            return exit_code(rc)
        if state["parent_gone"] or os.getppid() != original_ppid:
            log(f"parent {original_ppid} is gone; stopping child {child.pid}")
            stop_child(signal.SIGTERM)
            return 1
        if state["signal"] is not None:
            # Already forwarded by the handler; wait for the child, then escalate.
            sig = state["signal"]
            deadline = time.monotonic() + grace
            while child.poll() is None and time.monotonic() < deadline:
                if os.getppid() != original_ppid:
                    break
                time.sleep(0.05)
            if child.poll() is None:
                log(f"child {child.pid} still running {grace:g}s after signal {sig}; SIGKILL")
                try:
                    child.kill()
                except ProcessLookupError:
                    pass
            return exit_code(child.wait())
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
