import sys

from bghop.cli.main import main

sys.exit(main())
