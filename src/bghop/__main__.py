import sys

try:
    from bghop.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while Python was still starting: nothing was begun
    sys.exit(130)

sys.exit(main())
