"""Assemble `bench/results/*.md` (one file per benchmark script) into BENCHMARKS.md.

Each benchmark writes its own table so that benchmarks run independently and never edit one
shared file at the same time; this script only concatenates them in a fixed order.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = [
    "synth",
    "synth_learnability",
    "harvest",
    "detect",
    "curate",
    "shards",
    "pretrain",
    "face_methods",
    "ssl_probe",
    "finetune_step",
    "finetune_memory",
    "finetune",
    "finetune_simfle",
]

HEADER = """# facerep benchmarks

Every number here is produced by a script in `bench/` (`make bench` runs them all and rebuilds this
file). Speed targets are stated as ratios against a baseline measured in the same run on the same
machine, so they hold across machines; absolute rates are for orientation only. Unless a section
says otherwise, the machine is the project's 2-core CPU machine with no GPU.
"""


def main() -> None:
    results = ROOT / "bench" / "results"
    rank = {name: i for i, name in enumerate(ORDER)}
    files = sorted(results.glob("*.md"), key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))
    parts = [HEADER] + [f.read_text().strip() + "\n" for f in files]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print(f"BENCHMARKS.md: {len(files)} sections")


if __name__ == "__main__":
    main()
