"""Enhanced ResNet50 on real MIT-BIH ECG beats: train, evaluate, save (minutes on a CPU).

Usage:
    python enhanced_resnet50_demo.py            # default settings (2-core CPU: a few minutes)
    python enhanced_resnet50_demo.py --ci       # tiny settings (seconds)
    python enhanced_resnet50_demo.py --help     # all options (same as `ecgkit demo`)

The work is done by ecgkit.workbook.demo.run_demo; this file runs `ecgkit demo` with its arguments.
"""

import sys

from ecgkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
