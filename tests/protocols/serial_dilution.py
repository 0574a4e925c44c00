"""A two-step serial dilution across one row, configured by a JSON file and a helper module."""
from opentrons import protocol_api

from dilution_helpers import load_settings, with_fresh_tip

metadata = {"apiLevel": "2.11", "protocolName": "Serial dilution", "author": "ot2_notebook tests"}


def run(protocol: protocol_api.ProtocolContext) -> None:
    settings = load_settings("dilution_settings.json")
    tips = protocol.load_labware("opentrons_96_tiprack_300ul", 1)
    plate = protocol.load_labware(settings["plate"], 2)
    reservoir = protocol.load_labware("nest_12_reservoir_15ml", 3)
    pipette = protocol.load_instrument("p300_single_gen2", settings["mount"], tip_racks=[tips])
    row = plate.rows_by_name()[settings["row"]]
    for source, target in zip(row[: settings["steps"]], row[1 : settings["steps"] + 1]):
        with with_fresh_tip(pipette):
            pipette.aspirate(settings["volume"], reservoir["A1"])
            pipette.dispense(settings["volume"], target)
            pipette.aspirate(settings["volume"] / 2, source)
            pipette.dispense(settings["volume"] / 2, target)
