"""lightning-imc: hardware-aware neural architecture search for compute-in-memory crossbars.

Subpackages import only downward (the layout section of the README):

* :mod:`lightning_imc.devices` — memory devices (plain Python), shared by everything below.
* :mod:`lightning_imc.layers` — noise-aware crossbar layers (plain PyTorch).
* :mod:`lightning_imc.hardware` — analytical latency/energy/area model (plain Python/NumPy).

Importing this package imports nothing heavy; import the subpackage you need.
"""

__version__ = "0.1.0"
