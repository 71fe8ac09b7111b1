"""vae-course: small, tested helpers for a notebook course from PCA to hierarchically
factorized VAEs. Import the modules you need (``from vae_course import data``); this file
stays free of heavy imports so that ``python3 -m vae_course setup`` runs on a bare Python.
"""
__version__ = "0.1.0"
