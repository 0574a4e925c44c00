"""One pipette, every kind of step the deck timeline follows, at API level 2.16 (the OT-2's
trash is a trash bin there): mix, blow-out, touch tip, air gap, moves, a delay, a returned
tip, transfer, distribute and consolidate (the deck timeline tests)."""

requirements = {"apiLevel": "2.16", "robotType": "OT-2"}
metadata = {"protocolName": "Every step"}


def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    reservoir = ctx.load_labware("nest_12_reservoir_15ml", 2)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 3)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])

    pipette.pick_up_tip()
    pipette.aspirate(100, reservoir["A1"])
    pipette.dispense(60, plate["A1"])
    pipette.mix(2, 30, plate["A1"])
    pipette.blow_out(plate["A1"])
    pipette.touch_tip(plate["A1"])
    pipette.air_gap(10)
    pipette.dispense(50, plate["B1"])
    pipette.move_to(plate["C1"].top())
    ctx.delay(seconds=1)
    pipette.return_tip()

    pipette.transfer(40, reservoir["A2"], plate.rows()[0][1:3], mix_after=(1, 20))
    pipette.distribute(20, reservoir["A3"], plate.columns()[3][:4])
    pipette.consolidate(15, plate.columns()[3][:2], reservoir["A4"])
    pipette.pick_up_tip()
    pipette.aspirate(50, reservoir["A1"])
    pipette.dispense(50, ctx.fixed_trash)
    pipette.drop_tip()
