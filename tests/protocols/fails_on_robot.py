"""Passes analysis (simulated) and fails only in a run, where ctx.is_simulating() is False."""
metadata = {"apiLevel": "2.13", "protocolName": "Fails on robot"}


def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.pick_up_tip()
    if not ctx.is_simulating():
        raise RuntimeError("the tip rack is empty")
    pipette.drop_tip()
