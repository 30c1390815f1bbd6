import sys

from codehearth.cli import main

sys.exit(main())
