"""lightning-imc entry point.

Today this runs the demo of the noise-aware crossbar layers on the embedded digits data
(:mod:`lightning_imc.demo`); the hardware-aware search takes its place as it lands.
"""

from lightning_imc.demo import main

if __name__ == "__main__":
    main()
