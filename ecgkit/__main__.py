import sys

from ecgkit.cli import main

sys.exit(main())
