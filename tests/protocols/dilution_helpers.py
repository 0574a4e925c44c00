"""Helpers for serial_dilution.py, uploaded as a support file."""
import contextlib
import json


def load_settings(name):
    with open(name, encoding="utf-8") as handle:
        return json.load(handle)


@contextlib.contextmanager
def with_fresh_tip(pipette):
    pipette.pick_up_tip()
    yield pipette
    pipette.drop_tip()
