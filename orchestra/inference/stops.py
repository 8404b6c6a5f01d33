"""Stop strings over a stream of text deltas.

A stop string can arrive split across deltas ("<|e" then "nd|>"), so text that could still be the
start of one is held back until the next delta decides it. What gets passed on always joins up to
exactly the final, trimmed text.
"""

from __future__ import annotations

from collections.abc import Callable


class StopTrimmer:
    def __init__(self, stop: list[str] | None, on_text: Callable[[str], None] | None = None):
        self.stop = [s for s in (stop or []) if s]
        self.on_text = on_text
        self.text = ""  # everything received so far
        self.passed_on = 0  # how much of `text` on_text has been given
        self.stopped = False  # a stop string was found; the rest is discarded

    def feed(self, delta: str) -> bool:
        """Take one delta; return True once a stop string has been seen (stop feeding then)."""
        if self.stopped:
            return True
        self.text += delta
        cut = min((i for i in (self.text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            self.text = self.text[:cut]
            self.stopped = True
            self._pass_on(cut)
            return True
        self._pass_on(len(self.text) - self._held_back())
        return False

    def finish(self) -> str:
        """No more deltas: pass on what was held back and return the final text."""
        self._pass_on(len(self.text))
        return self.text

    def _held_back(self) -> int:
        """Length of the longest tail of `text` that is a proper prefix of some stop string."""
        longest = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(self.text)), longest, -1):
                if self.text.endswith(s[:n]):
                    longest = n
                    break
        return longest

    def _pass_on(self, upto: int) -> None:
        if upto > self.passed_on:
            if self.on_text is not None:
                self.on_text(self.text[self.passed_on : upto])
            self.passed_on = upto
