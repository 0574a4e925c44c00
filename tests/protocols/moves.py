"""Many short steps (60 moves), to watch a run's progress, pause, resume and cancel."""
metadata = {"apiLevel": "2.13", "protocolName": "Moves"}


def run(ctx):
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 1)
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.pick_up_tip()
    for _ in range(30):
        pipette.move_to(plate["A1"].top())
        pipette.move_to(plate["H12"].top())
    pipette.drop_tip()
