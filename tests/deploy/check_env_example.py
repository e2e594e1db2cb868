""".env.example names every environment variable Parley reads, and leaves the secrets empty.

The variables are found where the sources read them: `environment("…")`, `value("…")` and
`url("…")` in Sources/ (the shipped targets), `${PARLEY_…:-}` in scripts/setup.sh.
"""

from __future__ import annotations

import re

from deploycheck import REPO, Problems

SECRETS = ("DEEPGRAM_API_KEY", "GROQ_API_KEY", "ELEVENLABS_API_KEY", "OPENAI_API_KEY", "SMALLEST_API_KEY", "TWILIO_AUTH_TOKEN", "PARLEY_API_KEY", "PARLEY_METRICS_TOKEN")
NOT_SHIPPED = ("parley-bench", "ParleyTesting")


def main() -> None:
    p = Problems("env-example")
    read: set[str] = set()
    for source in (REPO / "Sources").rglob("*.swift"):
        if not any(part in NOT_SHIPPED for part in source.parts):
            read |= set(re.findall(r'\b(?:environment|value|url)\("([A-Z][A-Z0-9_]+)"', source.read_text()))
    read |= set(re.findall(r"\$\{(PARLEY_[A-Z_]+):-", (REPO / "scripts/setup.sh").read_text()))
    p.expect(len(read) >= 18, f"found only {len(read)} variables in the sources; has the way they are read changed?")

    example = (REPO / ".env.example").read_text()
    entries = dict(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=(.*)$", example, re.M))
    for name in sorted(read - entries.keys()):
        p.expect(False, f"{name} is read by Parley but not in .env.example")
    for name in SECRETS:
        p.expect(re.search(rf"^{name}=$", example, re.M), f"{name} is not an empty, uncommented line")
    for line in example.splitlines():
        p.expect(not re.match(r"^[A-Z][A-Z0-9_]+=.*\s#", line), f"a trailing comment Docker would keep in the value: {line}")
    p.finish(lambda: f"{len(read)} variables read by Parley, all listed; secrets empty")


if __name__ == "__main__":
    main()
