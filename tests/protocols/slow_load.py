"""Takes a while to simulate (as long protocols do), so a new session stays 'stopped' for a bit."""
import time

metadata = {"apiLevel": "2.13"}


def run(ctx):
    if ctx.is_simulating():
        time.sleep(1.5)
    ctx.comment("loaded")
