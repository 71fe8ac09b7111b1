import sys

from vae_course.cli import main

sys.exit(main())
