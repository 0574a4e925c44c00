"""Runs for about 10 s on the robot (it waits between comments only when not simulating)."""
import time

metadata = {"apiLevel": "2.11", "protocolName": "Long run"}


def run(ctx):
    for index in range(100):
        ctx.comment(f"step {index}")
        if not ctx.is_simulating():
            time.sleep(0.1)
