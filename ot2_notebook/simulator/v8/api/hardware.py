"""The software-8 robot's attached hardware: ``GET /pipettes`` (the legacy route, the same
shape as 4.x), ``GET /instruments`` and ``GET /modules``, as robot-server 8.1.0 shapes them
(``tests/recordings/robot-server-8/06``). The hardware is the same as in 4.x mode
(``ot2-sim --hardware``, ``--left``, ``--right``, ``--module``); the modules' live data is an
idle module's. Software-8 runs do not check it yet: any pipette and module loads there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ot2_notebook.simulator.api.responses import PipettesByMount
from ot2_notebook.simulator.hardware import AttachedHardware
from ot2_notebook.simulator.v8.models import MultiBodyMeta, error_responses
from ot2_notebook.simulator.v8.versioning import check_version

router = APIRouter(dependencies=[Depends(check_version)])


class PipetteData(BaseModel):
    channels: Literal[1, 8, 96]
    min_volume: float
    max_volume: float


class Pipette(BaseModel):
    mount: str = Field(description="The mount this instrument is attached to.")
    instrumentType: Literal["pipette"] = "pipette"
    instrumentModel: str
    serialNumber: str
    ok: Literal[True]
    data: PipetteData
    instrumentName: str


class Instruments(BaseModel):
    data: list[Pipette]
    meta: MultiBodyMeta


class UsbPort(BaseModel):
    port: int
    portGroup: str
    hub: bool
    hubPort: int | None
    path: str


class ModuleData(BaseModel):
    """The live data of a magnetic, temperature or thermocycler module (an idle one)."""

    model_config = {"extra": "allow"}
    status: str


class AttachedModule(BaseModel):
    id: str
    serialNumber: str
    firmwareVersion: str
    hardwareRevision: str
    hasAvailableUpdate: bool
    moduleType: Literal["magneticModuleType", "temperatureModuleType", "thermocyclerModuleType"]
    moduleModel: str
    compatibleWithRobot: bool
    data: ModuleData
    usbPort: UsbPort


class Modules(BaseModel):
    data: list[AttachedModule]
    meta: MultiBodyMeta


async def _hardware(request: Request) -> AttachedHardware:
    hardware: AttachedHardware = request.app.state.robot.config.hardware
    return hardware


Hardware = Annotated[AttachedHardware, Depends(_hardware)]


@router.get(
    "/pipettes",
    summary="Get the pipettes currently attached",
    tags=["Attached Instruments"],
    response_model=PipettesByMount,
    responses=error_responses(400, 422, legacy=True),
)
async def get_pipettes(
    hardware: Hardware,
    refresh: Annotated[bool, Query(description="Scan the mounts again")] = False,
) -> dict[str, Any]:
    return hardware.pipettes_json()


@router.get(
    "/instruments",
    summary="Get attached instruments.",
    tags=["Attached Instruments"],
    response_model=Instruments,
    responses=error_responses(400, 422),
)
async def get_instruments(hardware: Hardware) -> dict[str, Any]:
    data = hardware.instruments_json_v8()
    return {"data": data, "meta": {"cursor": 0, "totalLength": len(data)}}


@router.get(
    "/modules",
    summary="Get attached modules.",
    tags=["Attached Modules"],
    response_model=Modules,
    responses=error_responses(400, 422),
)
async def get_modules(hardware: Hardware) -> dict[str, Any]:
    data = hardware.modules_json_v8()
    return {"data": data, "meta": {"cursor": 0, "totalLength": len(data)}}
