"""``python3 -m vae_course COMMAND``: the course's command line (``cli``)."""
import sys

from vae_course.cli import main

sys.exit(main())
