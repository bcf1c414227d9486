import sys

from qbo_emulator.cli import main

sys.exit(main())
